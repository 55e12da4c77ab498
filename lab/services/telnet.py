"""Telnet login server (BusyBox-like prompts) and the raw debug shell of the insecure camera."""

from __future__ import annotations

import asyncio
from typing import Any

from lanprobe.lab.services.common import Device, check_login, close, peer_ip, reset

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
READ_S = 30.0
MAX_LINE = 256
# Hostile banner (Login.banner_drip_s): text that never ends in a login, password or shell prompt.
DRIP_TEXT = b"booting hostile firmware, please wait . . . . . . . . "
DRIP_LIMIT_S = 300.0


async def read_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str | None:
    """One line of input with telnet option negotiation stripped (every option is refused)."""
    buf = bytearray()
    while len(buf) < MAX_LINE:
        b = await asyncio.wait_for(reader.read(1), READ_S)
        if not b:
            return None if not buf else buf.decode("latin-1")
        c = b[0]
        if c == IAC:
            cmd = (await asyncio.wait_for(reader.readexactly(1), READ_S))[0]
            if cmd in (DO, DONT, WILL, WONT):
                opt = (await asyncio.wait_for(reader.readexactly(1), READ_S))[0]
                if cmd == DO:
                    writer.write(bytes([IAC, WONT, opt]))
                elif cmd == WILL:
                    writer.write(bytes([IAC, DONT, opt]))
            elif cmd == SB:
                await asyncio.wait_for(reader.readuntil(bytes([IAC, SE])), READ_S)
            continue
        if c == 10:
            return buf.decode("latin-1").rstrip("\r\x00")
        if c != 0:
            buf.append(c)
    return buf.decode("latin-1")


class TelnetService:
    def __init__(self, dev: Device, conf: dict[str, Any]) -> None:
        self.dev, self.conf = dev, conf

    async def start(self) -> asyncio.Server:
        # family "ipv6": only on the device's unique-local address (a dual-stack bench)
        host = self.dev.cfg["ip6"] if self.conf.get("family") == "ipv6" else self.dev.ip
        return await asyncio.start_server(self._client, host, self.conf["port"])

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        src = peer_ip(writer)
        if self.dev.guard.banned(src):
            reset(writer)
            return
        try:
            if self.conf.get("banner_drip_s"):
                await self._drip(writer)
                return
            await self._session(reader, writer, src)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            await close(writer)

    async def _drip(self, writer: asyncio.StreamWriter) -> None:
        """An endless banner, one byte at a time, that never becomes a prompt."""
        pause = float(self.conf["banner_drip_s"])
        async with asyncio.timeout(DRIP_LIMIT_S):
            for i in range(int(DRIP_LIMIT_S / pause) + 1):
                writer.write(DRIP_TEXT[i % len(DRIP_TEXT) : i % len(DRIP_TEXT) + 1])
                await writer.drain()
                await asyncio.sleep(pause)

    async def _session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, src: str
    ) -> None:
        name = self.dev.cfg["name"]
        writer.write(f"\r\n{name} login: ".encode())
        for _ in range(3):
            await writer.drain()
            user = await read_line(reader, writer)
            if user is None:
                return
            if self.conf.get("reset_after") == "user":
                reset(writer)  # hostile: hang up mid-login with a TCP RST
                return
            writer.write(b"Password: ")
            await writer.drain()
            password = await read_line(reader, writer)
            if password is None:
                return
            if check_login(self.conf["users"], self.conf["accept_any"], user, password):
                self.dev.guard.success(src, user)
                self.dev.event(f"login ok user={user} from={src} service=telnet")
                await shell(reader, writer, "\r\n\r\nBusyBox v1.19.4 built-in shell (ash)\r\n")
                return
            self.dev.guard.failure(src, user)
            self.dev.event(f"login failed user={user} from={src} service=telnet")
            await asyncio.sleep(0.2)
            if self.dev.guard.banned(src):
                return
            writer.write(f"\r\nLogin incorrect\r\n{name} login: ".encode())


async def shell(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, banner: str) -> None:
    """A root prompt that understands `exit` and little else (nothing on the device changes)."""
    writer.write(banner.encode() + b"# ")
    await writer.drain()
    for _ in range(100):
        line = await read_line(reader, writer)
        if line is None or line.strip() in ("exit", "logout", "quit"):
            return
        cmd = line.strip().split(" ")[0]
        if cmd == "id":
            writer.write(b"uid=0(root) gid=0(root)\r\n")
        elif cmd:
            writer.write(f"sh: {cmd}: not found\r\n".encode())
        writer.write(b"# ")
        await writer.drain()


class DebugShell:
    """A root shell on a raw TCP port, no login (the camera's forgotten debug interface)."""

    def __init__(self, dev: Device, port: int) -> None:
        self.dev, self.port = dev, port

    async def start(self) -> asyncio.Server:
        return await asyncio.start_server(self._client, self.dev.ip, self.port)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await shell(reader, writer, "debug shell\r\n")
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            await close(writer)
