"""Checks reach each service where discovery found it open: a port open on IPv6 only is probed
on that IPv6 address (and its results name it), every other port on the device's IPv4 address.
The live part serves HTTP on ::1 only (loopback) and runs a real check against it."""

from __future__ import annotations

import pytest
from lanprobe.checks.context import CheckContext, CheckMeta, DeviceSession, RunOptions
from lanprobe.errors import ScopeError
from lanprobe.model import Capability, Device, Service, Severity, Verdict
from lanprobe.paths import BUILTIN_PROFILES
from lanprobe.profile_schema import Interfaces, Profile
from lanprobe.scope import Scope

from tests.clients.localhttp import http_server


def _ctx(services: list[Service], scope: Scope, profile: Profile | None = None) -> CheckContext:
    device = Device(key="02:00:00:00:00:06", ips=["127.0.0.1", "::1"], services=services)
    session = DeviceSession(
        device=device, profile=profile or Profile(id="t"), scope=scope,
        options=RunOptions(profiles_dir=BUILTIN_PROFILES),
    )  # fmt: skip
    meta = CheckMeta(capability=Capability.logical_access, severity=Severity.high)
    return CheckContext(session=session, check_id="access.unauthenticated-interface", meta=meta)


def test_each_service_is_reached_where_it_was_found() -> None:
    scope = Scope.build(["198.18.0.0/24", "fd00:0:18::/64"])
    v6_only = Service(port=23, addresses=["fd00:0:18::a"])
    both = Service(port=80, addresses=["198.18.0.10", "fd00:0:18::a"])
    unrecorded = Service(port=8080)
    snmp6 = Service(port=161, transport="udp", addresses=["fd00:0:18::a"])
    outside = Service(port=2323, addresses=["fd00:0:99::a"])
    ctx = _ctx([v6_only, both, unrecorded, snmp6, outside], scope)
    ctx.device.ips = ["198.18.0.10", "fd00:0:18::a"]
    assert ctx.address(v6_only) == ctx.address(23) == "fd00:0:18::a"
    assert ctx.address(both) == ctx.address(8080) == ctx.address(9999) == "198.18.0.10"
    assert ctx.address(161, "udp") == "fd00:0:18::a" and ctx.address(161) == "198.18.0.10"
    with pytest.raises(ScopeError):
        ctx.address(outside)  # never a connect outside the scope
    assert ctx.target(v6_only).address == ctx.target(port=23).address == "fd00:0:18::a"
    assert ctx.target(both).address == ctx.target(port=8080).address == ""  # the device address


async def test_an_ipv6_only_web_ui_is_judged_on_its_ipv6_address() -> None:
    from lanprobe.checks.logical_access import unauthenticated_interface

    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> object:
        if path == "/api/config":
            return 200, b'{"wifi": {"psk": "x"}}', {}
        return 404, b"not found", {}

    scope = Scope.build(["127.0.0.1/32", "::1/128"], allow_public=True)
    profile = Profile(id="t", interfaces=Interfaces(admin_paths=["/api/config"]))
    async with http_server(handler, host="::1") as port:  # type: ignore[arg-type]
        svc = Service(port=port, name="http", addresses=["::1"])
        results = [r async for r in unauthenticated_interface(_ctx([svc], scope, profile))]
        # the control: the same port taken as an IPv4 one is not reached (nothing listens there)
        v4 = Service(port=port, name="http", addresses=["127.0.0.1"])
        missed = [r async for r in unauthenticated_interface(_ctx([v4], scope, profile))]
    [fail] = [r for r in results if r.verdict is Verdict.fail]
    assert (fail.target.port, fail.target.address) == (port, "::1")
    assert not any(r.verdict is Verdict.fail for r in missed)
    assert all(r.target.address == "" for r in missed)
