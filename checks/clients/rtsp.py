"""A minimal RTSP client (RFC 2326; RTSP 2.0, RFC 7826, answers the same way): DESCRIBE only.

DESCRIBE asks for a stream's description (SDP, RFC 4566) and starts nothing: no SETUP, no PLAY,
so the camera never streams to us. One request per connection, every read capped and timed.
`describe()` measures what a camera says to a DESCRIBE with or without credentials (Basic or
Digest, RFC 2617 as RTSP uses it); checks judge it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from lanprobe import datacache
from lanprobe.checks.clients.login import PASSWORD_MARK, LoginAttempt, Stopwatch, os_error_sign
from lanprobe.errors import ProbeTimeout, ProtocolError, Unreachable
from lanprobe.options import Timeouts

MAX_ANSWER_BYTES = 16 * 1024
_STATUS = re.compile(r"^RTSP/\d\.\d (\d{3}) ?(.*)$")
_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]+))')
USER_AGENT = "lanprobe"


@dataclass
class RtspAnswer:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def status_line(self) -> str:
        return f"{self.status} {self.reason}".strip()

    @property
    def is_sdp(self) -> bool:
        """A stream description: 2xx with an SDP body (RFC 4566 starts with `v=0`)."""
        ctype = self.headers.get("content-type", "").lower()
        return 200 <= self.status < 300 and (
            "application/sdp" in ctype or self.body.lstrip().startswith(b"v=0")
        )

    def challenge(self) -> str:
        """The authentication scheme the camera asks for: basic, digest or ""."""
        value = self.headers.get("www-authenticate", "").strip().lower()
        return value.split(" ", 1)[0] if value else ""

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {"status": self.status_line}
        if self.challenge():
            out["auth"] = self.challenge()
        if self.is_sdp:
            out["sdp_lines"] = [
                line
                for line in self.body.decode("latin-1").splitlines()
                if line[:2] in ("s=", "m=")
            ][:6]
        server = self.headers.get("server")
        if server:
            out["server"] = server[:80]
        return out


def parse_answer(data: bytes) -> RtspAnswer:
    """Status, headers and body of one RTSP answer; ProtocolError when it is not RTSP."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = _STATUS.match(lines[0])
    if m is None:
        raise ProtocolError(f"not an RTSP answer: {lines[0][:60]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            headers.setdefault(key.strip().lower(), value.strip())
    return RtspAnswer(int(m.group(1)), m.group(2).strip(), headers, body)


def load_paths(path: Path) -> list[str]:
    """Stream paths, one a line (`#` comments), from a data file (parsed once: probe/datacache.py;
    the list is shared, never changed)."""
    return datacache.load(path, _parse_paths)


def _parse_paths(path: Path) -> list[str]:
    out: list[str] = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("/") or any(c.isspace() for c in line):
            raise ValueError(f"{path}:{lineno}: a path starts with / and has no spaces")
        out.append(line)
    return out


def digest_header(challenge: str, method: str, uri: str, user: str, password: str) -> str:
    """The Authorization header answering a Digest challenge (MD5; qop=auth when offered)."""
    p = {k.lower(): (q if q else v) for k, q, v in _PARAM.findall(challenge)}
    realm, nonce = p.get("realm", ""), p.get("nonce", "")

    def md5(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()

    ha1, ha2 = md5(f"{user}:{realm}:{password}"), md5(f"{method}:{uri}")
    parts = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    if "auth" in p.get("qop", "").split(","):
        cnonce = secrets.token_hex(8)
        response = md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")
        parts += ["qop=auth", "nc=00000001", f'cnonce="{cnonce}"']
    else:
        response = md5(f"{ha1}:{nonce}:{ha2}")
    parts.append(f'response="{response}"')
    if "opaque" in p:
        parts.append(f'opaque="{p["opaque"]}"')
    return "Digest " + ", ".join(parts)


async def request(
    ip: str, port: int, method: str, uri: str, timeouts: Timeouts, headers: dict[str, str]
) -> RtspAnswer:
    """One request on a fresh connection. Unreachable / ProbeTimeout / ProtocolError."""
    target = f"{ip}:{port}"
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(ip, port, limit=MAX_ANSWER_BYTES), timeouts.connect_s
        )
    except TimeoutError as exc:
        raise ProbeTimeout("RTSP connect: no answer in time", target=target) from exc
    except OSError as exc:
        raise Unreachable(f"RTSP connect: {exc}", target=target) from exc
    lines = [f"{method} {uri} RTSP/1.0", "CSeq: 1", f"User-Agent: {USER_AGENT}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        async with asyncio.timeout(timeouts.read_s):
            head = await reader.readuntil(b"\r\n\r\n")
            answer = parse_answer(head)
            length = min(int(answer.headers.get("content-length", "0") or 0), MAX_ANSWER_BYTES)
            if length > 0:
                answer.body = await reader.readexactly(length)
        return answer
    except TimeoutError as exc:
        raise ProbeTimeout(f"RTSP {method}: no answer in time", target=target) from exc
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        raise ProtocolError(f"RTSP {method}: unreadable answer ({exc})", target=target) from exc
    except OSError as exc:
        raise Unreachable(f"RTSP {method}: {exc}", target=target) from exc
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 1)


def url(ip: str, port: int, path: str) -> str:
    return f"rtsp://{ip}:{port}{path}"


async def describe(ip: str, port: int, path: str, timeouts: Timeouts) -> RtspAnswer:
    """DESCRIBE without credentials."""
    return await request(
        ip, port, "DESCRIBE", url(ip, port, path), timeouts, {"Accept": "application/sdp"}
    )


async def login(
    ip: str, port: int, path: str, user: str, password: str, timeouts: Timeouts
) -> LoginAttempt:
    """One login attempt: DESCRIBE, then the same with credentials for the scheme the camera
    asked for. accepted True on 2xx, False on 401/403 again, None when it cannot tell."""
    uri = url(ip, port, path)
    watch = Stopwatch()
    attempt = LoginAttempt(user, password, None, request=f"DESCRIBE {uri}")
    try:
        first = await describe(ip, port, path, timeouts)
        scheme = first.challenge()
        if first.status != 401 or scheme not in ("basic", "digest"):
            attempt.error = f"no login asked for: {first.status_line}"
            attempt.answer = first.status_line
            return attempt
        if scheme == "basic":
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            auth = f"Basic {token}"
            attempt.request = f"DESCRIBE {uri} (Basic {user}:{PASSWORD_MARK})"
        else:
            challenge = first.headers["www-authenticate"][len("digest") :]
            auth = digest_header(challenge, "DESCRIBE", uri, user, password)
            attempt.request = f"DESCRIBE {uri} (Digest {user}:{PASSWORD_MARK})"
        second = await request(
            ip,
            port,
            "DESCRIBE",
            uri,
            timeouts,
            {"Accept": "application/sdp", "Authorization": auth},
        )
    except (ProbeTimeout, Unreachable) as exc:
        attempt.error = str(exc)
        attempt.sign = os_error_sign(exc.__cause__ or exc)
        attempt.latency_s = watch.elapsed
        return attempt
    attempt.latency_s = watch.elapsed
    attempt.answer = second.status_line
    if 200 <= second.status < 300:
        attempt.accepted = True
    elif second.status in (401, 403):
        attempt.accepted = False
    elif second.status in (429, 503):
        attempt.sign = f"RTSP {second.status}"
    else:
        attempt.error = f"unexpected answer {second.status_line}"
    return attempt
