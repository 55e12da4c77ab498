"""What every login client returns: one attempt's outcome, measured, not judged.

A client says whether the device accepted the pair (`accepted` True/False), or that it could not
tell (`accepted` None: refused or reset connection, HTTP 429, a timeout). `sign` names what might
be a lockout (the guard decides, from the failures before it); `request` and `answer` are the
evidence, with the password never in them (checks add it, redacted or not).

Signs come in two strengths (issue 11's rule): a *named* lockout is a refusal that says so (HTTP
429, a lockout page, a protocol's own code such as FTP 421 or an SSH DISCONNECT during
authentication, a telnet "too many attempts"), or the right credentials refused; a bare timeout,
reset, refused or closed connection, or a slowdown, after failed logins may be a ban, a fault or
load and proves nothing alone (`is_named_lockout`).

Prompts and login messages (profiles/data/login-prompts.txt) are data: the telnet prompts, and
the failure, lockout and token (CSRF) messages that HTTP bodies and telnet dialogues show.
"""

from __future__ import annotations

import errno
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lanprobe import datacache

# Sentinel for the password inside request descriptions: the check substitutes it (redacted).
PASSWORD_MARK = "<password>"
# Kinds of patterns in login-prompts.txt. login, password and shell match the END of what the
# device sent; failure, lockout and token (a CSRF/session-token complaint) match anywhere.
PROMPT_KINDS = ("login", "password", "shell", "failure", "lockout", "token")
_END_KINDS = ("login", "password", "shell")
# Signs that say nothing by themselves: a ban looks like this, so does a crashed or busy service.
# A slowdown is bare too: the host's own load slows answers as much as a throttle does (measured:
# a lab device that never throttles "slowed 0.20s to 1.28s" under load, a false no-lockout pass).
AMBIGUOUS_SIGNS = (
    "connection refused",
    "connection reset",
    "connection closed",
    "no answer",
    "answer slowed",
)


def is_named_lockout(sign: str) -> bool:
    """A sign that names a lockout (429, lockout page, protocol code), not a bare timeout,
    reset, refused connection or slowdown."""
    return bool(sign) and not sign.startswith(AMBIGUOUS_SIGNS)


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


@dataclass
class Prompts:
    """Patterns by kind: login, password, shell (match the end of the text); failure, lockout
    and token messages (anywhere in it)."""

    patterns: dict[str, list[re.Pattern[str]]] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def parse(cls, text: str, source: str = "") -> Prompts:
        """Lines `<kind> <regex>`; `#` starts a comment line. Unknown kinds are errors."""
        patterns: dict[str, list[re.Pattern[str]]] = {k: [] for k in PROMPT_KINDS}
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            kind, _, regex = line.partition(" ")
            if kind not in patterns or not regex.strip():
                raise ValueError(
                    f"{source}:{lineno}: expected '<kind> <regex>', kind in "
                    f"{', '.join(PROMPT_KINDS)}"
                )
            try:
                patterns[kind].append(re.compile(regex.strip(), re.I))
            except re.error as exc:
                raise ValueError(f"{source}:{lineno}: bad regex: {exc}") from exc
        return cls(patterns=patterns, source=source)

    @classmethod
    def load(cls, path: Path) -> Prompts:
        """Parsed once (probe/datacache.py): every login attempt asks for it."""
        return datacache.load(path, _parse_prompts)

    def match(self, text: str, kinds: tuple[str, ...]) -> str | None:
        """The first kind (in the order given) whose pattern matches. Prompt kinds look at the
        end of the text only; message kinds look anywhere in it."""
        tail = text[-256:]
        for kind in kinds:
            for pat in self.patterns.get(kind, []):
                if pat.search(tail if kind in _END_KINDS else text):
                    return kind
        return None

    def message(self, text: str, kind: str) -> str:
        """The text a message pattern of `kind` matched ("" when none did), for evidence."""
        for pat in self.patterns.get(kind, []):
            m = pat.search(text)
            if m:
                return m.group(0)[:80]
        return ""


def _parse_prompts(path: Path) -> Prompts:
    return Prompts.parse(path.read_text(encoding="utf-8"), source=str(path))
