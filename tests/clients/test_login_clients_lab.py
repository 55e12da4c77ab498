"""The login clients against the lab's real services (telnet, FTP, SSH, HTTP, MQTT).

Failed attempts use usernames of their own (never the scan's), and none touch sentry-s3: it bans
the source after 3 failures, and the session's scan (tests/checks) must find it reachable.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from lanprobe.checks.clients import ftp, http, mqtt, ssh, telnet
from lanprobe.checks.context import Timeouts
from lanprobe.lab.bench import BenchState, LabDevice
from lanprobe.lab.models import BY_ID
from lanprobe.profile_schema import HttpLogin

pytestmark = pytest.mark.lab

T = Timeouts(connect_s=3.0, read_s=5.0)
PROMPTS = telnet.Prompts.load(
    Path(__file__).resolve().parents[2] / "profiles" / "data" / "login-prompts.txt"
)
FORM = HttpLogin(kind="form", port=443, path="/login")


def dev(bench: BenchState, model: str, unit: int = 0) -> LabDevice:
    found = [d for d in bench.devices if d.model == model]
    assert found, f"no {model} on the bench"
    return found[unit]


def stranger() -> str:
    """A username nobody has: failures with it lock no account the scan uses."""
    return f"t-{secrets.token_hex(4)}"


async def test_telnet_login_and_refusal(lab_bench: BenchState) -> None:
    ip = dev(lab_bench, "acme-ipcam200").ip
    ok = await telnet.login(ip, 23, "root", "xc3511", prompts=PROMPTS, timeouts=T)
    assert ok.accepted is True
    assert ok.answer.endswith("#")
    assert ok.details["dialogue"][0].endswith("login:")
    assert "xc3511" not in repr(ok.details) + ok.request + ok.answer
    bad = await telnet.login(ip, 23, stranger(), "wrong", prompts=PROMPTS, timeouts=T)
    assert bad.accepted is False
    assert "Login incorrect" in bad.answer


async def test_raw_debug_shell_banner(lab_bench: BenchState) -> None:
    text = await telnet.read_banner(dev(lab_bench, "acme-ipcam200").ip, 9999, timeouts=T)
    assert PROMPTS.match(text, ("shell",)) == "shell"


async def test_ftp_login_refusal_and_accept_any(lab_bench: BenchState) -> None:
    ip = dev(lab_bench, "acme-ipcam200").ip
    ok = await ftp.login(ip, 21, "admin", "admin", timeouts=T)
    assert ok.accepted is True
    assert ok.details["replies"][-1].startswith("230")
    bad = await ftp.login(ip, 21, stranger(), "wrong", timeouts=T)
    assert bad.accepted is False
    assert bad.answer.startswith("530")
    anyone = await ftp.login(dev(lab_bench, "gizmo-g1").ip, 21, stranger(), "x", timeouts=T)
    assert anyone.accepted is True


async def test_ssh_login_and_shared_host_key(lab_bench: BenchState) -> None:
    twin_a, twin_b = dev(lab_bench, "acme-ipcam300", 0), dev(lab_bench, "acme-ipcam300", 1)
    ok, key_a = await ssh.login(twin_a.ip, 22, "admin", "admin", timeouts=T)
    assert ok.accepted is True
    assert ok.details["password_offered"] is True
    bad, key_b = await ssh.login(twin_b.ip, 22, stranger(), "wrong", timeouts=T)
    assert bad.accepted is False
    assert key_a is not None and key_b is not None
    assert key_a.fingerprint.startswith("SHA256:")
    assert key_a.fingerprint == key_b.fingerprint  # the twins' shared host key
    other = await ssh.host_key(dev(lab_bench, "hubco-h1").ip, 22, timeouts=T)
    assert other is not None and other.fingerprint != key_a.fingerprint


async def test_ssh_account_lockout_is_a_sign(lab_bench: BenchState) -> None:
    """hubco-h1 locks a username after 5 failures and disconnects its next attempt."""
    ip, user = dev(lab_bench, "hubco-h1").ip, stranger()
    attempts = [(await ssh.login(ip, 22, user, f"w{i}", timeouts=T))[0] for i in range(6)]
    assert [a.accepted for a in attempts[:5]] == [False] * 5
    assert not any(a.sign for a in attempts[:5])
    # Refused (PermissionDenied with the server's reason) or cut off (DisconnectError): either
    # way the server's own reason is the lockout sign.
    assert attempts[5].accepted is not True
    # On a loaded machine the client may meet the hang-up as a reset before it reads the
    # server's DISCONNECT; either is a lockout sign right after failures.
    sign = attempts[5].sign
    assert (sign.startswith("SSH disconnect") and "locked" in sign) or sign == "connection reset"


async def test_http_basic_and_digest(lab_bench: BenchState) -> None:
    cam = dev(lab_bench, "acme-ipcam200").ip
    ch = await http.find_challenge(cam, 80, ["/"], tls=False, timeouts=T)
    assert ch is not None and ch.kind == "basic"
    ok = await http.auth_login(cam, 80, "/", "admin", "admin", kind="basic", tls=False, timeouts=T)
    assert (ok.accepted, ok.answer) == (True, "200 OK")
    bad = await http.auth_login(cam, 80, "/", stranger(), "x", kind="basic", tls=False, timeouts=T)
    assert (bad.accepted, bad.answer) == (False, "401 Unauthorized")

    plug = dev(lab_bench, "plugco-sp1").ip
    ch = await http.find_challenge(plug, 80, ["/"], tls=False, timeouts=T)
    assert ch is not None and ch.kind == "digest" and ch.realm
    password = BY_ID["plugco-sp1"].lab_password()
    ok = await http.auth_login(plug, 80, "/", "labadmin", password, kind="digest", tls=False,
                               timeouts=T)  # fmt: skip
    assert ok.accepted is True
    bad = await http.auth_login(plug, 80, "/", "labadmin", "x", kind="digest", tls=False,
                                timeouts=T)  # fmt: skip
    assert bad.accepted is False


async def test_form_login_on_weak_tls(lab_bench: BenchState) -> None:
    ip = dev(lab_bench, "therma-t1").ip  # RSA-1024/SHA-1 certificate: the probe still talks
    ok = await http.web_login(ip, 443, FORM, "admin", "1234", tls=True, timeouts=T)
    assert ok.accepted is True
    assert ok.details["http"]["status"] == 302
    bad = await http.web_login(ip, 443, FORM, stranger(), "x", tls=True, timeouts=T)
    assert bad.accepted is False


async def test_form_lockout_answers_429(lab_bench: BenchState) -> None:
    ip, user = dev(lab_bench, "hubco-h1").ip, stranger()
    results = [await http.web_login(ip, 443, FORM, user, "x", tls=True, timeouts=T)
               for _ in range(6)]  # fmt: skip
    assert [r.accepted for r in results[:5]] == [False] * 5
    assert results[5].accepted is None
    assert results[5].sign == "HTTP 429"


async def test_fetch_caps_the_body(lab_bench: BenchState) -> None:
    ip = dev(lab_bench, "acme-ipcam200").ip
    answer = await http.fetch(ip, 80, "/api/config", tls=False, timeouts=T, max_bytes=10)
    assert answer.status == 200
    assert len(answer.body) <= 10


async def test_mqtt_anonymous_reads_state(lab_bench: BenchState) -> None:
    plug = dev(lab_bench, "plugco-sp1")
    for port, tls in ((1883, False), (8883, True)):
        out = await mqtt.connect(plug.ip, port, tls=tls, timeouts=T, subscribe_wait_s=3.0)
        assert out.accepted is True
        assert out.subscribed
        assert f"plugco/{plug.serial}/state" in out.topics


async def test_mqtt_logins(lab_bench: BenchState) -> None:
    hub = dev(lab_bench, "hubco-h1").ip
    anon = await mqtt.connect(hub, 8883, tls=True, timeouts=T)
    assert anon.accepted is False
    assert anon.reason_code == 135
    password = BY_ID["hubco-h1"].lab_password()
    ok = await mqtt.login(hub, 8883, "labadmin", password, tls=True, timeouts=T)
    assert ok.accepted is True
    therma = dev(lab_bench, "therma-t1").ip
    assert (await mqtt.login(therma, 1883, "therma", "therma", tls=False, timeouts=T)).accepted
    bad = await mqtt.login(therma, 1883, "therma", "x", tls=False, timeouts=T)
    assert bad.accepted is False


async def test_closed_port_is_a_sign_not_a_verdict(lab_bench: BenchState) -> None:
    ip = dev(lab_bench, "hubco-h1").ip  # no telnet, FTP or MQTT on 1883 there
    for attempt in (
        await ftp.login(ip, 21, "a", "b", timeouts=T),
        await telnet.login(ip, 23, "a", "b", prompts=PROMPTS, timeouts=T),
        await mqtt.login(ip, 1883, "a", "b", tls=False, timeouts=T),
    ):
        assert attempt.accepted is None
        assert attempt.sign == "connection refused"
