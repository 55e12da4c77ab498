"""What every service of one device shares: its config, the failed-login bookkeeping
(source-address ban, per-username lockout) and a few socket helpers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Guard:
    """Failed-login bookkeeping shared by every service of the device.

    ban: after `failures` failed logins from one source address (on any service) every new
    connection from it is reset for `seconds`. lockout: after `failures` failed logins of one
    username, that username is refused (HTTP 429, SSH disconnect) for `seconds`, even with the
    right password.
    """

    ban: dict[str, int] | None = None
    lockout: dict[str, int] | None = None
    by_source: dict[str, int] = field(default_factory=dict)
    banned_until: dict[str, float] = field(default_factory=dict)
    by_user: dict[str, int] = field(default_factory=dict)
    locked_until: dict[str, float] = field(default_factory=dict)
    failed_total: int = 0
    last_failure: dict[str, float] = field(default_factory=dict)  # by "src:" or "user:" key
    on_event: Callable[[str], None] | None = None  # the device's event log

    def banned(self, src: str) -> bool:
        until = self.banned_until.get(src)
        if until is None:
            return False
        if time.monotonic() < until:
            return True
        del self.banned_until[src]
        self.by_source.pop(src, None)
        return False

    def locked(self, user: str) -> float:
        """Seconds the username stays locked (0 = not locked)."""
        until = self.locked_until.get(user)
        if until is None:
            return 0.0
        left = until - time.monotonic()
        if left > 0:
            return left
        del self.locked_until[user]
        self.by_user.pop(user, None)
        return 0.0

    def _count(self, counts: dict[str, int], key: str, tag: str, window_s: float) -> int:
        """Add one failure to `key`, forgetting earlier ones older than the window."""
        now = time.monotonic()
        last = self.last_failure.get(f"{tag}:{key}")
        if last is not None and now - last > window_s:
            counts.pop(key, None)
        self.last_failure[f"{tag}:{key}"] = now
        counts[key] = counts.get(key, 0) + 1
        return counts[key]

    def failure(self, src: str, user: str) -> None:
        """Count one failed login; a ban or lockout it triggers goes to the device's log."""
        self.failed_total += 1
        done = []
        if self.ban:
            n = self._count(self.by_source, src, "src", self.ban.get("window_s", 15))
            if n >= self.ban["failures"]:
                self.banned_until[src] = time.monotonic() + self.ban["seconds"]
                done.append(f"ban src={src} for {self.ban['seconds']} s after {n} failures")
        if self.lockout:
            n = self._count(self.by_user, user, "user", self.lockout.get("window_s", 15))
            if n >= self.lockout["failures"]:
                self.locked_until[user] = time.monotonic() + self.lockout["seconds"]
                done.append(f"lockout user={user} for {self.lockout['seconds']} s")
        if done and self.on_event is not None:
            self.on_event("; ".join(done))

    def success(self, src: str, user: str) -> None:
        self.by_source.pop(src, None)
        self.by_user.pop(user, None)


@dataclass
class Device:
    """The device as its services see it."""

    cfg: dict[str, Any]
    guard: Guard
    started: float = field(default_factory=time.monotonic)
    log: list[str] = field(default_factory=list)

    @property
    def model(self) -> dict[str, Any]:
        return self.cfg["model"]

    @property
    def ip(self) -> str:
        return self.cfg["ip"]

    def event(self, line: str) -> None:
        """Keep a short in-memory event log (served by /logs on models that have it), also
        written to the device's output (the bench's logs/<device>.log: tests read it there)."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.log.append(f"{stamp} {line}")
        del self.log[:-200]
        print(f"{stamp} event {line}", file=sys.stderr, flush=True)


def peer_ip(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return str(peer[0]) if peer else ""


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0): what a banned source sees on every service."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, asyncio.TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), 2)


def check_login(users: dict[str, str], accept_any: bool, user: str, password: str) -> bool:
    if accept_any:
        return True
    expected = users.get(user)
    return expected is not None and expected == password
