"""SSDP responder: answers M-SEARCH on 239.255.255.250:1900 with a unicast reply whose LOCATION
points at the device's UPnP description (/upnp/description.xml), and sends ssdp:alive on start."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from typing import Any

from lanprobe.lab.services.common import Device
from lanprobe.lab.services.http import device_uuid

GROUP, PORT = "239.255.255.250", 1900
DEVICE_TYPE = "urn:schemas-upnp-org:device:Basic:1"


class _Responder(asyncio.DatagramProtocol):
    def __init__(self, dev: Device) -> None:
        self.dev = dev
        self.transport: asyncio.DatagramTransport | None = None
        m = dev.model
        port = m["ssdp_port"]
        scheme = "https" if port == 443 else "http"
        self.location = f"{scheme}://{dev.ip}:{port}/upnp/description.xml"
        self.uuid = f"uuid:{device_uuid(dev.cfg['mac'])}"
        self.server = f"Linux/4.9 UPnP/1.0 {m['vendor']}-{m['model']}/{m['fw']}"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def targets(self) -> list[str]:
        return ["upnp:rootdevice", self.uuid, DEVICE_TYPE]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        text = data.decode("latin-1", "replace")
        if not text.startswith("M-SEARCH"):
            return
        headers = _headers(text)
        st = headers.get("st", "")
        if st == "ssdp:all":
            answers = self.targets()
        elif st in self.targets():
            answers = [st]
        else:
            return
        try:
            mx = max(0, min(int(headers.get("mx", "1")), 5))
        except ValueError:
            mx = 1
        loop = asyncio.get_running_loop()
        for target in answers:
            loop.call_later(random.uniform(0, mx) * 0.2, self._reply, target, addr)

    def _reply(self, st: str, addr: tuple[str, int]) -> None:
        usn = self.uuid if st == self.uuid else f"{self.uuid}::{st}"
        msg = (
            "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\n"
            f"LOCATION: {self.location}\r\nSERVER: {self.server}\r\nST: {st}\r\nUSN: {usn}\r\n\r\n"
        )
        if self.transport is not None:
            self.transport.sendto(msg.encode(), addr)

    def notify(self) -> None:
        if self.transport is None:
            return
        for nt in self.targets():
            usn = self.uuid if nt == self.uuid else f"{self.uuid}::{nt}"
            msg = (
                f"NOTIFY * HTTP/1.1\r\nHOST: {GROUP}:{PORT}\r\nCACHE-CONTROL: max-age=1800\r\n"
                f"LOCATION: {self.location}\r\nNT: {nt}\r\nNTS: ssdp:alive\r\n"
                f"SERVER: {self.server}\r\nUSN: {usn}\r\n\r\n"
            )
            self.transport.sendto(msg.encode(), (GROUP, PORT))


def _headers(text: str) -> dict[str, str]:
    out = {}
    for line in text.split("\r\n")[1:]:
        k, sep, v = line.partition(":")
        if sep:
            out[k.strip().lower()] = v.strip().strip('"')
    return out


class Ssdp:
    def __init__(self, transport: asyncio.DatagramTransport, proto: _Responder) -> None:
        self.transport, self.proto = transport, proto

    async def stop(self) -> None:
        self.transport.close()


async def start_ssdp(dev: Device) -> Any:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("", PORT))
    mreq = struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton(dev.ip))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(dev.ip))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: _Responder(dev), sock=sock)
    proto.notify()
    return Ssdp(transport, proto)
