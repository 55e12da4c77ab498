"""A bench of broken firmware (lab model hostile-x1, lab/README.md "Hostile models") and devices
that vanish mid-scan: the scan ends within its deadline, its memory stays bounded, nothing
crashes (no `error` verdict), and what could not be decided is `inconclusive` with the reason,
never a pass.

One scan (`hostile_run`): hostile-x1 (1 MB header line on :80, endless body on :8080, TLS and
MQTTS ports that never handshake on :443 and :8883, an endless slow telnet banner on :23, FTP that
resets mid-login on :21, malformed and oversized mDNS answers), a gizmo-g1 whose veth is deleted
and a hubco-h1 whose processes are killed as soon as discovery is done.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from lanprobe.model import Result, ScanRun, Verdict

from tests.robustness.conftest import FullRun, HostileRun

pytestmark = pytest.mark.lab

HOSTILE_PORTS = {21, 23, 80, 443, 8080, 8883}
# Checks that judge what discovery found or the profile declares, without contacting the device:
# only these may pass on a device that is gone.
OFFLINE_CHECKS = {
    "access.cleartext-admin",
    "access.unexpected-port",
    "declarations.foundational",
    "declarations.support-period",
    "declarations.vulnerability-contact",
    "identification.duplicate-identifier",
    "identification.identifier",
    "identification.shared-key",
    "update.currency",
}
MAX_RSS_GROWTH_MB = 150


def _results(run: ScanRun, ip: str) -> list[Result]:
    dev = next((d for d in run.devices if ip in d.ips), None)
    assert dev is not None, f"{ip} not found by discovery: {[d.ips for d in run.devices]}"
    return [r for r in run.results if r.device == dev.key]


def _by_target(results: list[Result]) -> dict[tuple[str, int | None], set[Verdict]]:
    out: dict[tuple[str, int | None], set[Verdict]] = defaultdict(set)
    for r in results:
        out[(r.check_id, r.target.port)].add(r.verdict)
    return out


def _show(results: list[Result]) -> str:
    lines = [f"  {r.check_id} {r.target.port} {r.verdict.value}: {r.title}" for r in results]
    return "\n".join(lines)


def test_scan_ends_in_time_with_bounded_memory_and_no_crash(hostile_run: HostileRun) -> None:
    run, check_s = hostile_run.run, hostile_run.options.timeouts.check_s
    assert not run.interrupted
    errors = [r for r in run.results if r.verdict == Verdict.error]
    assert not errors, "checks broke:\n" + _show(errors)
    # Every check run ended within its deadline; the checks phase within its rounds' deadlines.
    slow = [r for r in run.results if r.duration_s > check_s + 2]
    assert not slow, _show(slow)
    checks_s = hostile_run.elapsed_s - hostile_run.discovery_s
    assert checks_s < 2 * check_s + 10, f"checks took {checks_s:.0f} s"
    assert hostile_run.discovery_s < 120, f"discovery took {hostile_run.discovery_s:.0f} s"
    # 1 MB header lines and endless bodies were read up to the caps, not into memory.
    assert hostile_run.rss_growth_mb < MAX_RSS_GROWTH_MB, f"{hostile_run.rss_growth_mb:.0f} MB"


def test_hostile_mdns_is_capped_and_every_device_found(hostile_run: HostileRun) -> None:
    bench = hostile_run.bench
    found = {ip for d in hostile_run.run.devices for ip in d.ips}
    assert {d.ip for d in bench.devices} <= found
    ip = bench.by_model("hostile-x1")[0].ip
    hostile = next(d for d in hostile_run.run.devices if ip in d.ips)
    assert hostile.profile == "hostile-x1"
    assert hostile.mdns, "the hostile device's own (valid) record was lost in the flood"
    for svc in hostile.mdns:
        assert len(svc.txt) <= 64
        for key, value in svc.txt.items():
            assert key.isascii() and key.isprintable() and len(key) <= 64
            assert value.isprintable() and len(value) <= 255


def test_hostile_services_are_inconclusive_with_the_reason(hostile_run: HostileRun) -> None:
    ip = hostile_run.bench.by_model("hostile-x1")[0].ip
    results = _results(hostile_run.run, ip)
    # Never a pass on a port that misbehaves; never a login finding where no login happened.
    passed = [r for r in results if r.target.port in HOSTILE_PORTS and r.verdict == Verdict.passed]
    assert not passed, "silent passes on hostile ports:\n" + _show(passed)
    logins = [
        r
        for r in results
        if r.check_id in ("configuration.default-login", "access.no-lockout")
        and r.verdict == Verdict.fail
    ]
    assert not logins, _show(logins)
    by = _by_target(results)
    for port in (443, 8883):  # accepts TCP, never finishes a handshake
        for check_id in ("data.tls-protocol", "data.tls-cipher", "data.tls-certificate"):
            assert by[(check_id, port)] == {Verdict.inconclusive}, (check_id, port)
    expected = {
        ("configuration.default-login", 21): "reset mid-login",
        ("configuration.default-login", 23): "endless banner, no prompt",
        ("configuration.default-login", 80): "1 MB header line",
        ("access.no-lockout", 21): "reset before any failed login is no lockout",
        ("access.unauthenticated-interface", 80): "1 MB header line",
        ("access.unauthenticated-interface", 8080): "endless body",
        ("access.anonymous-mqtt", 8883): "MQTTS never handshakes",
    }
    for key, why in expected.items():
        assert by[key] == {Verdict.inconclusive}, f"{key} ({why}): {by.get(key)}"
    for r in results:
        if r.verdict == Verdict.inconclusive:
            reason = str(r.evidence.get("reason", "")) or r.title
            assert len(reason) > 10, f"{r.check_id} {r.target.port}: no reason given"


@pytest.mark.parametrize("how", ["veth_deleted", "killed"])
def test_vanished_device_never_passes_silently(
    hostile_run: HostileRun, full_run: FullRun, how: str
) -> None:
    """Each verdict on a device gone mid-scan is what the same model gets on an intact bench
    (`full_run`) or inconclusive; only checks that need no network may pass."""
    ip = getattr(hostile_run, how)
    model = next(d.model for d in hostile_run.bench.devices if d.ip == ip)
    ref_ip = full_run.bench.by_model(model)[0].ip
    results = _results(hostile_run.run, ip)
    reference = _by_target(_results(full_run.run, ref_ip))
    wrong = []
    for r in results:
        allowed = reference.get((r.check_id, r.target.port), set()) | {Verdict.inconclusive}
        silent_pass = r.verdict == Verdict.passed and r.check_id not in OFFLINE_CHECKS
        if r.verdict not in allowed or silent_pass:
            wrong.append(r)
    assert not wrong, f"{model} at {ip} ({how}):\n" + _show(wrong)
    # The device being gone shows: its network checks did not decide.
    assert any(r.verdict == Verdict.inconclusive for r in results)
