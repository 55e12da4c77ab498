"""A hostile port: accepts TCP, reads what comes, never answers (hostile models' `stall_ports`).

What a TLS port stuck before its handshake or a wedged broker looks like from outside: the
connection opens, the ClientHello (or CONNECT) goes in, nothing ever comes back. The device holds
each connection for at most HOLD_S, reading at most MAX_BYTES, so the lab itself stays bounded.
"""

from __future__ import annotations

import asyncio

from lanprobe.lab.services.common import Device, close

HOLD_S = 300.0
MAX_BYTES = 1 << 20


class StallService:
    def __init__(self, dev: Device, port: int) -> None:
        self.dev, self.port = dev, port

    async def start(self) -> asyncio.Server:
        return await asyncio.start_server(self._client, self.dev.ip, self.port)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got = 0
        try:
            async with asyncio.timeout(HOLD_S):
                while got < MAX_BYTES:
                    chunk = await reader.read(4096)
                    if not chunk:
                        break
                    got += len(chunk)
        except (TimeoutError, OSError):
            pass
        finally:
            await close(writer)
