"""mDNS unicast per host: a second chance for devices whose multicast answers came late or not at
all (a loaded responder delays them; RFC 6762 section 14).

A query sent straight to a host's UDP 5353 from an ordinary port (RFC 6762 section 5.5, "direct
unicast queries"; section 6.7, "legacy unicast") is answered to that port, with the query's ID:
one DNS exchange per question, so it shares the UDP probes' transport, timeouts and rate limit.
Per host: the service types (`_services._dns-sd._udp.local.` PTR), each type's instances (PTR;
responders add SRV, TXT and A records beside them), and for an instance they left out, its SRV
and TXT. Bounded: MAX_TYPES types and MAX_INSTANCES instances a host; answers are untrusted like
multicast ones (mdns.py validates names, decodes TXT with caps, drops out-of-scope addresses).
Only hosts already found are asked; nothing is swept.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from typing import Any

from lanprobe.checks.clients import datagram
from lanprobe.discovery.inventory import Sighting
from lanprobe.discovery.mdns import META_QUERY, MdnsResult, add_instance, valid_type
from lanprobe.discovery.udp import RateLimit, UdpOptions, each_host
from lanprobe.scope import Scope

MDNS_PORT = 5353
MAX_TYPES = 8  # service types asked about per host
MAX_INSTANCES = 16  # instances resolved per host
_PTR, _SRV, _TXT, _A, _IN = 12, 33, 16, 1, 1


def query(*questions: tuple[str, int]) -> bytes:
    """A standard query (random ID, no flags) of (name, type) questions, class IN."""
    from zeroconf import DNSOutgoing, DNSQuestion

    out = DNSOutgoing(0, multicast=False, id_=secrets.randbelow(0xFFFF) + 1)
    for name, rtype in questions:
        out.add_question(DNSQuestion(name, rtype, _IN))
    return out.packets()[0]


def records(answer: bytes, asked: bytes) -> list[Any]:
    """The answer and additional records of a response to `asked` ([] for anything else: a
    message with another ID, a query, a packet zeroconf cannot parse)."""
    from zeroconf import DNSIncoming

    try:
        msg = DNSIncoming(answer)
    except Exception:  # a malformed packet: the device's doing, never ours
        return []
    if not msg.valid or not msg.is_response() or msg.id != int.from_bytes(asked[:2], "big"):
        return []
    return list(msg.answers())


async def _ask(
    ip: str, questions: list[tuple[str, int]], opts: UdpOptions, rate: RateLimit
) -> list[Any]:
    message = query(*questions)
    await rate.wait()
    try:
        got = await datagram.exchange(ip, MDNS_PORT, message, timeout_s=opts.timeout_s,
                                      retries=opts.retries)  # fmt: skip
    except OSError:
        return []
    return records(got[0], message) if got is not None else []


async def host_services(scope: Scope, ip: str, opts: UdpOptions, rate: RateLimit) -> MdnsResult:
    """One host's DNS-SD services, asked over unicast."""
    from zeroconf import DNSAddress, DNSPointer, DNSService, DNSText

    result = MdnsResult()
    scope.check(ip)
    found = await _ask(ip, [(META_QUERY, _PTR)], opts, rate)
    types = [r.alias for r in found if isinstance(r, DNSPointer) and r.name == META_QUERY]
    types = [t for t in dict.fromkeys(types) if valid_type(t)][:MAX_TYPES]
    seen: list[Any] = []
    for answers in await asyncio.gather(*(_ask(ip, [(t, _PTR)], opts, rate) for t in types)):
        seen += answers
    instances = [(r.name, r.alias) for r in seen if isinstance(r, DNSPointer) and r.name in types]
    instances = list(dict.fromkeys(instances))[:MAX_INSTANCES]
    for stype, name in instances:
        srv = next((r for r in seen if isinstance(r, DNSService) and r.name == name), None)
        txt = next((r for r in seen if isinstance(r, DNSText) and r.name == name), None)
        if srv is None or txt is None:  # the responder left them out: ask for them
            seen += await _ask(ip, [(name, _SRV), (name, _TXT)], opts, rate)
            srv = next((r for r in seen if isinstance(r, DNSService) and r.name == name), None)
            txt = next((r for r in seen if isinstance(r, DNSText) and r.name == name), None)
        if srv is None:
            result.notes.append(f"mDNS unicast: {ip} named {name[:80]!r} but gave no SRV")
            continue
        # the address records of its host name, else the address that answered
        addrs = [r for r in seen if isinstance(r, DNSAddress) and r.name == srv.server]
        v4 = [".".join(str(b) for b in r.address) for r in addrs if len(r.address) == 4]
        add_instance(result, scope, stype, name, v4 or [ip], srv.port,
                     txt.text if txt is not None else b"", srv.server)  # fmt: skip
    return result


async def unicast_browse(
    scope: Scope,
    hosts: Sequence[str],
    opts: UdpOptions | None = None,
    rate: RateLimit | None = None,
) -> tuple[list[Sighting], list[str]]:
    """Every host's mDNS services over unicast (bounded, rate-limited, IPv4 hosts)."""
    opts = opts or UdpOptions()
    if not opts.enabled:
        return [], []

    async def services(ip: str, opts: UdpOptions, rate: RateLimit) -> MdnsResult:
        return await host_services(scope, ip, opts, rate)

    v4 = [ip for ip in hosts if ":" not in ip]
    results = await each_host(v4, opts, rate, services)
    return [s for r in results for s in r.sightings], [n for r in results for n in r.notes]
