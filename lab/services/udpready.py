"""Is a lab UDP daemon up? One request it must answer: SNMP's from the probe's own codec (a leaf
protocol client, checks/clients/snmp.py), TFTP's and NTP's fixed, protocol-correct datagrams."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from lanprobe.checks.clients import snmp

SNMP_V3_DISCOVERY = snmp.engine_discovery(1)  # RFC 3414 section 4: every agent answers it
TFTP_READ = b"\x00\x01lanprobe-ready\x00octet\x00"  # RRQ (RFC 1350 section 5) of a missing name
NTP_CLIENT = b"\x23" + b"\x00" * 47  # NTPv4 mode 3 (RFC 5905 section 7.3)


class _First(asyncio.DatagramProtocol):
    def __init__(self, ip: str) -> None:
        self.ip, self.got = ip, asyncio.Event()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if addr and addr[0] == self.ip:
            self.got.set()


async def answers(
    ip: str, port: int, payload: bytes, *, any_port: bool = False, timeout_s: float = 0.25
) -> bool:
    """True when `ip` answers `payload` within the timeout (TFTP answers from a new port)."""
    loop = asyncio.get_running_loop()
    anywhere = "::" if ":" in ip else "0.0.0.0"
    if any_port:
        transport, proto = await loop.create_datagram_endpoint(
            lambda: _First(ip), local_addr=(anywhere, 0)
        )
    else:
        transport, proto = await loop.create_datagram_endpoint(
            lambda: _First(ip), remote_addr=(ip, port)
        )
    try:
        transport.sendto(payload, (ip, port) if any_port else None)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proto.got.wait(), timeout_s)
        return proto.got.is_set()
    finally:
        transport.close()
