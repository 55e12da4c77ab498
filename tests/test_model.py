from pathlib import Path

import pytest
from lanprobe.errors import ProbeError
from lanprobe.model import (
    Capability,
    Device,
    DeviceScore,
    DeviceVerdict,
    Identifier,
    Result,
    ScanRun,
    Service,
    Severity,
    Target,
    Verdict,
)


def _run() -> ScanRun:
    dev = Device(
        key="02:00:00:00:00:0a",
        mac="02:00:00:00:00:0a",
        ips=["198.18.0.10"],
        services=[Service(port=80, name="http"), Service(port=443, name="https", tls=True)],
        identifiers={"serial": Identifier(value="SN1", source="mdns")},
    )
    res = Result(
        check_id="configuration.default-login",
        device=dev.key,
        capability=Capability.device_configuration,
        verdict=Verdict.fail,
        severity=Severity.critical,
        title="admin/admin logs in",
        target=Target(port=80, service="http"),
        evidence={"user": "admin"},
    )
    score = DeviceScore(device=dev.key, verdict=DeviceVerdict.does_not_conform, score=40.0)
    return ScanRun(run_id="r1", devices=[dev], results=[res], scores={dev.key: score})


def test_run_json_round_trip(tmp_path: Path) -> None:
    run = _run()
    path = tmp_path / "run.json"
    run.write(path)
    back = ScanRun.read(path)
    assert back == run
    assert back.results[0].verdict is Verdict.fail
    assert '"verdict": "fail"' in path.read_text()
    assert '"schema_version": 1' in path.read_text()


def test_other_schema_version_is_refused() -> None:
    text = _run().to_json().replace('"schema_version": 1', '"schema_version": 99')
    with pytest.raises(ProbeError, match="schema_version"):
        ScanRun.from_json(text)


def test_device_lookups() -> None:
    dev = _run().devices[0]
    assert dev.ip == "198.18.0.10"
    assert dev.service(443) is not None and dev.service(443).tls
    assert dev.service(22) is None
    assert dev.identifier("serial") == "SN1"


def test_severity_ranks_are_ordered() -> None:
    ranks = [s.rank for s in Severity]
    assert ranks == sorted(ranks)
