"""IPv6 on the scan interface: link-local and unique-local addresses, tied to devices by MAC.

    ICMPv6 echo to all-nodes (ff02::1) on the interface (scapy, like ARP), from its link-local
    address and from each of its in-scope unique-local addresses (a device answers from the
    address that matches ours) ──> replies: address -> MAC, plus the kernel's neighbour table

The echo never leaves the link (ff02::1 is link-scoped, hop limit 1 as every ND packet), so
nothing outside the bench hears it. Only addresses inside the scope's IPv6 networks are kept
(fd00::/8 and link-local unless --allow-public, probe/scope.py). Devices are merged with their
IPv4 sightings by MAC (inventory.py). mDNS AAAA records add addresses where zeroconf saw them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import secrets
import time
from collections.abc import Sequence
from typing import Any

from lanprobe.discovery.inventory import Sighting
from lanprobe.scope import Scope

ALL_NODES = "ff02::1"


async def _run(*args: str, timeout_s: float) -> str:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return ""
    return out.decode("utf-8", "replace")


async def own_addresses(iface: str) -> list[ipaddress.IPv6Interface]:
    out = await _run("ip", "-j", "-6", "addr", "show", "dev", iface, timeout_s=5)
    addrs: list[ipaddress.IPv6Interface] = []
    for link in json.loads(out or "[]"):
        for info in link.get("addr_info", []):
            if info.get("family") == "inet6":
                addrs.append(ipaddress.IPv6Interface(f"{info['local']}/{info['prefixlen']}"))
    return addrs


def parse_neighbours(text: str, iface: str, scope: Scope) -> list[tuple[str, str]]:
    """(address, mac) from `ip -j -6 neigh show dev IF`; link-local addresses carry %IF."""
    out: list[tuple[str, str]] = []
    for entry in json.loads(text or "[]"):
        addr, mac = entry.get("dst", ""), (entry.get("lladdr") or "").lower()
        state = entry.get("state") or []
        if not addr or not mac or "FAILED" in state or "INCOMPLETE" in state:
            continue
        ip = ipaddress.ip_address(addr)
        if ip.is_multicast:
            continue
        if not scope.contains(addr):
            continue
        out.append((f"{addr}%{iface}" if ip.is_link_local else addr, mac))
    return out


def echo_all_nodes(iface: str, sources: Sequence[str], wait_s: float) -> list[tuple[str, str]]:
    """ICMPv6 echo to ff02::1 from each source address (twice; hop limit 1): (address, mac) of
    every reply addressed to one of our sources. Blocking; needs raw sockets (like ARP)."""
    from lanprobe.discovery.arp import _fresh_iface
    from scapy.arch import get_if_hwaddr
    from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
    from scapy.layers.l2 import Ether
    from scapy.sendrecv import AsyncSniffer, sendp

    _fresh_iface(iface)
    mac = get_if_hwaddr(iface)
    sniffer = AsyncSniffer(iface=iface, filter="icmp6", store=True)
    sniffer.start()
    time.sleep(0.2)  # the capture is open before the first request leaves
    ident = secrets.randbelow(65536)
    for seq in (1, 2):
        for src in sources:
            sendp(Ether(dst="33:33:00:00:00:01", src=mac)
                  / IPv6(src=src, dst=ALL_NODES, hlim=1)
                  / ICMPv6EchoRequest(id=ident, seq=seq), iface=iface, verbose=0)  # fmt: skip
        time.sleep(0.3)
    time.sleep(wait_s)
    packets: list[Any] = list(sniffer.stop() or [])
    found: dict[str, str] = {}
    for pkt in packets:
        ours = ICMPv6EchoReply in pkt and IPv6 in pkt and Ether in pkt
        if ours and pkt[IPv6].dst in sources and pkt[ICMPv6EchoReply].id == ident:
            found.setdefault(str(pkt[IPv6].src), str(pkt[Ether].src).lower())
    return sorted(found.items())


async def neighbours6(
    scope: Scope, iface: str, *, echo_s: float = 1.0
) -> tuple[list[Sighting], list[str]]:
    """Every IPv6 neighbour on `iface` in scope: replies to an all-nodes echo, plus what the
    kernel's neighbour table holds for the interface."""
    if not any(n.version == 6 for n in scope.networks):
        return [], []
    addrs = await own_addresses(iface)
    if not addrs:
        return [], [f"IPv6: {iface} has no IPv6 address; no neighbour discovery"]
    sources = [str(a.ip) for a in addrs if a.ip.is_link_local][:1]
    # our own unique-local addresses on the scope's networks (the scope excludes them as targets)
    sources += [str(a.ip) for a in addrs
                if not a.ip.is_link_local and any(a.ip in n for n in scope.networks)]  # fmt: skip
    notes: list[str] = []
    pairs: list[tuple[str, str]] = []
    try:
        replies = await asyncio.to_thread(echo_all_nodes, iface, sources, echo_s)
    except (OSError, ImportError) as exc:
        notes.append(f"IPv6: all-nodes echo on {iface} failed: {exc}")
        replies = []
    for addr, mac in replies:
        ip = ipaddress.ip_address(addr)
        shown = f"{addr}%{iface}" if ip.is_link_local else addr
        if scope.contains(shown):
            pairs.append((shown, mac))
    table = await _run("ip", "-j", "-6", "neigh", "show", "dev", iface, timeout_s=5)
    pairs += parse_neighbours(table, iface, scope)
    own = {str(a.ip) for a in addrs}
    found = [
        Sighting(source="ndp", ip=addr, mac=mac)
        for addr, mac in dict(pairs).items()
        if addr.split("%", 1)[0] not in own
    ]
    return found, notes


def preferred(addresses: Sequence[str]) -> list[str]:
    """Scan targets among a device's IPv6 addresses: its unique-local ones, or else its
    link-local one (with the zone)."""
    ula = [a for a in addresses if "%" not in a and ipaddress.ip_address(a).version == 6]
    return ula or [a for a in addresses if "%" in a][:1]
