"""ARP sweep with scapy: who answers for each in-scope address on the scan interface.

Needs root or CAP_NET_RAW. The sweep sends at a bounded rate, then sends once more to the
addresses that stayed silent: power-saving devices often miss the first request.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from lanprobe.discovery.inventory import Sighting
from lanprobe.discovery.oui import normalize_mac
from lanprobe.scope import Scope

CAP_NET_RAW = 13


@dataclass
class ArpOptions:
    rate_pps: float = 500.0  # requests per second, per pass
    timeout_s: float = 0.8  # wait for late answers after a pass's last request
    retries: int = 1  # extra passes over the silent addresses


def has_raw_sockets() -> bool:
    """Root, or CAP_NET_RAW in the effective set: what ARP (and nmap -sS) need."""
    if os.geteuid() == 0:
        return True
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_NET_RAW & 1)
    except (OSError, ValueError):
        pass
    return False


def _sweep_pass(
    iface: str, src_ip: str, src_mac: str, targets: Sequence[str], opts: ArpOptions
) -> dict[str, str]:
    from scapy.layers.l2 import ARP, Ether
    from scapy.sendrecv import srp

    packets = [
        Ether(dst="ff:ff:ff:ff:ff:ff", src=src_mac) / ARP(op=1, hwsrc=src_mac, psrc=src_ip, pdst=ip)
        for ip in targets
    ]
    answered, _unanswered = srp(
        packets,
        iface=iface,
        timeout=opts.timeout_s,
        inter=1.0 / opts.rate_pps,
        filter="arp",
        verbose=0,
    )
    found: dict[str, str] = {}
    for _sent, reply in answered:
        mac = normalize_mac(str(reply[ARP].hwsrc))
        if mac:
            found.setdefault(str(reply[ARP].psrc), mac)
    return found


def _fresh_iface(iface: str) -> None:
    """Reload scapy's interface table when `iface` is new or was re-created since it was read.

    scapy reads the table once per process; a bench bridge taken down and built again keeps its
    name but gets a new index, and a socket opened on the stale index fails with ENODEV.
    """
    from scapy.config import conf

    index = socket.if_nametoindex(iface)  # OSError when the interface is gone
    try:
        if conf.ifaces.dev_from_name(iface).index == index:
            return
    except ValueError:
        pass
    conf.ifaces.reload()


def sweep(
    scope: Scope, iface: str, src_ip: str, targets: Sequence[str], opts: ArpOptions
) -> list[tuple[str, str]]:
    """(ip, mac) of every target that answered, after the retry passes. Blocking."""
    from scapy.arch import get_if_hwaddr

    targets = [scope.check(ip) for ip in targets]  # ARP is a question to each address
    _fresh_iface(iface)
    src_mac = get_if_hwaddr(iface)
    found: dict[str, str] = {}
    remaining = list(targets)
    for _ in range(1 + max(0, opts.retries)):
        if not remaining:
            break
        for ip, mac in _sweep_pass(iface, src_ip, src_mac, remaining, opts).items():
            if ip in remaining:
                found.setdefault(ip, mac)
        remaining = [ip for ip in remaining if ip not in found]
    return sorted(found.items(), key=lambda item: tuple(int(x) for x in item[0].split(".")))


async def arp_sweep(
    scope: Scope, iface: str, src_ip: str, targets: Sequence[str], opts: ArpOptions | None = None
) -> tuple[list[Sighting], list[str]]:
    """Sightings of every address that answered, and notes (a failed sweep is a note)."""
    try:
        pairs = await asyncio.to_thread(sweep, scope, iface, src_ip, targets, opts or ArpOptions())
    except OSError as exc:
        return [], [f"ARP sweep on {iface} failed: {exc}"]
    return [Sighting(source="arp", ip=ip, mac=mac) for ip, mac in pairs], []


def neighbour_table(iface: str) -> list[tuple[str, str]]:
    """The kernel's ARP cache for one interface (readable without privileges)."""
    out: list[tuple[str, str]] = []
    try:
        with open("/proc/net/arp", encoding="ascii") as fh:
            next(fh, None)
            for line in fh:
                parts = line.split()
                # IP, HW type, flags, HW address, mask, device; flags 0x2 = complete
                if len(parts) >= 6 and parts[5] == iface and int(parts[2], 16) & 0x2:
                    mac = normalize_mac(parts[3])
                    if mac and mac != "00:00:00:00:00:00":
                        out.append((parts[0], mac))
    except (OSError, ValueError):
        pass
    return out
