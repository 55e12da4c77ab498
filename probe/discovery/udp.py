"""UDP discovery with protocol-correct requests (never an empty datagram).

Each host found gets, per UDP protocol, one request with bounded retries, under a global rate
limit, all protocols at once: SNMP (v2c and v1 GetRequest of sysDescr/sysObjectID/sysName with
the `public` community, and SNMPv3 engine discovery, which needs no community at all); TFTP (a
read request of a random name no device has, so nothing is transferred; a DATA answer is ended
with an ERROR, never acknowledged); NTP (one mode 3 client request); CoAP (a NON GET of
/.well-known/core, RFC 6690). An answer makes a service with
`transport: udp` in the inventory; sysDescr, sysObjectID and sysName feed identification. Silence
is not an error: a UDP port that does not answer is simply not listed.
(SSDP stays in ssdp.py, mDNS in mdns.py.)
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from lanprobe.checks.clients import datagram, snmp
from lanprobe.discovery import coap
from lanprobe.discovery.inventory import Sighting
from lanprobe.model import Identifier, Service
from lanprobe.scope import Scope


@dataclass
class UdpOptions:
    enabled: bool = True
    timeout_s: float = 0.5  # one datagram's wait for its answer (a LAN agent answers in ms)
    retries: int = 1  # resends of an unanswered request
    per_second: float = 400.0  # datagrams a second, all hosts together
    hosts_at_once: int = 64  # a silent host costs (1 + retries) x timeout_s: ask many at once
    snmp_port: int = snmp.SNMP_PORT
    communities: tuple[bytes, ...] = (b"public",)  # what discovery asks with (read-only GET)


class RateLimit:
    """At most `per_second` sends, spread evenly (a token per 1/rate seconds)."""

    def __init__(self, per_second: float) -> None:
        self.gap = 1.0 / max(per_second, 1.0)
        self.next = 0.0
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self.lock:
            now = time.monotonic()
            if self.next > now:
                await asyncio.sleep(self.next - now)
            self.next = max(now, self.next) + self.gap


async def snmp_service(ip: str, opts: UdpOptions, rate: RateLimit) -> Sighting | None:
    """Ask one host's SNMP agent; a sighting with the service and identifiers, None if silent."""
    oids = [snmp.SYS_DESCR, snmp.SYS_OBJECT_ID, snmp.SYS_NAME]

    async def get(community: bytes, version: int) -> snmp.SnmpAnswer | None:
        # v2c answers a missing object per binding (noSuchObject); v1 fails the whole GET
        # (noSuchName), so only v2c also asks for the serial.
        asked = [*oids, snmp.ENT_SERIAL] if version == 1 else oids
        await rate.wait()
        try:
            return await snmp.get(ip, community, version, asked, port=opts.snmp_port,
                                  timeout_s=opts.timeout_s, retries=opts.retries)  # fmt: skip
        except (OSError, ValueError):
            return None

    async def engine() -> str | None:
        await rate.wait()
        try:
            raw = await snmp.exchange(ip, opts.snmp_port, snmp.engine_discovery(1),
                                      timeout_s=opts.timeout_s, retries=opts.retries)  # fmt: skip
            return snmp.parse_message(raw).engine_id if raw is not None else None
        except (OSError, ValueError):
            return None

    # All at once: a silent host costs one timeout (with its retries), not one per request.
    asks = [(c, v) for c in opts.communities for v in (1, 0)]
    engine_id, answers = await asyncio.gather(
        engine(), asyncio.gather(*(get(c, v) for c, v in asks))
    )
    versions_seen = sorted(
        {"v2c" if v == 1 else "v1" for (_, v), a in zip(asks, answers, strict=True) if a}
    )
    answer = next((a for a in answers if a is not None and a.version == 1), None) or next(
        (a for a in answers if a is not None), None
    )
    if engine_id is not None:
        versions_seen.append("v3")
    if not versions_seen:
        return None
    values = answer.values if answer is not None else {}
    descr = str(values.get(snmp.SYS_DESCR) or "")
    banner = " ".join(descr.split())[:160]
    svc = Service(port=opts.snmp_port, transport="udp", name="snmp",
                  product="SNMP " + "/".join(versions_seen), banner=banner)  # fmt: skip
    sighting = Sighting(source="udp", ip=ip, services=[svc])
    for key, oid_ in (("snmp_sysdescr", snmp.SYS_DESCR), ("snmp_sysobjectid", snmp.SYS_OBJECT_ID),
                      ("snmp_sysname", snmp.SYS_NAME), ("serial", snmp.ENT_SERIAL)):  # fmt: skip
        value = values.get(oid_)
        if value:
            sighting.identifiers[key] = Identifier(value=str(value)[:200], source="snmp")
    if engine_id:
        sighting.identifiers["snmp_engine_id"] = Identifier(value=engine_id, source="snmp v3")
    return sighting


T = TypeVar("T")


async def each_host(
    hosts: Sequence[str],
    opts: UdpOptions,
    rate: RateLimit | None,
    probe: Callable[[str, UdpOptions, RateLimit], Awaitable[T]],
) -> list[T]:
    """`probe` of every host, at most opts.hosts_at_once at a time, all under one rate cap."""
    limit = rate or RateLimit(opts.per_second)  # shared: one cap for all UDP discovery
    gate = asyncio.Semaphore(max(1, opts.hosts_at_once))

    async def one(ip: str) -> T:
        async with gate:
            return await probe(ip, opts, limit)

    return await asyncio.gather(*(one(ip) for ip in hosts))


# What udp_discovery asks each host (ScanCoverage.udp, README "What a scan covers").
UDP_REQUESTS = ("161/snmp", "69/tftp", "123/ntp", "5683/coap")


async def udp_discovery(
    scope: Scope,
    hosts: Sequence[str],
    opts: UdpOptions | None = None,
    rate: RateLimit | None = None,
) -> tuple[list[Sighting], list[str]]:
    """Every host's UDP services (bounded, rate-limited). Never raises for a host's doing."""
    opts = opts or UdpOptions()
    if not opts.enabled or not hosts:
        return [], []
    for ip in hosts:
        scope.check(ip)

    async def services(ip: str, opts: UdpOptions, rate: RateLimit) -> Sighting:
        sighting, *more = await asyncio.gather(
            snmp_service(ip, opts, rate), tftp_service(ip, opts, rate),
            ntp_service(ip, opts, rate), coap_service(ip, opts, rate),
        )  # fmt: skip
        sighting = sighting or Sighting(source="udp", ip=ip)
        sighting.services += [s for s in more if s is not None]
        return sighting

    found = await each_host(hosts, opts, rate, services)
    return [s for s in found if s.services], []


# --- TFTP and NTP -------------------------------------------------------------------------------

TFTP_PORT, NTP_PORT = 69, 123
TFTP_ERRORS = {0: "not defined", 1: "file not found", 2: "access violation", 3: "disk full",
               4: "illegal operation", 5: "unknown transfer ID", 6: "file exists",
               7: "no such user"}  # fmt: skip


def tftp_read_request(name: str) -> bytes:
    """RRQ (RFC 1350 section 5): opcode 1, filename, 0, mode "octet", 0. Reads only."""
    return b"\x00\x01" + name.encode("ascii") + b"\x00octet\x00"


def tftp_stop(answer: bytes, _port: int) -> bytes | None:
    """After a DATA block: an ERROR ends the transfer (RFC 1350 section 7) instead of an ACK."""
    if answer[:2] == b"\x00\x03":
        return b"\x00\x05\x00\x00lanprobe: no transfer wanted\x00"
    return None


def parse_tftp(answer: bytes) -> dict[str, Any]:
    """What a TFTP server said to a read request: {"reply": data|error|other, ...}."""
    op = int.from_bytes(answer[:2], "big") if len(answer) >= 2 else 0
    if op == 3:
        block = int.from_bytes(answer[2:4], "big")
        return {"reply": "data", "block": block, "bytes": len(answer) - 4}
    if op == 5 and len(answer) >= 4:
        code = int.from_bytes(answer[2:4], "big")
        msg = answer[4:].split(b"\x00", 1)[0].decode("latin-1")[:80]
        meaning = TFTP_ERRORS.get(code, "?")
        return {"reply": "error", "code": code, "meaning": meaning, "message": msg}
    return {"reply": "other", "opcode": op}


NTP_REQUEST = b"\x23" + b"\x00" * 47  # LI 0, version 4, mode 3 (client); RFC 5905 section 7.3


def parse_ntp(answer: bytes) -> dict[str, Any] | None:
    """A server answer (mode 4) to NTP_REQUEST: version and stratum; None if it is not one."""
    if len(answer) < 48 or answer[0] & 0x07 != 4:
        return None
    return {"version": (answer[0] >> 3) & 0x07, "stratum": answer[1]}


async def tftp_service(
    ip: str, opts: UdpOptions, rate: RateLimit, port: int = TFTP_PORT
) -> Service | None:
    name = f"lanprobe-{secrets.token_hex(6)}.bin"  # a name no device has: nothing is served
    await rate.wait()
    try:
        got = await datagram.exchange(ip, port, tftp_read_request(name), any_port=True,
                                      timeout_s=opts.timeout_s, retries=opts.retries,
                                      after=tftp_stop)  # fmt: skip
    except OSError:
        return None
    if got is None:
        return None
    reply = parse_tftp(got[0])
    if reply["reply"] == "other":
        return None
    banner = f"RRQ {name}: " + (reply.get("meaning", "") or reply["reply"])
    return Service(port=port, transport="udp", name="tftp", product="TFTP", banner=banner)


async def ntp_service(
    ip: str, opts: UdpOptions, rate: RateLimit, port: int = NTP_PORT
) -> Service | None:
    await rate.wait()
    try:
        got = await datagram.exchange(ip, port, NTP_REQUEST, timeout_s=opts.timeout_s,
                                      retries=opts.retries)  # fmt: skip
    except OSError:
        return None
    info = parse_ntp(got[0]) if got is not None else None
    if info is None:
        return None
    product, banner = f"NTPv{info['version']}", f"stratum {info['stratum']}"
    return Service(port=port, transport="udp", name="ntp", product=product, banner=banner)


async def coap_service(
    ip: str, opts: UdpOptions, rate: RateLimit, port: int = coap.COAP_PORT
) -> Service | None:
    """GET /.well-known/core (RFC 6690): any CoAP answer names the service."""
    await rate.wait()
    try:
        answer = await coap.get(ip, "/.well-known/core", port=port, timeout_s=opts.timeout_s,
                                retries=opts.retries)  # fmt: skip
    except (OSError, ValueError):
        return None
    if answer is None:
        return None
    banner = f"/.well-known/core: {answer.code}"
    if answer.ok:
        links = coap.parse_links(answer.payload.decode("utf-8", "replace"))
        banner += f", {len(links)} resources"
    return Service(port=port, transport="udp", name="coap", product="CoAP", banner=banner)
