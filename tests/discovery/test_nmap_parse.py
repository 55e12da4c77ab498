"""nmap XML to services, arguments, port lists."""

from __future__ import annotations

import shutil

import pytest
from lanprobe.discovery.services import (
    NmapOptions,
    banner_from_fingerprint,
    fingerprint_responses,
    format_ports,
    parse_port_spec,
    parse_xml,
    scan_arguments,
    top_ports,
)

from tests.requires import require

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


@pytest.mark.realsw  # Debian's nmap
def test_top_ports_come_from_nmap_itself() -> None:
    require(shutil.which("nmap") is not None, "Debian's nmap (`make sysdeps` installs it)")
    ports = top_ports(20)
    assert len(ports) == 20
    assert {22, 80, 443} <= set(ports)
    assert top_ports(0) == ()


FP_HTTP = (
    r'SF-Port80-TCP:V=7.93%I=0%D=11/29%Time=6B0BA155%P=x86_64-pc-linux-gnu%r(GetRequest,CE,"HTTP/'
    r"1\.1\x20401\x20Unauthorized\r\nServer:\x20Sentry-S3\r\nDate:\x20Sun\r\nWWW-Authenticate:\x20"
    r'Basic\x20realm=\"Sentry\x20S3\"\r\n\r\nunauthorized\n");'
)
FP_TELNET = (
    r'SF-Port23-TCP:V=7.93%I=0%D=11/29%Time=6B0BA155%P=x86_64-pc-linux-gnu%r(NULL,19,"\r\nacme-'
    r'ipcam200-1\x20login:\x20")%r(tn3270,28,"\r\nacme-ipcam200-1\x20login:\x20\xff\xfe\x18\0");'
)


def test_fingerprint_responses_are_unescaped() -> None:
    responses = fingerprint_responses(FP_TELNET)
    assert responses["NULL"] == "\r\nacme-ipcam200-1 login: "
    assert responses["tn3270"].endswith("\xff\xfe\x18\x00")
    http = fingerprint_responses(FP_HTTP)["GetRequest"]
    assert 'realm="Sentry S3"' in http


def test_banner_from_fingerprint() -> None:
    assert banner_from_fingerprint(FP_HTTP) == "Sentry-S3"
    assert banner_from_fingerprint(FP_TELNET) == "acme-ipcam200-1 login:"
    assert banner_from_fingerprint("") == ""
    assert banner_from_fingerprint('SF:r(NULL,3,"\\x1b\\x07\\0")') == ""


def test_unrecognised_service_gets_its_banner_from_the_fingerprint() -> None:
    from xml.sax.saxutils import quoteattr

    xml = (
        '<nmaprun><host><status state="up"/><address addr="198.18.0.16" addrtype="ipv4"/>'
        '<ports><port protocol="tcp" portid="80"><state state="open"/>'
        f'<service name="http" method="probed" conf="10" servicefp={quoteattr(FP_HTTP)}/>'
        "</port></ports></host></nmaprun>"
    )
    (host,) = parse_xml(xml)
    assert host.services[0].banner == "Sentry-S3"
    assert host.services[0].product == ""


def test_plain_port_scan_arguments_have_no_version_detection() -> None:
    args = scan_arguments(NmapOptions(fallback_timeout_s=15), privileged=True, versions=False)
    assert "-sV" not in args.split()
    assert "--host-timeout 15s" in args
