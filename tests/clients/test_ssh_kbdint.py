"""SSH logins the way devices ask for them: keyboard-interactive prompts only, and `none` auth,
against asyncssh's server (PyPI asyncssh) on 127.0.0.1. The keyboard-interactive server keeps a
ban like a device's (3 failures with gaps under its window ban the source) and its own log: the
campaign at standard depth finds a default 11th in the generic list and causes no ban."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncssh
import pytest
from lanprobe import pacing
from lanprobe.checks.clients import ssh as ssh_client
from lanprobe.checks.configuration import default_login
from lanprobe.checks.context import CheckContext, CheckMeta, DeviceSession, RunOptions, Timeouts
from lanprobe.model import Capability, Device, Service, Severity, Verdict
from lanprobe.profile_schema import Credentials, Lockout, Profile
from lanprobe.scope import Scope

T = Timeouts(connect_s=3, read_s=5)
WINDOW_S = 0.3  # the server's ban window, short for the suite (the profile documents it)


class _Device:
    """The server side's state: accepted pair, failure log, ban (3 failures, gaps <= window)."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password
        self.log: list[str] = []
        self.count = 0
        self.last = 0.0
        self.banned = False

    def check(self, user: str, password: str) -> bool:
        if self.banned:
            self.log.append(f"refused {user}: banned")
            return False
        if (user, password) == (self.user, self.password):
            self.log.append(f"login ok {user}")
            return True
        now = time.monotonic()
        self.count = 1 if now - self.last > WINDOW_S else self.count + 1
        self.last = now
        self.log.append(f"login failed {user}")
        if self.count >= 3:
            self.banned = True
            self.log.append("BAN")
        return False


class _KbdintServer(asyncssh.SSHServer):
    def __init__(self, dev: _Device) -> None:
        self.dev = dev
        self.user = ""

    def begin_auth(self, username: str) -> bool:
        self.user = username
        return True

    def password_auth_supported(self) -> bool:
        return False  # prompts only, as many devices do

    def kbdint_auth_supported(self) -> bool:
        return True

    def get_kbdint_challenge(self, username: str, lang: str, submethods: str) -> tuple:
        return "", "", "", [("Password: ", False)]

    def validate_kbdint_response(self, username: str, responses: list[str]) -> bool:
        return self.dev.check(username, responses[0] if responses else "")


class _NoneServer(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return False  # no authentication at all


@asynccontextmanager
async def _server(factory: object, tmp_path: Path) -> AsyncIterator[int]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    server = await asyncssh.create_server(
        factory,
        "127.0.0.1",
        0,
        server_host_keys=[key],
        login_timeout=10,  # type: ignore[arg-type]
    )
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        await server.wait_closed()


async def test_keyboard_interactive_password_prompt(tmp_path: Path) -> None:
    dev = _Device("admin", "1234")
    async with _server(lambda: _KbdintServer(dev), tmp_path) as port:
        bad, _ = await ssh_client.login("127.0.0.1", port, "admin", "nope", timeouts=T)
        ok, key = await ssh_client.login("127.0.0.1", port, "admin", "1234", timeouts=T)
    assert bad.accepted is False and bad.details["auth_method"] == "keyboard-interactive"
    assert bad.details["prompts"] == ["Password: "]
    assert ok.accepted is True and ok.answer == "authentication succeeded"
    assert key is not None


async def test_none_auth_is_an_acceptance_with_nothing_asked(tmp_path: Path) -> None:
    async with _server(_NoneServer, tmp_path) as port:
        res, _ = await ssh_client.login("127.0.0.1", port, "root", "whatever", timeouts=T)
    assert res.accepted is True
    assert res.answer == "logged in without any credential"


def _ctx(port: int, profile: Profile) -> CheckContext:
    device = Device(key="02:00:00:00:00:22", ips=["127.0.0.1"],
                    services=[Service(port=port, name="ssh")])  # fmt: skip
    session = DeviceSession(device=device, profile=profile, scope=Scope.build(["127.0.0.1/32"]),
                            options=RunOptions(timeouts=T))  # fmt: skip
    meta = CheckMeta(capability=Capability.device_configuration, severity=Severity.critical)
    return CheckContext(session=session, check_id="configuration.default-login", meta=meta)


async def test_standard_depth_finds_the_11th_default_without_a_ban(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """root:12345 is 11th in the generic list; the device bans after 3 failures per window."""
    # The pacer waits window + margin after a burst: a margin of 1 s is for a real device's
    # clock; this server times the same events, so a small one still leaves every gap > window.
    monkeypatch.setattr(pacing, "MARGIN_S", 0.05)
    dev = _Device("root", "12345")
    lockout = Lockout(threshold=3, scope="source", penalty_s=5, window_s=WINDOW_S)
    creds = Credentials(lists=["generic"], pacing_s=0, depth="standard", lockout=lockout)
    async with _server(lambda: _KbdintServer(dev), tmp_path) as port:
        [res] = [r async for r in default_login(_ctx(port, Profile(id="t", credentials=creds)))]
    assert res.verdict is Verdict.fail, res.title
    assert res.evidence["accepted"]["user"] == "root"
    assert res.evidence["wrong_password"]["accepted"] is False  # proven
    assert len(res.evidence["tried"]) == 11
    assert "BAN" not in dev.log, dev.log  # the device's own log: no lockout caused
    assert dev.log.count("login failed root") >= 1


async def test_refuse_everything_control_is_inconclusive_at_quick(tmp_path: Path) -> None:
    dev = _Device("nobody", "-")
    creds = Credentials(lists=["generic"], pacing_s=0, max_attempts=3)
    async with _server(lambda: _KbdintServer(dev), tmp_path) as port:
        [res] = [r async for r in default_login(_ctx(port, Profile(id="t", credentials=creds)))]
    assert res.verdict is Verdict.inconclusive
    assert "2 of 30 candidates tried" in res.title  # 3 attempts, one kept for a proof
    assert "BAN" not in dev.log
