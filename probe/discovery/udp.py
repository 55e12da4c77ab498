"""UDP discovery with protocol-correct requests (never an empty datagram).

Each host found gets, per UDP protocol, one request with bounded retries, under a global rate
limit: SNMP (v2c GetRequest of sysDescr/sysObjectID/sysName with the `public` community, then v1,
and SNMPv3 engine discovery, which needs no community at all). An answer makes a service with
`transport: udp` in the inventory; sysDescr, sysObjectID and sysName feed identification. Silence
is not an error: a UDP port that does not answer is simply not listed.
(SSDP stays in ssdp.py, mDNS in mdns.py.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from lanprobe.discovery import snmp
from lanprobe.discovery.inventory import Sighting
from lanprobe.model import Identifier, Service
from lanprobe.scope import Scope


@dataclass
class UdpOptions:
    enabled: bool = True
    timeout_s: float = 0.8  # one datagram's wait for its answer
    retries: int = 1  # resends of an unanswered request
    per_second: float = 200.0  # datagrams a second, all hosts together
    hosts_at_once: int = 32
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
    *answers, engine_id = await asyncio.gather(*(get(c, v) for c, v in asks), engine())
    versions_seen = sorted(
        {"v2c" if v == 1 else "v1" for (_, v), a in zip(asks, answers, strict=True) if a}
    )
    answer = next((a for a in answers if a is not None and a.version == 1), None) or next(
        (a for a in answers if a is not None), None
    )
    if engine_id is not None:
        versions_seen.append("v3")
    engine = engine_id or ""
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
    if engine:
        sighting.identifiers["snmp_engine_id"] = Identifier(value=engine, source="snmp v3")
    return sighting


async def udp_discovery(
    scope: Scope, hosts: Sequence[str], opts: UdpOptions | None = None
) -> tuple[list[Sighting], list[str]]:
    """Every host's UDP services (bounded, rate-limited). Never raises for a host's doing."""
    opts = opts or UdpOptions()
    if not opts.enabled or not hosts:
        return [], []
    rate = RateLimit(opts.per_second)
    gate = asyncio.Semaphore(max(1, opts.hosts_at_once))
    found: list[Sighting] = []

    async def one(ip: str) -> None:
        scope.check(ip)
        async with gate:
            sighting = await snmp_service(ip, opts, rate)
        if sighting is not None:
            found.append(sighting)

    await asyncio.gather(*(one(ip) for ip in hosts))
    return found, []
