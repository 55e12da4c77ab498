"""A minimal NTP responder (RFC 5905 server mode): devices get the host's time, and each request
is recorded (who asked, which NTP version and mode), because a device's time source is part of
what it does on its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, cast

NTP_EPOCH_OFFSET = 2208988800  # 1900-01-01 to 1970-01-01, seconds


def ntp_time(t: float) -> bytes:
    secs = int(t) + NTP_EPOCH_OFFSET
    frac = int((t - int(t)) * (1 << 32))
    return secs.to_bytes(4, "big") + frac.to_bytes(4, "big")


def answer(request: bytes, now: float) -> bytes | None:
    """The server reply to a client request, or None for anything that is not one."""
    if len(request) < 48:
        return None
    version, mode = (request[0] >> 3) & 7, request[0] & 7
    if mode != 3 or not 1 <= version <= 4:
        return None
    stamp = ntp_time(now)
    return (
        bytes([(version << 3) | 4, 2, request[2], 0xEC])  # no leap, stratum 2, poll, precision
        + b"\x00" * 8  # root delay, root dispersion
        + b"LPRB"  # reference id
        + stamp  # reference time
        + request[40:48]  # origin = the client's transmit time
        + stamp  # receive
        + stamp  # transmit
    )


class NtpResponder(asyncio.DatagramProtocol):
    def __init__(self, record: Callable[[dict[str, Any]], None]) -> None:
        self.record = record
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = answer(data, time.time())
        self.record({
            "kind": "ntp", "time": time.time(), "client": addr[0], "client_port": addr[1],
            "version": (data[0] >> 3) & 7 if data else 0, "mode": data[0] & 7 if data else 0,
            "answered": reply is not None,
        })  # fmt: skip
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


async def serve(
    address: str, record: Callable[[dict[str, Any]], None], port: int = 123
) -> asyncio.DatagramTransport:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: NtpResponder(record), local_addr=(address, port)
    )
    return cast(asyncio.DatagramTransport, transport)
