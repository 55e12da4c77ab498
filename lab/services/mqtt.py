"""Retained-state publisher: a minimal MQTT 3.1.1 client (CONNECT + PUBLISH QoS 0, retained)
that talks to the device's own mosquitto over loopback every second.

Written by hand to keep the device process lean; the broker itself is a real mosquitto.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import struct
import time
from typing import Any

from lanprobe.lab.services.common import Device


def _remaining(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s: str) -> bytes:
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def connect_packet(client_id: str, user: str | None, password: str | None) -> bytes:
    flags = 0x02  # clean session
    payload = _str(client_id)
    if user is not None:
        flags |= 0x80
        payload += _str(user)
    if password is not None:
        flags |= 0x40
        payload += _str(password)
    var = _str("MQTT") + bytes([4, flags]) + struct.pack("!H", 60)
    body = var + payload
    return bytes([0x10]) + _remaining(len(body)) + body


def publish_packet(topic: str, payload: bytes, retain: bool = True) -> bytes:
    body = _str(topic) + payload
    return bytes([0x30 | (1 if retain else 0)]) + _remaining(len(body)) + body


async def _session(dev: Device, conf: dict[str, Any]) -> None:
    ctx = None
    if conf["tls"]:
        ctx = ssl.create_default_context(cafile=dev.cfg["ca_file"])
        ctx.check_hostname = False  # loopback; the certificate names the device's address
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", conf["port"], ssl=ctx), 5
    )
    try:
        writer.write(connect_packet(f"{dev.cfg['name']}-state", conf["user"], conf["password"]))
        await writer.drain()
        connack = await asyncio.wait_for(reader.readexactly(4), 5)
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"broker refused the publisher: {connack.hex()}")
        on = True
        while True:
            state = {"serial": dev.cfg["serial"], "on": on, "power_w": 12.5 if on else 0.0,
                     "ts": int(time.time())}  # fmt: skip
            writer.write(publish_packet(conf["topic"], json.dumps(state).encode()))
            await writer.drain()
            await asyncio.sleep(1.0)
    finally:
        writer.close()


async def publish_forever(dev: Device, conf: dict[str, Any]) -> None:
    """Publish the retained state every second; reconnect (bounded back-off) when the broker is
    not up yet or goes away."""
    delay = 0.2
    while True:
        try:
            await _session(dev, conf)
        except asyncio.CancelledError:
            raise
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ConnectionError) as exc:
            if delay >= 5:
                dev.event(f"mqtt publisher: {exc}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)
