"""What may be touched. Every outgoing connection asks `Scope.check` first.

A scope is a set of networks (CIDRs) reached through named interfaces. Public (globally routable)
networks are refused unless `allow_public` is set: a typo in a CIDR must not scan the internet.
No name is ever resolved here: targets are addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from lanprobe.errors import ScopeError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# The link-local multicast groups discovery sends to (mDNS, SSDP). They never leave the segment.
DISCOVERY_MULTICAST = frozenset({"224.0.0.251", "239.255.255.250", "ff02::fb", "ff02::c"})


def parse_network(text: str) -> Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as exc:
        raise ScopeError(f"not a network: {text!r} (give a CIDR such as 198.18.0.0/24)") from exc


def parse_address(text: str) -> Address:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError as exc:
        # A name would need DNS; the probe resolves none.
        raise ScopeError(f"not an IP address: {text!r} (lanprobe resolves no names)") from exc


def is_public(net: Network | Address) -> bool:
    return bool(net.is_global) and not net.is_multicast


# IPv6 a bench may use without --allow-public: unique-local (RFC 4193, fd00::/8; fc00::/8 is
# unassigned) and link-local (RFC 4291).
IPV6_LAB = (ipaddress.ip_network("fd00::/8"), ipaddress.ip_network("fe80::/10"))


def outside_ipv6_lab(net: Network) -> bool:
    return net.version == 6 and not any(net.subnet_of(lab) for lab in IPV6_LAB)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Scope:
    networks: tuple[Network, ...]
    interfaces: tuple[str, ...] = ()
    allow_public: bool = False
    lab: bool = False
    excluded: tuple[Address, ...] = field(default=())

    @classmethod
    def build(
        cls,
        cidrs: Iterable[str],
        interfaces: Iterable[str] = (),
        *,
        allow_public: bool = False,
        lab: bool = False,
        exclude: Iterable[str] = (),
    ) -> Scope:
        nets = tuple(parse_network(c) for c in cidrs)
        if not nets:
            raise ScopeError("empty scope: give --lab or at least one --cidr")
        for net in nets:
            if (is_public(net) or outside_ipv6_lab(net)) and not allow_public:
                what = "outside fd00::/8 and link-local" if net.version == 6 else "a public network"
                raise ScopeError(
                    f"{net} is {what}; lanprobe scans lab benches. "
                    "Pass --allow-public if you really own it."
                )
            if net.prefixlen < (16 if net.version == 4 else 48):
                raise ScopeError(f"{net} is too large a scope for a test bench (/16 at most)")
        return cls(
            networks=nets,
            interfaces=tuple(interfaces),
            allow_public=allow_public,
            lab=lab,
            excluded=tuple(parse_address(a) for a in exclude),
        )

    def contains(self, address: str) -> bool:
        try:
            addr = parse_address(address.split("%", 1)[0])  # fe80::1%plab0: the zone is no host
        except ScopeError:
            return False
        if addr in self.excluded:
            return False
        if is_public(addr) and not self.allow_public:
            return False
        return any(addr in net for net in self.networks)

    def check(self, address: str) -> str:
        """Return the address if it may be contacted, else raise `ScopeError`."""
        if not self.contains(address):
            raise ScopeError(f"{address} is outside the scan scope ({self.describe()})")
        return address

    def hosts(self) -> list[str]:
        """Every IPv4 host address in scope, excluding network/broadcast and excluded addresses.
        (IPv6 networks are never swept, host by host: their devices are found by neighbour
        discovery, probe/discovery/ipv6.py.)"""
        out: list[str] = []
        for net in self.networks:
            if net.version != 4:
                continue
            for addr in net.hosts() if net.num_addresses > 2 else net:
                if addr not in self.excluded:
                    out.append(str(addr))
        return out

    def describe(self) -> str:
        nets = ", ".join(str(n) for n in self.networks)
        ifs = f" on {', '.join(self.interfaces)}" if self.interfaces else ""
        return f"{nets}{ifs}"
