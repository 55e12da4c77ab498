"""One UDP request, one answer: the transport every UDP probe shares (SNMP, TFTP, NTP, CoAP).

Bounded: `1 + retries` sends, each waiting `timeout_s`; answers capped at one datagram. TFTP
servers answer from a new port (RFC 1350 section 4, the server's TID), so `any_port` accepts an
answer from any port of the same address; everything else must come from the port asked.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

MAX_DATAGRAM = 65507


class _Proto(asyncio.DatagramProtocol):
    def __init__(self, ip: str) -> None:
        self.ip = ip
        self.answers: asyncio.Queue[tuple[bytes, int]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if addr and addr[0] == self.ip:  # nothing from anyone else
            self.answers.put_nowait((data[:MAX_DATAGRAM], int(addr[1])))


async def exchange(
    ip: str,
    port: int,
    message: bytes,
    *,
    timeout_s: float = 1.0,
    retries: int = 1,
    any_port: bool = False,
    after: Any = None,
) -> tuple[bytes, int] | None:
    """Send `message` to ip:port until an answer comes: (answer, the port it came from), or None.
    `after(answer, port) -> bytes | None`: a last datagram to send to that port (TFTP's ERROR)."""
    loop = asyncio.get_running_loop()
    family = 10 if ":" in ip else 2  # AF_INET6 / AF_INET
    if any_port:
        transport, proto = await loop.create_datagram_endpoint(
            lambda: _Proto(ip), local_addr=("::" if family == 10 else "0.0.0.0", 0)
        )
    else:
        transport, proto = await loop.create_datagram_endpoint(
            lambda: _Proto(ip), remote_addr=(ip, port)
        )
    try:
        for _ in range(1 + max(0, retries)):
            transport.sendto(message, None if not any_port else (ip, port))
            with contextlib.suppress(TimeoutError):
                data, src = await asyncio.wait_for(proto.answers.get(), timeout_s)
                last = after(data, src) if after is not None else None
                if last:
                    transport.sendto(last, (ip, src) if any_port else None)
                return data, src
        return None
    finally:
        transport.close()
