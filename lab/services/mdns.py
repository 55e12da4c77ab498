"""mDNS advertiser: one service record with TXT vendor/model/serial/fw, bound to the device's
own address (zeroconf, IPv4 only).

A hostile model (`Mdns.hostile`) also multicasts, every half second, answers no parser should
trust (`hostile_packets`): a TXT record with more entries than any reader keeps, over-long keys
and values, bytes that are not UTF-8 and terminal escapes; a packet larger than mDNS allows; a
compression-pointer loop; a header promising records that never come; an over-long label.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

from lanprobe.lab.services.common import Device
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

GROUP = ("224.0.0.251", 5353)
HOSTILE_EVERY_S = 0.5
HOSTILE_LIMIT_S = 1800.0  # the sender stops by itself (bounded, like every lab loop)


def _name(*labels: bytes) -> bytes:
    return b"".join(bytes([len(lab)]) + lab for lab in labels) + b"\x00"


def _rr(owner: bytes, rtype: int, rdata: bytes, ttl: int = 120) -> bytes:
    return owner + struct.pack("!HHIH", rtype, 0x8001, ttl, len(rdata)) + rdata


def _response(*records: bytes, claimed: int | None = None) -> bytes:
    count = len(records) if claimed is None else claimed
    return struct.pack("!HHHHHH", 0, 0x8400, 0, count, 0, 0) + b"".join(records)


def _txt(entries: list[bytes]) -> bytes:
    return b"".join(bytes([min(len(e), 255)]) + e[:255] for e in entries)


def hostile_packets(ip: str, name: str, port: int) -> list[bytes]:
    """The malformed and oversized answers a hostile device multicasts (raw DNS messages)."""
    stype = _name(b"_hostile", b"_tcp", b"local")
    services = _name(b"_services", b"_dns-sd", b"_udp", b"local")
    inst = _name(b"X1 flood " + name.encode(), b"_hostile", b"_tcp", b"local")
    host = _name(name.encode() + b"-flood", b"local")
    entries = [
        b"model=X1",
        b"serial=" + b"9" * 240,  # a value at the 255-byte limit of one entry
        b"k" * 200 + b"=over-long key",
        b"\xff\xfe=not utf-8 key",
        b"vendor=\x1b[31mHostile\x1b[0m\x07",  # terminal escape and bell
        b"fw=\xc3\x28invalid utf-8",
        b"=no key",
        b"flag",
        b"model=second model entry",  # a duplicate key: the first wins (RFC 6763 6.4)
    ]
    entries += [b"k%02d=" % i + b"v" * 100 for i in range(80)]  # more than any reader keeps
    srv = struct.pack("!HHH", 0, 0, port) + host
    big = _response(
        _rr(services, 12, stype),
        _rr(stype, 12, inst),
        _rr(inst, 33, srv),
        _rr(inst, 16, _txt(entries)[:8000]),
        _rr(host, 1, socket.inet_aton(ip)),
    )
    oversized = _response(*(_rr(inst, 16, _txt([b"pad=" + b"p" * 250] * 30)) for _ in range(4)))
    loop = struct.pack("!HHHHHH", 0, 0x8400, 0, 1, 0, 0) + b"\xc0\x0c\x00\x0c\x00\x01"
    promise = _response(_rr(stype, 12, inst), claimed=40)  # 40 answers announced, one sent
    long_label = b"\x7f" + b"L" * 127 + b"\x00"  # a label over 63 bytes
    bad_label = _response(_rr(long_label, 12, inst))
    cut = big[: len(big) // 2]  # truncated mid-record
    return [big, oversized, loop, promise, bad_label, cut]


class MdnsAdvertiser:
    def __init__(self, dev: Device) -> None:
        self.dev = dev
        self.zc: AsyncZeroconf | None = None
        self.hostile: asyncio.Task[None] | None = None

    def info(self) -> AsyncServiceInfo:
        m, cfg = self.dev.model, self.dev.cfg
        svc = m["mdns"]
        # Instance and host names carry the device name: the twins share a serial, and two
        # records with one name would fight over it in mDNS conflict resolution.
        return AsyncServiceInfo(
            svc["type"],
            f"{m['model']} {cfg['name']}.{svc['type']}",
            port=svc["port"],
            properties={
                "vendor": m["vendor"],
                "model": m["model"],
                "serial": cfg["serial"],
                "fw": m["fw"],
            },
            server=f"{cfg['name']}.local.",
            addresses=[socket.inet_aton(self.dev.ip)],
        )

    async def start(self) -> None:
        self.zc = AsyncZeroconf(interfaces=[self.dev.ip], ip_version=IPVersion.V4Only)
        await self.zc.async_register_service(self.info())
        if self.dev.model["mdns"].get("hostile"):
            self.hostile = asyncio.create_task(self._send_hostile())

    async def _send_hostile(self) -> None:
        svc, name = self.dev.model["mdns"], self.dev.cfg["name"]
        packets = hostile_packets(self.dev.ip, name, svc["port"])
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            src = socket.inet_aton(self.dev.ip)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, src)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
            # Answers come from 5353, which zeroconf holds here too: share it the way it does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((self.dev.ip, 5353))
            sock.setblocking(False)
            for _ in range(int(HOSTILE_LIMIT_S / HOSTILE_EVERY_S)):
                for pkt in packets:
                    with contextlib.suppress(OSError):
                        sock.sendto(pkt, GROUP)
                await asyncio.sleep(HOSTILE_EVERY_S)
        finally:
            sock.close()

    async def stop(self) -> None:
        if self.hostile is not None:
            self.hostile.cancel()
        if self.zc is not None:
            with contextlib.suppress(asyncio.TimeoutError, OSError):
                await asyncio.wait_for(self.zc.async_close(), 2)
