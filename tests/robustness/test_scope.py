"""Scope: during a full `probe scan --lab` (`full_run`), tcpdump captured the bench's bridge,
loopback, and port 53 on every interface. What the scanning host sent stays inside the scope.

- bridge: every frame the host sent (source MAC = the bridge's) is ARP for a lab address, or IPv4
  to a lab address, to the mDNS/SSDP groups (224.0.0.251, 239.255.255.250), or IGMP membership
  reports for them; nothing else (no IPv6, no other address). UDP discovery's requests (SNMP 161,
  TFTP 69, NTP 123, CoAP 5683) are among them: seen, and only to lab addresses.
- loopback: no packet to or from an address that is not loopback (that would be the host's own
  bench or LAN address, which the scope excludes), and no connection attempt to 127/8 on a port
  the lab devices serve (the signature of a scan leaking to localhost). Loopback is shared with
  whatever else runs on the machine, so this is as precise as a capture without process
  attribution can be; the bridge capture is exact.
- DNS: no packet to or from port 53 on any interface, except the port scan's own probe of TCP
  port 53 on the bench devices (53 is among nmap's top 100 ports): SYN and RST to and from lab
  addresses, no payload, so no query. The probe resolves no names. Traffic between addresses of
  another lab bench (198.18.0.0/16 outside this bench's subnet) is another test's doing.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from pathlib import Path

import pytest
from lanprobe.lab.models import BY_ID
from lanprobe.lab.provision import device_ports

from tests.robustness.conftest import FullRun

pytestmark = pytest.mark.lab

MDNS, SSDP = "224.0.0.251", "239.255.255.250"
IGMP_GROUPS = {"224.0.0.22", "224.0.0.2", "224.0.0.1", MDNS, SSDP}
LOOPBACK4 = ipaddress.ip_network("127.0.0.0/8")
LAB_RANGE = ipaddress.ip_network("198.18.0.0/16")  # every lab bench (RFC 2544)


def _packets(path: Path) -> list:  # type: ignore[type-arg]
    from scapy.utils import rdpcap

    return list(rdpcap(str(path)))


def test_captures_are_complete(full_run: FullRun) -> None:
    for cap in full_run.captures.values():
        assert cap.path.exists(), cap.name
        assert cap.dropped == 0, f"{cap.name}: {cap.stderr}"


def test_bridge_traffic_stays_in_scope(full_run: FullRun) -> None:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import ARP, Ether

    bench = full_run.bench
    subnet = ipaddress.ip_network(bench.subnet)
    host_mac = Path(f"/sys/class/net/{bench.bridge}/address").read_text().strip().lower()
    outside: list[str] = []
    reached: Counter[str] = Counter()
    udp_ports: Counter[int] = Counter()  # UDP discovery's requests to lab addresses
    for pkt in _packets(full_run.captures["bridge"].path):
        if Ether not in pkt or pkt[Ether].src.lower() != host_mac:
            continue  # the devices' own chatter is not the probe's doing
        if ARP in pkt:
            if ipaddress.ip_address(pkt[ARP].pdst) not in subnet:
                outside.append(pkt.summary())
            continue
        if IP not in pkt:
            outside.append(pkt.summary())  # IPv6 or another protocol: the probe sends neither
            continue
        dst = ipaddress.ip_address(pkt[IP].dst)
        if dst in subnet:
            reached[str(dst)] += 1
            if UDP in pkt:
                udp_ports[pkt[UDP].dport] += 1
        elif str(dst) in (MDNS, SSDP) and UDP in pkt:
            continue
        elif pkt[IP].proto == 2 and str(dst) in IGMP_GROUPS:
            continue  # IGMP membership for the mDNS/SSDP groups
        else:
            outside.append(pkt.summary())
        if TCP in pkt or UDP in pkt:
            assert pkt[IP].src == bench.host_ip, pkt.summary()
    assert not outside, f"{len(outside)} frames left the scope:\n" + "\n".join(outside[:20])
    # The capture saw the scan: every device was reached.
    assert {d.ip for d in bench.devices} <= set(reached), reached
    # ...and UDP discovery too (SNMP, TFTP, NTP, CoAP), only ever to lab addresses (above).
    assert {161, 69, 123, 5683} <= set(udp_ports), udp_ports


def test_nothing_on_loopback(full_run: FullRun) -> None:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6

    lab_ports = {p for m in BY_ID.values() for p in device_ports(m)} | {1900, 5353}
    bad: list[str] = []
    for pkt in _packets(full_run.captures["loopback"].path):
        if IPv6 in pkt:
            if {pkt[IPv6].src, pkt[IPv6].dst} != {"::1"}:
                bad.append(pkt.summary())
            continue
        if IP not in pkt:
            continue
        src, dst = ipaddress.ip_address(pkt[IP].src), ipaddress.ip_address(pkt[IP].dst)
        if src not in LOOPBACK4 or dst not in LOOPBACK4:
            bad.append(pkt.summary())  # the host's own non-loopback address, over lo
        elif (TCP in pkt and pkt[TCP].flags == "S" and pkt[TCP].dport in lab_ports) or (
            UDP in pkt and pkt[UDP].dport in lab_ports
        ):
            bad.append(pkt.summary())
    assert not bad, f"{len(bad)} packets on loopback:\n" + "\n".join(bad[:20])


def test_no_dns_anywhere(full_run: FullRun) -> None:
    from scapy.layers.inet import IP, TCP

    subnet = ipaddress.ip_network(full_run.bench.subnet)
    dns = []
    for pkt in _packets(full_run.captures["dns"].path):
        if IP in pkt:
            src, dst = ipaddress.ip_address(pkt[IP].src), ipaddress.ip_address(pkt[IP].dst)
            if src in LAB_RANGE and dst in LAB_RANGE and src not in subnet and dst not in subnet:
                continue  # another lab bench on this machine (a test or a gateway of its own)
            port_probe = (
                TCP in pkt and src in LAB_RANGE and dst in LAB_RANGE and not bytes(pkt[TCP].payload)
            )
            if port_probe:
                continue  # a SYN/RST to TCP 53 with no payload: a port scan, no query
        dns.append(pkt.summary())
    assert not dns, "DNS during the scan:\n" + "\n".join(dns[:20])
