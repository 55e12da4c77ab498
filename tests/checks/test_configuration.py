"""configuration.default-login: credential lists (unit), the campaign's budget rules against a
local server, and the verdicts of the session's lab scan (`lab_run`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lanprobe.checks.campaign import Campaign
from lanprobe.checks.clients.login import LoginAttempt
from lanprobe.checks.configuration import default_login, judge
from lanprobe.checks.context import CheckContext, CheckMeta, DeviceSession, RunOptions, Timeouts
from lanprobe.checks.credentials import (
    DEFAULT_LISTS,
    Pair,
    candidates,
    load_credential_list,
    parse_credential_list,
)
from lanprobe.checks.logins import LoginInterface
from lanprobe.model import Capability, Device, Result, ScanRun, Service, Severity, Verdict
from lanprobe.profile_schema import (
    Credential,
    Credentials,
    HttpLogin,
    Interfaces,
    Lockout,
    Profile,
    Window,
)
from lanprobe.scope import Scope

from tests.checks.conftest import device_of, results_of
from tests.clients.localhttp import basic_user, http_server

PROFILES = Path(__file__).resolve().parents[2] / "profiles"
CHECK = "configuration.default-login"


# --- credential lists -----------------------------------------------------------------------------


def test_parse_credential_list() -> None:
    text = "# Source: x\n# services: telnet ssh\nroot:\nadmin:pa:ss\n\nroot:\n:empty\n"
    clist = parse_credential_list(text, "t")
    assert clist.pairs == [("root", ""), ("admin", "pa:ss"), ("", "empty")]
    assert clist.services == ("telnet", "ssh")
    assert clist.header[0] == "Source: x"
    assert clist.fits("telnet") and not clist.fits("http")
    with pytest.raises(ValueError, match=r"t:1: expected user:password"):
        parse_credential_list("no-colon\n", "t")


def test_shipped_lists_name_source_and_licence() -> None:
    for name in DEFAULT_LISTS:
        clist = load_credential_list(PROFILES, name)
        head = " ".join(clist.header).lower()
        assert "source" in head and ("licence" in head or "license" in head), name
        assert clist.pairs
    mirai = load_credential_list(PROFILES, "mirai-telnet")
    assert len(mirai.pairs) == 61  # 62 entries in Mirai's source, one pair twice
    assert mirai.pairs[0] == ("root", "xc3511")
    assert mirai.services == ("telnet",)
    generic = load_credential_list(PROFILES, "generic")
    assert generic.pairs[0] == ("admin", "admin")
    assert generic.fits("mqtts") and generic.fits("https")


def _session(profile: Profile, port: int = 80, name: str = "http") -> DeviceSession:
    device = Device(key="02:00:00:00:00:01", ips=["127.0.0.1"],
                    services=[Service(port=port, name=name)])  # fmt: skip
    return DeviceSession(
        device=device,
        profile=profile,
        scope=Scope.build(["127.0.0.1/32"]),
        options=RunOptions(profiles_dir=PROFILES, timeouts=Timeouts(connect_s=2, read_s=2)),
    )


def test_documented_defaults_come_first_and_match_by_family() -> None:
    profile = Profile(id="t", credentials=Credentials(defaults=[
        Credential(user="svc", password="s3", services=["ssh"]),
        Credential(user="web", password="w3b", services=["http"]),
        Credential(user="any", password="a"),
    ]))  # fmt: skip
    https, n = candidates(_session(profile), "https")
    assert [(p.user, p.password) for p in https[:2]] == [("web", "w3b"), ("any", "a")]
    assert n == 2
    assert https[2].source == "generic"  # mirai-telnet does not fit https
    telnet, _ = candidates(_session(profile), "telnet")
    assert telnet[1].source == "mirai-telnet"


# --- the campaign against a local Basic login ----------------------------------------------------


def _ctx(session: DeviceSession) -> CheckContext:
    meta = CheckMeta(capability=Capability.device_configuration, severity=Severity.critical)
    return CheckContext(session=session, check_id=CHECK, meta=meta)


async def _run(ctx: CheckContext) -> list[Result]:
    return [r async for r in default_login(ctx)]


def _refuse_all(tries: list[tuple[str, str]]) -> Any:
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        pair = basic_user(headers)
        if pair is not None:
            tries.append(pair)
        return 401, b"no", {"WWW-Authenticate": 'Basic realm="t"'}

    return handler


async def test_budget_below_the_documented_defaults_is_inconclusive() -> None:
    tries: list[tuple[str, str]] = []
    async with http_server(_refuse_all(tries)) as port:
        defaults = [Credential(user=f"u{i}", password="p") for i in range(3)]
        creds = Credentials(max_attempts=3, pacing_s=0, defaults=defaults)  # 1 kept for a proof
        login = Interfaces(http_login=HttpLogin(kind="basic"))
        profile = Profile(id="t", interfaces=login, credentials=creds)
        [res] = await _run(_ctx(_session(profile, port)))
    assert tries == [("u0", "p"), ("u1", "p")]
    assert res.verdict is Verdict.inconclusive
    assert res.evidence["documented_defaults_tried"] == 2
    assert res.evidence["documented_defaults"] == 3


async def test_account_lockout_caps_failures_per_user_and_keeps_a_reserve() -> None:
    tries: list[tuple[str, str]] = []
    async with http_server(_refuse_all(tries)) as port:
        lockout = Lockout(threshold=3, scope="account")
        creds = Credentials(max_attempts=10, pacing_s=0, lockout=lockout)
        profile = Profile(id="t", credentials=creds)
        session = _session(profile, port)
        [res] = await _run(_ctx(session))
    # 6 of the 30 candidates tried: no pass while candidates are left (issue 11).
    assert res.verdict is Verdict.inconclusive
    assert res.evidence["tried_of"] == "5 of 30"
    assert "5 of 30 candidates tried" in res.title
    assert len(tries) == 10 - (3 + 1) - 1  # threshold + 1 stay for access.no-lockout, 1 for a proof
    users = [u for u, _ in tries]
    assert max(users.count(u) for u in users) <= 2  # never threshold failures on one account
    assert session.guard("http", port).remaining == 5


async def test_accepted_pair_is_proved_with_a_wrong_password() -> None:
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if basic_user(headers) == ("root", "root"):
            return 200, b"welcome", {}
        return 401, b"no", {"WWW-Authenticate": 'Basic realm="t"'}

    async with http_server(handler) as port:
        profile = Profile(id="t", credentials=Credentials(max_attempts=6, pacing_s=0))
        [res] = await _run(_ctx(_session(profile, port)))
    assert res.verdict is Verdict.fail
    assert res.target.port == port
    assert res.evidence["accepted"]["user"] == "root"
    assert res.evidence["accepted"]["password"] == "****"  # redacted
    assert res.evidence["wrong_password"]["accepted"] is False
    assert res.evidence["wrong_password"]["answer"].startswith("401")
    assert res.evidence["attempts"] == 3  # admin:admin, root:root, the proof


# --- the verdict of recorded campaigns (every branch of judge) ---------------------------------


def _pair(user: str, password: str, source: str = "generic") -> Pair:
    return Pair(user, password, source)


def _tried(*outcomes: tuple[Pair, bool | None]) -> list[tuple[Pair, LoginAttempt]]:
    return [(p, LoginAttempt(p.user, p.password, ok)) for p, ok in outcomes]


DOC = _pair("admin", "1234", "profile default (manual)")
A, B, C = _pair("admin", "admin"), _pair("root", "root"), _pair("user", "user")


def _judge(c: Campaign) -> Result:
    session = _session(Profile(id="t"))
    c.iface = c.iface or LoginInterface(kind="http", method="basic", port=80, tls=False)
    return judge(_ctx(session), session.device.services[0], c)


@pytest.mark.parametrize(
    ("campaign", "verdict", "title_part"),
    [
        # Every candidate that fits was tried and refused: pass.
        (
            Campaign(
                port=80, kind="http", total=3, tried=_tried((A, False), (B, False), (C, False))
            ),
            Verdict.passed,
            "3 of 3 tried",
        ),
        # The documented default refused, list candidates left: pass (issue 11).
        (
            Campaign(port=80, kind="http", total=4, defaults=1, tried=_tried((DOC, False))),
            Verdict.passed,
            "1 of 4 candidates tried",
        ),
        # Budget spent with candidates left: inconclusive, k of N.
        (
            Campaign(
                port=80,
                kind="http",
                total=3,
                tried=_tried((A, False), (B, False)),
                stopped="attempt budget spent",
            ),
            Verdict.inconclusive,
            "2 of 3 candidates",
        ),
        # An attempt without a verdict does not count as tried.
        (
            Campaign(port=80, kind="http", total=2, tried=_tried((A, False), (B, None))),
            Verdict.inconclusive,
            "1 of 2 candidates",
        ),
        # The documented default not reached.
        (
            Campaign(port=80, kind="http", total=3, defaults=2, tried=_tried((DOC, False))),
            Verdict.inconclusive,
            "documented defaults",
        ),
        (
            Campaign(
                port=80,
                kind="http",
                total=3,
                tried=_tried((A, False)),
                stopped="lockout sign: HTTP 429",
            ),
            Verdict.inconclusive,
            "HTTP 429",
        ),
        (
            Campaign(port=80, kind="http", total=3, tried=_tried((A, None), (B, None))),
            Verdict.inconclusive,
            "got a verdict",
        ),
        (
            Campaign(port=80, kind="http", total=3, stopped="attempt budget spent"),
            Verdict.inconclusive,
            "no login attempt was possible",
        ),
        (
            Campaign(port=80, kind="http", not_applicable="no challenge"),
            Verdict.not_applicable,
            "no challenge",
        ),
    ],
)
def test_judge_recorded_campaigns(campaign: Campaign, verdict: Verdict, title_part: str) -> None:
    res = _judge(campaign)
    assert res.verdict is verdict, res.title
    assert title_part in res.title


def test_judge_success_needs_the_proof() -> None:
    proven = Campaign(port=80, kind="http", total=3, tried=_tried((A, False), (B, True)))
    proven.success = proven.tried[-1]
    proven.proof = LoginAttempt("root", "x", False)
    assert _judge(proven).verdict is Verdict.fail
    unproven = Campaign(port=80, kind="http", total=3, tried=_tried((B, True)))
    unproven.success = unproven.tried[-1]
    res = _judge(unproven)
    assert res.verdict is Verdict.inconclusive and "wrong password" in res.title
    anything = Campaign(port=80, kind="http", total=3, tried=_tried((B, True)), accepts_any=True)
    anything.success, anything.proof = anything.tried[-1], LoginAttempt("root", "x", True)
    assert _judge(anything).verdict is Verdict.not_applicable


# --- the lab scan ---------------------------------------------------------------------------------


def _by_port(run: ScanRun, bench: Any, model: str, unit: int = 0) -> dict[int | None, Result]:
    """The TCP login services' results (SNMP communities: tests/checks/test_snmp.py)."""
    dev = device_of(run, bench, model, unit)
    return {r.target.port: r for r in results_of(run, dev, CHECK) if r.target.transport != "udp"}


@pytest.mark.lab
def test_insecure_camera_default_logins(lab_run: ScanRun, lab_bench: Any) -> None:
    res = _by_port(lab_run, lab_bench, "acme-ipcam200")
    assert {p: r.verdict for p, r in res.items()} == {
        21: Verdict.fail,
        23: Verdict.fail,
        80: Verdict.fail,
        554: Verdict.not_applicable,  # its RTSP describes the stream to anyone: no login
    }
    assert "described without a login" in res[554].title
    web = res[80].evidence
    assert web["interface"].startswith("HTTP basic login")
    assert web["accepted"]["user"] == "admin" and web["accepted"]["answer"] == "200 OK"
    assert web["wrong_password"]["answer"] == "401 Unauthorized"
    assert res[80].severity is Severity.critical
    assert res[23].evidence["accepted"]["user"] == "root"
    assert res[23].evidence["source"] == "mirai-telnet"
    assert res[21].evidence["accepted"]["answer"].startswith("230")


@pytest.mark.lab
def test_form_and_mqtt_defaults(lab_run: ScanRun, lab_bench: Any) -> None:
    res = _by_port(lab_run, lab_bench, "therma-t1")
    assert res[443].verdict is Verdict.fail
    assert res[443].evidence["accepted"]["request"].startswith("POST /login")
    assert res[1883].verdict is Verdict.fail
    assert res[1883].evidence["accepted"]["user"] == "therma"
    assert res[80].verdict is Verdict.not_applicable  # redirects to HTTPS, no login there


@pytest.mark.lab
def test_ssh_default_on_both_twins(lab_run: ScanRun, lab_bench: Any) -> None:
    for unit in (0, 1):
        res = _by_port(lab_run, lab_bench, "acme-ipcam300", unit)
        assert res[22].verdict is Verdict.fail
        assert res[22].evidence["accepted"]["answer"] == "authentication succeeded"
        assert res[443].verdict is Verdict.passed


@pytest.mark.lab
def test_control_device_passes(lab_run: ScanRun, lab_bench: Any) -> None:
    res = _by_port(lab_run, lab_bench, "hubco-h1")
    assert set(res) == {22, 443, 8883}
    assert all(r.verdict is Verdict.passed for r in res.values()), res
    assert all(r.evidence["attempts"] >= 1 for r in res.values())


@pytest.mark.lab
def test_accept_anything_device_gets_no_default_login(lab_run: ScanRun, lab_bench: Any) -> None:
    res = _by_port(lab_run, lab_bench, "gizmo-g1")
    assert set(res) == {21, 80}
    for r in res.values():
        assert r.verdict is Verdict.not_applicable
        assert r.evidence["wrong_password"]["accepted"] is True


@pytest.mark.lab
def test_anonymous_broker_is_left_to_anonymous_mqtt(lab_run: ScanRun, lab_bench: Any) -> None:
    res = _by_port(lab_run, lab_bench, "plugco-sp1")
    assert res[80].verdict is Verdict.passed  # digest login, lab password only
    assert res[1883].verdict is Verdict.not_applicable
    assert res[8883].verdict is Verdict.not_applicable


@pytest.mark.lab
def test_banning_device_is_never_pushed_to_its_threshold(lab_run: ScanRun, lab_bench: Any) -> None:
    res = _by_port(lab_run, lab_bench, "sentry-s3")
    assert Verdict.fail not in {r.verdict for r in res.values()}
    attempts = [r.evidence.get("attempts", 0) for r in res.values()]
    assert sum(attempts) <= 2  # bans after 3 failures: 2 failures per burst on the device
    assert attempts.count(1) == 2  # shared out: two of its three services got a try


@pytest.mark.lab
def test_secrets_are_redacted(lab_run: ScanRun) -> None:
    text = json.dumps([r.model_dump(mode="json") for r in lab_run.results
                       if r.check_id == CHECK])  # fmt: skip
    for secret in ("xc3511", '"admin:admin', "therma:therma", "Hub-Lab-x8Vq2mT!"):
        assert secret not in text


async def test_generic_form_login_is_found_and_tried() -> None:
    """No login in the profile: the front page redirects to a form, which takes admin:1234."""
    form = b'<form method="post" action="/auth"><input name="login"><input type="password"'
    form += b' name="pass"></form>'
    bodies: list[bytes] = []

    async with http_server(_form_server(form, bodies)) as port:
        # Standard depth under a short lockout window: admin's third try (admin:1234, 4th in
        # the list) waits for the window instead of being skipped.
        window = Window(per_account=2, per_service=4, window_s=0.2)
        creds = Credentials(pacing_s=0, depth="standard", window=window)
        profile = Profile(id="generic", strict_ports=False, credentials=creds)
        [res] = await _run(_ctx(_session(profile, port)))
    assert res.verdict is Verdict.fail
    assert res.evidence["depth"] == "standard"
    assert res.evidence["waited_s"] >= 1.0  # window + margin, once
    assert res.evidence["interface"] == f"HTTP form login on http/{port} /auth"
    assert res.evidence["accepted"]["user"] == "admin"
    assert res.evidence["accepted"]["answer"].startswith("302")
    assert res.evidence["wrong_password"]["accepted"] is False
    assert bodies[0] == b"login=admin&pass=admin"  # the generic list's order


def _form_server(form: bytes, bodies: list[bytes]) -> Any:
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if path == "/" and "s=1" in headers.get("cookie", ""):
            return 200, b"<h1>Home</h1>", {}  # the proof: it refused without the session
        if path == "/":
            return 302, b"", {"Location": "/signin"}
        if path == "/signin":
            return 200, form, {}
        if path == "/auth" and method == "POST":
            bodies.append(body)
            if body == b"login=admin&pass=1234":
                return 302, b"", {"Location": "/home", "Set-Cookie": "s=1"}
            return 200, b"<p>Wrong password</p>" + form, {}
        return 404, b"", {}

    return handler


def test_ssh_host_key_goes_into_facts_as_identification_keeps_it() -> None:
    from lanprobe.checks.clients.ssh import HostKey
    from lanprobe.checks.logins import record_host_key

    session = _session(Profile(id="t"), 22, "ssh")
    record_host_key(session, 22, HostKey(algorithm="ssh-ed25519", fingerprint="SHA256:abc"))
    assert session.facts["ssh_host_keys"] == {22: "SHA256:abc"}


# --- the login method registry (checks/logins.py) ---------------------------------------------


def test_every_login_kind_has_one_registered_method() -> None:
    from lanprobe.checks.logins import METHODS, login_kinds, login_method, method_for_kind

    assert set(login_kinds()) >= {"http", "https", "telnet", "ssh", "ftp", "mqtt", "mqtts"}
    assert method_for_kind("mqtts") is METHODS["mqtt"] and "mqtts" in METHODS["mqtt"].tls_kinds
    assert method_for_kind("http") is None  # HTTP's method is found on the device
    with pytest.raises(ValueError, match="registered twice"):
        login_method("ssh")(METHODS["ssh"].attempt)
    with pytest.raises(ValueError, match="already have a method"):
        login_method("ssh2", kinds=("ssh",))(METHODS["ssh"].attempt)


async def test_a_registered_method_is_what_the_campaign_uses() -> None:
    """A new protocol is a registration: its kind gets a login interface and its attempts."""
    from lanprobe.checks import logins

    seen: list[tuple[str, str]] = []

    async def toy(ctx: CheckContext, iface: Any, user: str, password: str) -> LoginAttempt:
        seen.append((user, password))
        return LoginAttempt(user, password, password == "toy")

    logins.login_method("toy", kinds=("toy",))(toy)
    try:
        defaults = [Credential(user="t", password="toy", source="manual")]
        profile = Profile(id="t", credentials=Credentials(pacing_s=0, defaults=defaults))
        [res] = [r async for r in default_login(_ctx(_session(profile, 9, "toy")))]
    finally:
        del logins.METHODS["toy"]
    assert res.verdict is Verdict.fail, res.title
    assert res.evidence["interface"] == "toy login on port 9"
    assert seen[0] == ("t", "toy") and seen[1][0] == "t"  # the default, then the proof


# --- the credential data set: provenance, depth, vendor order ------------------------------------


def test_every_shipped_list_names_source_and_licence_and_loads() -> None:
    from lanprobe import paths
    from lanprobe.checks.credentials import all_list_names, validate_credential_lists

    layers = (paths.BUILTIN_PROFILES,)
    assert {"generic", "mirai-telnet", "seclists-ssh", "seclists-telnet", "seclists-ftp"} <= set(
        all_list_names(layers)
    )
    assert validate_credential_lists(layers) > 300
    telnet = load_credential_list(layers, "seclists-telnet")
    assert telnet.depth == "deep" and telnet.services == ("telnet",)
    assert ("Root", "wago") in telnet.pairs  # the source's trailing space dropped


def test_a_list_without_provenance_or_with_a_bad_line_is_refused_with_file_and_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "credentials").mkdir()
    mine = tmp_path / "credentials" / "mine.txt"
    mine.write_text("# services: ssh\nroot:toor\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{mine}:1: no '# Source:'"):
        load_credential_list([tmp_path], "mine")
    mine.write_text("# Source: our QA\n# Licence: internal\n\nno-colon\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{mine}:4: expected user:password"):
        load_credential_list([tmp_path], "mine")
    mine.write_text("# Source: x, licence y\n# depth: huge\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{mine}:2: depth: expected standard or deep"):
        load_credential_list([tmp_path], "mine")


def _layered_session(tmp_path: Path, profile: Profile, vendor: str = "") -> DeviceSession:
    session = _session(profile, 23, "telnet")
    session.device.vendor = vendor
    session.options = RunOptions(profiles_dir=tmp_path, timeouts=session.options.timeouts)
    return session


def test_deep_depth_adds_the_large_lists(tmp_path: Path) -> None:
    std = Profile(id="t", credentials=Credentials(depth="standard"))
    deep = Profile(id="t", credentials=Credentials(depth="deep"))
    n_std = len(candidates(_layered_session(tmp_path, std), "telnet")[0])
    pairs, _ = candidates(_layered_session(tmp_path, deep), "telnet")
    assert len(pairs) > n_std + 50
    assert {p.source for p in pairs} >= {"mirai-telnet", "generic", "seclists-telnet"}
    assert "seclists-ssh" not in {p.source for p in pairs}  # it fits SSH only


def test_a_vendor_list_goes_first_when_the_evidence_names_the_vendor(tmp_path: Path) -> None:
    (tmp_path / "credentials").mkdir()
    (tmp_path / "credentials" / "acme.txt").write_text(
        "# Source: Acme manual p. 3; licence: facts\n# vendors: acme\n# services: telnet\n"
        "acme:s3cret\n",
        encoding="utf-8",
    )
    profile = Profile(id="generic", credentials=Credentials(lists=["mirai-telnet"]))
    pairs, _ = candidates(_layered_session(tmp_path, profile, vendor="Acme Corp"), "telnet")
    assert (pairs[0].user, pairs[0].password, pairs[0].source) == ("acme", "s3cret", "acme")
    others, _ = candidates(_layered_session(tmp_path, profile, vendor="Other Inc"), "telnet")
    assert ("acme", "s3cret") not in {(p.user, p.password) for p in others}


def test_scan_refuses_a_broken_credential_list_before_any_traffic(tmp_path: Path) -> None:
    from lanprobe.cli import app
    from typer.testing import CliRunner

    (tmp_path / "credentials").mkdir()
    bad = tmp_path / "credentials" / "bad.txt"
    bad.write_text("# Source: x licence y\nroot\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["scan", "--cidr", "127.0.0.1/32", "--profiles", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert f"{bad}:2: expected user:password" in res.output


async def test_json_login_api_default_found_and_proven() -> None:
    """An OAuth-style token endpoint (the shape of Node-RED's adminAuth /auth/token): JSON in,
    a token out, invalid_grant (RFC 6749 5.2) for wrong credentials."""
    bodies: list[dict[str, Any]] = []

    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if path != "/auth/token" or method != "POST":
            return 404, b"", {}
        data = json.loads(body)
        bodies.append(data)
        if (data.get("username"), data.get("password")) == ("admin", "admin123"):
            return 200, b'{"access_token": "t0k", "expires_in": 604800}', {}
        return 400, b'{"error": "invalid_grant"}', {}

    extra = {"client_id": "node-red-admin", "grant_type": "password"}
    login = HttpLogin(kind="json", path="/auth/token", extra_fields=extra)
    creds = Credentials(lists=["generic"], pacing_s=0, depth="standard", window=None)
    profile = Profile(id="t", interfaces=Interfaces(http_login=login), credentials=creds)
    async with http_server(handler) as port:
        [res] = await _run(_ctx(_session(profile, port)))
    assert res.verdict is Verdict.fail, res.title
    assert res.evidence["interface"] == f"HTTP json login on http/{port} /auth/token"
    assert res.evidence["accepted"]["judged"] == "a token in the answer"
    assert res.evidence["wrong_password"]["accepted"] is False
    assert bodies[0]["client_id"] == "node-red-admin" and len(bodies) == 20  # 19 + the proof
