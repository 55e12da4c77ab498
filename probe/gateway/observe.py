"""What each device did while the gateway was its network: gather the gateway's records (dnsmasq
log and leases, sinkhole and NTP events, the capture) and turn them into `DeviceTraffic`.

Measuring only; data.client-tls, data.cleartext-outbound and update.transport judge the result.
`GatewayWatch` is what a scan holds: it starts the gateway when none is up (and stops it after),
and `attach()` waits out the observation window, then fills `Device.traffic` for every device.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import socket
import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lanprobe import datacache
from lanprobe.gateway import control, dnsmasq, sinkhole
from lanprobe.model import (
    CleartextUse,
    Destination,
    Device,
    DeviceTraffic,
    DhcpBehaviour,
    GatewayInfo,
    NtpBehaviour,
    ScanRun,
    TlsClientFacts,
    UpdatePoll,
)
from lanprobe.paths import DATA_DIR

MAX_EVENTS = 50_000
MAX_PCAP_PACKETS = 200_000
WELL_KNOWN = {
    21: "ftp",
    23: "telnet",
    53: "dns",
    67: "dhcp",
    80: "http",
    123: "ntp",
    443: "https",
    1883: "mqtt",
    5353: "mdns",
    1900: "ssdp",
    5683: "coap",
    8080: "http",
    8443: "https",
    8883: "mqtts",
}
# IANA suite names with these parts are broken whatever else holds (the same families the
# server-side TLS checks call broken: checks/clients/tls.py BROKEN_CIPHER_STRING).
SECRET_FIELD = re.compile(r"(pass(word)?|passwd|pwd|token|secret|(api_?)?key)=", re.I)
# Request fields that name the unit itself: a device on no profile has no identifiers lanprobe
# knows, yet `?serial=C1-0001&mac=...` in a cleartext poll still gives it away. (Not `id=`: too
# common for anything else.)
IDENT_FIELD = re.compile(
    r"(?:^|[?&;\s\"{,])(serial(?:_?(?:no|number))?|sn|mac(?:_?addr(?:ess)?)?|device_?id|devid|"
    r"uuid|udid|imei|hw_?id|chip_?id|client_?id)[\"']?\s*[=:]\s*[\"']?([^&;\s\"',}]{4,})",
    re.I,
)
BROKEN_SUITE_PARTS = ("_NULL_", "_anon_", "_EXPORT", "_RC4_", "_DES_", "_3DES_", "_MD5", "_DES40_")


# --- data ---------------------------------------------------------------------------------------


def load_update_words(data_dir: Path = DATA_DIR) -> tuple[set[str], list[str]]:
    """profiles/data/update-paths.txt: (words that mark an update poll, common manifest paths).
    Parsed once (probe/datacache.py); the set and list are shared, never changed."""
    return datacache.load(data_dir / "update-paths.txt", _parse_update_words)


def _parse_update_words(path: Path) -> tuple[set[str], list[str]]:
    words: set[str] = set()
    paths: list[str] = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        kind, _, value = line.partition(" ")
        value = value.strip()
        if kind == "word" and value:
            words.add(value.lower())
        elif kind == "path" and value.startswith("/"):
            paths.append(value)
        else:
            raise ValueError(f"{path}:{lineno}: expected 'word <word>' or 'path </url/path>'")
    return words, paths


def suite_names(codes: Iterable[int]) -> list[str]:
    """IANA names of TLS suite code points (scapy's registry table; hex for unknown ones)."""
    from scapy.layers.tls.crypto.suites import _tls_cipher_suites  # heavy: only in gateway mode

    return [_tls_cipher_suites.get(c, f"0x{c:04x}") for c in codes]


def broken_suites(names: Iterable[str]) -> list[str]:
    return [n for n in names if any(part in n for part in BROKEN_SUITE_PARTS)]


# Which alerts show a certificate check: probe/gateway/sinkhole.py (it picks certificates by them).
CERT_ALERTS = sinkhole.CERT_ALERTS
refused_cert = sinkhole.refused_cert


def looks_like_update(text: str, words: set[str]) -> str:
    """The update word in a URL path or host name, or "" (`/fw/c1/manifest.json` -> "fw")."""
    for token in re.split(r"[/.?&=_\-:]+", text.lower()):
        if token in words:
            return token
    return ""


# --- gathering ----------------------------------------------------------------------------------


@dataclass
class Flow:
    packets: int = 0
    bytes: int = 0


@dataclass
class Gathered:
    """Everything the gateway recorded, not yet sorted per device."""

    queries: list[dnsmasq.Query] = field(default_factory=list)
    dhcp: dict[str, dnsmasq.DhcpClient] = field(default_factory=dict)
    leases: list[dnsmasq.Lease] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    # (src ip, dst ip, dst port, transport) -> flow; only what devices started
    flows: dict[tuple[str, str, int, str], Flow] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)  # src ip -> packets
    mac_of: dict[str, str] = field(default_factory=dict)  # ip -> mac from the capture
    # mac -> IPv6 packets to unicast addresses (not judged: gateway mode serves IPv4 only)
    ipv6_by_mac: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def read_events(path: Path, since: float = 0.0) -> list[dict[str, Any]]:
    out = []
    for line in _read(path).splitlines()[:MAX_EVENTS]:
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if float(event.get("time", 0)) >= since:
                out.append(event)
    return out


def read_pcap(path: Path, max_packets: int = MAX_PCAP_PACKETS) -> Iterator[tuple[float, bytes]]:
    """(time, frame) of each packet of a classic pcap file (tcpdump -w). A hand-written reader:
    scapy's dissection costs ~1 ms a packet, this ~2 us; a cut-off last record is ignored."""
    with path.open("rb") as fh:
        head = fh.read(24)
        if len(head) < 24:
            return
        magic = head[:4]
        order = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
                 b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}.get(magic)  # fmt: skip
        if order is None:
            raise ValueError("not a pcap file")
        frac = 1e-9 if magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1e-6
        if struct.unpack(order + "I", head[20:24])[0] != 1:
            raise ValueError("not an Ethernet capture")
        record = struct.Struct(order + "IIII")
        for _ in range(max_packets):
            rh = fh.read(16)
            if len(rh) < 16:
                return
            sec, sub, incl, _orig = record.unpack(rh)
            frame = fh.read(incl)
            if len(frame) < incl:
                return
            yield sec + sub * frac, frame


def summarise_pcap(pcap: Path, host: str, since: float = 0.0) -> Gathered:
    """Flows the bench's devices started (TCP SYN, UDP to a lower port), bytes they sent."""
    g = Gathered()
    started: set[tuple[str, int, str, int]] = set()
    if not pcap.exists() or pcap.stat().st_size < 24:
        return g
    try:
        _count(read_pcap(pcap), g, host, since, started)
    except (OSError, ValueError) as exc:
        g.notes.append(f"capture unreadable: {exc}")
    return g


def _count(
    packets: Iterator[tuple[float, bytes]],
    g: Gathered,
    host: str,
    since: float,
    started: set[tuple[str, int, str, int]],
) -> None:
    for n, (ts, frame) in enumerate(packets, 1):
        if n == MAX_PCAP_PACKETS:
            g.notes.append(f"capture summary stopped after {MAX_PCAP_PACKETS} packets")
        if ts < since or len(frame) < 34:
            continue
        ethertype, off = int.from_bytes(frame[12:14], "big"), 14
        if ethertype == 0x8100:  # one VLAN tag
            ethertype, off = int.from_bytes(frame[16:18], "big"), 18
        if ethertype == 0x86DD and len(frame) >= off + 40 and frame[off + 24] != 0xFF:
            # IPv6 to a unicast address (not ff00::/8 multicast: neighbour discovery, mDNS)
            mac = ":".join(f"{b:02x}" for b in frame[6:12])
            g.ipv6_by_mac[mac] = g.ipv6_by_mac.get(mac, 0) + 1
            continue
        if ethertype != 0x0800 or len(frame) < off + 20:
            continue
        ihl = (frame[off] & 0x0F) * 4
        size = int.from_bytes(frame[off + 2 : off + 4], "big")
        proto = frame[off + 9]
        src = socket.inet_ntoa(frame[off + 12 : off + 16])
        dst = socket.inet_ntoa(frame[off + 16 : off + 20])
        if src in (host, "0.0.0.0"):
            continue
        g.sent[src] = g.sent.get(src, 0) + 1
        g.mac_of.setdefault(src, ":".join(f"{b:02x}" for b in frame[6:12]))
        l4 = off + ihl
        if len(frame) < l4 + 4:
            continue
        sport = int.from_bytes(frame[l4 : l4 + 2], "big")
        dport = int.from_bytes(frame[l4 + 2 : l4 + 4], "big")
        if proto == 6 and len(frame) >= l4 + 14:
            flags = frame[l4 + 13]
            conn = (src, sport, dst, dport)
            if flags & 0x02 and not flags & 0x10:  # SYN: the device started it
                started.add(conn)
            if conn in started:
                flow = g.flows.setdefault((src, dst, dport, "tcp"), Flow())
                flow.packets += 1
                flow.bytes += size
        elif proto == 17 and (dport <= sport or dport in WELL_KNOWN):
            flow = g.flows.setdefault((src, dst, dport, "udp"), Flow())
            flow.packets += 1
            flow.bytes += size


def gather(state: control.GatewayState, since: float = 0.0) -> Gathered:
    g = summarise_pcap(state.pcap, state.address, since)
    g.queries, g.dhcp = dnsmasq.parse_log(_read(state.dnsmasq_log))
    g.leases = dnsmasq.parse_leases(_read(state.leases_file))
    g.events = read_events(state.events_file, since)
    return g


# --- per device ---------------------------------------------------------------------------------


def mac_forms(mac: str) -> list[str]:
    """A MAC as devices write it: a4:cf:12:..., A4-CF-12-..., a4cf12..."""
    hexes = mac.lower().replace("-", ":").split(":")
    if len(hexes) != 6:
        return []
    return [":".join(hexes), "-".join(hexes), "".join(hexes)]


def identifier_hits(text: str, device: Device) -> list[str]:
    """Which of the unit's identifiers appear in `text` (case-insensitive)."""
    low = text.lower()
    hits = []
    if device.mac and any(form in low for form in mac_forms(device.mac)):
        hits.append("mac")
    for name, ident in device.identifiers.items():
        value = ident.value.strip().lower()
        if len(value) >= 5 and value in low and name not in ("model", "fw", "firmware"):
            hits.append(name)
    return hits


# Identifier kinds that name one unit (not its model or vendor, which a cloud's host names carry
# anyway): a DNS name holding one gives the unit away to every resolver on the path.
UNIT_KINDS = ("mac", "serial", "uuid", "udn", "engine_id", "device_id", "imei")


def dns_uses(names: Iterable[str], device: Device) -> list[CleartextUse]:
    """Names the unit looked up that carry one of its own identifiers (`a4cf12129c0a.dev...`):
    DNS is cleartext too."""
    out = []
    for name in names:
        hits = [h for h in identifier_hits(name, device) if any(k in h for k in UNIT_KINDS)]
        if hits:
            out.append(
                CleartextUse(protocol="dns", port=53, summary=f"looked up {name}", identifiers=hits)
            )
    return out


def _cleartext(event: dict[str, Any], device: Device) -> CleartextUse | None:
    proto, port = event.get("protocol", ""), int(event.get("port", 0))
    if proto == "http" and "http" in event:
        h = event["http"]
        text = " ".join([h["path"], h["host"], h.get("body", ""), h.get("credentials", "")])
        creds = [f"HTTP {h['authorization']} authorization"] if h.get("authorization") else []
        if SECRET_FIELD.search(h["path"] + h.get("body", "")):
            creds.append("a password or token in the request")
        named = {f"{m.group(1).lower()}= in the request" for m in IDENT_FIELD.finditer(text)}
        return CleartextUse(
            protocol="http",
            port=port,
            summary=f"{h['method']} http://{h['host']}{h['path'][:200]}",
            credentials=creds,
            identifiers=identifier_hits(text, device) + sorted(named),
            telemetry=bool(h.get("body")),
        )
    if proto == "mqtt" and "mqtt" in event:
        m = event["mqtt"]
        publish = m.get("publish", [])
        text = " ".join(
            [m.get("client_id", ""), m.get("username", "")]
            + [p["topic"] + " " + p["payload"] for p in publish]
        )
        idents = identifier_hits(text, device)
        if m.get("client_id"):
            idents.append(f"MQTT client id {m['client_id']!r}")
        creds = []
        if m.get("username"):
            creds.append("MQTT username" + (" and password" if m.get("password") else ""))
        topics = sorted({p["topic"] for p in publish})
        return CleartextUse(
            protocol="mqtt",
            port=port,
            summary=f"MQTT CONNECT as {m.get('client_id', '')!r}, published to {topics[:5]}",
            credentials=creds,
            identifiers=idents,
            telemetry=bool(publish),
        )
    if proto in ("ftp", "telnet") and proto in event:
        info = event[proto]
        creds = []
        if info.get("user"):
            creds.append(f"{proto} user name" + (" and password" if info.get("password") else ""))
        return CleartextUse(
            protocol=proto,
            port=port,
            summary=f"{proto} login as {info.get('user', '')!r}",
            credentials=creds,
            identifiers=identifier_hits(info.get("user", ""), device),
        )
    return None


def _unread(event: dict[str, Any]) -> str:
    """Cleartext the device sent that the sinkhole could not read as its protocol, or ""."""
    tc = event.get("tls_client")
    if tc is not None and not str(tc.get("handshake", "")).startswith("not TLS"):
        return ""  # a TLS handshake (what follows it is encrypted)
    proto, got = event.get("protocol", ""), int(event.get("bytes_in", 0))
    parsed = event.get(proto)
    if got <= 0 or (parsed and not (isinstance(parsed, dict) and parsed.get("error"))):
        return ""
    why = (parsed or {}).get("error") or (tc or {}).get("handshake") or event.get("ended", "")
    return f"tcp/{event.get('port')}: {got} bytes not read as {proto} ({why or 'cut short'})"[:200]


def _merge(items: dict[tuple[Any, ...], Any], item: Any, key: tuple[Any, ...]) -> None:
    """Keep one entry per kind of connection, counting repeats."""
    if key in items:
        items[key].connections += 1
    else:
        items[key] = item


def traffic_for(
    device: Device, g: Gathered, *, window_s: float, pcap: str, words: set[str]
) -> DeviceTraffic:
    ips = set(device.ips)
    mac = (device.mac or "").lower()
    for lease in g.leases:
        if lease.mac == mac:
            ips.add(lease.ip)
    for ip, m in g.mac_of.items():
        if m == mac:
            ips.add(ip)
    t = DeviceTraffic(window_s=window_s, pcap=pcap)
    t.capture_filter = " or ".join(
        [f"ether host {mac}"] * bool(mac) + [f"host {ip}" for ip in sorted(ips)]
    )
    t.names = sorted({q.name for q in g.queries if q.client in ips})
    names_seen: dict[tuple[str, int], str] = {}
    tls_items: dict[tuple[Any, ...], TlsClientFacts] = {}
    clear_items: dict[tuple[Any, ...], CleartextUse] = {}
    for event in g.events:
        if event.get("client") not in ips:
            continue
        if event.get("kind") == "ntp":
            t.ntp = t.ntp or NtpBehaviour(server=event.get("server", ""))
            t.ntp.requests += 1
            if event.get("version") not in t.ntp.versions:
                t.ntp.versions.append(int(event.get("version", 0)))
            continue
        if event.get("kind") != "tcp":
            continue
        port = int(event["port"])
        tc = event.get("tls_client")
        if tc is not None:
            names = suite_names(tc.get("suites", []))
            completed = tc.get("handshake") == "completed"
            facts = TlsClientFacts(
                port=port,
                sni=tc.get("sni", ""),
                certificate=tc.get("certificate", sinkhole.UNTRUSTED),
                versions=tc.get("versions", []),
                suites=names,
                weak_suites=broken_suites(names),
                handshake=tc.get("handshake", ""),
                reason=str(tc.get("reason", "")),
                accepted_untrusted_cert=True
                if completed
                else (False if refused_cert(tc) else None),
                sent_data=bool(tc.get("sent_data")),
                negotiated=tc.get("negotiated", ""),
            )
            kind = (port, facts.sni, facts.certificate, facts.handshake, tuple(facts.versions))
            _merge(tls_items, facts, kind)
            if facts.sni:
                names_seen[(event["client"], port)] = facts.sni
        else:
            use = _cleartext(event, device)
            if use is not None:
                _merge(clear_items, use, (use.protocol, port, use.summary))
        why = _unread(event)
        if why and why not in t.unread:
            t.unread.append(why)
        http = event.get("http")
        if http:
            scheme = "https" if event.get("tls") else "http"
            names_seen.setdefault((event["client"], port), http["host"])
            url = f"{scheme}://{http['host']}{http['path']}"
            word = looks_like_update(http["host"] + " " + http["path"].split("?")[0], words)
            if word and all(p.url != url for p in t.update_polls):
                t.update_polls.append(
                    UpdatePoll(
                        url=url[:300],
                        transport=scheme,
                        validated_certificate=False if event.get("tls") else None,
                        tls_versions=(tc or {}).get("versions", []),
                        weak_suites=broken_suites(suite_names((tc or {}).get("suites", []))),
                        source=f"the word {word!r}",
                    )
                )
        elif tc is not None and tc.get("handshake") != "completed":
            # A refused handshake shows only the name: an update host by its SNI.
            word = looks_like_update(tc.get("sni", ""), words)
            url = f"https://{tc.get('sni', '')}:{port}/"
            if word and all(p.url != url for p in t.update_polls):
                t.update_polls.append(
                    UpdatePoll(
                        url=url,
                        transport="https",
                        validated_certificate=True if refused_cert(tc) else None,
                        tls_versions=tc.get("versions", []),
                        weak_suites=broken_suites(suite_names(tc.get("suites", []))),
                        source=f"the word {word!r} in the SNI",
                    )
                )
    t.tls, t.cleartext = list(tls_items.values()), list(clear_items.values())
    t.cleartext += dns_uses(t.names, device)
    t.update_names = sorted({n.lower() for n in t.names if looks_like_update(n, words)})
    for (src, dst, dport, transport), flow in sorted(g.flows.items()):
        if src not in ips:
            continue
        t.destinations.append(
            Destination(
                address=dst,
                port=dport,
                transport=transport,
                protocol=WELL_KNOWN.get(dport, ""),
                name=names_seen.get((src, dport), ""),
                packets=flow.packets,
                bytes=flow.bytes,
            )
        )
    t.packets = sum(g.sent.get(ip, 0) for ip in ips)
    if g.ipv6_by_mac.get(mac):
        v6 = g.ipv6_by_mac[mac]
        t.unread.append(f"IPv6: {v6} packets to unicast addresses (gateway mode reads IPv4 only)")
    client = g.dhcp.get(mac)
    if client is not None:
        lease = next((x.ip for x in g.leases if x.mac == mac), client.ip)
        t.dhcp = DhcpBehaviour(
            messages=client.messages[-20:],
            requested_options=client.requested_options,
            vendor_class=client.vendor_class,
            hostname=client.hostname,
            lease_ip=lease,
        )
    return t


# --- the scan's side ----------------------------------------------------------------------------


async def run_hook(argv: list[str], timeout_s: float) -> str:
    """Run the observation hook (no shell) under a timeout; what happened, as a note."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except OSError as exc:
        return f"observe hook {argv[0]!r} could not start: {exc}"
    try:
        async with asyncio.timeout(timeout_s):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return f"observe hook {argv[0]!r} killed after {timeout_s:g} s"
    tail = out.decode("utf-8", "replace").strip().splitlines()[-1:] if out else []
    return f"observe hook {' '.join(argv)[:200]!r} exited {proc.returncode}" + (
        f": {tail[0][:200]}" if tail else ""
    )


class GatewayWatch:
    """The gateway for one scan: started here unless one is already up on the interface."""

    def __init__(
        self,
        iface: str,
        window_s: float,
        *,
        upstream: bool = False,
        hook: list[str] | None = None,
        trusted_ca: tuple[Path, Path] | None = None,
    ) -> None:
        self.iface, self.window_s, self.upstream = iface, window_s, upstream
        self.hook = hook or []
        self.notes: list[str] = []
        self.state = control.status(iface)
        self.started_here = self.state is None
        if self.state is None:
            self.state = control.up(iface, upstream=upstream, trusted_ca=trusted_ca)
        self.t0 = time.time()

    async def wait(self) -> None:
        """Wait out what is left of the observation window; the hook (a command that restarts or
        power-cycles units, so that their boot-time traffic falls in the window) runs first."""
        if self.hook:
            hook, self.hook = self.hook, []
            self.notes.append(await run_hook(hook, max(self.window_s, 5.0)))
        left = self.window_s - (time.time() - self.t0)
        if left > 0:
            await asyncio.sleep(left)

    async def attach(self, run: ScanRun, devices: list[Device]) -> None:
        """Fill each device's traffic from what the gateway recorded (after `wait`)."""
        await self.wait()
        assert self.state is not None
        words, _ = load_update_words()
        # Records since the gateway started: a device's boot-time DHCP and DNS come before the
        # window when the gateway was up already; the window bounds only the wait.
        g = await asyncio.to_thread(gather, self.state)
        elapsed = round(time.time() - self.t0, 1)
        for dev in devices:
            dev.traffic = traffic_for(
                dev, g, window_s=elapsed, pcap=str(self.state.pcap), words=words
            )
        known = {ip for d in devices for ip in d.ips} | {d.mac for d in devices if d.mac}
        unseen = [x for x in g.leases if x.mac not in known and x.ip not in known]
        if unseen:
            run.notes.append(
                "gateway: leases to units discovery did not find: "
                + ", ".join(f"{x.ip} ({x.mac})" for x in unseen[:10])
            )
        run.notes.extend(f"gateway: {n}" for n in [*self.notes, *g.notes])
        run.gateway = GatewayInfo(
            iface=self.iface,
            address=self.state.address,
            window_s=elapsed,
            upstream=self.upstream,
            pcap=str(self.state.pcap),
            started_by_scan=self.started_here,
            trusted_ca=self.state.trusted_ca,
        )

    def keep_pcap(self, run: ScanRun, out_dir: Path) -> None:
        """Copy the capture next to run.json and point the evidence at the copy."""
        if self.state is None or not self.state.pcap.exists():
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        dest = out_dir / "gateway.pcap"
        shutil.copyfile(self.state.pcap, dest)
        if run.gateway is not None:
            run.gateway.pcap = str(dest)
        for dev in run.devices:
            if dev.traffic is not None:
                dev.traffic.pcap = str(dest)

    def close(self) -> None:
        if self.started_here:
            control.down(self.iface)
