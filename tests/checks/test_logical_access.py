"""The logical-access checks: pure grading rules, the catch-all rule against a local server, and
the verdicts of the session's lab scan (`lab_run`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lanprobe.checks.campaign import Campaign
from lanprobe.checks.clients import http as http_client
from lanprobe.checks.clients.http import HttpAnswer
from lanprobe.checks.clients.login import LoginAttempt
from lanprobe.checks.clients.pages import same_page as same_answer
from lanprobe.checks.context import CheckContext, CheckMeta, DeviceSession, RunOptions, Timeouts
from lanprobe.checks.credentials import Pair
from lanprobe.checks.logical_access import (
    generic_grade,
    load_admin_paths,
    no_lockout,
    unauthenticated_interface,
)
from lanprobe.checks.logins import LoginInterface
from lanprobe.lab.bench import BenchState
from lanprobe.lab.models import BY_ID, LAB_USER
from lanprobe.model import Capability, Device, Result, ScanRun, Service, Severity, Verdict
from lanprobe.profile_schema import Interfaces, Port, Profile
from lanprobe.scope import Scope

from tests.checks.conftest import device_of, results_of
from tests.checks.recorded import APP_SHELL, LOGIN, device, run, session
from tests.clients.localhttp import basic_user, http_server

PROFILES = Path(__file__).resolve().parents[2] / "profiles"
MINE = (
    "access.unexpected-port",
    "access.cleartext-admin",
    "access.anonymous-mqtt",
    "access.unauthenticated-interface",
    "access.no-lockout",
    "configuration.default-login",
)


# --- pure rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "shell", "grade"),
    [
        ("telnet", False, Severity.high),
        ("ftp", False, Severity.high),
        ("unknown", False, Severity.high),
        ("abyss", True, Severity.high),  # a shell behind any name
        ("rtsp", False, Severity.medium),
        ("mqtt", False, Severity.medium),
        ("http", False, Severity.low),
        ("https", False, None),
        ("ssh", False, None),
        ("snmp", False, Severity.medium),
        ("snmpv3", False, None),  # SNMP where no v1/v2c community answered
        ("ntp", False, None),  # time: no login, no data
    ],
)
def test_generic_grading(kind: str, shell: bool, grade: Severity | None) -> None:
    assert generic_grade(kind, shell) is grade


def test_an_snmpv3_only_agent_is_graded_as_an_encrypted_service() -> None:
    """hubco-h1 scanned with the built-in profiles only must not fail for its SNMPv3 agent."""
    from lanprobe.checks.logical_access import grading_kind
    from lanprobe.model import Service

    v3 = Service(port=161, transport="udp", name="snmp", product="SNMP v3")
    assert grading_kind("snmp", v3) == "snmpv3"
    for product in ("SNMP v1/v2c/v3", "SNMP v2c", ""):
        svc = Service(port=161, transport="udp", name="snmp", product=product)
        assert grading_kind("snmp", svc) == "snmp", product


def _answer(status: int, body: bytes) -> HttpAnswer:
    return HttpAnswer(status, "", {}, body, False, 0.0)


def test_same_answer() -> None:
    page = b"<html>" + b"x" * 1000 + b"</html>"
    assert same_answer(_answer(200, page), _answer(200, page))
    assert same_answer(_answer(200, page + b"<!-- 1 -->"), _answer(200, page + b"<!-- 22 -->"))
    echo_a, echo_b = _answer(200, b"no page /admin here"), _answer(200, b"no page /x1 here")
    assert same_answer(echo_a, echo_b, "/admin", "/x1")
    assert not same_answer(echo_a, echo_b)
    assert not same_answer(_answer(200, b'{"wifi_psk": "secret"}'), _answer(200, b"<html/>"))
    assert not same_answer(_answer(200, page), _answer(204, page))


def test_admin_paths_file() -> None:
    paths = load_admin_paths(PROFILES)
    assert paths["/api/config"] == "admin"
    assert paths["/firmware/upload"] == "upload"
    assert set(paths.values()) == {"admin", "status", "upload"}
    assert "source" in (PROFILES / "data" / "admin-paths.txt").read_text().lower()


# --- servers the lab lacks (local, real HTTP): catch-alls and login pages ------------------------


async def _unauth(handler: Any, **interfaces: Any) -> list[Result]:
    async with http_server(handler) as port:
        profile = Profile(id="t", interfaces=Interfaces(**interfaces))
        device = Device(key="02:00:00:00:00:02", ips=["127.0.0.1"],
                        services=[Service(port=port, name="http")])  # fmt: skip
        options = RunOptions(profiles_dir=PROFILES, timeouts=Timeouts(connect_s=2, read_s=2))
        scope = Scope.build(["127.0.0.1/32"])
        session = DeviceSession(device=device, profile=profile, scope=scope, options=options)
        meta = CheckMeta(capability=Capability.logical_access, severity=Severity.high)
        ctx = CheckContext(session=session, check_id="access.unauthenticated-interface", meta=meta)
        results = [r async for r in unauthenticated_interface(ctx)]
    for r in results:
        r.evidence["port"] = port
    return results


async def test_catch_all_server_gives_no_finding_per_path() -> None:
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if path == "/api/config":
            return 200, b'{"admin_password": "x", "wifi": {"ssid": "lab"}}', {}
        return 200, APP_SHELL, {}

    results = await _unauth(handler, admin_paths=["/api/config"], status_paths=["/status"])
    fails = [r for r in results if r.verdict is Verdict.fail]
    assert len(fails) == 1, [r.title for r in results]
    assert fails[0].evidence["request"] == "GET /api/config (no credentials)"
    assert fails[0].target.port == fails[0].evidence["port"]
    assert "/status" in fails[0].evidence["same_as_random_path"]
    assert fails[0].evidence["random_path"]["status"] == 200


async def test_a_catch_all_where_nothing_can_be_told_apart_is_inconclusive() -> None:
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        return 200, APP_SHELL.replace(b"loading", path.encode()), {}  # echoes the path

    [res] = await _unauth(handler, admin_paths=["/api/config"])
    assert res.verdict is Verdict.inconclusive, res.title
    assert "nothing can be told apart" in res.title
    assert "/api/config" in res.evidence["same_as_random_path"]


async def test_the_login_page_at_an_admin_path_is_no_finding() -> None:
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if path == "/":
            return 302, b"", {"Location": "/login"}
        if path in ("/login", "/api/config", "/admin"):
            return 200, LOGIN, {}  # served in place of the protected page
        return 404, b"not found", {}

    [res] = await _unauth(handler, admin_paths=["/api/config"])
    assert res.verdict is Verdict.passed, res.title
    assert {"/api/config", "/admin"} <= set(res.evidence["login_page_paths"])
    assert res.evidence["login_page"]["path"] == "/login"


async def test_a_login_page_for_any_path_asks_for_a_login_everywhere() -> None:
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        return 200, LOGIN, {}

    [res] = await _unauth(handler, admin_paths=["/api/config"])
    assert res.verdict is Verdict.passed, res.title


async def test_an_admin_page_behind_a_trailing_slash_redirect_is_found() -> None:
    # A 3xx is judged by the page it leads to (issue 11): /admin -> /admin/ open is a finding.
    admin = b"<h1>Device settings</h1><form><input name=wifi_ssid></form>"

    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if path == "/admin":
            return 301, b"", {"Location": "/admin/"}
        if path == "/admin/":
            return 200, admin, {}
        if path == "/api/config":
            return 302, b"", {"Location": "/home"}  # another page: not the path's own
        if path == "/home":
            return 200, b"<h1>Welcome</h1>", {}
        return 404, b"not found", {}

    results = await _unauth(handler, admin_paths=["/api/config"])
    [fail] = [r for r in results if r.verdict is Verdict.fail]
    assert fail.evidence["request"] == "GET /admin (no credentials)"
    assert fail.evidence["redirects"] == "/admin -> /admin/"
    assert [r.verdict for r in results] == [Verdict.fail]


async def test_no_listed_path_served_is_no_pass() -> None:
    # Every path 404: an open admin UI at `/` was never judged, so no pass over an empty set.
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if path == "/":
            return 200, b"<h1>Plug</h1><a href=/toggle>Toggle</a><a href=/cfg>Settings</a>", {}
        return 404, b"not found", {}

    [res] = await _unauth(handler, admin_paths=["/api/config"])
    assert res.verdict is Verdict.not_applicable, res.title
    assert res.evidence["answers"]["/api/config"] == 404


# --- the lab scan ---------------------------------------------------------------------------------


def _results(run: ScanRun, bench: Any, model: str, check_id: str, unit: int = 0) -> list[Result]:
    return results_of(run, device_of(run, bench, model, unit), check_id)


def _verdicts(results: list[Result]) -> dict[int | None, set[Verdict]]:
    out: dict[int | None, set[Verdict]] = {}
    for r in results:
        out.setdefault(r.target.port, set()).add(r.verdict)
    return out


@pytest.mark.lab
def test_unexpected_port(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = _results(lab_run, lab_bench, "acme-ipcam200", "access.unexpected-port")
    [debug] = [r for r in cam if r.verdict is Verdict.fail]
    assert debug.target.port == 9999
    assert debug.severity is Severity.high  # answers with a shell prompt, unasked
    assert debug.evidence["shell_prompt"].endswith("#")
    hub = _results(lab_run, lab_bench, "hubco-h1", "access.unexpected-port")
    assert [r.verdict for r in hub] == [Verdict.passed]


@pytest.mark.lab
def test_cleartext_admin(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = _verdicts(_results(lab_run, lab_bench, "acme-ipcam200", "access.cleartext-admin"))
    # 69 is TFTP (UDP): cleartext and without any login by design
    assert cam == {21: {Verdict.fail}, 23: {Verdict.fail}, 69: {Verdict.fail}, 9999: {Verdict.fail}}
    sentry = _verdicts(_results(lab_run, lab_bench, "sentry-s3", "access.cleartext-admin"))
    assert sentry == {21: {Verdict.fail}}
    hub = _results(lab_run, lab_bench, "hubco-h1", "access.cleartext-admin")
    assert [r.verdict for r in hub] == [Verdict.passed]


@pytest.mark.lab
def test_anonymous_mqtt(lab_run: ScanRun, lab_bench: BenchState) -> None:
    plug = _results(lab_run, lab_bench, "plugco-sp1", "access.anonymous-mqtt")
    assert _verdicts(plug) == {1883: {Verdict.fail}, 8883: {Verdict.fail}}
    serial = next(d for d in lab_bench.devices if d.model == "plugco-sp1").serial
    for r in plug:
        assert r.severity is Severity.high
        assert f"plugco/{serial}/state" in r.evidence["topics"]
        assert r.evidence["answer"] == "CONNACK accepted"
    for model, port in (("hubco-h1", 8883), ("therma-t1", 1883)):
        [r] = _results(lab_run, lab_bench, model, "access.anonymous-mqtt")
        assert (r.target.port, r.verdict) == (port, Verdict.passed)
        assert r.evidence["reason_code"] == 135


@pytest.mark.lab
def test_unauthenticated_interface(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = _results(lab_run, lab_bench, "acme-ipcam200", "access.unauthenticated-interface")
    open_paths = {r.evidence["request"].split()[1]: r for r in cam if r.verdict is Verdict.fail}
    assert {"/api/config", "/api/status", "/logs"} <= set(open_paths)
    assert open_paths["/api/config"].severity is Severity.high
    assert open_paths["/api/config"].target.port == 80
    assert open_paths["/api/config"].evidence["answer"].startswith("200")
    hub = _results(lab_run, lab_bench, "hubco-h1", "access.unauthenticated-interface")
    assert _verdicts(hub) == {443: {Verdict.passed}}
    # The accept-anything device: its logins take any password.
    gizmo = _results(lab_run, lab_bench, "gizmo-g1", "access.unauthenticated-interface")
    accept_any = {r.target.port for r in gizmo if "accepts any password" in r.title}
    assert accept_any == {21, 80}
    assert all(r.verdict is Verdict.fail for r in gizmo if r.target.port in accept_any
               and "accepts any" in r.title)  # fmt: skip


@pytest.mark.lab
def test_no_lockout(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = _results(lab_run, lab_bench, "acme-ipcam200", "access.no-lockout")
    assert _verdicts(cam) == {21: {Verdict.fail}, 23: {Verdict.fail}, 80: {Verdict.fail}}
    web = next(r for r in cam if r.target.port == 80)
    assert len(web.evidence["throwaway_attempts"]) == 6  # threshold 5 + 1
    assert web.evidence["guard"]["lockout_signs"] == []
    hub = {r.target.port: r for r in _results(lab_run, lab_bench, "hubco-h1", "access.no-lockout")}
    assert set(hub) == {22, 443}
    assert hub[443].verdict is Verdict.passed
    assert hub[443].evidence["guard"]["lockout_signs"] == ["HTTP 429"]
    assert hub[22].verdict is Verdict.passed
    assert hub[22].evidence["guard"]["lockout_signs"][0].startswith("SSH disconnect")
    sentry = _results(lab_run, lab_bench, "sentry-s3", "access.no-lockout")
    assert {r.verdict for r in sentry} == {Verdict.inconclusive}
    assert any("bans the source" in r.evidence["reason"] for r in sentry)


@pytest.mark.lab
def test_control_device_gets_no_fail(lab_run: ScanRun, lab_bench: Any) -> None:
    hub = device_of(lab_run, lab_bench, "hubco-h1")
    for check_id in MINE:
        results = results_of(lab_run, hub, check_id)
        assert results, check_id
        assert Verdict.fail not in {r.verdict for r in results}, (check_id, results)
        assert Verdict.error not in {r.verdict for r in results}, (check_id, results)


@pytest.mark.lab
def test_accept_anything_device_no_default_login_fail(lab_run: ScanRun, lab_bench: Any) -> None:
    gizmo = device_of(lab_run, lab_bench, "gizmo-g1")
    verdicts = {r.verdict for r in results_of(lab_run, gizmo, "configuration.default-login")}
    assert Verdict.fail not in verdicts


@pytest.mark.lab
async def test_banning_device_still_accepts_its_password(
    lab_run: ScanRun, lab_bench: BenchState
) -> None:
    """The scan stayed below sentry-s3's ban threshold: its right password still logs in."""
    ip = next(d for d in lab_bench.devices if d.model == "sentry-s3").ip
    password = BY_ID["sentry-s3"].lab_password()
    res = await http_client.auth_login(ip, 80, "/", LAB_USER, password, kind="basic", tls=False,
                                       timeouts=Timeouts())  # fmt: skip
    assert res.accepted is True, res
    assert res.answer == "200 OK"


async def test_unexpected_port_with_every_port_listed_in_a_loose_profile_passes() -> None:
    # strict_ports false, and the profile lists the device's only port: nothing left to grade
    profile = Profile(id="m", strict_ports=False, ports=[Port(port=80, service="http")])
    [res] = await run(
        "access.unexpected-port", session(device(services=[Service(port=80)]), profile)
    )
    assert res.verdict is Verdict.passed, res.title


@pytest.mark.parametrize("check_id", ["access.unexpected-port", "access.cleartext-admin"])
async def test_no_open_port_is_no_pass(check_id: str) -> None:
    [res] = await run(check_id, session(device(services=[])))
    assert res.verdict is Verdict.not_applicable and "no open port" in res.title


# --- access.no-lockout from recorded guards (issue 11's lockout rule) ----------------------------


def _lockout_session(port: int) -> DeviceSession:
    dev = Device(key="02:00:00:00:00:09", ips=["127.0.0.1"], services=[Service(port=port,
                 name="http")])  # fmt: skip
    return DeviceSession(device=dev, profile=Profile(id="t"),
                         scope=Scope.build(["127.0.0.1/32"]),
                         options=RunOptions(profiles_dir=PROFILES,
                                            timeouts=Timeouts(connect_s=2, read_s=2)))  # fmt: skip


async def _no_lockout_on(
    port: int, signs: list[str], failures: int, success: tuple[str, str] | None = None
) -> Result:
    """Judge a recorded campaign: `failures` refusals, then `signs`, maybe a found default."""
    session = _lockout_session(port)
    iface = LoginInterface(kind="http", method="basic", port=port, tls=False, path="/")
    camp = Campaign(port=port, kind="http", iface=iface, total=10)
    if success is not None:
        pair = Pair(success[0], success[1], "generic")
        camp.success = (pair, LoginAttempt(pair.user, pair.password, True))
        camp.proof = LoginAttempt(pair.user, "wrong", False)

    async def recorded() -> Campaign:
        return camp

    await session.observe(f"login-campaign:tcp:{port}", recorded)
    guard = session.guard("http", port)
    guard.failures = failures
    guard.signs = list(signs)
    guard.signs_after_failure = list(signs) if failures else []
    guard.locked_out = signs[-1] if signs else ""
    meta = CheckMeta(capability=Capability.logical_access, severity=Severity.medium)
    ctx = CheckContext(session=session, check_id="access.no-lockout", meta=meta)
    [res] = [r async for r in no_lockout(ctx)]
    return res


def _refusing(tries: list[tuple[str, str]]) -> Any:
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        pair = basic_user(headers)
        if pair is not None:
            tries.append(pair)
        return 401, b"no", {"WWW-Authenticate": 'Basic realm="t"'}

    return handler


@pytest.mark.parametrize(
    ("signs", "failures", "verdict"),
    [
        (["HTTP 429"], 3, Verdict.passed),
        (["lockout page (200): too many failed attempts"], 3, Verdict.passed),
        (["SSH disconnect: account locked"], 2, Verdict.passed),
        (["FTP 421 Too many failures"], 2, Verdict.passed),
        # A timeout or reset after failures is no lockout: inconclusive, never pass.
        (["connection reset"], 3, Verdict.inconclusive),
        (["no answer in time"], 3, Verdict.inconclusive),
        (["connection refused"], 3, Verdict.inconclusive),
        # ... nor before any failure (a broken service).
        (["connection reset"], 0, Verdict.inconclusive),
    ],
)
async def test_no_lockout_named_signs_only(signs: list[str], failures: int,
                                           verdict: Verdict) -> None:  # fmt: skip
    res = await _no_lockout_on(1, signs, failures)  # port 1: nothing is contacted here
    assert res.verdict is verdict, res.title


async def test_reset_then_right_credentials_refused_is_a_lockout() -> None:
    tries: list[tuple[str, str]] = []
    async with http_server(_refusing(tries)) as port:
        res = await _no_lockout_on(port, ["connection reset"], 3, success=("admin", "admin"))
    assert tries == [("admin", "admin")]  # the found default, once more
    assert res.verdict is Verdict.passed
    assert "right credentials refused" in res.title


async def test_reset_then_right_credentials_accepted_stays_inconclusive() -> None:
    def accepting(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        return 200, b"ok", {}

    async with http_server(accepting) as port:
        res = await _no_lockout_on(port, ["connection reset"], 3, success=("admin", "admin"))
    assert res.verdict is Verdict.inconclusive
    assert res.evidence["right_credentials_again"]["accepted"] is True
