"""Data protection checks against the lab bench, and a hung TLS port against the real runner."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from lanprobe.baseline import load_baseline
from lanprobe.checks.context import DeviceSession, RunOptions, Timeouts
from lanprobe.checks.registry import load_all
from lanprobe.model import Device, ScanRun, Service, Verdict
from lanprobe.profile_schema import Port, Profile
from lanprobe.runner import run_check
from lanprobe.scope import Scope

from tests.checks.conftest import device_of, results_of, verdicts_of

lab = pytest.mark.lab


def by_port(run: ScanRun, dev: Device, check_id: str) -> dict[int | None, Any]:
    return {r.target.port: r for r in results_of(run, dev, check_id)}


@lab
def test_tls_protocol(lab_run: ScanRun, lab_bench: Any) -> None:
    therma = by_port(lab_run, device_of(lab_run, lab_bench, "therma-t1"), "data.tls-protocol")
    assert therma[443].verdict == Verdict.fail
    assert therma[443].evidence["old_versions"] == ["TLSv1.0", "TLSv1.1"]
    hub = by_port(lab_run, device_of(lab_run, lab_bench, "hubco-h1"), "data.tls-protocol")
    assert {p: r.verdict for p, r in hub.items()} == {443: Verdict.passed, 8883: Verdict.passed}
    assert hub[443].evidence["tier2"]["versions"]["SSLv3"] is False
    plug = by_port(lab_run, device_of(lab_run, lab_bench, "plugco-sp1"), "data.tls-protocol")
    assert plug[8883].verdict == Verdict.passed
    gizmo = device_of(lab_run, lab_bench, "gizmo-g1")
    assert verdicts_of(lab_run, gizmo, "data.tls-protocol") == {Verdict.not_applicable}


@lab
def test_tls_cipher(lab_run: ScanRun, lab_bench: Any) -> None:
    therma = by_port(lab_run, device_of(lab_run, lab_bench, "therma-t1"), "data.tls-cipher")
    assert therma[443].verdict == Verdict.fail
    # the weak model's static-RSA CBC-SHA suites, seen by both tiers
    assert "TLS_RSA_WITH_AES_128_CBC_SHA" in therma[443].evidence["no_forward_secrecy"]
    assert therma[443].evidence["tier2"]["heartbleed"] is False
    hub = by_port(lab_run, device_of(lab_run, lab_bench, "hubco-h1"), "data.tls-cipher")
    assert hub[443].verdict == Verdict.passed
    assert hub[443].evidence["broken"] == {} and hub[443].evidence["no_forward_secrecy"] == []
    cam = device_of(lab_run, lab_bench, "acme-ipcam300")
    assert verdicts_of(lab_run, cam, "data.tls-cipher") == {Verdict.passed}


@lab
def test_tls_cipher_control_mqtts(lab_run: ScanRun, lab_bench: Any) -> None:
    hub = by_port(lab_run, device_of(lab_run, lab_bench, "hubco-h1"), "data.tls-cipher")
    assert hub[8883].verdict == Verdict.passed


@lab
def test_tls_certificate(lab_run: ScanRun, lab_bench: Any) -> None:
    therma = by_port(lab_run, device_of(lab_run, lab_bench, "therma-t1"), "data.tls-certificate")
    problems = therma[443].evidence["problems"]
    assert therma[443].verdict == Verdict.fail
    assert "RSA key of 1024 bits (< 2048)" in problems and "signed with SHA1" in problems
    assert not any("not chained" in p for p in problems)  # SHA-1, but from the lab CA
    plug = by_port(lab_run, device_of(lab_run, lab_bench, "plugco-sp1"), "data.tls-certificate")
    assert plug[8883].verdict == Verdict.fail
    assert plug[8883].evidence["problems"][0].startswith("expired on ")
    for unit in (0, 1):
        cam = by_port(
            lab_run, device_of(lab_run, lab_bench, "acme-ipcam300", unit), "data.tls-certificate"
        )
        assert cam[443].verdict == Verdict.fail
        assert "self-signed, not chained to a trusted CA" in cam[443].evidence["problems"]
    hub = by_port(lab_run, device_of(lab_run, lab_bench, "hubco-h1"), "data.tls-certificate")
    assert {p: r.verdict for p, r in hub.items()} == {443: Verdict.passed, 8883: Verdict.passed}
    assert hub[443].evidence["certificate"]["ip_names"] == [
        device_of(lab_run, lab_bench, "hubco-h1").ip
    ]


@lab
def test_tls_required(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = by_port(lab_run, device_of(lab_run, lab_bench, "acme-ipcam200"), "data.tls-required")
    assert {p: r.verdict for p, r in cam.items()} == {
        21: Verdict.fail,
        23: Verdict.fail,
        80: Verdict.fail,
    }
    assert "Basic" in cam[80].evidence["login"]
    plug = by_port(lab_run, device_of(lab_run, lab_bench, "plugco-sp1"), "data.tls-required")
    assert plug[1883].verdict == Verdict.fail and plug[80].verdict == Verdict.fail
    # therma's port 80 only redirects to HTTPS: only its cleartext MQTT fails
    therma = by_port(lab_run, device_of(lab_run, lab_bench, "therma-t1"), "data.tls-required")
    assert set(therma) == {1883}
    hub = device_of(lab_run, lab_bench, "hubco-h1")
    assert verdicts_of(lab_run, hub, "data.tls-required") == {Verdict.passed}


# --- a port that accepts TCP and never answers a handshake ---------------------------------------


async def test_hung_tls_port_is_inconclusive_within_its_deadline() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                while await reader.read(1024):
                    pass
        except (TimeoutError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        device = Device(
            key="02:00:00:00:00:01",
            ips=["127.0.0.1"],
            services=[Service(port=port, name="https", tls=True)],
        )
        options = RunOptions(timeouts=Timeouts(connect_s=1.0, read_s=1.0, check_s=8.0))
        session = DeviceSession(
            device=device,
            profile=Profile(id="test"),
            scope=Scope.build(["127.0.0.1/32"]),
            options=options,
        )
        specs = load_all()
        baseline = load_baseline()
        start = time.monotonic()
        for check_id in ("data.tls-protocol", "data.tls-cipher", "data.tls-certificate"):
            results = await run_check(specs[check_id], session, baseline, deadline_s=8.0)
            assert [r.verdict for r in results] == [Verdict.inconclusive], results
            assert results[0].target.port == port
        # one measurement shared by the three checks, bounded by the handshake timeout
        assert time.monotonic() - start < 4.0
    finally:
        server.close()
        await asyncio.sleep(0)


ISSUE5_CHECKS = (
    "data.tls-protocol",
    "data.tls-cipher",
    "data.tls-certificate",
    "data.tls-required",
    "update.transport",
    "update.signature",
    "update.currency",
    "update.unauthenticated-upload",
    "identification.identifier",
    "identification.duplicate-identifier",
    "identification.shared-key",
    "state.exposed-status",
    "state.reporting",
    "declarations.vulnerability-contact",
    "declarations.support-period",
    "declarations.foundational",
)


@lab
def test_control_passes_every_check(lab_run: ScanRun, lab_bench: Any) -> None:
    hub = device_of(lab_run, lab_bench, "hubco-h1")
    for check_id in ISSUE5_CHECKS:
        results = results_of(lab_run, hub, check_id)
        assert results, check_id
        for res in results:
            assert res.verdict == Verdict.passed, (check_id, res.title)


async def test_cleartext_where_the_profile_expects_tls_fails() -> None:
    async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.read(1024), 3)
            writer.write(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        except (TimeoutError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(plain_http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        session = DeviceSession(
            device=Device(
                key="02:00:00:00:00:02", ips=["127.0.0.1"], services=[Service(port=port)]
            ),
            profile=Profile(id="test", ports=[Port(port=port, service="https", tls=True)]),
            scope=Scope.build(["127.0.0.1/32"]),
            options=RunOptions(timeouts=Timeouts(connect_s=1.0, read_s=1.0, check_s=8.0)),
        )
        spec = load_all()["data.tls-required"]
        [res] = await run_check(spec, session, load_baseline(), deadline_s=8.0)
        assert res.verdict == Verdict.fail, res
        assert res.target.port == port
        assert "expects TLS" in res.title
    finally:
        server.close()
        await asyncio.sleep(0)
