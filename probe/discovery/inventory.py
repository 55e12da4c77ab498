"""Inventory: every sighting (ARP, mDNS, SSDP, nmap) merged into `Device` records.

A device is keyed by its MAC; a sighting without a MAC joins the device whose MAC some other
sighting bound to the same address, and when nobody knows the MAC (routed targets, no ARP) the
address itself is the key. Identifiers keep where they came from (`Identifier.source`); when two
sources disagree the first one wins and the disagreement becomes a note, because a unit that
reports two serials is worth a human's look.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from lanprobe.discovery.oui import normalize_mac
from lanprobe.discovery.oui import vendor as oui_vendor
from lanprobe.model import Device, Identifier, MdnsService, ScanCoverage, Service

SOURCES = ("arp", "ndp", "mdns", "ssdp", "nmap", "udp")


@dataclass
class Sighting:
    """One observation of one address by one discovery method."""

    source: str  # arp | mdns | ssdp | nmap
    ip: str
    mac: str | None = None
    hostname: str = ""
    mdns: MdnsService | None = None
    ssdp: dict[str, str] = field(default_factory=dict)
    identifiers: dict[str, Identifier] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)


@dataclass
class Inventory:
    """What discovery found. `partial` when a method could not run (no root: no ARP, no -sS)."""

    devices: list[Device] = field(default_factory=list)
    partial: bool = False
    notes: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    coverage: ScanCoverage | None = None  # what the port scan and UDP requests covered

    def device(self, key: str) -> Device | None:
        for dev in self.devices:
            if dev.key == key:
                return dev
        return None

    def by_ip(self, ip: str) -> Device | None:
        for dev in self.devices:
            if ip in dev.ips:
                return dev
        return None


def _ip_sort_key(ip: str) -> tuple[int, int]:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return (9, 0)
    return (addr.version, int(addr))


def _merge_service(dev: Device, svc: Service, ip: str) -> None:
    have = dev.service(svc.port, svc.transport)
    if have is None:
        have = svc.model_copy()
        have.addresses = list(svc.addresses)
        dev.services.append(have)
    if ip not in have.addresses:
        have.addresses.append(ip)
    # Fill what the earlier sighting did not know; a TLS sighting is never unlearned.
    for name in ("name", "product", "version", "banner"):
        if not getattr(have, name) and getattr(svc, name):
            setattr(have, name, getattr(svc, name))
    have.tls = have.tls or svc.tls


def _merge_identifier(dev: Device, name: str, ident: Identifier, notes: list[str]) -> None:
    have = dev.identifiers.get(name)
    if have is None:
        dev.identifiers[name] = ident.model_copy()
    elif have.value != ident.value:
        notes.append(
            f"{dev.key}: {name} {have.value!r} ({have.source}) differs from "
            f"{ident.value!r} ({ident.source}); kept the first"
        )


def merge(
    sightings: Iterable[Sighting],
    *,
    vendor_of: Callable[[str | None], str] = oui_vendor,
    notes: list[str] | None = None,
) -> list[Device]:
    """Merge sightings into devices, sorted by address. Conflicts are appended to `notes`."""
    notes = notes if notes is not None else []
    items = list(sightings)

    # Pass 1: which MAC answers for which address. The first binding wins; a second MAC
    # claiming the same address (an ARP conflict) is worth a note, not a second device.
    mac_of_ip: dict[str, str] = {}
    for s in items:
        mac = normalize_mac(s.mac) if s.mac else None
        if mac is None:
            continue
        have = mac_of_ip.setdefault(s.ip, mac)
        if have != mac:
            notes.append(f"{s.ip}: answered by {have} and by {mac} ({s.source}); kept {have}")

    devices: dict[str, Device] = {}
    for s in items:
        mac = mac_of_ip.get(s.ip)
        key = mac or s.ip
        dev = devices.get(key)
        if dev is None:
            dev = devices[key] = Device(key=key, mac=mac)
        if s.ip not in dev.ips:
            dev.ips.append(s.ip)
        if s.source not in dev.seen_by:
            dev.seen_by.append(s.source)
        if s.hostname:
            dev.hostname = dev.hostname or s.hostname
            _merge_identifier(dev, "hostname", Identifier(value=s.hostname, source=s.source), notes)
        if s.mdns is not None and not any(
            m.type == s.mdns.type and m.name == s.mdns.name for m in dev.mdns
        ):
            dev.mdns.append(s.mdns.model_copy())
        for name, value in s.ssdp.items():
            dev.ssdp.setdefault(name, value)
        for name, ident in s.identifiers.items():
            _merge_identifier(dev, name, ident, notes)
        for svc in s.services:
            _merge_service(dev, svc, s.ip)

    out = sorted(devices.values(), key=lambda d: _ip_sort_key(d.ip))
    for dev in out:
        dev.vendor = vendor_of(dev.mac)
        dev.seen_by.sort(key=lambda src: SOURCES.index(src) if src in SOURCES else len(SOURCES))
        dev.services.sort(key=lambda svc: (svc.transport, svc.port))
    return out
