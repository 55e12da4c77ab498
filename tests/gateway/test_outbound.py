"""Gateway observations per device (probe/gateway/observe.py) and every verdict branch of
data.client-tls, data.cleartext-outbound and the observed-poll part of update.transport, from
recorded sinkhole events (tests/gateway/events.jsonl, recorded from the lab's cloud models)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lanprobe.checks import outbound
from lanprobe.gateway import dnsmasq, observe
from lanprobe.model import (
    Capability,
    CleartextUse,
    Destination,
    Device,
    DeviceTraffic,
    Identifier,
    Result,
    Severity,
    TlsClientFacts,
    UpdatePoll,
    Verdict,
)

HERE = Path(__file__).parent
WORDS, _PATHS = observe.load_update_words()


def gathered() -> observe.Gathered:
    g = observe.Gathered()
    g.events = observe.read_events(HERE / "events.jsonl")
    g.queries, g.dhcp = dnsmasq.parse_log((HERE / "dnsmasq.log").read_text())
    g.flows = {
        ("198.18.156.10", "198.18.156.1", 1883, "tcp"): observe.Flow(8, 600),
        ("198.18.156.10", "198.18.156.1", 53, "udp"): observe.Flow(3, 210),
    }
    g.sent = {"198.18.156.10": 40, "198.18.156.11": 9, "198.18.156.12": 12}
    return g


def device(ip: str, mac: str, serial: str = "") -> Device:
    idents = {"serial": Identifier(value=serial, source="test")} if serial else {}
    return Device(key=mac, mac=mac, ips=[ip], identifiers=idents)


def traffic(dev: Device) -> DeviceTraffic:
    return observe.traffic_for(dev, gathered(), window_s=5, pcap="/x.pcap", words=WORDS)


CLOUDY = device("198.18.156.10", "a4:cf:12:12:9c:0a", "C1-0001")
OLDTLS = device("198.18.156.11", "5c:cf:7f:12:9c:0b")
SOUND = device("198.18.156.12", "b8:27:eb:12:9c:0c")


def test_traffic_of_the_insecure_device() -> None:
    t = traffic(CLOUDY)
    assert t.ntp is not None and t.ntp.requests == 1 and t.ntp.versions == [4]
    mqtt = next(u for u in t.cleartext if u.protocol == "mqtt")
    assert "mac" in mqtt.identifiers and "serial" in mqtt.identifiers and mqtt.telemetry
    assert mqtt.credentials == ["MQTT username and password"]
    http = next(u for u in t.cleartext if u.protocol == "http")
    assert "serial" in http.identifiers and not http.credentials
    (tls,) = t.tls  # two connections of one kind fold into one entry
    assert tls.accepted_untrusted_cert is True and tls.sent_data and tls.connections == 2
    assert tls.suites[0] == "TLS_AES_256_GCM_SHA384" and not tls.weak_suites
    (poll,) = t.update_polls
    assert poll.transport == "http" and poll.url.startswith("http://update.cloudy-iot.example/fw/")
    dests = {(d.port, d.transport): d for d in t.destinations}
    assert dests[(1883, "tcp")].bytes == 600 and dests[(53, "udp")].protocol == "dns"
    assert t.packets == 40


def test_traffic_of_the_tls10_and_control_devices() -> None:
    old = traffic(OLDTLS)
    assert old.tls[0].versions == ["TLSv1.0"] and old.tls[0].accepted_untrusted_cert is False
    assert old.dhcp is not None and old.dhcp.hostname == "oldtls-o2-1"
    assert old.dhcp.requested_options[-1] == "42:ntp-server"
    sound = traffic(SOUND)
    (poll,) = sound.update_polls  # known only by its SNI: the client refused our certificate
    assert poll.transport == "https" and poll.validated_certificate is True


def test_client_tls_verdicts() -> None:
    assert outbound.judge_client_tls(None).verdict == Verdict.not_applicable
    assert outbound.judge_client_tls(DeviceTraffic(window_s=5)).verdict == Verdict.inconclusive
    fail = outbound.judge_client_tls(traffic(CLOUDY))
    assert fail.verdict == Verdict.fail and "accepted an untrusted certificate" in fail.title
    old = outbound.judge_client_tls(traffic(OLDTLS))
    assert old.verdict == Verdict.fail and "TLSv1.0" in old.title
    assert "certificate" not in old.title  # it did refuse ours
    good = outbound.judge_client_tls(traffic(SOUND))
    assert good.verdict == Verdict.passed, good.title
    # Names looked up, no connection opened: whether it uses TLS is unknown, not "no TLS".
    no_tls = DeviceTraffic(window_s=5, packets=3, names=["x.example"])
    j = outbound.judge_client_tls(no_tls)
    assert j.verdict == Verdict.inconclusive and "looked up 1 name (x.example)" in j.title
    # Connections, none of them TLS: the check does not apply to what was seen.
    no_tls.destinations.append(Destination(address="198.18.156.1", port=1883, transport="tcp"))
    no_tls.cleartext.append(CleartextUse(protocol="mqtt", port=1883))
    assert outbound.judge_client_tls(no_tls).verdict == Verdict.not_applicable
    weak = TlsClientFacts(port=443, versions=["TLSv1.2"], weak_suites=["TLS_RSA_WITH_RC4_128_SHA"],
                          accepted_untrusted_cert=False)  # fmt: skip
    assert outbound.judge_client_tls(DeviceTraffic(tls=[weak], packets=1)).verdict == Verdict.fail
    # Stopped without a certificate alert (a reset, no shared suite): not a pass.
    other = TlsClientFacts(port=443, versions=["TLSv1.3"], handshake="refused",
                           reason="NO_SHARED_CIPHER", accepted_untrusted_cert=None)  # fmt: skip
    j = outbound.judge_client_tls(DeviceTraffic(tls=[other], packets=1))
    assert j.verdict == Verdict.inconclusive and "NO_SHARED_CIPHER" in j.title


def test_cleartext_verdicts() -> None:
    assert outbound.judge_cleartext(None).verdict == Verdict.not_applicable
    assert outbound.judge_cleartext(DeviceTraffic()).verdict == Verdict.inconclusive
    fail = outbound.judge_cleartext(traffic(CLOUDY))
    assert fail.verdict == Verdict.fail
    assert "identifier mac" in fail.title and "telemetry" in fail.title
    assert outbound.judge_cleartext(traffic(SOUND)).verdict == Verdict.passed
    bare = CleartextUse(protocol="http", port=80, summary="GET http://time.example/")
    assert outbound.judge_cleartext(DeviceTraffic(cleartext=[bare], packets=4)).verdict == (
        Verdict.passed
    )
    ftp = CleartextUse(protocol="ftp", port=21, credentials=["ftp user name and password"])
    assert outbound.judge_cleartext(DeviceTraffic(cleartext=[ftp], packets=4)).verdict == (
        Verdict.fail
    )
    # A TCP port the sinkhole does not answer: what went there was not seen.
    odd = Destination(address="198.18.156.1", port=9000, transport="tcp", packets=2)
    j = outbound.judge_cleartext(DeviceTraffic(destinations=[odd], packets=2))
    assert j.verdict == Verdict.inconclusive and "tcp/9000" in j.title


@pytest.mark.parametrize(
    ("poll", "verdict"),
    [
        (UpdatePoll(url="http://u.example/fw", transport="http"), Verdict.fail),
        (UpdatePoll(url="https://u.example/", transport="https", validated_certificate=False),
         Verdict.fail),
        (UpdatePoll(url="https://u.example/", transport="https", validated_certificate=True,
                    tls_versions=["TLSv1.0"]), Verdict.fail),
        (UpdatePoll(url="https://u.example/", transport="https", validated_certificate=True,
                    tls_versions=["TLSv1.3", "TLSv1.2"]), Verdict.passed),
        (UpdatePoll(url="https://u.example/", transport="https"), Verdict.inconclusive),
        (UpdatePoll(url="https://u.example/", transport="https", validated_certificate=True,
                    tls_versions=["TLSv1.2"], weak_suites=["TLS_RSA_WITH_RC4_128_SHA"]),
         Verdict.fail),
    ],
)  # fmt: skip
def test_update_poll_verdicts(poll: UpdatePoll, verdict: Verdict) -> None:
    (j,) = outbound.update_poll_verdicts(DeviceTraffic(update_polls=[poll], packets=1))
    assert j.verdict == verdict
    assert list(outbound.update_poll_verdicts(None)) == []


def test_update_words_and_identifiers() -> None:
    assert observe.looks_like_update("/fw/c1/manifest.json", WORDS) == "fw"
    assert observe.looks_like_update("ota.vendor.example", WORDS) == "ota"
    assert observe.looks_like_update("/v1/hello", WORDS) == ""
    dev = device("198.18.156.9", "A4:CF:12:00:00:01", "SER12345")
    assert observe.identifier_hits("id=a4cf12000001&s=ser12345", dev) == ["mac", "serial"]
    assert observe.broken_suites(["TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_AES_128_GCM_SHA256"]) == [
        "TLS_RSA_WITH_3DES_EDE_CBC_SHA"
    ]


def test_report_lines_and_html(tmp_path: Path) -> None:
    from lanprobe.model import ScanRun
    from lanprobe.report.console import print_summary
    from lanprobe.report.html import write_html

    dev = CLOUDY.model_copy(deep=True)
    dev.traffic = traffic(dev)
    lines = dict(dev.traffic.summary_lines())
    assert "ACCEPTED our untrusted certificate" in lines["TLS client"]
    assert f"({len(dev.traffic.tls[0].suites)} suites)" in lines["TLS client"]
    assert "filter: ether host a4:cf:12:12:9c:0a" in lines["capture"]
    assert "update poll" in lines and lines["NTP"].startswith("1 requests")
    j = outbound.judge_cleartext(dev.traffic)
    result = Result(
        check_id="data.cleartext-outbound",
        device=dev.key,
        verdict=j.verdict,
        capability=Capability.data_protection,
        severity=Severity.high,
        title=j.title,
    )
    run = ScanRun(run_id="t", devices=[dev], results=[result])
    page = write_html(run, tmp_path / "report.html").read_text()
    assert page.count('class="traffic"') == len(dev.traffic.summary_lines())
    out = tmp_path / "console.txt"
    with out.open("w") as fh:
        print_summary(run, fh)
    text = out.read_text()
    assert "TLS client" in text and "cleartext" in text and "data.cleartext-outbound" in text


def test_a_unit_that_only_answered_the_scan_is_not_judged() -> None:
    """Seen on a bench: otaweb-w1 (static address, no cloud) sent 142 packets, all answers to the
    scan's probes and its mDNS answer to the discovery query; data.cleartext-outbound passed
    ("no login ... in cleartext") on that. Nothing it started: inconclusive, not pass."""
    g = gathered()
    g.sent["198.18.156.13"] = 142
    g.flows[("198.18.156.13", "224.0.0.251", 5353, "udp")] = observe.Flow(2, 400)
    quiet = device("198.18.156.13", "24:6f:28:12:9c:0d")
    t = observe.traffic_for(quiet, g, window_s=12.8, pcap="/x.pcap", words=WORDS)
    assert t.packets == 142 and t.destinations and t.silent
    for judge in (outbound.judge_cleartext, outbound.judge_client_tls):
        j = judge(t)
        assert j.verdict == Verdict.inconclusive and "started nothing" in j.title, j.title
    # A DNS query of its own is something it started, but no connection to judge a pass on.
    g.flows[("198.18.156.13", "198.18.156.1", 53, "udp")] = observe.Flow(1, 70)
    t = observe.traffic_for(quiet, g, window_s=12.8, pcap="/x.pcap", words=WORDS)
    assert not t.silent
    for judge in (outbound.judge_cleartext, outbound.judge_client_tls):
        j = judge(t)
        assert j.verdict == Verdict.inconclusive and "opened no connection" in j.title, j.title
    # A TCP connection it opened and sent nothing on (a connectivity check): no pass either.
    g.flows[("198.18.156.13", "198.18.156.1", 80, "tcp")] = observe.Flow(3, 180)
    t = observe.traffic_for(quiet, g, window_s=12.8, pcap="/x.pcap", words=WORDS)
    j = outbound.judge_cleartext(t)
    assert j.verdict == Verdict.inconclusive and "opened tcp/80 but sent nothing" in j.title
    # What it sent there, read and carrying nothing of the unit, is a pass.
    g.events.append({"kind": "tcp", "client": "198.18.156.13", "port": 80, "protocol": "http",
                     "http": {"method": "GET", "host": "check.example", "path": "/generate_204"},
                     "bytes_in": 60, "time": 1})  # fmt: skip
    t = observe.traffic_for(quiet, g, window_s=12.8, pcap="/x.pcap", words=WORDS)
    assert outbound.judge_cleartext(t).verdict == Verdict.passed


def test_a_tls_client_the_sinkhole_did_not_answer_leaves_no_pass() -> None:
    """The control's refusals are a pass only when every connection it started was seen: one to
    a port the sinkhole does not answer (here 9443) may be a TLS client that accepts anything."""
    t = traffic(SOUND)
    assert outbound.judge_client_tls(t).verdict == Verdict.passed
    t.destinations.append(Destination(address="198.18.156.1", port=9443, transport="tcp"))
    j = outbound.judge_client_tls(t)
    assert j.verdict == Verdict.inconclusive and "tcp/9443" in j.title


@pytest.mark.parametrize(
    ("reason", "refused"),
    [
        ("TLSV1_ALERT_UNKNOWN_CA", True),
        ("SSLV3_ALERT_BAD_CERTIFICATE", True),
        ("SSLV3_ALERT_CERTIFICATE_UNKNOWN", True),
        ("TLSV1_ALERT_DECRYPT_ERROR", False),  # a signature or Finished, not the certificate
        ("TLSV1_ALERT_ACCESS_DENIED", False),  # a policy refusal, names no certificate
        ("SSLV3_ALERT_HANDSHAKE_FAILURE", False),
        ("connection closed during the handshake (eof)", False),
    ],
)
def test_only_certificate_alerts_show_validation(reason: str, refused: bool) -> None:
    assert observe.refused_cert({"handshake": "refused", "reason": reason}) is refused
    assert not observe.refused_cert({"handshake": "completed", "reason": reason})


def test_evidence_points_at_the_units_packets() -> None:
    j = outbound.judge_cleartext(traffic(CLOUDY))
    assert j.evidence["pcap"] == "/x.pcap"
    assert j.evidence["pcap_filter"] == (
        "(ether host a4:cf:12:12:9c:0a or host 198.18.156.10) and tcp and (port 80 or port 1883)"
    )
    (poll,) = outbound.update_poll_verdicts(traffic(CLOUDY))
    assert poll.evidence["pcap_filter"].endswith("and tcp and (port 80)")


def test_one_flaw_seen_with_both_certificates_is_said_once() -> None:
    """Seen on a bench: oldtls-o2 shown the untrusted and the wrong-name certificate (`--ca`)
    was reported as "offers TLSv1.0; ... offers TLSv1.0"."""
    kinds = [
        TlsClientFacts(port=443, sni="api.x.example", versions=["TLSv1.0"], certificate=c,
                       handshake="refused", accepted_untrusted_cert=False)
        for c in ("untrusted", "wrong name")
    ]  # fmt: skip
    j = outbound.judge_client_tls(DeviceTraffic(tls=kinds, packets=1))
    assert j.verdict == Verdict.fail and j.title.count("TLSv1.0") == 1, j.title


def test_a_unit_naming_itself_in_a_cleartext_request_fails_unknown_or_not() -> None:
    """Seen on a bench: cloudy-c1 (no profile, so no identifiers lanprobe knows) polls
    `GET /fw/c1/manifest.json?serial=C1-0001`; that request alone passed as carrying nothing."""
    unknown = device("198.18.156.20", "02:00:00:00:00:20")  # no serial known
    event = {"kind": "tcp", "client": "198.18.156.20", "port": 80, "protocol": "http",
             "tls": False, "bytes_in": 120,
             "http": {"method": "GET", "path": "/fw/c1/manifest.json?serial=C1-0001&fw=1.4.2",
                      "host": "update.vendor.example", "body": ""}}  # fmt: skip
    g = observe.Gathered(events=[event])
    t = observe.traffic_for(unknown, g, window_s=5, pcap="", words=WORDS)
    (use,) = t.cleartext
    assert use.identifiers == ["serial= in the request"]
    j = outbound.judge_cleartext(t)
    assert j.verdict == Verdict.fail and "serial= in the request" in j.title, j.title
    event["http"]["path"] = "/fw/c1/manifest.json?fw=1.4.2&id=12345"  # `id=` names anything
    t = observe.traffic_for(unknown, g, window_s=5, pcap="", words=WORDS)
    assert outbound.judge_cleartext(t).verdict == Verdict.passed


def test_names_only_no_pass_and_a_unit_named_in_dns_fails() -> None:
    """A unit that in the window only looked up names (and asked NTP) passed
    data.cleartext-outbound on an empty set ("0 TLS connection kinds, 0 cleartext"). Now it is
    inconclusive naming what was seen; an update host it looked up but did not poll leaves
    update.transport inconclusive; a name carrying its MAC or serial is cleartext that names it."""
    g = observe.Gathered()
    ip, mac = "198.18.156.20", "84:cc:a8:12:9c:14"
    g.queries = [
        dnsmasq.Query("mqtt.quiet.example", "A", ip),
        dnsmasq.Query("update.quiet.example", "A", ip),
    ]
    g.events = [{"kind": "ntp", "client": ip, "version": 4, "time": 1}]
    g.flows = {(ip, "198.18.156.1", 53, "udp"): observe.Flow(2, 140)}
    unit = device(ip, mac, "Q1-0007")
    t = observe.traffic_for(unit, g, window_s=8, pcap="/x.pcap", words=WORDS)
    assert t.update_names == ["update.quiet.example"] and not t.cleartext
    clear = outbound.judge_cleartext(t)
    assert clear.verdict == Verdict.inconclusive, clear.title
    assert "looked up 2 names" in clear.title and "asked NTP (1 request)" in clear.title
    assert "opened no connection in the 8 s window" in clear.title
    assert outbound.judge_client_tls(t).verdict == Verdict.inconclusive
    (upd,) = outbound.update_poll_verdicts(t)
    assert upd.verdict == Verdict.inconclusive and "update.quiet.example" in upd.title
    # Its serial, or its MAC in any form, in a name: a fail from DNS alone.
    for name in ("q1-0007.devices.quiet.example", "84cca8129c14.id.quiet.example"):
        g.queries.append(dnsmasq.Query(name, "A", ip))
        t = observe.traffic_for(unit, g, window_s=8, pcap="/x.pcap", words=WORDS)
        j = outbound.judge_cleartext(t)
        assert j.verdict == Verdict.fail and f"dns port 53: looked up {name}" in j.title, j.title
        g.queries.pop()
    # Its vendor or model in a name is no identifier of the unit.
    unit.identifiers["vendor"] = Identifier(value="quiet", source="test")
    g.queries.append(dnsmasq.Query("quiet.example", "A", ip))
    t = observe.traffic_for(unit, g, window_s=8, pcap="/x.pcap", words=WORDS)
    assert not t.cleartext


def test_an_update_host_that_was_polled_is_judged_by_its_poll() -> None:
    g = gathered()  # its poll's Host, looked up in another case
    g.queries.append(dnsmasq.Query("Update.Cloudy-IoT.example", "A", "198.18.156.10"))
    t = observe.traffic_for(CLOUDY, g, window_s=5, pcap="/x.pcap", words=WORDS)
    assert t.update_names == ["update.cloudy-iot.example"]
    (poll,) = outbound.update_poll_verdicts(t)  # its plain HTTP poll, no "not polled" besides
    assert poll.verdict == Verdict.fail and "plain HTTP" in poll.title
