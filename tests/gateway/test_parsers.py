"""The gateway's pure parts on recorded input: ClientHello, dnsmasq's files, NTP, MQTT CONNECT."""

from __future__ import annotations

import ipaddress
import ssl
import warnings
from pathlib import Path

import pytest
from lanprobe.gateway import clienthello, dnsmasq, ntp, sinkhole


def _hello_bytes(ctx: ssl.SSLContext, sni: str) -> bytes:
    """A real ClientHello from the stdlib's OpenSSL, taken off a memory BIO."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=sni)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return out.read()


def test_clienthello_modern_client() -> None:
    ctx = ssl.create_default_context()
    hello = clienthello.parse(_hello_bytes(ctx, "api.vendor.example"))
    assert hello.sni == "api.vendor.example"
    assert hello.versions[0] == "TLSv1.3" and "TLSv1.0" not in hello.versions
    assert 0x1301 in hello.suites  # TLS_AES_128_GCM_SHA256


def test_clienthello_tls10_only_client() -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    hello = clienthello.parse(_hello_bytes(ctx, "old.vendor.example"))
    assert hello.versions == ["TLSv1.0"] and hello.max_version == "TLSv1.0"


def test_clienthello_split_and_garbage() -> None:
    raw = _hello_bytes(ssl.create_default_context(), "x.example")
    with pytest.raises(clienthello.NotAHello, match="incomplete"):
        clienthello.parse(raw[:40])
    with pytest.raises(clienthello.NotAHello, match="not a TLS"):
        clienthello.parse(b"GET / HTTP/1.1\r\n\r\n")
    # A length field that lies is refused, not read past.
    bad = bytearray(raw)
    suites_at = 5 + 4 + 2 + 32 + 1 + raw[5 + 4 + 2 + 32]  # after the session id
    bad[suites_at : suites_at + 2] = b"\xff\xff"  # cipher suites length
    with pytest.raises(clienthello.NotAHello):
        clienthello.parse(bytes(bad))


def test_grease_is_ignored() -> None:
    assert clienthello.is_grease(0x0A0A) and clienthello.is_grease(0xFAFA)
    assert not clienthello.is_grease(0x1301)


LOG = (Path(__file__).parent / "dnsmasq.log").read_text()  # recorded from dnsmasq 2.90


def test_dnsmasq_log() -> None:
    queries, clients = dnsmasq.parse_log(LOG)
    assert [(q.name, q.qtype, q.client) for q in queries] == [
        ("update.vendor.example", "A", "198.18.156.11")
    ]
    c = clients["5c:cf:7f:12:9c:0b"]
    assert c.messages == ["DHCPDISCOVER", "DHCPOFFER", "DHCPREQUEST", "DHCPACK"]
    assert c.requested_options == ["1:netmask", "3:router", "6:dns-server", "15:domain-name",
                                   "42:ntp-server"]  # fmt: skip
    assert c.vendor_class == "udhcp 1.36.1"
    assert (c.ip, c.hostname) == ("198.18.156.11", "oldtls-o2-1")


def test_dnsmasq_leases() -> None:
    text = (
        "1796186130 B8:27:EB:12:9C:0C 198.18.156.73 sound-s1-1 *\n"
        "1796186130 a4:cf:12:12:9c:0a 198.18.156.53 * 01:a4\nduid 00:01\n"
    )
    leases = dnsmasq.parse_leases(text)
    assert [(x.mac, x.ip, x.hostname) for x in leases] == [
        ("b8:27:eb:12:9c:0c", "198.18.156.73", "sound-s1-1"),
        ("a4:cf:12:12:9c:0a", "198.18.156.53", ""),
    ]


def test_dnsmasq_config_is_offline_and_bound(tmp_path: Path) -> None:
    cfg = dnsmasq.DnsmasqConfig(
        iface="plabx", address="198.18.9.1", network=ipaddress.IPv4Network("198.18.9.0/24"),
        state_dir=tmp_path,
    )  # fmt: skip
    text = cfg.render().splitlines()
    for line in ("interface=plabx", "except-interface=lo", "bind-interfaces", "no-resolv",
                 "address=/#/198.18.9.1", "dhcp-option=option:router"):  # fmt: skip
        assert line in text
    assert not any(x.startswith(("server=", "resolv-file")) for x in text)
    assert cfg.dhcp_range() == ("198.18.9.2", "198.18.9.254")
    up = dnsmasq.DnsmasqConfig(**{**cfg.__dict__, "upstream": True}).render()
    assert "no-resolv" not in up and "address=/#/" not in up


def test_ntp_answer() -> None:
    request = bytes([0x23]) + b"\x00" * 39 + b"ABCDEFGH"
    reply = ntp.answer(request, 1_000_000.5)
    assert reply is not None and len(reply) == 48
    assert reply[0] & 7 == 4 and (reply[0] >> 3) & 7 == 4  # server mode, the client's version
    assert reply[24:32] == b"ABCDEFGH"  # origin = the client's transmit time
    assert ntp.answer(bytes([0x24]) + b"\x00" * 47, 0) is None  # a server packet: no answer
    assert ntp.answer(b"\x23", 0) is None


def test_mqtt_connect_311_and_5() -> None:
    # 3.1.1: protocol "MQTT", level 4, flags user+password, keep-alive 10, id, user, password
    body = b"\x00\x04MQTT\x04\xc2\x00\x0a\x00\x07C1-0001\x00\x07C1-0001\x00\x03pwd"
    assert sinkhole.parse_connect(body) == {
        "level": 4, "client_id": "C1-0001", "username": "C1-0001", "password": True,
    }  # fmt: skip
    body5 = b"\x00\x04MQTT\x05\x02\x00\x0a\x00\x00\x03dev"  # clean start, no properties
    assert sinkhole.parse_connect(body5)["client_id"] == "dev"


def test_pcap_summary(tmp_path: Path) -> None:
    """Our pcap reader against files scapy writes: flows the device started, bytes, MACs."""
    from lanprobe.gateway.observe import summarise_pcap
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    dev, host, mac = "198.18.9.10", "198.18.9.1", "a4:cf:12:00:00:01"
    eth = Ether(src=mac, dst="02:00:00:00:00:01")
    packets = [
        eth / IP(src=dev, dst=host) / TCP(sport=40000, dport=1883, flags="S"),
        Ether(src="02:00:00:00:00:01", dst=mac)
        / IP(src=host, dst=dev)
        / TCP(sport=1883, dport=40000, flags="SA"),
        eth / IP(src=dev, dst=host) / TCP(sport=40000, dport=1883, flags="A") / (b"x" * 100),
        eth / IP(src=dev, dst=host) / UDP(sport=50000, dport=53) / (b"q" * 30),
        # A reply from a service on the device (it did not start this one): not a destination.
        eth / IP(src=dev, dst=host) / TCP(sport=80, dport=50123, flags="PA") / b"HTTP/1.1 200",
    ]
    for i, pkt in enumerate(packets):
        pkt.time = 1000 + i
    pcap = tmp_path / "c.pcap"
    wrpcap(str(pcap), packets)
    g = summarise_pcap(pcap, host)
    assert set(g.flows) == {(dev, host, 1883, "tcp"), (dev, host, 53, "udp")}
    assert g.flows[(dev, host, 1883, "tcp")].packets == 2
    assert g.flows[(dev, host, 1883, "tcp")].bytes == 40 + 140
    assert g.sent == {dev: 4} and g.mac_of == {dev: mac}
    assert summarise_pcap(pcap, host, since=1003).flows.keys() == {(dev, host, 53, "udp")}
    # Cut off in the middle of a record: what is whole is still read.
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(pcap.read_bytes()[:-10])
    assert summarise_pcap(cut, host).sent == {dev: 3}
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"\x00" * 64)
    assert summarise_pcap(junk, host).notes == ["capture unreadable: not a pcap file"]


@pytest.mark.parametrize(
    ("text", "seconds"), [("60", 60.0), ("60s", 60.0), (" 2.5m", 150.0), ("1h", 3600.0), (8, 8.0)]
)
def test_observe_durations(text: str, seconds: float) -> None:
    from lanprobe.options import parse_seconds

    assert parse_seconds(text) == seconds


@pytest.mark.parametrize("text", ["60x", "s", "-5s", "nan", "1e400x", ""])
def test_bad_observe_duration_is_a_usage_error_before_traffic(text: str, tmp_path: Path) -> None:
    """`--observe 60s` as the issue writes it works; a bad one stops the scan with exit 2 and
    names the option before the gateway or any probe starts."""
    from lanprobe.cli import app
    from lanprobe.options import parse_seconds
    from typer.testing import CliRunner

    with pytest.raises(ValueError, match="--observe"):
        parse_seconds(text, "--observe")
    res = CliRunner().invoke(
        app, ["scan", "--iface", "lo", "--cidr", "127.0.0.1/32", "--gateway", "--observe", text,
              "--out", str(tmp_path / "out")],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "--observe" in res.output and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--ca", "ca.pem"], "go together"),
        (["--ca", "no.pem", "--ca-key", "no.key"], "no such file"),
    ],
)
def test_gateway_up_checks_its_ca_before_starting(
    args: list[str], said: str, tmp_path: Path
) -> None:
    from lanprobe.cli import app
    from lanprobe.gateway import control
    from typer.testing import CliRunner

    res = CliRunner().invoke(app, ["gateway", "up", "--iface", "lo", *args])
    assert res.exit_code == 2 and said in res.output, res.output
    assert not control.state_dir("lo").exists()


def test_ipv6_the_gateway_does_not_read_leaves_no_pass(tmp_path: Path) -> None:
    """Gateway mode serves and reads IPv4 only: a unit's IPv6 to unicast addresses (its own
    cloud over IPv6, say) was never seen, so neither data check passes on the rest. Its IPv6
    neighbour discovery and mDNS (multicast) are no such traffic."""
    from lanprobe.checks import outbound
    from lanprobe.gateway import observe
    from lanprobe.model import Device, Verdict
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import ICMPv6ND_NS, IPv6
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    dev, host, mac = "198.18.9.10", "198.18.9.1", "a4:cf:12:00:00:01"
    eth = Ether(src=mac, dst="02:00:00:00:00:01")
    packets = [
        eth / IP(src=dev, dst=host) / UDP(sport=50000, dport=53) / (b"q" * 30),
        Ether(src=mac, dst="33:33:ff:00:00:01") / IPv6(src="fe80::1", dst="ff02::1:ff00:1")
        / ICMPv6ND_NS(tgt="fe80::2"),
    ]  # fmt: skip
    pcap = tmp_path / "c.pcap"
    unit = Device(key=mac, mac=mac, ips=[dev])
    words, _ = observe.load_update_words()
    for extra, verdict in [([], Verdict.inconclusive), (2, Verdict.inconclusive)]:
        more = [eth / IPv6(src="fd00::10", dst="fd00::99") / TCP(dport=443, flags="S")] * (
            extra or 0
        )
        wrpcap(str(pcap), packets + more)
        g = observe.summarise_pcap(pcap, host)
        t = observe.traffic_for(unit, g, window_s=5, pcap=str(pcap), words=words)
        j = outbound.judge_cleartext(t)
        assert j.verdict == verdict, j.title
        if extra:
            assert g.ipv6_by_mac == {mac: 2} and "IPv6: 2 packets" in j.title
            # No TLS seen over IPv4 is no "opened no TLS connection": it may be over IPv6.
            tls = outbound.judge_client_tls(t)
            assert tls.verdict == Verdict.inconclusive and "IPv6" in tls.title, tls.title
        else:  # one DNS query and no connection: nothing to pass on either
            assert "opened no connection" in j.title, j.title
            assert outbound.judge_client_tls(t).verdict == Verdict.inconclusive
