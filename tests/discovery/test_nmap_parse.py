"""nmap XML to services, arguments, port lists."""

from __future__ import annotations

from probe.discovery.services import (
    NmapOptions,
    format_ports,
    parse_port_spec,
    parse_xml,
    scan_arguments,
    top_ports,
)

XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<nmaprun scanner="nmap" args="nmap -n" version="7.93" xmloutputversion="1.05">
<scaninfo type="syn" protocol="tcp" numservices="3" services="22,80,443"/>
<host starttime="1" endtime="2"><status state="up" reason="arp-response" reason_ttl="0"/>
<address addr="198.18.0.13" addrtype="ipv4"/>
<address addr="DC:A6:32:00:00:0D" addrtype="mac" vendor="Raspberry Pi Trading"/>
<ports>
<port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"/>
<service name="ssh" product="OpenSSH" version="9.2p1" extrainfo="protocol 2.0"
 method="probed" conf="10"/></port>
<port protocol="tcp" portid="443"><state state="open" reason="syn-ack" reason_ttl="64"/>
<service name="http" product="aiohttp" tunnel="ssl" method="probed" conf="10"/></port>
<port protocol="tcp" portid="8883"><state state="open" reason="syn-ack" reason_ttl="64"/>
<service name="ssl/mqtt" method="probed" conf="10"/></port>
<port protocol="tcp" portid="9000"><state state="open" reason="syn-ack" reason_ttl="64"/></port>
<port protocol="tcp" portid="80"><state state="closed" reason="reset" reason_ttl="64"/>
<service name="http" method="table" conf="3"/></port>
</ports>
</host>
<host starttime="1" endtime="61" timedout="true"><status state="up" reason="user-set"/>
<address addr="198.18.0.99" addrtype="ipv4"/></host>
</nmaprun>"""


def test_parse_xml_maps_open_ports_and_tls() -> None:
    hosts = parse_xml(XML)
    assert [h.ip for h in hosts] == ["198.18.0.13", "198.18.0.99"]
    dev = hosts[0]
    assert dev.mac == "dc:a6:32:00:00:0d"
    assert dev.state == "up" and not dev.timed_out
    got = {s.port: s for s in dev.services}
    assert sorted(got) == [22, 443, 8883, 9000]  # closed 80 left out
    assert (got[22].name, got[22].product, got[22].version, got[22].banner) == (
        "ssh",
        "OpenSSH",
        "9.2p1",
        "protocol 2.0",
    )
    assert not got[22].tls
    assert got[443].name == "http" and got[443].tls
    assert got[8883].name == "mqtt" and got[8883].tls
    assert got[9000].name == "" and not got[9000].tls
    assert hosts[1].timed_out and hosts[1].services == []


def test_scan_arguments_never_resolve_and_pick_the_scan_type() -> None:
    opts = NmapOptions(version_intensity=2, host_timeout_s=30)
    root = scan_arguments(opts, privileged=True).split()
    user = scan_arguments(opts, privileged=False).split()
    for args in (root, user):
        assert "-n" in args and "-Pn" in args and "-sV" in args
        assert args[args.index("--host-timeout") + 1] == "30s"
        assert args[args.index("--version-intensity") + 1] == "2"
    assert "-sS" in root and "-sT" not in root
    assert "-sT" in user and "-sS" not in user


def test_port_specs() -> None:
    assert parse_port_spec("21-23,80, 443") == [21, 22, 23, 80, 443]
    assert format_ports([443, 80, 80, 22]) == "22,80,443"


def test_top_ports_come_from_nmap_itself() -> None:
    ports = top_ports(20)
    assert len(ports) == 20
    assert {22, 80, 443} <= set(ports)
    assert top_ports(0) == ()
