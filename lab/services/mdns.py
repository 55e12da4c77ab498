"""mDNS advertiser: one service record with TXT vendor/model/serial/fw, bound to the device's
own address (zeroconf, IPv4 only)."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from lab.services.common import Device


class MdnsAdvertiser:
    def __init__(self, dev: Device) -> None:
        self.dev = dev
        self.zc: AsyncZeroconf | None = None

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

    async def stop(self) -> None:
        if self.zc is not None:
            with contextlib.suppress(asyncio.TimeoutError, OSError):
                await asyncio.wait_for(self.zc.async_close(), 2)
