"""SSH login server (asyncssh, password auth only) with a host key from the state directory.

The twins are given the same host key file: the shared-key flaw. A banned source is reset as soon
as it connects; a locked username (lockout models) is disconnected with DISCONNECT_BY_APPLICATION
"account locked" when it next tries.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import asyncssh
from lanprobe.lab.services.common import Device, check_login


class _Server(asyncssh.SSHServer):
    def __init__(self, dev: Device, conf: dict[str, Any]) -> None:
        self.dev, self.conf = dev, conf
        self.conn: asyncssh.SSHServerConnection | None = None
        self.src = ""

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        peer = conn.get_extra_info("peername")
        self.src = str(peer[0]) if peer else ""
        if self.dev.guard.banned(self.src):
            sock = conn.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.abort()

    def begin_auth(self, username: str) -> bool:
        # A locked username is refused in validate_password, never here: hanging up on the first
        # (`none`) request races the client's password request, which then meets the closed
        # socket as a reset instead of reading the DISCONNECT (access.no-lockout flapped).
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        guard = self.dev.guard
        if guard.locked(username):
            # DISCONNECT goes out before any USERAUTH_FAILURE: a failure first invites the client's
            # next request, which then meets the closed socket as a reset and hides the lockout.
            if self.conn is not None:
                self.conn.disconnect(asyncssh.DISC_BY_APPLICATION, "account locked")
            return False
        ok = check_login(self.conf["users"], self.conf["accept_any"], username, password)
        if ok:
            guard.success(self.src, username)
            self.dev.event(f"login ok user={username} from={self.src} service=ssh")
        else:
            guard.failure(self.src, username)
            self.dev.event(f"login failed user={username} from={self.src} service=ssh")
            if guard.banned(self.src) and self.conn is not None:
                asyncio.get_running_loop().call_soon(self.conn.abort)
        return ok


def _session(process: asyncssh.SSHServerProcess) -> None:
    process.stdout.write("Welcome. This lab device has no shell.\n")
    process.exit(0)


# What the server offers (asyncssh's own defaults would add diffie-hellman-group14-sha1).
ALGORITHMS: dict[str, dict[str, list[str]]] = {
    "strong": {
        "kex_algs": ["curve25519-sha256", "curve25519-sha256@libssh.org",
                     "diffie-hellman-group16-sha512", "diffie-hellman-group-exchange-sha256"],
        "encryption_algs": ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com",
                            "aes128-gcm@openssh.com", "aes256-ctr", "aes128-ctr"],
        "mac_algs": ["hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
                     "hmac-sha2-256", "hmac-sha2-512"],
    },
    "weak": {
        "kex_algs": ["diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1",
                     "curve25519-sha256"],
        "encryption_algs": ["aes128-cbc", "3des-cbc", "aes128-ctr"],
        "mac_algs": ["hmac-md5", "hmac-sha1", "hmac-sha2-256"],
    },
}  # fmt: skip


async def start_ssh(dev: Device, conf: dict[str, Any], host_key: str) -> asyncio.AbstractServer:
    return await asyncssh.create_server(
        lambda: _Server(dev, conf),
        dev.ip,
        conf["port"],
        server_host_keys=[host_key],
        process_factory=_session,
        login_timeout=30,
        keepalive_interval=0,
        **ALGORITHMS[conf.get("algorithms", "strong")],  # type: ignore[arg-type]
    )  # type: ignore[return-value]
