"""A small asyncio telnet client: refuse every option, match prompts, cap what is read.

telnetlib left the stdlib in 3.13, and a scanner needs less than it did: we answer every DO with
WONT and every WILL with DONT (so the device falls back to plain NVT text), skip subnegotiations,
and read text until a prompt pattern matches the end of what arrived. Prompt patterns are data
(profiles/data/login-prompts.txt), not code. Every read has a timeout and the whole connection a
byte cap, so a chatty or hostile device ends in an error, never a hang.
"""

from __future__ import annotations

import asyncio
import contextlib

from lanprobe.checks.clients.login import (
    PASSWORD_MARK,
    LoginAttempt,
    Prompts,
    Stopwatch,
    os_error_sign,
)
from lanprobe.errors import ProbeTimeout, ProtocolError, Unreachable
from lanprobe.options import Timeouts

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
MAX_BYTES = 64 * 1024
SETTLE_S = 0.15  # a prompt must be the last thing for this long (a MOTD may pause mid-line)


def parse(buf: bytes) -> tuple[bytes, bytes, bytes]:
    """Split telnet input into (text, our replies, unparsed rest).

    The rest is an incomplete command at the end of `buf`, to be prefixed to the next read.
    """
    data = bytearray()
    replies = bytearray()
    i, n = 0, len(buf)
    while i < n:
        byte = buf[i]
        if byte != IAC:
            data.append(byte)
            i += 1
            continue
        if i + 1 >= n:
            return bytes(data), bytes(replies), buf[i:]
        cmd = buf[i + 1]
        if cmd == IAC:  # an escaped 0xFF data byte
            data.append(IAC)
            i += 2
        elif cmd in (DO, DONT, WILL, WONT):
            if i + 2 >= n:
                return bytes(data), bytes(replies), buf[i:]
            opt = buf[i + 2]
            if cmd == DO:
                replies += bytes((IAC, WONT, opt))
            elif cmd == WILL:
                replies += bytes((IAC, DONT, opt))
            # DONT and WONT agree with the state we keep (everything off): no answer, no loop.
            i += 3
        elif cmd == SB:
            end = buf.find(bytes((IAC, SE)), i + 2)
            if end < 0:
                return bytes(data), bytes(replies), buf[i:]
            i = end + 2
        else:  # NOP, GA, AYT, ...: two bytes, nothing to do
            i += 2
    return bytes(data), bytes(replies), b""


class TelnetConnection:
    """One telnet connection that refuses every option."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.target = target
        self.received = 0
        self._rest = b""
        self._pending = ""

    @classmethod
    async def open(cls, ip: str, port: int, timeouts: Timeouts) -> TelnetConnection:
        target = f"{ip}:{port}"
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(ip, port), timeouts.connect_s
            )
        except TimeoutError as exc:
            raise ProbeTimeout("telnet connect: no answer in time", target=target) from exc
        except OSError as exc:
            raise Unreachable(f"telnet connect: {exc}", target=target) from exc
        return cls(reader, writer, target)

    async def _read_chunk(self, timeout: float, max_bytes: int) -> str | None:
        """Text of the next chunk (negotiation answered), '' at EOF, None on timeout."""
        try:
            chunk = await asyncio.wait_for(self.reader.read(4096), timeout)
        except TimeoutError:
            return None
        except OSError as exc:
            raise Unreachable(f"telnet read: {exc}", target=self.target) from exc
        if not chunk:
            return ""
        self.received += len(chunk)
        if self.received > max_bytes:
            raise ProtocolError(f"telnet: more than {max_bytes} bytes", target=self.target)
        data, replies, self._rest = parse(self._rest + chunk)
        if replies:
            self.writer.write(replies)
        return data.decode("utf-8", "replace")

    async def read_until(
        self,
        prompts: Prompts,
        kinds: tuple[str, ...],
        timeout: float,
        max_bytes: int = MAX_BYTES,
    ) -> tuple[str | None, str]:
        """Read until one of `kinds` matches and the device then stays quiet for SETTLE_S.

        Returns (kind or None on timeout/EOF, the text read).
        """
        text = self._pending
        self._pending = ""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        matched = prompts.match(text, kinds) if text else None
        while True:
            left = deadline - loop.time()
            if left <= 0:
                return matched, text
            chunk = await self._read_chunk(min(left, SETTLE_S) if matched else left, max_bytes)
            if chunk is None:  # quiet: a match stands, no match means the device said no more
                if matched or loop.time() >= deadline:
                    return matched, text
                continue
            if chunk == "":
                return matched, text
            text += chunk
            matched = prompts.match(text, kinds)

    async def send_line(self, line: str) -> None:
        # A data byte 0xFF must be doubled; CR LF ends a line in NVT.
        payload = line.encode("utf-8").replace(bytes((IAC,)), bytes((IAC, IAC))) + b"\r\n"
        self.writer.write(payload)
        try:
            await self.writer.drain()
        except OSError as exc:
            raise Unreachable(f"telnet write: {exc}", target=self.target) from exc

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)


def _tail(text: str, n: int = 80) -> str:
    return " ".join(text.split())[-n:]


async def login(
    ip: str,
    port: int,
    user: str,
    password: str,
    *,
    prompts: Prompts,
    timeouts: Timeouts,
) -> LoginAttempt:
    """One login attempt on a fresh connection: user at the login prompt, password at the
    password prompt; a shell prompt after it is acceptance, a failure message or a new login
    prompt refusal. A shell with no password asked counts as accepted (the check then shows
    whether any password is)."""
    request = f"telnet login {user!r} password {PASSWORD_MARK}"
    watch = Stopwatch()
    attempt = LoginAttempt(user, password, None, request=request)
    try:
        conn = await TelnetConnection.open(ip, port, timeouts)
    except (Unreachable, ProbeTimeout) as exc:
        attempt.sign = os_error_sign(exc.__cause__ or exc) or "no answer in time"
        attempt.error = str(exc)
        attempt.latency_s = watch.elapsed
        return attempt
    try:
        kind, text = await conn.read_until(prompts, ("shell", "password", "login"), timeouts.read_s)
        steps = [f"<- {_tail(text)}"]
        if kind == "login":
            await conn.send_line(user)
            kind, text = await conn.read_until(
                prompts, ("password", "shell", "login", "failure"), timeouts.read_s
            )
            steps.append(f"-> {user} <- {_tail(text)}")
        if kind == "password":
            watch_pw = Stopwatch()
            await conn.send_line(password)
            kind, text = await conn.read_until(
                prompts, ("shell", "login", "password", "failure"), timeouts.read_s
            )
            steps.append(f"-> {PASSWORD_MARK} <- {_tail(text)}")
            attempt.details["answer_after_password_s"] = round(watch_pw.elapsed, 3)
        attempt.answer = _tail(text)
        attempt.details["dialogue"] = steps
        if kind == "shell":
            attempt.accepted = True
        elif kind in ("login", "password", "failure"):
            attempt.accepted = False
        else:
            attempt.error = "no prompt recognised" if text else "no answer in time"
            attempt.sign = "" if text else "no answer in time"
    except (Unreachable, ProtocolError) as exc:
        attempt.error = str(exc)
        attempt.sign = os_error_sign(exc.__cause__ or exc)
    finally:
        await conn.close()
    attempt.latency_s = watch.elapsed
    return attempt


async def read_banner(
    ip: str, port: int, *, timeouts: Timeouts, wait_s: float = 1.5, max_bytes: int = 4096
) -> str:
    """What a TCP service says by itself (telnet negotiation refused), nudged once with a
    newline if it stays silent. For telling a raw shell from an unknown service."""
    conn = await TelnetConnection.open(ip, port, timeouts)
    try:
        text = ""
        for nudge in (False, True):
            if nudge:
                await conn.send_line("")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait_s
            while (left := deadline - loop.time()) > 0:
                try:
                    chunk = await conn._read_chunk(min(left, 0.3), max_bytes)
                except ProtocolError:
                    return text
                if chunk is None:
                    if text:
                        break
                    continue
                if chunk == "":
                    return text
                text += chunk
            if text:
                break
        return text
    finally:
        await conn.close()
