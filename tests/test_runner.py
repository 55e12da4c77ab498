"""The runner: verdict mapping, applicability, rounds, bounds, bench checks, interruption.

Unit tests use a fake discovery that returns hand-made devices on 127.0.0.0/8 and check specs
built here (not registered: the catalogue stays the real one). The lab tests at the end run
small checks against real bench devices.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lanprobe.checks.context import BenchContext, CheckContext, RunOptions, Timeouts
from lanprobe.checks.registry import CheckSpec
from lanprobe.errors import ProbeTimeout, ScopeError, Unreachable
from lanprobe.model import (
    Capability,
    Device,
    DeviceVerdict,
    Identifier,
    MdnsService,
    Result,
    ScanRun,
    Service,
    Verdict,
)
from lanprobe.runner import Limits, Progress, check_failure, scan
from lanprobe.scope import Scope

REPO = Path(__file__).resolve().parents[1]


@dataclass
class FakeInventory:
    devices: list[Device]
    partial: bool = False
    notes: list[str] = field(default_factory=list)


def fake_discover(devices: list[Device], seen: dict[str, Any] | None = None) -> Any:
    async def discover(scope: Scope, *, ports: list[int] | None = None) -> FakeInventory:
        if seen is not None:
            seen["ports"] = ports
        return FakeInventory([d.model_copy(deep=True) for d in devices], notes=["fake"])

    return discover


def spec(
    cid: str, fn: Any, *, services: tuple[str, ...] = (), order: int = 0, bench: bool = False
) -> CheckSpec:
    cap = {
        "access": Capability.logical_access,
        "data": Capability.data_protection,
        "configuration": Capability.device_configuration,
        "identification": Capability.device_identification,
    }[cid.split(".")[0]]
    return CheckSpec(id=cid, capability=cap, fn=fn, services=services, order=order, bench=bench)


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    (tmp_path / "models").mkdir()
    (tmp_path / "generic.yaml").write_text("id: generic\nstrict_ports: false\n")
    (tmp_path / "models/widget.yaml").write_text(
        "id: widget\nversion: '3'\nmatch:\n  macs: ['02:aa:00:00:00:01']\n"
        "ports:\n  - {port: 8080, service: http}\n"
        "not_applicable:\n  access.no-lockout: the widget has no login at all\n"
        "declarations:\n  declared: {SU-3: dual bank}\n"
    )
    return tmp_path


SCOPE = Scope.build(["127.0.0.0/24"])
WIDGET = Device(
    key="02:aa:00:00:00:01",
    mac="02:aa:00:00:00:01",
    ips=["127.0.0.1"],
    services=[Service(port=8080, name="http-alt"), Service(port=23, name="telnet")],
)
OTHER = Device(key="02:bb:00:00:00:02", mac="02:bb:00:00:00:02", ips=["127.0.0.2"])


async def run_with(
    profiles: Path,
    specs: list[CheckSpec],
    devices: list[Device] | None = None,
    *,
    check_s: float = 5.0,
    **kw: Any,
) -> ScanRun:
    options = RunOptions(timeouts=Timeouts(check_s=check_s))
    return await scan(
        SCOPE,
        options,
        profiles_dir=profiles,
        discover_fn=fake_discover(devices if devices is not None else [WIDGET, OTHER]),
        catalogue={s.id: s for s in specs},
        **kw,
    )


def only(run: ScanRun, device: str, cid: str) -> Result:
    rs = [r for r in run.results if r.device == device and r.check_id == cid]
    assert len(rs) == 1, rs
    return rs[0]


# --- verdict mapping ----------------------------------------------------------------------------


async def test_every_way_a_check_ends_becomes_a_verdict(profiles: Path) -> None:
    async def passes(ctx: CheckContext) -> AsyncIterator[Result]:
        yield ctx.result(Verdict.passed, "fine", target=ctx.target(port=1))

    async def hangs(ctx: CheckContext) -> AsyncIterator[Result]:
        await asyncio.sleep(30)
        yield ctx.result(Verdict.passed, "never")

    async def device_refuses(ctx: CheckContext) -> AsyncIterator[Result]:
        raise Unreachable("connection refused", target=f"{ctx.ip}:80")
        yield  # pragma: no cover

    async def device_times_out(ctx: CheckContext) -> AsyncIterator[Result]:
        raise ProbeTimeout("no answer in 3 s", target=ctx.ip)
        yield  # pragma: no cover

    async def buggy(ctx: CheckContext) -> AsyncIterator[Result]:
        yield ctx.result(Verdict.fail, "first port fails")
        raise KeyError("oops")

    async def silent(ctx: CheckContext) -> AsyncIterator[Result]:
        if False:
            yield  # pragma: no cover

    specs = [
        spec("access.cleartext-admin", passes),
        spec("access.anonymous-mqtt", hangs),
        spec("access.unexpected-port", device_refuses),
        spec("data.tls-protocol", device_times_out),
        spec("data.tls-cipher", buggy),
        spec("data.tls-certificate", silent),
    ]
    run = await run_with(profiles, specs, [WIDGET], check_s=0.5)
    k = WIDGET.key
    assert only(run, k, "access.cleartext-admin").verdict == Verdict.passed
    hang = only(run, k, "access.anonymous-mqtt")
    assert hang.verdict == Verdict.inconclusive and "ran out of time" in hang.title
    assert hang.duration_s >= 0.45
    refused = only(run, k, "access.unexpected-port")
    assert refused.verdict == Verdict.inconclusive and "connection refused" in refused.title
    assert refused.evidence["error"] == "Unreachable"
    assert only(run, k, "data.tls-protocol").verdict == Verdict.inconclusive
    bug = [r for r in run.results if r.check_id == "data.tls-cipher"]
    assert [r.verdict for r in bug] == [Verdict.fail, Verdict.error]
    assert "KeyError" in bug[1].evidence["exception"]
    silent_r = only(run, k, "data.tls-certificate")
    assert silent_r.verdict == Verdict.error and silent_r.title == "check produced no verdict"
    # The baseline gives severity and references to results the runner makes itself.
    assert hang.severity.value == "high"
    assert "NISTIR-8259A:LAI-2" in hang.references


async def test_scope_error_in_a_check_is_an_error_not_a_pass(profiles: Path) -> None:
    async def escapes(ctx: CheckContext) -> AsyncIterator[Result]:
        ctx.scope.check("198.51.100.7")
        yield ctx.result(Verdict.passed, "must not happen")

    run = await run_with(profiles, [spec("access.cleartext-admin", escapes)], [WIDGET])
    r = only(run, WIDGET.key, "access.cleartext-admin")
    assert r.verdict == Verdict.error and "ScopeError" in r.title
    assert issubclass(ScopeError, Exception)


async def test_applicability_from_services_and_profile(profiles: Path) -> None:
    calls: list[str] = []

    async def record(ctx: CheckContext) -> AsyncIterator[Result]:
        calls.append(f"{ctx.check_id}@{ctx.device.key}")
        yield ctx.result(Verdict.passed, "ran")

    specs = [
        spec("access.anonymous-mqtt", record, services=("mqtt", "mqtts")),
        spec("access.cleartext-admin", record, services=("telnet", "ftp")),
        spec("access.no-lockout", record),
        spec("configuration.default-login", record, services=("http",)),
    ]
    run = await run_with(profiles, specs)
    w, o = WIDGET.key, OTHER.key
    mqtt = only(run, w, "access.anonymous-mqtt")
    assert mqtt.verdict == Verdict.not_applicable
    assert mqtt.title == "no mqtt/mqtts service on the device"
    assert only(run, w, "access.cleartext-admin").verdict == Verdict.passed
    na = only(run, w, "access.no-lockout")
    assert na.verdict == Verdict.not_applicable
    assert na.title == "profile widget: the widget has no login at all"
    # 8080 is "http-alt" for nmap and "http" in the widget's profile: the check applies.
    assert only(run, w, "configuration.default-login").verdict == Verdict.passed
    # The other device matched generic: no-lockout runs there.
    assert only(run, o, "access.no-lockout").verdict == Verdict.passed
    assert only(run, o, "configuration.default-login").verdict == Verdict.not_applicable
    assert sorted(calls) == sorted(
        [
            f"access.cleartext-admin@{w}",
            f"configuration.default-login@{w}",
            f"access.no-lockout@{o}",
        ]
    )


# --- rounds, bounds, bench checks ---------------------------------------------------------------


async def test_rounds_run_in_order_and_share_the_session(profiles: Path) -> None:
    order: list[str] = []

    async def first(ctx: CheckContext) -> AsyncIterator[Result]:
        await asyncio.sleep(0.05)
        ctx.session.facts["login_attempts"] = 3
        order.append("first")
        yield ctx.result(Verdict.passed, "first")

    async def late(ctx: CheckContext) -> AsyncIterator[Result]:
        order.append("late")
        seen = ctx.session.facts.get("login_attempts")
        yield ctx.result(Verdict.passed if seen == 3 else Verdict.fail, f"saw {seen}")

    specs = [spec("access.no-lockout", late, order=10), spec("configuration.default-login", first)]
    run = await run_with(profiles, specs, [OTHER])
    assert order == ["first", "late"]
    assert only(run, OTHER.key, "access.no-lockout").verdict == Verdict.passed


async def test_concurrency_bounds_hold(profiles: Path) -> None:
    active: dict[str, int] = {}
    peak: dict[str, int] = {}
    total = {"now": 0, "peak": 0}

    async def busy(ctx: CheckContext) -> AsyncIterator[Result]:
        key = ctx.device.key
        active[key] = active.get(key, 0) + 1
        total["now"] += 1
        peak[key] = max(peak.get(key, 0), active[key])
        total["peak"] = max(total["peak"], total["now"])
        await asyncio.sleep(0.05)
        active[key] -= 1
        total["now"] -= 1
        yield ctx.result(Verdict.passed, "ok")

    ids = [
        "access.cleartext-admin",
        "access.anonymous-mqtt",
        "access.unexpected-port",
        "access.unauthenticated-interface",
        "data.tls-protocol",
        "data.tls-cipher",
    ]
    devices = [
        Device(key=f"02:cc:00:00:00:0{i}", mac=f"02:cc:00:00:00:0{i}", ips=[f"127.0.0.{i}"])
        for i in range(1, 5)
    ]
    run = await run_with(
        profiles,
        [spec(i, busy) for i in ids],
        devices,
        limits=Limits(global_checks=5, per_device_checks=2),
    )
    assert len(run.results) == len(ids) * len(devices)
    assert max(peak.values()) == 2
    assert total["peak"] == 5


async def test_bench_check_sees_every_session_and_every_device_gets_a_verdict(
    profiles: Path,
) -> None:
    async def per_device(ctx: CheckContext) -> AsyncIterator[Result]:
        ctx.session.facts["serial"] = "SAME"
        yield ctx.result(Verdict.passed, "serial read")

    async def dupes(bctx: BenchContext) -> AsyncIterator[Result]:
        assert len(bctx.sessions) == 2
        serials = [s.facts.get("serial") for s in bctx.sessions]
        assert serials == ["SAME", "SAME"]
        # Reports only the first device: the runner fills the other with an error.
        dev = bctx.sessions[0].device
        yield bctx.result(dev, Verdict.fail, "duplicate serial")

    specs = [
        spec("identification.identifier", per_device),
        spec("identification.duplicate-identifier", dupes, bench=True),
    ]
    run = await run_with(profiles, specs)
    dup = sorted(
        (r.device, r.verdict)
        for r in run.results
        if r.check_id == "identification.duplicate-identifier"
    )
    assert dup == sorted([(WIDGET.key, Verdict.fail), (OTHER.key, Verdict.error)])


async def test_bench_check_that_raises_marks_every_device(profiles: Path) -> None:
    async def boom(bctx: BenchContext) -> AsyncIterator[Result]:
        raise Unreachable("reset")
        yield  # pragma: no cover

    run = await run_with(profiles, [spec("identification.shared-key", boom, bench=True)])
    assert {r.verdict for r in run.results} == {Verdict.inconclusive}
    assert len(run.results) == 2
    # the same evidence a per-device check gets (one mapping: runner.check_failure)
    assert {r.evidence["error"] for r in run.results} == {"Unreachable"}


def test_one_mapping_of_what_a_check_raised() -> None:
    verdict, why, _ = check_failure(TimeoutError(), 10, 10)
    assert verdict is Verdict.inconclusive and why == "check ran out of time (10 s)"
    assert check_failure(TimeoutError(), 10, 1)[1] == "a network operation timed out"
    verdict, why, ev = check_failure(Unreachable("no route"), 10, 1)
    assert verdict is Verdict.inconclusive and ev == {"reason": why, "error": "Unreachable"}
    verdict, why, ev = check_failure(KeyError("k"), 10, 1)
    assert verdict is Verdict.error and why == "check failed: KeyError: 'k'" and "traceback" in ev


# --- the run record -----------------------------------------------------------------------------


async def test_run_records_versions_profiles_scores_and_progress(profiles: Path) -> None:
    async def fails(ctx: CheckContext) -> AsyncIterator[Result]:
        yield ctx.result(Verdict.fail, "telnet open", target=ctx.target(port=23, service="telnet"))

    events: list[Progress] = []
    seen: dict[str, Any] = {}
    options = RunOptions(timeouts=Timeouts(check_s=5))
    run = await scan(
        SCOPE,
        options,
        profiles_dir=profiles,
        ports=[9999],
        discover_fn=fake_discover([WIDGET, OTHER], seen),
        catalogue={"access.cleartext-admin": spec("access.cleartext-admin", fails)},
        progress=events.append,
    )
    assert seen["ports"] == [8080, 9999]  # profile ports and the caller's
    assert run.tool.name == "lanprobe" and run.tool.version
    assert run.baseline["id"] == "nistir-8259a" and run.baseline["version"]
    assert run.scope.cidrs == ["127.0.0.0/24"]
    assert run.notes == ["fake"]
    assert set(run.timings_s) == {"discovery", "checks"}
    widget = run.device(WIDGET.key)
    assert widget is not None and widget.profile == "widget"
    assert widget.profile_reason == "MAC 02:aa:00:00:00:01 listed"
    assert widget.profile_match is not None and widget.profile_match.strength == "strong"
    assert run.profiles["widget"]["version"] == "3"
    assert run.profiles["widget"]["declarations"]["declared"] == {"SU-3": "dual bank"}
    assert set(run.profiles) == {"widget", "generic"}
    score = run.scores[WIDGET.key]
    assert score.verdict == DeviceVerdict.does_not_conform
    assert score.profile == "widget" and score.profile_version == "3"
    assert score.details["software_update"].declared == ["SU-3"]
    assert run.finished is not None and not run.interrupted
    kinds = [e.kind for e in events]
    assert kinds[0] == "discovery" and kinds[-1] == "done"
    assert kinds.count("check_done") == 2 and kinds.count("scored") == 2
    # The run survives its JSON form.
    again = ScanRun.from_json(run.to_json())
    assert again.results == run.results


async def test_run_records_bench_host_and_observed_model_firmware(profiles: Path) -> None:
    async def passes(ctx: CheckContext) -> AsyncIterator[Result]:
        yield ctx.result(Verdict.passed, "ok", evidence={"seen": "nothing open"})

    widget = WIDGET.model_copy(
        update={
            "identifiers": {
                "model": Identifier(value="W-100", source="mdns"),
                "fw": Identifier(value="2.4.1", source="ssdp"),
            }
        }
    )
    catalogue = {"access.cleartext-admin": spec("access.cleartext-admin", passes)}
    named = await run_with(profiles, list(catalogue.values()), [widget, OTHER], bench="lab-7")
    assert named.bench == "lab-7"
    assert named.host.hostname == socket.gethostname() and named.host.python
    dev = named.device(WIDGET.key)
    assert dev is not None and (dev.model, dev.firmware) == ("W-100", "2.4.1")
    other = named.device(OTHER.key)
    assert other is not None and (other.model, other.firmware) == ("", "")  # not observed
    unnamed = await run_with(profiles, list(catalogue.values()), [widget])
    assert unnamed.bench == socket.gethostname()  # the probe host names the bench by default
    assert ScanRun.from_json(named.to_json()).device(WIDGET.key) == dev


async def test_cancelled_scan_returns_partial_run(profiles: Path) -> None:
    started = asyncio.Event()

    async def quick(ctx: CheckContext) -> AsyncIterator[Result]:
        yield ctx.result(Verdict.passed, "quick")

    async def slow(ctx: CheckContext) -> AsyncIterator[Result]:
        started.set()
        await asyncio.sleep(30)
        yield ctx.result(Verdict.passed, "never")

    specs = [spec("access.cleartext-admin", quick), spec("access.no-lockout", slow, order=5)]
    task = asyncio.create_task(run_with(profiles, specs, [OTHER], check_s=60))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    run = await asyncio.wait_for(task, 5)
    assert run.interrupted
    # The finished check keeps its verdict; the one cut short is inconclusive, never a pass.
    got = {r.check_id: (r.verdict, r.title) for r in run.results}
    assert got["access.cleartext-admin"] == (Verdict.passed, "quick")
    assert got["access.no-lockout"][0] == Verdict.inconclusive
    assert "interrupted" in got["access.no-lockout"][1]
    # (no-lockout is medium: its inconclusive lowers the score, not the verdict)
    assert run.scores[OTHER.key].score is not None and run.scores[OTHER.key].score < 100
    assert run.finished is not None


async def test_devices_outside_scope_are_dropped(profiles: Path) -> None:
    outside = Device(key="02:dd:00:00:00:01", ips=["127.0.1.5"])

    async def passes(ctx: CheckContext) -> AsyncIterator[Result]:
        yield ctx.result(Verdict.passed, "ok")

    run = await run_with(profiles, [spec("access.cleartext-admin", passes)], [outside, OTHER])
    assert [d.key for d in run.devices] == [OTHER.key]


async def test_hung_tcp_peer_ends_inconclusive(profiles: Path) -> None:
    """A real socket that accepts and never answers: the deadline turns it into inconclusive."""
    srv = socket.socket()
    srv.bind(("127.0.0.2", 0))
    srv.listen(4)
    port = srv.getsockname()[1]

    async def reads(ctx: CheckContext) -> AsyncIterator[Result]:
        reader, writer = await asyncio.open_connection(ctx.ip, port)
        try:
            data = await reader.read(10)
        finally:
            writer.close()
            await writer.wait_closed()
        yield ctx.result(Verdict.passed, f"read {data!r}")

    try:
        run = await run_with(
            profiles, [spec("access.cleartext-admin", reads)], [OTHER], check_s=0.3
        )
    finally:
        srv.close()
    r = only(run, OTHER.key, "access.cleartext-admin")
    assert r.verdict == Verdict.inconclusive and "ran out of time" in r.title


# --- against the lab bench ----------------------------------------------------------------------

_NAMES = {21: "ftp", 22: "ssh", 23: "telnet", 80: "http", 443: "https", 1883: "mqtt", 8883: "mqtt"}


def bench_devices(bench: Any) -> list[Device]:
    """Hand-made Device records of the bench (what discovery would find): ports, and the HTTP
    Server header as the only identifier (no mDNS, SSDP or serial)."""
    from lanprobe.lab.models import BY_ID

    out = []
    for d in bench.devices:
        server = BY_ID[d.model].server
        services = [
            Service(
                port=p,
                name=_NAMES.get(p, "unknown"),
                tls=p in (443, 8883),
                banner=server if _NAMES.get(p, "").startswith("http") else "",
            )
            for p in sorted(d.ports)
        ]
        out.append(Device(key=d.mac, mac=d.mac, ips=[d.ip], services=services))
    return out


async def http_paths(ctx: CheckContext) -> AsyncIterator[Result]:
    """A small real check: the profile's admin and status paths must refuse an anonymous GET."""
    import httpx

    paths = ctx.profile.interfaces.admin_paths + ctx.profile.interfaces.status_paths
    for svc in ctx.services("http", "https"):
        scheme = "https" if ctx.kind(svc) == "https" else "http"
        async with httpx.AsyncClient(verify=False, timeout=ctx.timeouts.read_s) as client:
            for path in paths:
                try:
                    resp = await client.get(f"{scheme}://{ctx.ip}:{svc.port}{path}")
                except httpx.TransportError as exc:
                    raise Unreachable(str(exc) or type(exc).__name__, target=ctx.ip) from exc
                verdict = Verdict.fail if resp.status_code == 200 else Verdict.passed
                yield ctx.result(
                    verdict,
                    f"{path} answers {resp.status_code}",
                    target=ctx.target(svc),
                    evidence={"path": path, "status": resp.status_code},
                )


async def closed_port(ctx: CheckContext) -> AsyncIterator[Result]:
    """Connects to a port nothing listens on: the device refuses, the check raises Unreachable."""
    try:
        _r, w = await asyncio.wait_for(asyncio.open_connection(ctx.ip, 9), ctx.timeouts.connect_s)
    except OSError as exc:
        raise Unreachable(f"port 9: {exc.strerror or exc}", target=ctx.ip) from exc
    w.close()
    await w.wait_closed()
    yield ctx.result(Verdict.passed, "port 9 open?")


@pytest.mark.lab
async def test_scan_of_the_bench_with_small_real_checks(lab_bench: Any) -> None:
    from lanprobe.lab.scope import lab_scope

    specs = [
        spec("access.unauthenticated-interface", http_paths, services=("http", "https")),
        spec("data.tls-required", closed_port),
    ]
    options = RunOptions(timeouts=Timeouts(connect_s=2, read_s=3, check_s=20))
    run = await scan(
        lab_scope(lab_bench.bridge),
        options,
        profiles_dir=REPO / "profiles",
        discover_fn=fake_discover(bench_devices(lab_bench)),
        catalogue={s.id: s for s in specs},
    )
    by_model = {d.ip: d.model for d in lab_bench.devices}
    for dev in run.devices:
        # Every lab model's Server header leads to its own profile; the OUI agrees, but one
        # lesser identifier is a weak match (an OUI alone would be none).
        assert dev.profile == by_model[dev.ip], (dev.ip, dev.profile, dev.profile_reason)
        assert dev.profile_reason.startswith("HTTP Server header contains")
        assert dev.profile_match is not None and dev.profile_match.strength == "weak"
        assert dev.profile_match.identifiers[-1].startswith("OUI ")
        tls = [r for r in run.results if r.device == dev.key and r.check_id == "data.tls-required"]
        assert [r.verdict for r in tls] == [Verdict.inconclusive]
        assert "port 9" in tls[0].title

    def verdicts(model: str, path: str) -> set[Verdict]:
        keys = {d.mac for d in lab_bench.devices if d.model == model}
        return {
            r.verdict
            for r in run.results
            if r.device in keys
            and r.check_id == "access.unauthenticated-interface"
            and r.evidence.get("path") == path
        }

    # The insecure camera serves its config and status to anyone; the hub refuses both.
    assert verdicts("acme-ipcam200", "/api/config") == {Verdict.fail}
    assert verdicts("acme-ipcam200", "/api/status") == {Verdict.fail}
    assert verdicts("hubco-h1", "/api/config") == {Verdict.passed}
    assert verdicts("hubco-h1", "/api/status") == {Verdict.passed}
    cam = next(d.mac for d in lab_bench.devices if d.model == "acme-ipcam200")
    hub = next(d.mac for d in lab_bench.devices if d.model == "hubco-h1")
    assert run.scores[cam].verdict == DeviceVerdict.does_not_conform
    # The hub: one pass (high) and one inconclusive (high, port 9) -> inconclusive.
    assert run.scores[hub].verdict == DeviceVerdict.inconclusive
    assert run.scores[hub].details["logical_access"].score == 100.0
    # No MQTT-only or unmatched device got an HTTP verdict it has no service for.
    plug = next(d for d in run.devices if d.profile == "plugco-sp1")
    assert {r.verdict for r in run.results_for(plug.key) if r.check_id.startswith("access")} == {
        Verdict.passed
    }


# --- the command line ---------------------------------------------------------------------------


def test_cli_scan_usage_errors_exit_2(tmp_path: Path) -> None:
    from lanprobe.cli import app
    from typer.testing import CliRunner

    runner = CliRunner()
    cases = [
        ([], "no scope"),
        (["--cidr", "198.18.3.0/24", "--format", "xml"], "--format"),
        (["--cidr", "198.18.3.0/24", "--fail-on", "sometimes"], "--fail-on"),
        (["--cidr", "198.18.3.0/24", "--fail-on", "regression"], "--baseline"),
        (["--cidr", "8.8.8.0/24"], "public network"),
        (["--lab", "--bridge", "plabnone"], "no lab bench is running on plabnone"),
        (["--cidr", "198.18.3.0/24", "--profiles", str(tmp_path / "none")], "does not exist"),
        (["--cidr", "198.18.3.0/24", "--ca", str(tmp_path / "none.pem")], "no such file"),
    ]
    for args, message in cases:
        res = runner.invoke(app, ["scan", *args])
        assert res.exit_code == 2, (args, res.output)
        assert message in res.output, (args, res.output)


def test_cli_scope_is_checked_before_anything_suggests_work_started() -> None:
    """`--iface nosuch0`: refused with the reason before a "discovering ..." line (scan and
    discover alike), exit 2."""
    from lanprobe.cli import app
    from typer.testing import CliRunner

    for command in ("scan", "discover"):
        res = CliRunner().invoke(app, [command, "--iface", "nosuch0", "--cidr", "198.18.170.0/24"])
        assert res.exit_code == 2, (command, res.output)
        assert res.output.startswith("error: interface 'nosuch0' does not exist"), res.output
        assert "discover" not in res.output.replace("error:", ""), res.output


def _canned_scan(run: ScanRun) -> Any:
    async def scan(*_args: Any, **_kw: Any) -> ScanRun:
        return run

    return scan


@pytest.mark.parametrize(
    ("fail_on", "errors", "nonconform", "code"),
    [
        ("fail", True, False, 4),
        ("fail", True, True, 4),  # an incomplete run says so first
        ("never", True, True, 0),  # the only way to 0 with errors
        ("fail", False, True, 1),
        ("fail", False, False, 0),
    ],
)
def test_cli_scan_exit_code_for_error_results(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    fail_on: str,
    errors: bool,
    nonconform: bool,
    code: int,
) -> None:
    """A scan whose results include `error` (our failure, e.g. a data file missing) exits 4
    unless --fail-on never, and its summary leads with the errors."""
    from lanprobe import runner
    from lanprobe.cli import app
    from typer.testing import CliRunner

    from tests.report.runs import device, make_run, result

    dev = device(10, "hubco-h1")
    results = [result(dev, "identification.identifier", Verdict.passed)]
    if errors:
        results.append(
            result(
                dev,
                "state.reporting",
                Verdict.error,
                title="check failed: FileNotFoundError: state-paths.txt",
                evidence={"exception": "FileNotFoundError: state-paths.txt"},
            )
        )
    if nonconform:
        results.append(result(dev, "access.cleartext-admin", Verdict.fail))
    monkeypatch.setattr(runner, "scan", _canned_scan(make_run("canned", [dev], results)))
    args = ["scan", "--cidr", "198.18.170.0/24", "--format", "console", "--fail-on", fail_on]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == code, res.output
    if errors:
        lines = res.output.splitlines()
        head = next(i for i, line in enumerate(lines) if line.startswith("lanprobe "))
        assert lines[head + 1].startswith("ERROR: 1 result(s) are lanprobe's own failures")
        if fail_on != "never":
            assert "the run is incomplete; exit 4" in lines[-1]


def test_cli_scan_reads_its_baseline_before_any_traffic(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A --baseline file that cannot be read, or --waivers that do not parse, is exit 2 before
    any traffic, as the README says of usage errors (the scan used to run first, then exit 2).
    `last` before the first run of this scope and bench says that there is nothing to compare
    and scans: that run starts the history (exit 2 after the scan used to leave a nightly job
    red, and now would leave it red for good). Then `last` is that run."""
    from lanprobe import runner
    from lanprobe.cli import app
    from typer.testing import CliRunner

    from tests.report.runs import device, make_run, result

    scanned: list[str] = []
    dev = device(10, "hubco-h1")

    async def fake_scan(*_args: Any, **kw: Any) -> ScanRun:
        scanned.append("traffic")
        run = make_run(f"r{len(scanned)}", [dev], [result(dev, "identification.identifier",
                                                          Verdict.passed)])  # fmt: skip
        run.scope = runner.scope_info(Scope.build(["198.18.170.0/24"], []))
        run.bench = kw["bench"]
        return run

    monkeypatch.setattr(runner, "scan", fake_scan)
    db = str(tmp_path / "h.sqlite")
    scope = ["--cidr", "198.18.170.0/24", "--format", "console", "--db", db, "--bench", "b1"]
    bad_waivers = tmp_path / "w.yaml"
    bad_waivers.write_text("waivers:\n  - {check: x}\n")
    missing = str(tmp_path / "none.json")
    cases = [
        (["--baseline", missing], missing, "no such baseline run.json"),
        (["--baseline", "last", "--waivers", str(bad_waivers)], str(bad_waivers), "model"),
    ]
    for args, path, message in cases:
        res = CliRunner().invoke(app, ["scan", *scope, *args])
        assert res.exit_code == 2, (args, res.output)
        assert message in res.output, (args, res.output)
        assert scanned == [], args  # refused before any traffic
        assert res.output.count(path) == 1, res.output  # the file, named once
    args = ["scan", *scope, "--baseline", "last", "--fail-on", "regression"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert scanned == ["traffic"]
    first = "--baseline last: the history holds no complete run of bench b1 of scope "
    assert f"note: {first}198.18.170.0/24 yet: nothing to compare" in res.output
    assert "no diff: --baseline last" in res.output
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "diff r1 -> r2" in res.output and "no regression" in res.output


def test_cli_scan_help_documents_the_exit_codes() -> None:
    from lanprobe.cli import app
    from typer.testing import CliRunner

    res = CliRunner().invoke(app, ["scan", "--help"], terminal_width=200)
    text = " ".join(res.output.replace("│", " ").split())
    assert "4 the scan ran but some checks broke (`error` results" in text
    assert "2 usage or scope error" in text


def test_cli_checks_lists_the_catalogue() -> None:
    import json

    from lanprobe.cli import app
    from typer.testing import CliRunner

    res = CliRunner().invoke(app, ["checks", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["id"]: r for r in json.loads(res.stdout)}
    row = rows["configuration.default-login"]
    assert row["capability"] == "device_configuration"
    assert row["severity"] == "critical"
    assert "LAI-2" in row["nistir_8259a"] and "5.1-1" in row["en_303_645"]
    assert "I1" in row["owasp_iot"]
    assert row["remediation"].startswith("Remove universal default passwords")
    assert len(rows) >= 22


def _probe_scan(bench: Any, out: Path, *extra: str) -> Any:
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "lanprobe.cli", "scan", "--lab", "--bridge", bench.bridge]
    cmd += ["--out", str(out), "--top-ports", "0", *extra]
    return subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.lab
def test_cli_scan_of_the_bench_writes_run_json_and_exits_1(lab_bench: Any, tmp_path: Path) -> None:
    proc = _probe_scan(lab_bench, tmp_path, "--check", "declarations", "--format", "console,json")
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 1, stderr
    run = ScanRun.read(tmp_path / "run.json")
    assert {r.check_id.split(".")[0] for r in run.results} == {"declarations"}
    assert len(run.devices) == len(lab_bench.devices)
    # The lab CA was trusted for the scan (RunOptions.trusted_ca_files) and the run says which
    # profile version and declarations each device was judged by.
    assert run.profiles["hubco-h1"]["declarations"]["support_end"] == "2031-12-31"
    cam = next(d for d in run.devices if d.profile == "acme-ipcam200")
    assert run.scores[cam.key].verdict == DeviceVerdict.does_not_conform
    assert "does_not_conform" in stdout and "declarations.support-period" in stdout
    assert "lanprobe" in stdout and str(run.run_id) in stdout


@pytest.mark.lab
def test_cli_scan_interrupted_writes_partial_run(lab_bench: Any, tmp_path: Path) -> None:
    import signal
    import sys

    from tests.robustness.test_interrupt import Scan

    cmd = [sys.executable, "-m", "lanprobe.cli", "scan", "--lab", "--bridge", lab_bench.bridge]
    scan_ = Scan([*cmd, "--out", str(tmp_path), "--top-ports", "0", "--format", "json"])
    # Interrupt once discovery is under way, not after a fixed sleep: on a loaded host the
    # interpreter may still be importing, and a Ctrl-C then is an ordinary KeyboardInterrupt.
    scan_.wait_for("discovering", timeout_s=60)
    # Discovery's nmap pool finishes its hosts before the cancellation reaches the runner
    # (up to nmap's host timeout); then the partial run is written and the scan exits 3.
    rc, _took = scan_.interrupt(signal.SIGINT)
    stderr = "\n".join(scan_.lines)
    assert rc == 3, stderr
    run = ScanRun.read(tmp_path / "run.json")
    assert run.interrupted and run.finished is not None
    assert "interrupted" in stderr


async def test_the_lab_models_profiles_count_for_a_lab_scope_only() -> None:
    """A unit announcing a lab model (TXT model=H1) is that model on the lab bench only; on any
    other bench it is checked with the built-in profiles (issue 11)."""

    async def ok(ctx: CheckContext) -> AsyncIterator[Result]:
        yield ctx.result(Verdict.passed, "fine")

    unit = Device(
        key="02:cc:00:00:00:01",
        mac="02:cc:00:00:00:01",
        ips=["127.0.0.5"],
        mdns=[MdnsService(type="_hubco._tcp.local.", name="hub", txt={"model": "H1"})],
    )
    catalogue = {"identification.identifier": spec("identification.identifier", ok)}
    for lab, want in ((True, "hubco-h1"), (False, "generic")):
        scope = Scope.build(["127.0.0.0/24"], lab=lab)
        options = RunOptions(timeouts=Timeouts(check_s=5))
        run = await scan(scope, options, discover_fn=fake_discover([unit]), catalogue=catalogue)
        assert run.devices[0].profile == want, lab
        assert options.lab_profiles is lab and options.profiles_dir is None
    # Asked for explicitly (a test scanning the lab bench with a plain scope).
    options = RunOptions(timeouts=Timeouts(check_s=5))
    run = await scan(
        Scope.build(["127.0.0.0/24"]),
        options,
        lab_profiles=True,
        discover_fn=fake_discover([unit]),
        catalogue=catalogue,
    )
    assert run.devices[0].profile == "hubco-h1"
