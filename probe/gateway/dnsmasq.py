"""Debian's dnsmasq as the bench's DHCP and DNS server: its configuration, and what it logged.

Offline by default: bound to the bench interface only (never loopback, never another link), no
upstream servers, every name answered with the sinkhole address, no router handed out (devices
reach only their own link). `upstream=True` (the `--upstream` flag, off by default and not
exercised by tests) forwards DNS to the host's resolvers and hands out the host as router.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class DnsmasqConfig:
    iface: str
    address: str  # the host's address on the bench: DNS, NTP and the sinkhole
    network: ipaddress.IPv4Network
    state_dir: Path
    lease_s: int = 600
    upstream: bool = False

    def dhcp_range(self) -> tuple[str, str]:
        """Every address of the bench but the host's own: a device may ask for the one it had.
        dnsmasq pings an address before offering it, so a statically set unit keeps its own."""
        hosts = [h for h in self.network.hosts() if str(h) != self.address]
        return str(hosts[0]), str(hosts[-1])

    def render(self) -> str:
        start, end = self.dhcp_range()
        sdir = self.state_dir
        lines = [
            "# written by lanprobe gateway; removed by `probe gateway down`",
            f"interface={self.iface}",
            "except-interface=lo",
            "bind-interfaces",
            "port=53",
            "no-hosts",
            "no-poll",
            f"dhcp-range={self.iface},{start},{end},{self.network.netmask},{self.lease_s}s",
            "dhcp-authoritative",
            f"dhcp-leasefile={sdir / 'dnsmasq.leases'}",
            f"dhcp-option=option:dns-server,{self.address}",
            f"dhcp-option=option:ntp-server,{self.address}",
            "log-queries=extra",
            "log-dhcp",
            f"log-facility={sdir / 'dnsmasq.log'}",
            f"pid-file={sdir / 'dnsmasq.pid'}",
            "user=root",  # the state directory is root's; dnsmasq writes its leases there
        ]
        if self.upstream:
            lines += [f"dhcp-option=option:router,{self.address}", "resolv-file=/etc/resolv.conf"]
        else:
            lines += [
                "no-resolv",
                "dhcp-option=option:router",  # none: devices reach only the bench link
                f"address=/#/{self.address}",  # every name is the sinkhole
            ]
        return "\n".join(lines) + "\n"


@dataclass
class Lease:
    mac: str
    ip: str
    hostname: str = ""
    client_id: str = ""


def parse_leases(text: str) -> list[Lease]:
    """dnsmasq's lease file: `expiry mac ip hostname client-id` per line ("*" = none)."""
    leases = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4 or parts[0] == "duid":
            continue
        leases.append(
            Lease(
                mac=parts[1].lower(),
                ip=parts[2],
                hostname="" if parts[3] == "*" else parts[3],
                client_id="" if len(parts) < 5 or parts[4] == "*" else parts[4],
            )
        )
    return leases


@dataclass
class DhcpClient:
    """What one client (by MAC) did over DHCP."""

    mac: str
    messages: list[str] = field(default_factory=list)  # DHCPDISCOVER, DHCPREQUEST, ... in order
    requested_options: list[str] = field(default_factory=list)
    vendor_class: str = ""
    hostname: str = ""
    ip: str = ""


@dataclass
class Query:
    name: str
    qtype: str
    client: str


_QUERY = re.compile(r"query\[(?P<type>[A-Za-z0-9]+)\] (?P<name>\S+) from (?P<client>\S+)")
_DHCP_MSG = re.compile(
    r"dnsmasq-dhcp\[\d+\]: (?:(?P<serial>\d+) )?(?P<msg>DHCP[A-Z]+)\(\S+\)"
    r"(?: (?P<ip>\d+\.\d+\.\d+\.\d+))? (?P<mac>[0-9a-f]{2}(?::[0-9a-f]{2}){5})(?: (?P<host>\S+))?"
)
_DHCP_INFO = re.compile(
    r"dnsmasq-dhcp\[\d+\]: (?P<serial>\d+) (?P<what>requested options|vendor class|"
    r"client provides name): (?P<value>.*)$"
)
MAX_LOG_LINES = 200_000


def parse_log(text: str) -> tuple[list[Query], dict[str, DhcpClient]]:
    """DNS queries and per-MAC DHCP behaviour from dnsmasq's log (log-queries=extra, log-dhcp)."""
    queries: list[Query] = []
    clients: dict[str, DhcpClient] = {}
    by_serial: dict[str, DhcpClient] = {}
    pending: dict[str, list[tuple[str, str]]] = {}  # serial -> info lines seen before its MAC
    for line in text.splitlines()[:MAX_LOG_LINES]:
        q = _QUERY.search(line)
        if q:
            queries.append(Query(q["name"].lower().rstrip("."), q["type"], q["client"]))
            continue
        m = _DHCP_MSG.search(line)
        if m:
            mac = m["mac"].lower()
            client = clients.setdefault(mac, DhcpClient(mac=mac))
            client.messages.append(m["msg"])
            if m["msg"] == "DHCPACK" and m["ip"]:
                client.ip = m["ip"]
                if m["host"]:
                    client.hostname = m["host"]
            if m["serial"]:
                by_serial[m["serial"]] = client
                for what, value in pending.pop(m["serial"], []):
                    _info(client, what, value)
            continue
        i = _DHCP_INFO.search(line)
        if i:
            known = by_serial.get(i["serial"])
            if known is None:
                pending.setdefault(i["serial"], []).append((i["what"], i["value"]))
            else:
                _info(known, i["what"], i["value"])
    return queries, clients


def _info(client: DhcpClient, what: str, value: str) -> None:
    value = value.strip()
    if what == "requested options":
        for opt in (o.strip() for o in value.split(",")):
            if opt and opt not in client.requested_options:
                client.requested_options.append(opt)
    elif what == "vendor class":
        client.vendor_class = value
    elif what == "client provides name":
        client.hostname = value
