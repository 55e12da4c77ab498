"""Discovery against the lab bench: every device, its identity and its services.

One discovery of the session bench (`lab_inventory`) serves most tests; the hostile-mDNS test
runs its own discovery while a bench namespace multicasts malformed records.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lanprobe.checks.context import service_kind
from lanprobe.discovery import DiscoveryOptions, Inventory, discover
from lanprobe.lab import models as lab_models
from lanprobe.lab.bench import BenchState, LabDevice
from lanprobe.lab.scope import lab_scope
from lanprobe.model import Device
from scapy.config import conf

pytestmark = pytest.mark.lab

HOSTILE = Path(__file__).with_name("hostile_mdns.py")


def lab_ports(bench: BenchState) -> list[int]:
    """What the profiles would pass: every port the lab's models open."""
    return sorted({p for dev in bench.devices for p in dev.ports})


def expected_kinds(model: lab_models.Model) -> dict[int, str]:
    """Port -> service kind (checks.context.service_kind) the lab model serves there."""
    out: dict[int, str] = {}
    for http in model.http:
        out[http.port] = "https" if http.tls else "http"
    for login, kind in ((model.telnet, "telnet"), (model.ssh, "ssh"), (model.ftp, "ftp")):
        if login is not None:
            out[login.port] = kind
    if model.mqtt is not None:
        if model.mqtt.port:
            out[model.mqtt.port] = "mqtt"
        if model.mqtt.tls_port:
            out[model.mqtt.tls_port] = "mqtts"
    if model.debug_shell:
        out[model.debug_shell] = ""  # a raw shell: any name, but open and cleartext
    if model.rtsp is not None:
        out[model.rtsp.port] = "rtsp"
    return out


@pytest.fixture(scope="module")
def lab_inventory(lab_bench: BenchState) -> Inventory:
    scope = lab_scope(lab_bench.bridge)
    return asyncio.run(discover(scope, ports=lab_ports(lab_bench)))


def _device(inv: Inventory, lab_dev: LabDevice) -> Device:
    dev = inv.by_ip(lab_dev.ip)
    assert dev is not None, f"{lab_dev.name} ({lab_dev.ip}) not found; notes: {inv.notes}"
    return dev


def test_lab_scope_is_the_bench(lab_bench: BenchState) -> None:
    scope = lab_scope(lab_bench.bridge)
    assert scope.lab and scope.interfaces == (lab_bench.bridge,)
    assert [str(n) for n in scope.networks] == [lab_bench.subnet]
    assert not scope.contains(lab_bench.host_ip)
    assert all(scope.contains(d.ip) for d in lab_bench.devices)


def test_every_device_found_with_ip_mac_and_vendor(
    lab_bench: BenchState, lab_inventory: Inventory
) -> None:
    assert not lab_inventory.partial
    # What it looked for is recorded: a check with nothing to judge names it (ScanCoverage).
    covered = lab_inventory.coverage
    assert covered is not None and covered.tcp_ports >= 100 and covered.families == ["IPv4"]
    assert covered.udp == ["161/snmp", "69/tftp", "123/ntp", "5683/coap"]
    assert sorted(d.ip for d in lab_inventory.devices) == sorted(d.ip for d in lab_bench.devices), (
        "found devices differ from the bench (the host itself must not be listed)"
    )
    for lab_dev in lab_bench.devices:
        dev = _device(lab_inventory, lab_dev)
        assert dev.mac == lab_dev.mac.lower() and dev.key == dev.mac
        assert dev.ips == [lab_dev.ip]
        # Independent of our table: scapy's manuf database, long name.
        assert dev.vendor and dev.vendor == conf.manufdb._get_manuf(lab_dev.mac), lab_dev.name
        assert "arp" in dev.seen_by and "nmap" in dev.seen_by


def test_device_without_mdns_found_by_arp_alone(
    lab_bench: BenchState, lab_inventory: Inventory
) -> None:
    (sentry,) = lab_bench.by_model("sentry-s3")
    dev = _device(lab_inventory, sentry)
    # found by ARP; its ports by nmap, its CoAP (UDP 5683) by UDP discovery afterwards
    assert dev.seen_by == ["arp", "nmap", "udp"]
    assert dev.mdns == [] and dev.ssdp == {}
    assert "serial" not in dev.identifiers and "model" not in dev.identifiers


def test_mdns_txt_identifiers_land_on_the_right_device(
    lab_bench: BenchState, lab_inventory: Inventory
) -> None:
    checked = 0
    for lab_dev in lab_bench.devices:
        model = lab_models.BY_ID[lab_dev.model]
        if model.mdns is None:
            continue
        dev = _device(lab_inventory, lab_dev)
        assert "mdns" in dev.seen_by
        (svc,) = dev.mdns
        assert svc.type == model.mdns.type and svc.port == model.mdns.port
        assert svc.addresses == [lab_dev.ip]
        assert svc.txt["serial"] == lab_dev.serial
        assert dev.identifier("serial") == lab_dev.serial
        assert dev.identifier("model") == model.model
        assert dev.identifier("fw") == model.fw
        assert dev.identifiers["serial"].source == f"mdns:{model.mdns.type}"
        assert dev.hostname == f"{lab_dev.name}.local"
        checked += 1
    # every device with an mDNS responder (not sentry-s3 nor the web login models)
    with_mdns = [d for d in lab_bench.devices if lab_models.BY_ID[d.model].mdns is not None]
    assert checked == len(with_mdns) == len(lab_bench.devices) - 4


def test_mdns_unicast_is_a_second_chance(lab_bench: BenchState) -> None:
    """Multicast mDNS cut short (50 ms: no responder answers that fast): the unicast query to
    each host's 5353 still finds every unit's DNS-SD service, TXT identifiers and all."""
    from lanprobe.discovery.mdns import MdnsOptions
    from lanprobe.discovery.services import NmapOptions

    opts = DiscoveryOptions(
        mdns=MdnsOptions(min_window_s=0.0, quiet_s=0.0, max_window_s=0.05),
        nmap=NmapOptions(top_ports=0),
        iot_ports=False,
    )
    inv = asyncio.run(discover(lab_scope(lab_bench.bridge), ports=[80], options=opts))
    assert "mdns_unicast" in inv.timings_s
    for lab_dev in lab_bench.devices:
        model = lab_models.BY_ID[lab_dev.model]
        dev = _device(inv, lab_dev)
        if model.mdns is None:
            assert not dev.mdns
            continue
        (svc,) = dev.mdns
        assert (svc.type, svc.port, svc.addresses) == (model.mdns.type, model.mdns.port,
                                                       [lab_dev.ip])  # fmt: skip
        assert dev.identifier("serial") == lab_dev.serial
        assert dev.identifiers["serial"].source == f"mdns:{model.mdns.type}"  # before SSDP's
        assert dev.hostname == f"{lab_dev.name}.local"


def test_ssdp_identifiers_land_on_the_right_device(
    lab_bench: BenchState, lab_inventory: Inventory
) -> None:
    udns: set[str] = set()
    for lab_dev in lab_bench.devices:
        model = lab_models.BY_ID[lab_dev.model]
        dev = _device(lab_inventory, lab_dev)
        if not model.ssdp:
            assert "ssdp" not in dev.seen_by and "udn" not in dev.identifiers
            continue
        assert "ssdp" in dev.seen_by
        assert lab_dev.ip in dev.ssdp["location"]
        assert dev.ssdp["serialNumber"] == lab_dev.serial
        assert dev.ssdp["modelName"] == model.model
        assert dev.ssdp["manufacturer"] == model.vendor
        udn = dev.identifier("udn")
        assert udn and udn.startswith("uuid:")
        assert dev.identifiers["udn"].source.startswith("ssdp:http")
        udns.add(udn)
    assert len(udns) == 2  # ipcam200 and hubco-h1, one UDN each


def test_services_and_ports_match_the_lab_models(
    lab_bench: BenchState, lab_inventory: Inventory
) -> None:
    for lab_dev in lab_bench.devices:
        dev = _device(lab_inventory, lab_dev)
        expected = expected_kinds(lab_models.BY_ID[lab_dev.model])
        found = {svc.port: svc for svc in dev.services if svc.transport == "tcp"}
        assert sorted(found) == sorted(lab_dev.ports) == sorted(expected), lab_dev.name
        for port, kind in expected.items():
            svc = found[port]
            if kind:
                assert service_kind(svc) == kind, f"{lab_dev.name}:{port} {svc}"
            else:
                assert not svc.tls
    (sentry,) = lab_bench.by_model("sentry-s3")
    web = _device(lab_inventory, sentry).service(80)
    assert web is not None and web.banner == lab_models.BY_ID["sentry-s3"].server


def test_malformed_mdns_records_do_not_stop_discovery(lab_bench: BenchState) -> None:
    """A bench namespace multicasts hostile records while discovery runs.

    They come from sentry-s3's namespace (a unit with no mDNS of its own), so that the hostile
    TXT's `sn` does not compete with a real serial.
    """
    (sentry,) = lab_bench.by_model("sentry-s3")
    sender = subprocess.Popen(
        ["ip", "netns", "exec", sentry.netns, sys.executable, str(HOSTILE), sentry.ip, "6"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        inv = asyncio.run(
            discover(lab_scope(lab_bench.bridge), options=DiscoveryOptions(services=False))
        )
    finally:
        _, err = sender.communicate(timeout=15)
    assert sender.returncode == 0, err.decode()
    assert sorted(d.ip for d in inv.devices) == sorted(d.ip for d in lab_bench.devices)
    for lab_dev in lab_bench.devices:
        if lab_models.BY_ID[lab_dev.model].mdns is not None:
            assert _device(inv, lab_dev).identifier("serial") == lab_dev.serial
    notes = "\n".join(inv.notes)
    assert "malformed service type" in notes
    assert "TXT record truncated" in notes
    assert "ctrl" in notes and "skipped" in notes
    evil = [m for m in _device(inv, sentry).mdns if m.type == "_evil._tcp.local."]
    assert evil and evil[0].txt == {"model": "EVIL\ufffd", "sn": "1"}
    assert "\x1b" not in repr(inv.notes)


@pytest.fixture(scope="module")
def big_bench(lab_bench: BenchState) -> Iterator[BenchState]:
    """A separate 50-device bench on <test bridge>x (the session bench stays up beside it)."""
    import ipaddress
    import os

    from lanprobe.lab import bench

    bridge = f"{lab_bench.bridge}x"[:11]
    subnet = os.environ.get("LANPROBE_TEST_SUBNET_BIG")
    if not subnet:
        net = ipaddress.ip_network(lab_bench.subnet)
        subnet = str(ipaddress.ip_network((int(net.network_address) + 256, 24)))
    bench.down(bridge)
    try:
        yield bench.up(bridge, subnet, devices=50)
    finally:
        bench.down(bridge)


def test_fifty_device_bench_found_completely(big_bench: BenchState) -> None:
    inv = asyncio.run(
        discover(lab_scope(big_bench.bridge), options=DiscoveryOptions(services=False))
    )
    assert len(big_bench.devices) == 50
    assert {(d.ip, d.mac) for d in inv.devices} == {
        (d.ip, d.mac.lower()) for d in big_bench.devices
    }
    for lab_dev in big_bench.devices:
        model = lab_models.BY_ID[lab_dev.model]
        dev = _device(inv, lab_dev)
        assert dev.vendor
        if model.mdns is not None:
            assert dev.identifier("serial") == lab_dev.serial, lab_dev.name
        if model.ssdp:
            assert dev.ssdp.get("serialNumber") == lab_dev.serial, lab_dev.name
    assert inv.timings_s["discovery"] < 15, inv.timings_s  # a bound against hangs, not a benchmark


def test_nothing_outside_the_scope_is_contacted(lab_bench: BenchState, tmp_path: Path) -> None:
    """Scope a /29 of the bench and capture what the host sends on the bridge meanwhile.

    Devices outside the /29 still answer the multicast queries (mDNS, SSDP); discovery must drop
    them and never send them a unicast packet (ARP request, SYN, HTTP GET).
    """
    import ipaddress

    from lanprobe.scope import DISCOVERY_MULTICAST, Scope
    from scapy.layers.inet import IP
    from scapy.layers.l2 import ARP
    from scapy.utils import rdpcap

    net = ipaddress.ip_network(lab_bench.subnet)
    small = ipaddress.ip_network((int(net.network_address) + 8, 29))  # .8-.15
    scope = Scope.build([str(small)], [lab_bench.bridge], exclude=[lab_bench.host_ip])
    outside = [d for d in lab_bench.devices if not scope.contains(d.ip)]
    assert outside, "the /29 must leave some bench devices out"
    pcap = tmp_path / "host.pcap"
    dump = subprocess.Popen(
        ["tcpdump", "-i", lab_bench.bridge, "-U", "-n", "-w", str(pcap),
         f"ether src {_host_mac(lab_bench.bridge)}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_for_file(pcap)
        opts = DiscoveryOptions()
        opts.nmap.top_ports = 0
        inv = asyncio.run(discover(scope, ports=[22, 80], options=opts))
    finally:
        dump.terminate()
        dump.communicate(timeout=10)
    assert {d.ip for d in inv.devices} <= {d.ip for d in lab_bench.devices if scope.contains(d.ip)}
    assert len(inv.devices) >= 5
    sent = rdpcap(str(pcap))
    assert len(sent) > 50  # the capture saw the sweep
    for pkt in sent:
        if ARP in pkt and pkt[ARP].op == 1:
            assert scope.contains(pkt[ARP].pdst), pkt.summary()
        elif IP in pkt:
            dst = pkt[IP].dst
            igmp = pkt[IP].proto == 2
            assert igmp or dst in DISCOVERY_MULTICAST or scope.contains(dst), pkt.summary()


def _host_mac(iface: str) -> str:
    return Path(f"/sys/class/net/{iface}/address").read_text().strip()


def _wait_for_file(path: Path, timeout_s: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # tcpdump opens the file before the capture is armed


TARPIT = """
import asyncio, sys
async def hold(reader, writer):
    await asyncio.sleep(120)  # accept, then say nothing: a tarpit
    writer.close()
async def main():
    servers = [await asyncio.start_server(hold, sys.argv[1], int(p)) for p in sys.argv[2:]]
    await asyncio.sleep(float(60))
asyncio.run(main())
"""


def test_a_tarpit_host_costs_its_timeout_not_the_run(lab_bench: BenchState) -> None:
    """Ports that accept and never speak make -sV wait; the host timeout ends it, and the plain
    rescan still reports the open ports."""
    import time

    from lanprobe.scope import Scope

    (gizmo,) = lab_bench.by_model("gizmo-g1")
    tarpit_ports = [7070, 7071, 7072]
    pit = subprocess.Popen(
        ["ip", "netns", "exec", gizmo.netns, sys.executable, "-c", TARPIT, gizmo.ip,
         *map(str, tarpit_ports)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        time.sleep(1.0)
        scope = Scope.build([f"{gizmo.ip}/32"], [lab_bench.bridge])
        opts = DiscoveryOptions(version_detection="nmap")  # this test is about nmap -sV
        opts.nmap.top_ports = 0
        opts.nmap.host_timeout_s = 5
        inv = asyncio.run(discover(scope, ports=[21, *tarpit_ports], options=opts))
        # The default (our fingerprinting after a plain port scan): each port is bounded.
        fast = DiscoveryOptions()
        fast.nmap.top_ports = 0
        ours = asyncio.run(discover(scope, ports=[21, *tarpit_ports], options=fast))
    finally:
        pit.kill()
        pit.communicate(timeout=10)
    (dev,) = inv.devices
    assert {s.port for s in dev.services} == {21, *tarpit_ports}
    assert any("5 s -sV host timeout" in n for n in inv.notes), inv.notes
    assert inv.timings_s["nmap"] < 5 + opts.nmap.fallback_timeout_s + 10, inv.timings_s
    (dev,) = ours.devices
    assert {s.port for s in dev.services} == {21, *tarpit_ports}
    assert dev.service(21).name == "ftp"  # type: ignore[union-attr]
    assert all(not dev.service(p).tls for p in tarpit_ports)  # type: ignore[union-attr]
    assert ours.timings_s["fingerprint"] < fast.fingerprint.port_s + 2, ours.timings_s
