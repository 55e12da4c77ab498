"""What a probe on the bridge sees: MACs with real OUIs, mDNS records, SSDP answers."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
import xml.etree.ElementTree as ET

import httpx
import pytest
from lanprobe.lab.bench import BenchState
from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from tests.lab.conftest import device

pytestmark = pytest.mark.lab

EXPECTED_MDNS = {
    "acme-ipcam200": ("_http._tcp.local.", "IPCAM-200", 80),
    "plugco-sp1": ("_plugco._tcp.local.", "SP1", 80),
    "therma-t1": ("_therma._tcp.local.", "T1", 443),
    "hubco-h1": ("_hubco._tcp.local.", "H1", 443),
    "acme-ipcam300": ("_http._tcp.local.", "IPCAM-300", 443),
    "gizmo-g1": ("_gizmo._tcp.local.", "G1", 80),
}


def test_macs_are_stable_and_name_a_vendor(bench: BenchState) -> None:
    from scapy.config import conf

    for dev in bench.devices:
        out = subprocess.run(
            ["ip", "-n", dev.netns, "-j", "link", "show", "eth0"],
            capture_output=True, text=True, check=True, timeout=5,
        ).stdout  # fmt: skip
        assert json.loads(out)[0]["address"] == dev.mac
        last3 = [int(x) for x in dev.ip.split(".")[1:]]
        assert dev.mac.endswith(":".join(f"{o:02x}" for o in last3))
        assert conf.manufdb._get_manuf(dev.mac) != dev.mac, dev.mac  # a known vendor


async def test_mdns_records_seen_from_host(bench: BenchState) -> None:
    types = sorted({t for t, _, _ in EXPECTED_MDNS.values()})
    names: set[tuple[str, str]] = set()

    def on_change(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is ServiceStateChange.Added:
            names.add((service_type, name))

    azc = AsyncZeroconf(interfaces=[bench.host_ip], ip_version=IPVersion.V4Only)
    try:
        browser = AsyncServiceBrowser(azc.zeroconf, types, handlers=[on_change])
        # Listen until every advertising unit answered, or 6 s: a loaded machine delays answers.
        want = sum(1 for d in bench.devices if d.model in EXPECTED_MDNS)
        deadline = time.monotonic() + 6.0
        while len(names) < want and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await browser.async_cancel()
        seen: dict[str, AsyncServiceInfo] = {}
        for stype, name in sorted(names):
            info = AsyncServiceInfo(stype, name)
            if await info.async_request(azc.zeroconf, 3000):
                for addr in info.parsed_addresses():
                    seen[addr] = info
    finally:
        await azc.async_close()
    for dev in bench.devices:
        if dev.model not in EXPECTED_MDNS:
            assert dev.ip not in seen, f"{dev.model} must not advertise"
            continue
        stype, model, port = EXPECTED_MDNS[dev.model]
        info = seen.get(dev.ip)
        assert info is not None, f"no mDNS record for {dev.name} ({dev.ip})"
        assert info.type == stype and info.port == port
        txt = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
        assert txt["model"] == model
        assert txt["serial"] == dev.serial
        assert set(txt) == {"vendor", "model", "serial", "fw"}
    twins = [seen[d.ip] for d in bench.by_model("acme-ipcam300")]
    assert len({t.properties[b"serial"] for t in twins}) == 1


def test_ssdp_answers_and_description(bench: BenchState) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.bind((bench.host_ip, 0))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(bench.host_ip))
    sock.settimeout(0.2)
    msg = (
        'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\n'
        "MX: 1\r\nST: upnp:rootdevice\r\n\r\n"
    )
    answers: dict[str, str] = {}
    try:
        sock.sendto(msg.encode(), ("239.255.255.250", 1900))
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            try:
                data, (src, _) = sock.recvfrom(2048)
            except TimeoutError:
                continue
            answers[src] = data.decode()
    finally:
        sock.close()
    cam, hub = device(bench, "acme-ipcam200"), device(bench, "hubco-h1")
    with_ssdp = {d.ip for d in bench.devices if d.model in ("acme-ipcam200", "hubco-h1")}
    assert set(answers) == with_ssdp
    with httpx.Client(timeout=5, verify=False) as client:
        for dev in (cam, hub):
            headers = dict(
                line.split(": ", 1) for line in answers[dev.ip].split("\r\n")[1:] if ": " in line
            )
            assert headers["ST"] == "upnp:rootdevice"
            scheme = "https" if dev.model == "hubco-h1" else "http"
            port = 443 if scheme == "https" else 80
            assert headers["LOCATION"] == f"{scheme}://{dev.ip}:{port}/upnp/description.xml"
            ns = {"u": "urn:schemas-upnp-org:device-1-0"}
            root = ET.fromstring(client.get(headers["LOCATION"]).text)
            node = root.find("u:device", ns)
            assert node is not None
            assert node.findtext("u:serialNumber", namespaces=ns) == dev.serial
            assert node.findtext("u:UDN", namespaces=ns) == headers["USN"].split("::")[0]
            assert node.findtext("u:manufacturer", namespaces=ns) in ("Acme", "HubCo")
            assert node.findtext("u:modelName", namespaces=ns) in ("IPCAM-200", "H1")
