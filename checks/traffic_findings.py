"""Judgements of what a device sends on its own (gateway mode, `Device.traffic`), shared by
data.client-tls, data.cleartext-outbound (checks/outbound.py) and update.transport's update-poll
findings (checks/software_update.py). Pure; not a check module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from lanprobe.checks.context import CheckContext
from lanprobe.model import DeviceTraffic, Result, Target, Verdict

OLD_VERSIONS = ("SSLv3", "TLSv1.0", "TLSv1.1")
# Ports whose payload the sinkhole reads (probe/gateway/sinkhole.py LISTENERS), and UDP whose
# content carries no device data of its own.
SEEN_TCP_PORTS = {21, 23, 80, 443, 1883, 8080, 8443, 8883}
PLAIN_UDP_PORTS = {53, 67, 68, 123, 1900, 5353}
GATEWAY_OFF = "gateway mode was off: nothing the device sends on its own was observed"


@dataclass
class Judgement:
    verdict: Verdict
    title: str
    evidence: dict[str, Any] = field(default_factory=dict)
    port: int | None = None


def capture(t: DeviceTraffic, ports: list[int] | None = None) -> dict[str, str]:
    """Where the evidence is: the capture file and a tcpdump/Wireshark capture filter for the
    unit's packets (on these TCP ports, when given)."""
    out = {"pcap": t.pcap}
    if t.capture_filter:
        on = " or ".join(f"port {p}" for p in sorted(set(ports or [])))
        out["pcap_filter"] = f"({t.capture_filter}) and tcp and ({on})" if on else t.capture_filter
    return out


def _silent(t: DeviceTraffic) -> Judgement:
    return Judgement(
        Verdict.inconclusive,
        f"the device started nothing of its own in the {t.window_s:g} s observation window "
        "(no name looked up, no connection made; answers to the scan are no evidence)",
        {"window_s": t.window_s, "packets": t.packets, **capture(t)},
    )


def _opened_nothing(t: DeviceTraffic) -> bool:
    """Only DNS, DHCP, NTP (or mDNS/SSDP): no TCP connection, no TLS, no cleartext but DNS. A pass
    over connections never made is no pass (what it would send once connected is unseen)."""
    return not (
        t.tls
        or any(u.protocol != "dns" for u in t.cleartext)
        or any(d.transport == "tcp" for d in t.destinations)
    )


def _no_connection(t: DeviceTraffic, what: str) -> Judgement:
    did = []
    if t.names:
        more = ", ..." if len(t.names) > 3 else ""
        n = len(t.names)
        did.append(f"looked up {n} name{'s' * (n > 1)} ({', '.join(t.names[:3])}{more})")
    if t.ntp:
        did.append(f"asked NTP ({t.ntp.requests} request{'s' * (t.ntp.requests > 1)})")
    if t.dhcp:
        did.append("asked DHCP")
    seen = ", ".join(did) or "sent only DNS, DHCP or NTP"
    return Judgement(
        Verdict.inconclusive,
        f"{seen} but opened no connection in the {t.window_s:g} s window: {what} was not seen "
        "(a longer --observe, or an --observe-hook that restarts it, may show it)",
        {"window_s": t.window_s, "names": t.names[:50], **capture(t)},
    )


def _unread_tcp(t: DeviceTraffic) -> list[str]:
    return [
        f"tcp/{d.port} to {d.address}"
        for d in t.destinations
        if d.transport == "tcp" and d.port not in SEEN_TCP_PORTS
    ]


def judge_client_tls(t: DeviceTraffic | None) -> Judgement:
    if t is None:
        return Judgement(Verdict.not_applicable, GATEWAY_OFF)
    if t.silent:
        return _silent(t)
    # A TLS client on a port the sinkhole does not answer (or over IPv6) was never seen.
    unseen = _unread_tcp(t) + [u for u in t.unread if u.startswith("IPv6")]
    if not t.tls:
        if unseen:
            return Judgement(
                Verdict.inconclusive,
                "no TLS seen, but connections the sinkhole did not answer were not seen either: "
                + ", ".join(unseen[:10]),
                {"window_s": t.window_s, "unread": unseen, **capture(t)},
            )
        if _opened_nothing(t):
            return _no_connection(t, "whether it uses TLS, and how")
        return Judgement(
            Verdict.not_applicable,
            f"the device opened no TLS connection in the {t.window_s:g} s window",
            {"window_s": t.window_s, **capture(t)},
        )
    problems: list[str] = []
    undecided: list[str] = []
    names_checked = 0  # refusals of the trusted CA's certificate for another name
    for c in t.tls:
        where = f"port {c.port}" + (f" ({c.sni})" if c.sni else "")
        old = [v for v in c.versions if v in OLD_VERSIONS]
        if old:
            problems.append(f"{where}: offers {', '.join(old)}")
        if c.weak_suites:
            problems.append(f"{where}: offers broken suites {', '.join(c.weak_suites[:5])}")
        went_on = " and sent data over it" if c.sent_data else ""
        wrong_name = c.certificate != "untrusted"
        if c.accepted_untrusted_cert and wrong_name:
            problems.append(
                f"{where}: accepted a trusted CA's certificate for another name (the name is "
                f"not checked){went_on}"
            )
        elif c.accepted_untrusted_cert:
            problems.append(f"{where}: accepted an untrusted certificate for another name{went_on}")
        elif c.accepted_untrusted_cert is None:
            undecided.append(f"{where}: handshake {c.handshake} ({c.reason or 'no reason'})")
        elif wrong_name:
            names_checked += 1
    evidence = {
        "connections": [c.model_dump(exclude={"suites"}) for c in t.tls],
        **capture(t, [c.port for c in t.tls]),
    }
    problems = list(dict.fromkeys(problems))  # one client shown both certificates says it twice
    if problems:
        return Judgement(
            Verdict.fail,
            "as a TLS client: " + "; ".join(problems),
            {**evidence, "problems": problems},
        )
    if undecided:
        return Judgement(
            Verdict.inconclusive,
            "certificate validation not shown: " + "; ".join(undecided),
            evidence,
        )
    if unseen:
        return Judgement(
            Verdict.inconclusive,
            "connections the sinkhole did not answer (their TLS was not seen): "
            + ", ".join(unseen[:10]),
            {**evidence, "unread": unseen},
        )
    names = (
        "and a trusted CA's certificate for another name"
        if names_checked
        else "(name checks not tested: no certificate from a CA the unit trusts was shown, "
        "`probe gateway up --ca`)"
    )
    return Judgement(
        Verdict.passed,
        f"{len(t.tls)} TLS client connection kinds offer TLS 1.2+ and refused an untrusted "
        f"certificate {names}",
        {**evidence, "name_check": "refused" if names_checked else "not tested"},
    )


def judge_cleartext(t: DeviceTraffic | None) -> Judgement:
    if t is None:
        return Judgement(Verdict.not_applicable, GATEWAY_OFF)
    if t.silent:
        return _silent(t)
    leaks: list[str] = []
    for use in t.cleartext:
        carried = [
            *(f"login ({c})" for c in use.credentials),
            *(f"identifier {i}" for i in use.identifiers),
            *(["telemetry"] if use.telemetry else []),
        ]
        if carried:
            leaks.append(f"{use.protocol} port {use.port}: {use.summary}: {', '.join(carried)}")
    evidence: dict[str, Any] = {
        "cleartext": [u.model_dump() for u in t.cleartext],
        "names": t.names[:50],
        **capture(t, [u.port for u in t.cleartext]),
    }
    if leaks:
        port = t.cleartext[0].port if t.cleartext else None
        return Judgement(
            Verdict.fail,
            "sends in cleartext: " + "; ".join(leaks),
            {**evidence, "leaks": leaks},
            port,
        )
    unseen = (
        _unread_tcp(t)
        + t.unread  # sent to the sinkhole, but not as the protocol it reads there
        + [
            f"udp/{d.port} to {d.address}"
            for d in t.destinations
            if d.transport == "udp" and d.port not in PLAIN_UDP_PORTS
        ]
    )
    if unseen:
        return Judgement(
            Verdict.inconclusive,
            "traffic the sinkhole could not read: " + ", ".join(unseen[:10]),
            {**evidence, "unread": unseen},
        )
    if _opened_nothing(t):
        return _no_connection(t, "what it sends once connected")
    if not t.tls and not any(u.protocol != "dns" for u in t.cleartext):
        # Connections it opened and sent nothing on (a connectivity check, say): no data seen.
        opened = sorted({f"tcp/{d.port}" for d in t.destinations if d.transport == "tcp"})
        return Judgement(
            Verdict.inconclusive,
            f"opened {', '.join(opened)} but sent nothing on it in the {t.window_s:g} s window: "
            "what it sends in cleartext was not seen",
            evidence,
        )
    return Judgement(
        Verdict.passed,
        f"no login, identifier or telemetry in cleartext in {t.window_s:g} s "
        f"({len(t.tls)} TLS connection kinds, {len(t.cleartext)} cleartext without data)",
        evidence,
    )


def update_poll_verdicts(t: DeviceTraffic | None) -> Iterator[Judgement]:
    """One judgement per observed update poll (none when gateway mode saw none)."""
    if t is None:
        return
    polled = {urlsplit(p.url).hostname for p in t.update_polls}
    for name in t.update_names:
        if name not in polled:  # an update host exists; how it is reached was not seen
            yield Judgement(
                Verdict.inconclusive,
                f"looked up the update host {name} but made no update poll to it in the "
                f"{t.window_s:g} s window: its transport was not seen",
                {"names": t.update_names, **capture(t)},
            )
    for poll in t.update_polls:
        url = urlsplit(poll.url)
        port = url.port or (443 if url.scheme == "https" else 80)
        evidence = {"poll": poll.model_dump(), **capture(t, [port])}
        evidence["source"] = "gateway observation"
        old = [v for v in poll.tls_versions if v in OLD_VERSIONS]
        if poll.transport == "http":
            yield Judgement(Verdict.fail, f"update poll over plain HTTP: {poll.url}", evidence)
        elif poll.validated_certificate is False:
            yield Judgement(
                Verdict.fail,
                f"update client accepted our certificate for another name: {poll.url}",
                evidence,
            )
        elif old or poll.weak_suites:
            weak = [f"broken suites {', '.join(poll.weak_suites[:3])}"] if poll.weak_suites else []
            offers = ", ".join(old + weak)
            yield Judgement(Verdict.fail, f"update client offers {offers}: {poll.url}", evidence)
        elif poll.validated_certificate:
            yield Judgement(
                Verdict.passed,
                "update poll over TLS 1.2+ without broken suites that refused an untrusted "
                f"certificate ({poll.url})",
                evidence,
            )
        else:
            yield Judgement(
                Verdict.inconclusive,
                f"update poll over TLS, certificate checks not shown: {poll.url}",
                evidence,
            )


def as_result(ctx: CheckContext, j: Judgement, service: str = "") -> Result:
    target = Target(port=j.port, service=service) if j.port or service else None
    return ctx.result(j.verdict, j.title, target=target, evidence=j.evidence)
