"""FTP login server: the control connection only (USER/PASS/SYST/FEAT/PWD/TYPE/NOOP/QUIT).

A small asyncio server of our own rather than aioftp's: the lab only needs the login dialogue,
the device process stays lean (aioftp's server pulls in its path I/O layer), and the source-address
ban shared with the other services hooks straight into it. Data connections are refused (502).
"""

from __future__ import annotations

import asyncio
from typing import Any

from lanprobe.lab.services.common import Device, check_login, close, peer_ip, reset

READ_S = 30.0


class FtpService:
    def __init__(self, dev: Device, conf: dict[str, Any]) -> None:
        self.dev, self.conf = dev, conf

    async def start(self) -> asyncio.Server:
        return await asyncio.start_server(self._client, self.dev.ip, self.conf["port"])

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        src = peer_ip(writer)
        if self.dev.guard.banned(src):
            reset(writer)
            return
        try:
            await self._session(reader, writer, src)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            await close(writer)

    async def _session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, src: str
    ) -> None:
        def reply(text: str) -> None:
            writer.write((text + "\r\n").encode())

        banner = (
            "FTP server ready"
            if not self.dev.model["expose_identifiers"]
            else (f"{self.dev.model['vendor']} {self.dev.model['model']} FTP server ready")
        )
        reply(f"220 {banner}")
        user: str | None = None
        logged_in = False
        for _ in range(200):
            await writer.drain()
            raw = await asyncio.wait_for(reader.readline(), READ_S)
            if not raw:
                return
            line = raw.decode("latin-1").strip()
            cmd, _, arg = line.partition(" ")
            cmd = cmd.upper()
            if cmd == "USER":
                if self.conf.get("reset_after") == "user":
                    reset(writer)  # hostile: hang up mid-login with a TCP RST
                    return
                user, logged_in = arg, False
                reply(f"331 Password required for {arg}")
            elif cmd == "PASS":
                if user is None:
                    reply("503 Login with USER first")
                elif check_login(self.conf["users"], self.conf["accept_any"], user, arg):
                    logged_in = True
                    self.dev.guard.success(src, user)
                    self.dev.event(f"login ok user={user} from={src} service=ftp")
                    reply(f"230 User {user} logged in")
                else:
                    self.dev.guard.failure(src, user)
                    self.dev.event(f"login failed user={user} from={src} service=ftp")
                    await asyncio.sleep(0.2)
                    reply("530 Login incorrect")
                    if self.dev.guard.banned(src):
                        await writer.drain()
                        return
            elif cmd == "QUIT":
                reply("221 Goodbye")
                await writer.drain()
                return
            elif cmd in ("SYST", "FEAT", "NOOP", "OPTS", "AUTH"):
                reply({
                    "SYST": "215 UNIX Type: L8", "FEAT": "211 No features", "NOOP": "200 OK",
                    "OPTS": "200 OK", "AUTH": "502 TLS not available",
                }[cmd])  # fmt: skip
            elif not logged_in:
                reply("530 Please login with USER and PASS")
            elif cmd in ("PWD", "XPWD"):
                reply('257 "/" is the current directory')
            elif cmd == "TYPE":
                reply("200 Type set")
            elif cmd in ("CWD", "CDUP"):
                reply("250 OK")
            else:
                reply("502 Command not implemented")
