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
- IPv6 and UDP (`dual_run`: a dual-stack bench of its own, $LANPROBE_SCOPE6_BRIDGE /
  $LANPROBE_SCOPE6_SUBNET, default plabs6 / 198.18.147.0/24, scanned with IPv6 discovery, UDP
  probes and checks over IPv6): every IPv6 packet the host sent goes to the bench's unique-local
  /64, to link-local unicast, or to the link-scope groups discovery needs (ff02::1 all-nodes
  echo, ff02::1:ffXX:XXXX neighbour solicitation, ff02::16 MLDv2 reports), from the host's own
  bench addresses; ICMPv6 only echo, neighbour discovery and MLD; UDP over IPv6 (the UDP probes)
  and the all-nodes echo are seen; IPv4 as on the main bench; no DNS on any interface.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from lanprobe.lab.bench import BenchState
from lanprobe.lab.models import BY_ID
from lanprobe.lab.provision import device_ports

from tests.requires import require_root
from tests.resolver_lock import resolver_lock
from tests.robustness.conftest import PROBE, ROOT, Capture, FullRun, start_capture

pytestmark = pytest.mark.lab

MDNS, SSDP = "224.0.0.251", "239.255.255.250"
IGMP_GROUPS = {"224.0.0.22", "224.0.0.2", "224.0.0.1", MDNS, SSDP}
LOOPBACK4 = ipaddress.ip_network("127.0.0.0/8")
LAB_RANGE = ipaddress.ip_network("198.18.0.0/16")  # every lab bench (RFC 2544)
LAB_RANGE6 = ipaddress.ip_network("fd00::/8")  # dual-stack benches' unique-local prefixes


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
    own = ipaddress.ip_network(full_run.bench.subnet)
    bad: list[str] = []
    for pkt in _packets(full_run.captures["loopback"].path):
        if IPv6 in pkt:
            if {pkt[IPv6].src, pkt[IPv6].dst} != {"::1"}:
                bad.append(pkt.summary())
            continue
        if IP not in pkt:
            continue
        src, dst = ipaddress.ip_address(pkt[IP].src), ipaddress.ip_address(pkt[IP].dst)
        if src in LAB_RANGE and dst in LAB_RANGE and src not in own and dst not in own:
            continue  # another bench's host-local traffic (a test beside this one), not the scan's
        if src not in LOOPBACK4 or dst not in LOOPBACK4:
            bad.append(pkt.summary())  # the host's own non-loopback address, over lo
        elif (TCP in pkt and pkt[TCP].flags == "S" and pkt[TCP].dport in lab_ports) or (
            UDP in pkt and pkt[UDP].dport in lab_ports
        ):
            bad.append(pkt.summary())
    assert not bad, f"{len(bad)} packets on loopback:\n" + "\n".join(bad[:20])


def test_no_dns_anywhere(full_run: FullRun) -> None:
    _no_dns(full_run.captures["dns"], full_run.bench)


def _no_dns(capture: Capture, bench: BenchState) -> None:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6

    # a bench's own addresses, IPv4 and (a dual-stack bench) its unique-local /64
    own = [ipaddress.ip_network(n) for n in (bench.subnet, bench.ipv6_prefix) if n]
    dns = []
    for pkt in _packets(capture.path):
        layer = IP if IP in pkt else IPv6 if IPv6 in pkt else None
        if layer is not None:
            src, dst = ipaddress.ip_address(pkt[layer].src), ipaddress.ip_address(pkt[layer].dst)
            lab = LAB_RANGE if layer is IP else LAB_RANGE6
            ours = any(a in n for a in (src, dst) for n in own if a.version == n.version)
            if src in lab and dst in lab and not ours:
                continue  # another lab bench on this machine (a test or a gateway of its own)
            port_probe = TCP in pkt and src in lab and dst in lab and not bytes(pkt[TCP].payload)
            if port_probe:
                continue  # a SYN/RST to TCP 53 with no payload: a port scan, no query
        dns.append(pkt.summary())
    assert not dns, "DNS during the scan:\n" + "\n".join(dns[:20])


# --- IPv6 and UDP: a dual-stack bench of its own ------------------------------------------------

SCOPE6_BRIDGE = os.environ.get("LANPROBE_SCOPE6_BRIDGE", "plabs6")
SCOPE6_SUBNET = os.environ.get("LANPROBE_SCOPE6_SUBNET", "198.18.147.0/24")
LINK_LOCAL = ipaddress.ip_network("fe80::/64")
SOLICITED_NODE = ipaddress.ip_network("ff02::1:ff00:0/104")
LINK_GROUPS6 = {"ff02::1", "ff02::16"}  # all-nodes (the echo), all MLDv2-capable routers
ICMP6_TYPES = {128, 129, 135, 136, 143}  # echo request/reply, NS, NA, MLDv2 report


@dataclass
class DualRun:
    bench: BenchState
    bridge: Capture
    dns: Capture
    stderr: str


@pytest.fixture(scope="module")
def dual_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DualRun]:
    """A scan of a dual-stack bench (dualstack-d1: services on IPv6 only, beside acme-ipcam200)
    with IPv6 discovery, UDP probes and checks over IPv6, captured on its bridge and (port 53)
    on every interface."""
    require_root("the lab bench uses network namespaces")
    from lanprobe.lab import bench as bench_api

    out = tmp_path_factory.mktemp("dual_run")
    bench_api.down(SCOPE6_BRIDGE)
    try:
        state = bench_api.up(SCOPE6_BRIDGE, SCOPE6_SUBNET, models=["acme-ipcam200", "dualstack-d1"],
                             ipv6=True)  # fmt: skip
        with resolver_lock():  # no registry download by another worker in the DNS capture
            caps = [start_capture("bridge6", SCOPE6_BRIDGE, out),
                    start_capture("dns6", "any", out, "port 53")]  # fmt: skip
            try:
                proc = subprocess.run(
                    [PROBE, "scan", "--lab", "--bridge", SCOPE6_BRIDGE, "--out", str(out / "scan"),
                     "--format", "json", "--fail-on", "never",
                     "--check", "configuration.default-login",
                     "--check", "access.unauthenticated-interface", "--check", "data.tls-protocol"],
                    cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
                )  # fmt: skip
            finally:
                for cap in caps:
                    cap.stop()
        assert proc.returncode == 0, proc.stderr[-3000:]
        yield DualRun(bench=state, bridge=caps[0], dns=caps[1], stderr=proc.stderr)
    finally:
        bench_api.down(SCOPE6_BRIDGE)


def test_ipv6_and_udp_stay_in_scope(dual_run: DualRun) -> None:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import ARP, Ether

    bench = dual_run.bench
    subnet = ipaddress.ip_network(bench.subnet)
    prefix = ipaddress.ip_network(bench.ipv6_prefix)
    host_mac = Path(f"/sys/class/net/{bench.bridge}/address").read_text().strip().lower()
    assert dual_run.bridge.dropped == 0, dual_run.bridge.stderr
    outside: list[str] = []
    udp6: Counter[int] = Counter()
    icmp6: Counter[int] = Counter()
    echo_all_nodes = 0
    for pkt in _packets(dual_run.bridge.path):
        if Ether not in pkt or pkt[Ether].src.lower() != host_mac:
            continue  # the devices' own chatter is not the probe's doing
        if ARP in pkt:
            if ipaddress.ip_address(pkt[ARP].pdst) not in subnet:
                outside.append(pkt.summary())
        elif IP in pkt:
            dst4 = ipaddress.ip_address(pkt[IP].dst)
            if not (dst4 in subnet or pkt[IP].dst in IGMP_GROUPS):
                outside.append(pkt.summary())
        elif IPv6 in pkt:
            src, dst = (ipaddress.ip_address(pkt[IPv6].src), ipaddress.ip_address(pkt[IPv6].dst))
            if not (src in prefix or src in LINK_LOCAL or src.is_unspecified):
                outside.append(f"from {src}: {pkt.summary()}")
            elif not (dst in prefix or dst in LINK_LOCAL or dst in SOLICITED_NODE
                      or str(dst) in LINK_GROUPS6):  # fmt: skip
                outside.append(pkt.summary())
            nh = pkt[IPv6].payload
            if pkt[IPv6].nh == 58 or getattr(nh, "nh", None) == 58:  # ICMPv6 (maybe after HBH)
                icmp = nh if pkt[IPv6].nh == 58 else nh.payload
                icmp6[icmp.type] += 1
                echo_all_nodes += icmp.type == 128 and str(dst) == "ff02::1"
            if UDP in pkt and dst in prefix:
                udp6[pkt[UDP].dport] += 1
        else:
            outside.append(pkt.summary())
    assert not outside, f"{len(outside)} frames left the scope:\n" + "\n".join(outside[:20])
    assert set(icmp6) <= ICMP6_TYPES, icmp6
    assert echo_all_nodes, icmp6  # the all-nodes echo went out, on the link only
    # UDP discovery asked the devices' unique-local addresses (SNMP, TFTP, NTP, CoAP)
    assert {161, 69, 123, 5683} <= set(udp6), udp6


def test_no_dns_during_the_ipv6_scan(dual_run: DualRun) -> None:
    _no_dns(dual_run.dns, dual_run.bench)
