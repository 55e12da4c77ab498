"""Device discovery: ARP, mDNS and SSDP on the scan interface, then services, merged by MAC.

    discover(scope) ──> links of the scope (interface, its address, on-link networks)
        ├─ ARP sweep (root) ─┐
        ├─ mDNS browse       ├─ at the same time; then nmap -sn for what ARP cannot reach
        └─ SSDP M-SEARCH    ─┘
        └─ one nmap port scan of every host found (no -sV)
           └─ our fingerprinting of all open ports at once (fingerprint.py) ──> merge()
        (`version_detection="nmap"`: nmap -sV, one host at a time per worker, instead)

Without raw sockets ARP and `nmap -sS` are unavailable: that is said once, nmap host discovery
over the CIDRs (`-sT` scans after it) replaces ARP, and the inventory is marked partial.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import os
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from lanprobe.discovery.arp import ArpOptions, arp_sweep, has_raw_sockets, neighbour_table
from lanprobe.discovery.fingerprint import FingerprintOptions, fingerprint_hosts, unidentified
from lanprobe.discovery.inventory import Inventory, Sighting, merge
from lanprobe.discovery.ipv6 import neighbours6, preferred
from lanprobe.discovery.mdns import MdnsOptions
from lanprobe.discovery.mdns import browse as mdns_browse
from lanprobe.discovery.mdns_unicast import unicast_browse
from lanprobe.discovery.ports import tcp_scan_ports
from lanprobe.discovery.services import (
    NmapHost,
    NmapOptions,
    host_discovery,
    nmap_path,
    port_scan,
    scan_hosts,
    top_ports,
)
from lanprobe.discovery.ssdp import SsdpOptions
from lanprobe.discovery.ssdp import search as ssdp_search
from lanprobe.discovery.udp import UDP_REQUESTS, RateLimit, UdpOptions, udp_discovery
from lanprobe.errors import ScopeError
from lanprobe.model import ScanCoverage
from lanprobe.scope import Scope

__all__ = [
    "DiscoveryEvent",
    "DiscoveryOptions",
    "Inventory",
    "Link",
    "Sighting",
    "discover",
    "links",
    "merge",
]


@dataclass
class DiscoveryOptions:
    arp: ArpOptions = field(default_factory=ArpOptions)
    mdns: MdnsOptions = field(default_factory=MdnsOptions)
    ssdp: SsdpOptions = field(default_factory=SsdpOptions)
    nmap: NmapOptions = field(default_factory=NmapOptions)
    fingerprint: FingerprintOptions = field(default_factory=FingerprintOptions)
    udp: UdpOptions = field(default_factory=UdpOptions)  # SNMP and the other UDP requests
    services: bool = True  # run the service scan (False: ARP + mDNS + SSDP only)
    # How open ports get their names: "ours" (an nmap port scan, then fingerprint.py), "nmap"
    # (nmap -sV per host, the slow way), or "both" (ours, then -sV on what ours left unknown).
    version_detection: str = "ours"
    iot_ports: bool = True  # scan the IoT port list (profiles/data/iot-ports.yaml) too
    full_ports: bool = False  # `--ports full`: all 65535 TCP ports instead of the lists
    privileged: bool | None = None  # None: detect (root / CAP_NET_RAW)


VERSION_DETECTION = ("ours", "nmap", "both")


@dataclass(frozen=True)
class DiscoveryEvent:
    """Progress: `phase` is arp, mdns, ssdp, hosts or nmap; `done` of `total` in that phase."""

    phase: str
    done: int
    total: int
    detail: str = ""


ProgressFn = Callable[[DiscoveryEvent], None]


@dataclass(frozen=True)
class Link:
    """One scan interface: its IPv4 address and the scope networks it sits on."""

    iface: str
    address: str
    networks: tuple[str, ...]


def _addresses(iface: str) -> list[ipaddress.IPv4Interface]:
    try:
        out = subprocess.run(
            ["ip", "-j", "-4", "addr", "show", "dev", iface],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ScopeError(f"cannot read the addresses of {iface}: {exc}") from exc
    if out.returncode != 0:
        raise ScopeError(f"interface {iface!r} does not exist")
    addrs: list[ipaddress.IPv4Interface] = []
    for link in json.loads(out.stdout or "[]"):
        for info in link.get("addr_info", []):
            if info.get("family") == "inet":
                addrs.append(ipaddress.IPv4Interface(f"{info['local']}/{info['prefixlen']}"))
    return addrs


def links(scope: Scope) -> list[Link]:
    """The scope's interfaces with the address each one scans from. ScopeError if unusable."""
    out: list[Link] = []
    for iface in scope.interfaces:
        addrs = _addresses(iface)
        if not addrs:
            raise ScopeError(f"interface {iface!r} has no IPv4 address to scan from")
        onlink = [
            net
            for net in scope.networks
            if net.version == 4 and any(a.ip in net or net.overlaps(a.network) for a in addrs)
        ]
        # Scan from the address that sits in a scope network when there is one.
        src = next((a for a in addrs if any(a.ip in n for n in scope.networks)), addrs[0])
        out.append(Link(iface=iface, address=str(src.ip), networks=tuple(str(n) for n in onlink)))
    return out


def __getattr__(name: str) -> object:
    # Moved names say where they went (discovery no longer imports the lab).
    if name == "lab_scope":
        raise AttributeError("lab_scope moved: from lanprobe.lab.scope import lab_scope")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _hosts_of(scope: Scope, networks: Sequence[str]) -> list[str]:
    nets = [ipaddress.ip_network(n) for n in networks]
    return [ip for ip in scope.hosts() if any(ipaddress.ip_address(ip) in n for n in nets)]


Found = tuple[list[Sighting], list[str]]


async def _timed(name: str, timings: dict[str, float], coro: Awaitable[Found]) -> Found:
    start = time.perf_counter()
    try:
        return await coro
    finally:
        timings[name] = round(time.perf_counter() - start, 3)


async def _mdns(scope: Scope, address: str, opts: MdnsOptions) -> Found:
    result = await mdns_browse(scope, address, opts)
    return result.sightings, result.notes


async def _ssdp(scope: Scope, address: str, opts: SsdpOptions) -> Found:
    result = await ssdp_search(scope, address, opts)
    return result.sightings, result.notes


async def _nmap_versions(
    scope: Scope,
    hosts: list[str],
    ports: Sequence[int],
    opts: DiscoveryOptions,
    nmap_root: bool,
    report: ProgressFn,
    inv: Inventory,
) -> Found:
    """nmap -sV per host in a bounded pool (the slow way; --version-detection nmap)."""
    done = 0
    report(DiscoveryEvent("nmap", 0, len(hosts)))

    def on_host(ip: str, _host: NmapHost | None) -> None:
        nonlocal done
        done += 1
        report(DiscoveryEvent("nmap", done, len(hosts), ip))

    t1 = time.perf_counter()
    found = await scan_hosts(scope, hosts, ports, opts.nmap, privileged=nmap_root, on_host=on_host)
    inv.timings_s["nmap"] = round(time.perf_counter() - t1, 3)
    return found


async def _fast_services(
    scope: Scope,
    hosts: list[str],
    ports: Sequence[int],
    opts: DiscoveryOptions,
    nmap_root: bool,
    report: ProgressFn,
    inv: Inventory,
) -> Found:
    """One fast nmap port scan of every host, then our fingerprinting of every open port at
    once; with "both", nmap -sV afterwards on the ports ours left unidentified."""
    report(DiscoveryEvent("nmap", 0, 1))
    t1 = time.perf_counter()
    v4 = [h for h in hosts if ":" not in h]
    v6 = [h for h in hosts if ":" in h]
    (scanned, notes), (scanned6, notes6) = await asyncio.gather(
        port_scan(scope, v4, ports, opts.nmap, privileged=nmap_root),
        port_scan(scope, v6, ports, opts.nmap, privileged=nmap_root, ipv6=True),
    )
    scanned += scanned6
    notes += notes6
    inv.timings_s["nmap"] = round(time.perf_counter() - t1, 3)
    report(DiscoveryEvent("nmap", 1, 1, f"{sum(len(h.services) for h in scanned)} open ports"))

    with_ports = {h.ip: h.services for h in scanned if h.services}
    done = 0
    report(DiscoveryEvent("fingerprint", 0, len(with_ports)))

    def on_host(ip: str, _reports: object) -> None:
        nonlocal done
        done += 1
        report(DiscoveryEvent("fingerprint", done, len(with_ports), ip))

    t2 = time.perf_counter()
    _, fp_notes = await fingerprint_hosts(scope, with_ports, opts.fingerprint, on_host=on_host)
    inv.timings_s["fingerprint"] = round(time.perf_counter() - t2, 3)
    notes.extend(fp_notes)
    sightings = [Sighting(source="nmap", ip=h.ip, mac=h.mac, services=h.services) for h in scanned]

    if opts.version_detection == "both":
        unknown = {
            h.ip: [s.port for s in h.services if s.transport == "tcp" and unidentified(s)]
            for h in scanned
        }
        t3 = time.perf_counter()
        for ip, left in unknown.items():
            if not left:
                continue
            more, more_notes = await scan_hosts(scope, [ip], left, opts.nmap, privileged=nmap_root)
            notes.extend(more_notes)
            # nmap's names fill only what ours left unknown (merge keeps the first non-empty).
            for s in more:
                for svc in s.services:
                    mine = next((m for m in with_ports.get(ip, []) if m.port == svc.port), None)
                    if mine is not None and unidentified(mine) and svc.name:
                        mine.name, mine.product, mine.version = svc.name, svc.product, svc.version
                        mine.banner = mine.banner or svc.banner
                        mine.tls = mine.tls or svc.tls
        inv.timings_s["nmap_versions"] = round(time.perf_counter() - t3, 3)
    return sightings, notes


def scan_coverage(
    scope: Scope, opts: DiscoveryOptions, *, named: Sequence[int], scanned: Sequence[int]
) -> ScanCoverage:
    """What discovery looks for on every device: the TCP ports scanned on each address and
    where they come from, the UDP services asked, the address families swept (IPv6 needs an
    interface: neighbour discovery)."""
    v6 = any(n.version == 6 for n in scope.networks) and bool(scope.interfaces)
    families = ["IPv4"] * any(n.version == 4 for n in scope.networks) + ["IPv6"] * v6
    if not opts.services:
        return ScanCoverage(families=families)
    if opts.full_ports:
        tcp = "all of them"
    else:
        top = opts.nmap.top_ports
        tcp = ", ".join(
            [f"nmap's top {top}"] * (top > 0)
            + ["the IoT port list"] * opts.iot_ports
            + ["the ports profiles or --ports name"] * bool(named)
        )
    udp = list(UDP_REQUESTS) if opts.udp.enabled else []
    return ScanCoverage(tcp_ports=len(scanned), tcp=tcp, udp=udp, families=families)


async def discover(
    scope: Scope,
    *,
    ports: Sequence[int] = (),
    options: DiscoveryOptions | None = None,
    progress: ProgressFn | None = None,
) -> Inventory:
    """Find every device in scope; `ports` are the TCP ports profiles name (added to top-N)."""
    opts = options or DiscoveryOptions()
    if opts.version_detection not in VERSION_DETECTION:
        raise ScopeError(
            f"version detection {opts.version_detection!r}: choose {', '.join(VERSION_DETECTION)}"
        )
    report: ProgressFn = progress or (lambda _event: None)
    inv = Inventory()
    raw = has_raw_sockets() if opts.privileged is None else opts.privileged
    nmap_root = raw and os.geteuid() == 0  # nmap decides -sS by uid, not by capability
    scan_ports: tuple[int, ...] = ()
    if opts.services:
        nmap_path()  # ToolError early, before any traffic
        top = () if opts.full_ports else top_ports(opts.nmap.top_ports)
        scan_ports = tcp_scan_ports(ports, top, iot=opts.iot_ports, full=opts.full_ports)
        if opts.full_ports:
            # 65535 ports a host: nmap's per-host and per-run limits sized for it.
            opts = dataclasses.replace(
                opts,
                nmap=dataclasses.replace(
                    opts.nmap,
                    fallback_timeout_s=max(opts.nmap.fallback_timeout_s, 300),
                    port_scan_timeout_s=max(opts.nmap.port_scan_timeout_s, 1200),
                ),
            )
    v6_scope = any(net.version == 6 for net in scope.networks)
    inv.coverage = scan_coverage(scope, opts, named=ports, scanned=scan_ports)
    if v6_scope and not scope.interfaces:
        inv.notes.append("IPv6 networks in scope need --iface (neighbour discovery); not swept")
    if not raw:
        inv.partial = True
        inv.notes.append(
            "not root and no CAP_NET_RAW: no ARP sweep and no nmap -sS; using mDNS, SSDP and "
            "nmap host discovery (-sn, then -sT), so devices that answer none of those are missed"
        )
    l2 = links(scope)
    # The scanning host is not a device on the bench: leave its own addresses out.
    own = [a.ip for link in l2 for a in _addresses(link.iface)]
    scope = dataclasses.replace(scope, excluded=tuple(dict.fromkeys([*scope.excluded, *own])))
    if not l2:
        inv.notes.append("no --iface: ARP, mDNS and SSDP need one; using nmap host discovery only")
    onlink = {n for link in l2 for n in link.networks}
    routed = [str(n) for n in scope.networks if n.version == 4 and str(n) not in onlink]

    sightings: list[Sighting] = []
    t0 = time.perf_counter()
    jobs: list[tuple[str, Awaitable[Found]]] = []
    for link in l2:
        if raw and link.networks:
            targets = _hosts_of(scope, link.networks)
            jobs.append(("arp", arp_sweep(scope, link.iface, link.address, targets, opts.arp)))
        if v6_scope:
            jobs.append(("ndp", neighbours6(scope, link.iface)))
        jobs.append(("mdns", _mdns(scope, link.address, opts.mdns)))
        jobs.append(("ssdp", _ssdp(scope, link.address, opts.ssdp)))
    sweep_nets = routed if raw else [str(n) for n in scope.networks if n.version == 4]
    if sweep_nets:
        jobs.append(("hosts", host_discovery(scope, sweep_nets)))

    for phase, _ in jobs:
        report(DiscoveryEvent(phase, 0, 1))
    outcomes = await asyncio.gather(*(_timed(p, inv.timings_s, c) for p, c in jobs))
    for (phase, _), (found, notes) in zip(jobs, outcomes, strict=True):
        report(DiscoveryEvent(phase, 1, 1))
        sightings.extend(found)
        inv.notes.extend(notes)
        if phase == "arp" and notes:
            inv.partial = True  # the sweep itself failed
    if not raw:
        # The kernel resolved MACs while nmap and the fetches connected: read them back.
        for link in l2:
            sightings.extend(
                Sighting(source="arp-cache", ip=ip, mac=mac)
                for ip, mac in neighbour_table(link.iface)
                if scope.contains(ip)
            )
    # The sighting order puts ARP first, so a device's first address is the one ARP saw.
    order = {"arp": 0, "arp-cache": 1, "hosts": 2, "nmap": 2, "mdns": 3, "ssdp": 4, "ndp": 5}
    sightings.sort(key=lambda s: order.get(s.source, 9))
    inv.timings_s["discovery"] = round(time.perf_counter() - t0, 3)

    if opts.services:
        hosts = sorted(
            {s.ip for s in sightings if scope.contains(s.ip) and ":" not in s.ip},
            key=lambda ip: ipaddress.ip_address(ip),
        )
        # IPv6: per device (MAC), its unique-local addresses, or else its link-local one.
        by_mac: dict[str, list[str]] = {}
        for s in sightings:
            if ":" in s.ip and s.mac and scope.contains(s.ip):
                by_mac.setdefault(s.mac, []).append(s.ip)
        hosts += sorted({ip for addrs in by_mac.values() for ip in preferred(addrs)})
        tcp = (
            _nmap_versions(scope, hosts, scan_ports, opts, nmap_root, report, inv)
            if opts.version_detection == "nmap"
            else _fast_services(scope, hosts, scan_ports, opts, nmap_root, report, inv)
        )
        rate = RateLimit(opts.udp.per_second)  # one datagram rate cap for both
        # UDP requests (and mDNS asked of each host over unicast: a second chance for late
        # multicast answerers) go out while nmap scans TCP: they wait on answers, not the CPU.
        (scanned, notes), (on_udp, udp_notes), (on_mdns, mdns_notes) = await asyncio.gather(
            tcp,
            _timed("udp", inv.timings_s, udp_discovery(scope, hosts, opts.udp, rate)),
            _timed("mdns_unicast", inv.timings_s, unicast_browse(scope, hosts, opts.udp, rate)),
        )
        # mDNS answers over unicast rank with the multicast ones, before SSDP (the merge keeps
        # the first value it sees: a late answerer's TXT serial still beats its SSDP one)
        sightings = sorted([*sightings, *on_mdns], key=lambda s: order.get(s.source, 9))
        sightings.extend(scanned)
        sightings.extend(on_udp)
        inv.notes.extend(notes + udp_notes + mdns_notes)

    inv.devices = merge(sightings, notes=inv.notes)
    inv.notes = list(dict.fromkeys(inv.notes))
    return inv
