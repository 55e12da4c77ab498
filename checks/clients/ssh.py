"""SSH password login attempts (asyncssh), and the host key seen on the way.

The password goes where the server asks for it: `password` auth or a keyboard-interactive
prompt with echo off (RFC 4256); a server that lets the user in without asking (`none` auth)
is an acceptance with nothing asked, which the wrong-password proof shows as "accepts any".

One attempt is one connection offering one password: no keys, no agent, no known_hosts (we
measure the device, we do not trust it), no ~/.ssh/config. The server's host key fingerprint is
kept from every attempt, so the bench-wide shared-key check can compare units.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncssh
from lanprobe.checks.clients.login import PASSWORD_MARK, LoginAttempt, Stopwatch, os_error_sign
from lanprobe.options import Timeouts

LAST_WORD_S = 0.1
# asyncssh's own message when the client runs out of methods; any other reason came from the server.
_CLIENT_GAVE_UP = "Permission denied for user"


@dataclass
class _Client(asyncssh.SSHClient):
    """Offers the password once and notes whether the server asked for one at all."""

    password: str
    asked: int = 0
    banner: str = ""
    method: str = ""  # how the password was asked for: password | keyboard-interactive
    prompts: list[str] = field(default_factory=list)
    conn: asyncssh.SSHClientConnection | None = field(default=None, repr=False)

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self.conn = conn

    def auth_banner_received(self, msg: str, lang: str) -> None:
        self.banner = msg[:200]

    async def password_auth_requested(self) -> str | None:
        self.asked += 1
        if self.asked == 1:
            self.method = "password"
            return self.password
        # Refused. Wait a moment before giving up, to hear the server's last word: a server that
        # locks the account often sends DISCONNECT right after the failure, and that reason is
        # the only lockout sign SSH has.
        await asyncio.sleep(LAST_WORD_S)
        return None

    def kbdint_auth_requested(self) -> str | None:
        # Keyboard-interactive (RFC 4256): many devices ask for the password this way only.
        return "" if self.asked == 0 else None

    async def kbdint_challenge_received(
        self, name: str, instructions: str, lang: str, prompts: Sequence[tuple[str, bool]]
    ) -> list[str] | None:
        if not prompts:
            return []  # an information round (a banner): nothing to answer
        if self.asked:
            await asyncio.sleep(LAST_WORD_S)  # asked again: refused (hear the last word)
            return None
        self.asked += 1
        self.method = "keyboard-interactive"
        self.prompts = [p for p, _ in prompts][:3]
        # The password for a hidden prompt (echo off), nothing we could know for the others.
        return [self.password if not echo else "" for _, echo in prompts]


@dataclass
class HostKey:
    algorithm: str
    fingerprint: str  # SHA256:...


def host_key_of(client: _Client) -> HostKey | None:
    key = client.conn.get_server_host_key() if client.conn else None
    if key is None:
        return None
    return HostKey(algorithm=key.get_algorithm(), fingerprint=key.get_fingerprint("sha256"))


async def login(
    ip: str, port: int, user: str, password: str, *, timeouts: Timeouts
) -> tuple[LoginAttempt, HostKey | None]:
    """One password attempt. Accepted when auth completes; refused on PermissionDenied after
    the password was asked for (password or keyboard-interactive); `password_offered` False when
    the server never asked."""
    request = f"SSH userauth password {user!r} {PASSWORD_MARK}"
    watch = Stopwatch()
    attempt = LoginAttempt(user, password, None, request=request)
    client = _Client(password=password)
    conn: asyncssh.SSHClientConnection | None = None
    try:
        conn = await asyncio.wait_for(
            asyncssh.connect(
                ip,
                port,
                username=user,
                known_hosts=None,
                client_keys=None,
                agent_path=None,
                config=None,
                preferred_auth="password,keyboard-interactive",
                client_factory=lambda: client,
                connect_timeout=timeouts.connect_s,
                login_timeout=timeouts.read_s,
            ),
            timeouts.connect_s + timeouts.read_s + 1.0,
        )
        attempt.accepted = True
        # No method asked for anything: the server let us in with `none` auth (RFC 4252 5.2).
        attempt.answer = (
            "authentication succeeded" if client.asked else "logged in without any credential"
        )
    except asyncssh.PermissionDenied as exc:
        attempt.answer = f"permission denied: {exc.reason}"[:120]
        if client.asked:
            attempt.accepted = False
            if not exc.reason.startswith(_CLIENT_GAVE_UP):
                attempt.sign = f"SSH disconnect: {exc.reason}"[:80]
        else:
            attempt.error = "the server did not offer password authentication"
    except asyncssh.DisconnectError as exc:
        attempt.answer = f"disconnect {exc.code}: {exc.reason}"[:120]
        attempt.error = attempt.answer
        # A server that hangs up during authentication: the usual answer to a locked account.
        attempt.sign = f"SSH disconnect: {exc.reason}"[:80]
    except TimeoutError as exc:
        attempt.error = "no answer in time"
        attempt.sign = os_error_sign(exc)
    except OSError as exc:
        attempt.error = str(exc)
        attempt.sign = os_error_sign(exc) or "connection refused"
    except asyncssh.Error as exc:
        attempt.error = str(exc)[:200]
    finally:
        if conn is not None:
            conn.close()
            await conn.wait_closed()
    attempt.latency_s = watch.elapsed
    attempt.details["password_offered"] = bool(client.asked) or attempt.accepted is True
    if client.method:
        attempt.details["auth_method"] = client.method
    if client.prompts:
        attempt.details["prompts"] = client.prompts
    if client.banner:
        attempt.details["banner"] = client.banner
    return attempt, host_key_of(client)


async def host_key(ip: str, port: int, *, timeouts: Timeouts) -> HostKey | None:
    """The server's host key from a key exchange alone (no authentication: not a login)."""
    try:
        key = await asyncio.wait_for(
            asyncssh.get_server_host_key(ip, port, config=None),
            timeouts.connect_s + timeouts.read_s,
        )
    except (OSError, TimeoutError, asyncssh.Error):
        return None
    if key is None:
        return None
    return HostKey(algorithm=key.get_algorithm(), fingerprint=key.get_fingerprint("sha256"))
