"""What every login client returns: one attempt's outcome, measured, not judged.

A client says whether the device accepted the pair (`accepted` True/False), or that it could not
tell (`accepted` None: refused or reset connection, HTTP 429, a timeout). `sign` names what might
be a lockout (the guard decides, from the failures before it); `request` and `answer` are the
evidence, with the password never in them (checks add it, redacted or not).
"""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass, field
from typing import Any

# Sentinel for the password inside request descriptions: the check substitutes it (redacted).
PASSWORD_MARK = "<password>"


@dataclass
class LoginAttempt:
    user: str
    password: str
    accepted: bool | None
    latency_s: float = 0.0
    sign: str = ""  # a possible lockout sign: "HTTP 429", "connection refused", ...
    request: str = ""  # what was sent, the password as PASSWORD_MARK
    answer: str = ""  # status line, prompt or reply code the device gave
    error: str = ""  # why there is no verdict, when accepted is None
    details: dict[str, Any] = field(default_factory=dict)

    def evidence(self, password_shown: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "user": self.user,
            "password": password_shown,
            "request": self.request.replace(PASSWORD_MARK, password_shown),
            "answer": self.answer,
            "accepted": self.accepted,
            "latency_s": round(self.latency_s, 3),
        }
        if self.sign:
            out["sign"] = self.sign
        if self.error:
            out["error"] = self.error
        out.update(self.details)
        return out


class Stopwatch:
    """Monotonic elapsed time, for attempt latencies."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start


def os_error_sign(exc: BaseException) -> str:
    """A lockout sign from a socket error: refused and reset connections are the usual bans."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "connection reset"
    if isinstance(exc, OSError) and exc.errno in (errno.ECONNREFUSED, errno.ECONNRESET):
        return "connection refused" if exc.errno == errno.ECONNREFUSED else "connection reset"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return ""
