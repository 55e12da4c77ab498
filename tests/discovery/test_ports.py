"""The IoT port list (profiles/data/iot-ports.yaml), the scanned port set and `--ports`."""

from __future__ import annotations

from pathlib import Path

import pytest
from lanprobe.discovery.ports import (
    ALL_TCP_PORTS,
    IOT_PORTS_FILE,
    iot_tcp_ports,
    iot_udp_ports,
    load_iot_ports,
    parse_ports_option,
    tcp_scan_ports,
)
from lanprobe.discovery.services import format_ports
from lanprobe.errors import ProfileError


def test_list_has_the_iot_ports_with_sources() -> None:
    entries = load_iot_ports()
    tcp = set(iot_tcp_ports())
    # the ports the issue names: telnet 2323, TR-069, DVRs, RTSP, home-automation UIs, MQTT(S)
    assert {2323, 7547, 34567, 37777, 554, 8554, 1880, 8123, 1883, 8883} <= tcp
    assert {161, 5683, 69, 123, 1900, 5353} <= set(iot_udp_ports())
    assert all(e.source.strip() for e in entries)


def test_scan_ports_union_and_full() -> None:
    ports = tcp_scan_ports([9999], [22, 80])
    assert {9999, 22, 80, 2323, 7547} <= set(ports)
    assert 2323 not in tcp_scan_ports([9999], [22], iot=False)
    assert tcp_scan_ports([], [], full=True) == ALL_TCP_PORTS
    assert len(ALL_TCP_PORTS) == 65535 and ALL_TCP_PORTS[0] == 1


def test_format_ports_ranges() -> None:
    assert format_ports(ALL_TCP_PORTS) == "1-65535"  # a short argument, not 400 KB
    assert format_ports([80, 21, 22, 23, 8080, 8081]) == "21-23,80,8080-8081"


def test_ports_option() -> None:
    assert parse_ports_option("full").full
    assert parse_ports_option("80, 8000-8002").extra == (80, 8000, 8001, 8002)
    assert parse_ports_option("").extra == ()
    for bad in ("0", "70000", "a", "10-5", "5-"):
        with pytest.raises(ValueError):
            parse_ports_option(bad)


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "iot-ports.yaml"
    p.write_text("version: 1\nports:\n" + body)
    return p


@pytest.mark.parametrize(
    ("body", "field", "line"),
    [
        ("  - {port: 70000, transport: tcp, service: x, source: s}\n", "ports[0].port", 3),
        ("  - {port: 1, transport: tcp, service: x, source: s}\n"
         "  - {port: 2, transport: sctp, service: x, source: s}\n", "ports[1].transport", 4),
        ("  - {port: 1, transport: tcp, service: x}\n", "ports[0].source", 3),
        ("  - {port: 1, transport: tcp, service: x, source: s, colour: red}\n", "ports[0]", 3),
        ("  - {port: 1, transport: tcp, service: x, source: s}\n"
         "  - {port: 1, transport: tcp, service: y, source: s}\n", "ports[1].port", 4),
    ],
)  # fmt: skip
def test_bad_list_names_file_line_field(tmp_path: Path, body: str, field: str, line: int) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ProfileError) as err:
        load_iot_ports(path)
    assert err.value.field == field and err.value.line == line
    assert str(path) in str(err.value)


def test_builtin_file_is_the_packaged_one() -> None:
    assert IOT_PORTS_FILE.is_file() and IOT_PORTS_FILE.parent.name == "data"


async def test_web_ui_on_an_unnamed_port_is_judged_like_port_80() -> None:
    """A port nobody named (nmap says `unknown`) still gets the HTTP probe; once it is named
    http, the HTTP checks judge it like 80 (here: an admin path open without a login)."""
    from lanprobe.checks.context import CheckContext, CheckMeta, DeviceSession, RunOptions
    from lanprobe.checks.logical_access import unauthenticated_interface
    from lanprobe.discovery.fingerprint import FingerprintOptions, fingerprint_hosts
    from lanprobe.model import Capability, Device, Service, Severity, Verdict
    from lanprobe.paths import BUILTIN_PROFILES
    from lanprobe.profile_schema import Interfaces, Profile
    from lanprobe.scope import Scope

    from tests.clients.localhttp import http_server

    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> object:
        if path == "/api/config":
            return 200, b'{"wifi": {"psk": "x"}}', {"Server": "NodeUI/1.0"}
        return 404, b"not found", {"Server": "NodeUI/1.0"}

    async with http_server(handler) as port:  # type: ignore[arg-type]
        scope = Scope.build(["127.0.0.1/32"])
        svc = Service(port=port, name="unknown")
        opts = FingerprintOptions(greeting_s=0.3)
        await fingerprint_hosts(scope, {"127.0.0.1": [svc]}, opts)
        assert svc.name == "http" and svc.product == "NodeUI"
        device = Device(key="02:00:00:00:00:03", ips=["127.0.0.1"], services=[svc])
        profile = Profile(id="t", interfaces=Interfaces(admin_paths=["/api/config"]))
        session = DeviceSession(
            device=device, profile=profile, scope=scope,
            options=RunOptions(profiles_dir=BUILTIN_PROFILES),
        )  # fmt: skip
        meta = CheckMeta(capability=Capability.logical_access, severity=Severity.high)
        ctx = CheckContext(session=session, check_id="access.unauthenticated-interface", meta=meta)
        results = [r async for r in unauthenticated_interface(ctx)]
    fails = [r for r in results if r.verdict is Verdict.fail]
    assert [(r.target.port, r.target.service) for r in fails] == [(port, "http")]


@pytest.mark.lab
def test_full_ports_finds_what_no_list_names(lab_bench: object) -> None:
    """`--ports full`: every TCP port of one lab device, with no list at all (top 0, no IoT list):
    the camera's debug shell on 9999 and its RTSP on 554 are found all the same."""
    import asyncio

    from lanprobe.discovery import DiscoveryOptions, discover
    from lanprobe.discovery.services import NmapOptions
    from lanprobe.scope import Scope

    cam = next(d for d in lab_bench.devices if d.model == "acme-ipcam200")  # type: ignore[attr-defined]
    scope = Scope.build([f"{cam.ip}/32"], [lab_bench.bridge], lab=True)  # type: ignore[attr-defined]
    opts = DiscoveryOptions(nmap=NmapOptions(top_ports=0), iot_ports=False, full_ports=True)
    inv = asyncio.run(discover(scope, options=opts))
    dev = inv.by_ip(cam.ip)
    assert dev is not None, inv.notes
    assert sorted(s.port for s in dev.services if s.transport == "tcp") == sorted(cam.ports)
