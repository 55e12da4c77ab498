"""Identification checks against the lab bench (the twins), and certificate identifiers."""

from __future__ import annotations

from typing import Any

import pytest
from lanprobe.checks.identification import cert_identifier, json_identifiers
from lanprobe.model import ScanRun, Verdict

from tests.checks.conftest import device_of, results_of, verdicts_of
from tests.checks.recorded import device, run_bench, session

lab = pytest.mark.lab


@lab
def test_identifier(lab_run: ScanRun, lab_bench: Any) -> None:
    sentry = device_of(lab_run, lab_bench, "sentry-s3")
    assert verdicts_of(lab_run, sentry, "identification.identifier") == {Verdict.fail}
    hub = device_of(lab_run, lab_bench, "hubco-h1")
    [res] = results_of(lab_run, hub, "identification.identifier")
    assert res.verdict == Verdict.passed
    labdev = next(d for d in lab_bench.devices if d.model == "hubco-h1")
    ids = res.evidence["identifiers"]
    assert ids["serial"]["value"] == labdev.serial
    assert ids["serial"]["source"].startswith("mdns")
    assert "udn" in ids  # from the UPnP description


@lab
def test_duplicate_identifier_names_both_twins(lab_run: ScanRun, lab_bench: Any) -> None:
    twins = [device_of(lab_run, lab_bench, "acme-ipcam300", unit) for unit in (0, 1)]
    for me, other in (twins, twins[::-1]):
        [res] = results_of(lab_run, me, "identification.duplicate-identifier")
        assert res.verdict == Verdict.fail
        assert other.ip in res.title
        [dup] = res.evidence["duplicates"]
        assert dup["kind"] == "serial" and dup["value"] == "ACM300-0001"
        assert len(dup["devices"]) == 2
    for model in ("hubco-h1", "acme-ipcam200"):
        dev = device_of(lab_run, lab_bench, model)
        assert verdicts_of(lab_run, dev, "identification.duplicate-identifier") == {Verdict.passed}
    # sentry-s3 exposes no identifier: nothing to compare is no pass
    sentry = device_of(lab_run, lab_bench, "sentry-s3")
    assert verdicts_of(lab_run, sentry, "identification.duplicate-identifier") == {
        Verdict.inconclusive
    }


@lab
def test_shared_key_names_both_twins(lab_run: ScanRun, lab_bench: Any) -> None:
    twins = [device_of(lab_run, lab_bench, "acme-ipcam300", unit) for unit in (0, 1)]
    for me, other in (twins, twins[::-1]):
        results = {r.target.port: r for r in results_of(lab_run, me, "identification.shared-key")}
        assert set(results) == {22, 443}
        assert results[22].evidence["kind"] == "ssh" and results[443].evidence["kind"] == "tls"
        for res in results.values():
            assert res.verdict == Verdict.fail
            assert other.ip in res.title
            assert {d["device"].split(" ")[0] for d in res.evidence["devices"]} == {
                twins[0].key,
                twins[1].key,
            }
    hub = device_of(lab_run, lab_bench, "hubco-h1")
    [res] = results_of(lab_run, hub, "identification.shared-key")
    assert res.verdict == Verdict.passed
    assert {k["kind"] for k in res.evidence["keys"]} == {"tls", "ssh"}


@pytest.mark.parametrize(
    ("subject", "want"),
    [
        ("CN=cam-0042,O=Acme", "cam-0042"),
        ("serialNumber=SN123,CN=IPCAM-300,O=Acme", "SN123"),
        ("CN=IPCAM-300,O=Acme", ""),  # with the model name given below: not a unit
        ("CN=198.18.0.10", ""),
        ("CN=*.example.com", ""),
        ("CN=device,O=Acme", ""),
        ("O=Acme\\, Inc.,CN=unit-7", "unit-7"),
    ],
)
def test_cert_identifier(subject: str, want: str) -> None:
    assert cert_identifier(subject, model="IPCAM-300") == want


def test_json_identifiers() -> None:
    assert json_identifiers({"Serial": "S3-0001", "state": "ok"}) == {"serial": "S3-0001"}
    assert json_identifiers({"state": "ok", "uptime_s": 3}) == {}
    assert json_identifiers({"id": 7, "enabled": True}) == {"device_id": "7"}
    assert json_identifiers(["serial"]) == {}


# --- recorded: duplicate-identifier needs identifiers to compare ----------------------------------


def _sessions(*ids: dict[str, str]) -> list[Any]:
    return [session(device(n + 1, ids=i)) for n, i in enumerate(ids)]


async def test_no_identifier_observed_is_no_pass() -> None:
    results = await run_bench(
        "identification.duplicate-identifier", _sessions({"serial": "A-1"}, {}, {"serial": "A-2"})
    )
    by_dev = {r.device: r for r in results}
    silent = by_dev["02:00:00:00:00:02"]
    assert silent.verdict == Verdict.inconclusive
    assert "no unit identifier" in silent.title
    assert by_dev["02:00:00:00:00:01"].verdict == Verdict.passed
    assert by_dev["02:00:00:00:00:01"].evidence["compared_with"] == 2


async def test_shared_serial_fails_both() -> None:
    results = await run_bench(
        "identification.duplicate-identifier", _sessions({"serial": "S-1"}, {"serial": "s-1 "})
    )
    assert [r.verdict for r in results] == [Verdict.fail, Verdict.fail]


async def test_a_lone_device_has_nothing_to_compare() -> None:
    [res] = await run_bench("identification.duplicate-identifier", _sessions({"serial": "S-1"}))
    assert res.verdict == Verdict.not_applicable
