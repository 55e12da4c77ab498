"""SSH password login attempts (asyncssh), and the host key seen on the way.

One attempt is one connection offering one password: no keys, no agent, no known_hosts (we
measure the device, we do not trust it), no ~/.ssh/config. The server's host key fingerprint is
kept from every attempt, so the bench-wide shared-key check can compare units.
"""

from __future__ import annotations

import asyncio
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
    conn: asyncssh.SSHClientConnection | None = field(default=None, repr=False)

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self.conn = conn

    def auth_banner_received(self, msg: str, lang: str) -> None:
        self.banner = msg[:200]

    async def password_auth_requested(self) -> str | None:
        self.asked += 1
        if self.asked == 1:
            return self.password
        # Refused. Wait a moment before giving up, to hear the server's last word: a server that
        # locks the account often sends DISCONNECT right after the failure, and that reason is
        # the only lockout sign SSH has.
        await asyncio.sleep(LAST_WORD_S)
        return None


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
    the password was asked for; `password_offered` False when the server never asked."""
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
                preferred_auth="password",
                client_factory=lambda: client,
                connect_timeout=timeouts.connect_s,
                login_timeout=timeouts.read_s,
            ),
            timeouts.connect_s + timeouts.read_s + 1.0,
        )
        attempt.accepted = True
        attempt.answer = "authentication succeeded"
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
    attempt.details["password_offered"] = bool(client.asked)
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
