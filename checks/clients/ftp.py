"""A minimal asyncio FTP client for login attempts: greeting, USER, PASS, QUIT.

Our own rather than aioftp's: a login attempt needs three commands, exact reply codes for the
evidence (230 in, 530 refused, 421 closing: a possible ban) and a byte cap on every reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import re

from lanprobe.checks.clients.login import PASSWORD_MARK, LoginAttempt, Stopwatch, os_error_sign
from lanprobe.errors import ProbeTimeout, ProtocolError, Unreachable
from lanprobe.options import Timeouts

MAX_REPLY_BYTES = 8 * 1024
_REPLY = re.compile(rb"^(\d{3})([ -])(.*)$")


def parse_reply(lines: list[bytes]) -> tuple[int, str] | None:
    """(code, text) once `lines` hold a whole reply (RFC 959 multi-line: `123-` ... `123 `)."""
    if not lines:
        return None
    first = _REPLY.match(lines[0].rstrip(b"\r\n"))
    if not first:
        raise ValueError(f"not an FTP reply: {lines[0][:60]!r}")
    code = first.group(1)
    if first.group(2) == b" ":
        return int(code), first.group(3).decode("utf-8", "replace").strip()
    last = lines[-1].rstrip(b"\r\n")
    if len(lines) > 1 and last.startswith(code + b" "):
        text = b" ".join(line.rstrip(b"\r\n") for line in lines)
        return int(code), text.decode("utf-8", "replace").strip()
    return None


class FtpControl:
    """The control connection of one FTP session."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str):
        self.reader = reader
        self.writer = writer
        self.target = target

    @classmethod
    async def open(cls, ip: str, port: int, timeouts: Timeouts) -> FtpControl:
        target = f"{ip}:{port}"
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(ip, port, limit=MAX_REPLY_BYTES), timeouts.connect_s
            )
        except TimeoutError as exc:
            raise ProbeTimeout("FTP connect: no answer in time", target=target) from exc
        except OSError as exc:
            raise Unreachable(f"FTP connect: {exc}", target=target) from exc
        return cls(reader, writer, target)

    async def reply(self, timeout: float) -> tuple[int, str]:
        lines: list[bytes] = []
        size = 0
        while True:
            try:
                line = await asyncio.wait_for(self.reader.readline(), timeout)
            except TimeoutError as exc:
                raise ProbeTimeout("FTP: no reply in time", target=self.target) from exc
            except ValueError as exc:  # a line longer than the stream limit
                raise ProtocolError("FTP: reply line too long", target=self.target) from exc
            except OSError as exc:
                raise Unreachable(f"FTP read: {exc}", target=self.target) from exc
            if not line:
                raise Unreachable("FTP: connection closed", target=self.target)
            size += len(line)
            if size > MAX_REPLY_BYTES:
                raise ProtocolError("FTP: reply too long", target=self.target)
            lines.append(line)
            try:
                parsed = parse_reply(lines)
            except ValueError as exc:
                raise ProtocolError(f"FTP: {exc}", target=self.target) from exc
            if parsed:
                return parsed

    async def command(self, line: str, timeout: float) -> tuple[int, str]:
        if "\r" in line or "\n" in line:
            raise ValueError("FTP command with a line break")
        self.writer.write(line.encode("utf-8") + b"\r\n")
        try:
            await self.writer.drain()
        except OSError as exc:
            raise Unreachable(f"FTP write: {exc}", target=self.target) from exc
        return await self.reply(timeout)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)


async def login(
    ip: str, port: int, user: str, password: str, *, timeouts: Timeouts
) -> LoginAttempt:
    """One USER/PASS attempt on a fresh control connection. 230 accepted, 530 refused;
    421 or a refused/reset connection is a possible lockout sign."""
    request = f"USER {user} / PASS {PASSWORD_MARK}"
    watch = Stopwatch()
    attempt = LoginAttempt(user, password, None, request=request)
    try:
        ctl = await FtpControl.open(ip, port, timeouts)
    except (Unreachable, ProbeTimeout) as exc:
        attempt.sign = os_error_sign(exc.__cause__ or exc) or "no answer in time"
        attempt.error = str(exc)
        attempt.latency_s = watch.elapsed
        return attempt
    try:
        code, text = await ctl.reply(timeouts.read_s)
        answers = [f"{code} {text}"[:120]]
        if code == 220:
            code, text = await ctl.command(f"USER {user}", timeouts.read_s)
            answers.append(f"{code} {text}"[:120])
            if code == 331 or code == 332:
                code, text = await ctl.command(f"PASS {password}", timeouts.read_s)
                answers.append(f"{code} {text}"[:120])
        attempt.answer = answers[-1]
        attempt.details["replies"] = answers
        if code == 230:
            attempt.accepted = True
            with contextlib.suppress(Unreachable, ProbeTimeout, ProtocolError):
                await ctl.command("QUIT", min(timeouts.read_s, 1.0))
        elif code in (530, 430):
            attempt.accepted = False
        elif code == 421:
            attempt.sign = f"FTP 421 {text}"[:80]
        else:
            attempt.error = f"unexpected FTP reply {code}"
    except (Unreachable, ProbeTimeout, ProtocolError) as exc:
        attempt.error = str(exc)
        attempt.sign = os_error_sign(exc.__cause__ or exc)
        if isinstance(exc, Unreachable) and not attempt.sign:
            attempt.sign = "connection closed"
        if isinstance(exc, ProbeTimeout):
            attempt.sign = "no answer in time"
    finally:
        await ctl.close()
    attempt.latency_s = watch.elapsed
    return attempt
