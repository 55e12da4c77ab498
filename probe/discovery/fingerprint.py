"""Service fingerprinting of our own: name each open TCP port after a fast port scan.

nmap -sV waits ~6 s on every silent port for its NULL probe and re-probes TLS tunnels, so one
host with silent services costs ~30 s (docs/performance.md). This asks each port a few questions
at once instead, under short timeouts, with rules kept as data (profiles/data/fingerprints.yaml):

    connect ─> greeting (~1 s)? ─ yes ─> match the rules; no probe for a talking service
                  │ no
                  └─> first probe (HTTP) ─> matched? ─ no ─> TLS handshake ─ ok ─> probes inside
                                                                  └ no ─> the other probes

Every read is capped (`max_read`), every step has a timeout, a whole port has a deadline
(`port_s`), and ports are fingerprinted concurrently under a global and a per-device semaphore
(be gentle). Nothing raises for the device's doing: an unidentified port keeps the name nmap's
port table gave it, with what it said as banner.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lanprobe import datacache
from lanprobe.errors import ProfileError
from lanprobe.model import Service
from lanprobe.paths import DATA_DIR
from lanprobe.scope import Scope
from ruamel.yaml import YAML

RULES_FILE = DATA_DIR / "fingerprints.yaml"
GREETING = "greeting"  # the pseudo-probe id of the first read
MAX_BANNER = 160
_TELNET_CMD = re.compile(rb"\xff(?:[\xfb-\xfe].|\xfa.*?\xff\xf0|[\xf0-\xf9])", re.DOTALL)
_SERVER_SPLIT = re.compile(r"^(?P<product>[^/\s]+)(?:/(?P<version>[^\s/]+))?")


@dataclass
class FingerprintOptions:
    greeting_s: float = 1.0  # how long a port may stay silent before we speak
    idle_s: float = 0.25  # a greeting or answer is over after this long without more bytes
    connect_s: float = 2.0
    probe_s: float = 2.0  # one probe's whole answer (TLS handshake included)
    port_s: float = 10.0  # everything on one port
    max_read: int = 4096  # bytes read from any one connection
    connections: int = 128  # ports fingerprinted at once, all devices together
    per_device: int = 4  # ports fingerprinted at once on one device
    rules_file: Path | None = None  # default: profiles/data/fingerprints.yaml


# --- rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    id: str
    send: bytes
    after: bytes = b""  # sent once an answer came (MQTT DISCONNECT)
    stop_at: bytes = b""  # the answer is complete once this appears
    stop_after_bytes: int = 0  # ... or once this many bytes came
    ports: frozenset[int] = frozenset()
    hinted_only: bool = False


@dataclass(frozen=True)
class Rule:
    service: str
    pattern: re.Pattern[str]
    tls_service: str = ""
    probes: frozenset[str] = frozenset()  # empty: any answer
    ports: frozenset[int] = frozenset()  # empty: any port
    product: str = ""
    header: str = ""  # "server": product, version and banner from that header
    spec: str = ""

    def applies(self, probe: str, port: int) -> bool:
        return (not self.probes or probe in self.probes) and (not self.ports or port in self.ports)


@dataclass(frozen=True)
class Rules:
    probes: tuple[Probe, ...]
    rules: tuple[Rule, ...]

    def probe_order(self, port: int) -> list[Probe]:
        """The probes for `port`: those that list it first, then the rest (not hinted_only)."""
        hinted = [p for p in self.probes if port in p.ports]
        rest = [p for p in self.probes if port not in p.ports and not p.hinted_only]
        return hinted + rest


_PROBE_KEYS = {"id", "spec", "send", "after", "stop_at", "stop_after_bytes", "ports", "hinted_only"}
_RULE_KEYS = {"service", "tls_service", "spec", "match", "probes", "ports", "product", "header"}


def _bytes(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise ProfileError("must be a string", file=where)
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ProfileError("only latin-1 characters (one byte each)", file=where) from exc


def _ports(value: Any, where: str) -> frozenset[int]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(p, int) for p in value):
        raise ProfileError("ports must be a list of integers", file=where)
    return frozenset(int(p) for p in value)


def _check_keys(item: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ProfileError("must be a mapping", file=where)
    unknown = set(item) - allowed
    if unknown:
        raise ProfileError(f"unknown keys {sorted(unknown)}", file=where)
    return dict(item)


def parse_rules(data: Any, source: str = "fingerprints") -> Rules:
    """Rules from the YAML document's data; ProfileError names what is wrong."""
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ProfileError("expected a mapping with version: 1", file=source)
    probes: list[Probe] = []
    for i, raw in enumerate(data.get("probes") or []):
        where = f"{source}: probes[{i}]"
        item = _check_keys(raw, _PROBE_KEYS, where)
        if not item.get("id") or item["id"] == GREETING or "send" not in item:
            raise ProfileError("a probe needs an id (not 'greeting') and send", file=where)
        probes.append(
            Probe(
                id=str(item["id"]),
                send=_bytes(item["send"], where),
                after=_bytes(item.get("after", ""), where),
                stop_at=_bytes(item.get("stop_at", ""), where),
                stop_after_bytes=int(item.get("stop_after_bytes", 0)),
                ports=_ports(item.get("ports"), where),
                hinted_only=bool(item.get("hinted_only", False)),
            )
        )
    ids = {p.id for p in probes} | {GREETING}
    rules: list[Rule] = []
    for i, raw in enumerate(data.get("rules") or []):
        where = f"{source}: rules[{i}]"
        item = _check_keys(raw, _RULE_KEYS, where)
        if not item.get("service") or not item.get("match"):
            raise ProfileError("a rule needs service and match", file=where)
        try:
            pattern = re.compile(str(item["match"]))
        except re.error as exc:
            raise ProfileError(f"match is not a valid regex: {exc}", file=where) from exc
        wanted = frozenset(str(p) for p in item.get("probes") or [])
        if wanted - ids:
            raise ProfileError(f"unknown probes {sorted(wanted - ids)}", file=where)
        header = str(item.get("header", "")).lower()
        if header not in ("", "server"):
            raise ProfileError("header may only be 'server'", file=where)
        rules.append(
            Rule(
                service=str(item["service"]),
                pattern=pattern,
                tls_service=str(item.get("tls_service", "")),
                probes=wanted,
                ports=_ports(item.get("ports"), where),
                product=str(item.get("product", "")),
                header=header,
                spec=str(item.get("spec", "")),
            )
        )
    return Rules(probes=tuple(probes), rules=tuple(rules))


def read_yaml(path: Path, what: str, *, typ: str = "safe") -> Any:
    """A data file's YAML document (`typ="rt"` keeps line numbers); ProfileError naming it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"cannot read {what}: {exc}", file=str(path)) from exc
    try:
        return YAML(typ=typ, pure=True).load(text)
    except Exception as exc:  # ruamel's parse errors have no common base worth naming
        raise ProfileError(f"not valid YAML: {exc}", file=str(path)) from exc


def load_rules(path: Path = RULES_FILE) -> Rules:
    """Parsed once (probe/datacache.py); shared, never changed."""
    return datacache.load(path, _parse_rules)


def _parse_rules(path: Path) -> Rules:
    return parse_rules(read_yaml(path, "fingerprint rules"), str(path))


# --- matching (pure) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What a port said: to nobody (`greeting`) or to one probe; `tls` when inside a tunnel."""

    probe: str
    data: bytes
    tls: bool = False


@dataclass(frozen=True)
class Match:
    service: str
    product: str = ""
    version: str = ""
    banner: str = ""
    rule: str = ""  # the rule's spec, for notes and tests


def printable(text: str, limit: int = MAX_BANNER) -> str:
    return "".join(c for c in text if c.isprintable()).strip()[:limit]


def strip_telnet(data: bytes) -> bytes:
    """The text of a telnet stream without its IAC command sequences."""
    return _TELNET_CMD.sub(b"", data)


def first_line(data: bytes) -> str:
    """The first printable line of an answer (telnet commands removed), capped."""
    for line in strip_telnet(data).decode("latin-1").splitlines():
        text = printable(line)
        if text:
            return text
    return ""


def header_value(data: bytes, name: str) -> str:
    """A header of an HTTP- or RTSP-style answer (the status line first), "" when absent."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name:
            return printable(value)
    return ""


def identify(rules: Rules, answer: Answer, port: int) -> Match | None:
    """The first rule that matches one answer, with product, version and banner filled."""
    if not answer.data:
        return None
    text = answer.data.decode("latin-1")
    for rule in rules.rules:
        if not rule.applies(answer.probe, port):
            continue
        m = rule.pattern.search(text)
        if m is None:
            continue
        groups = {k: v for k, v in m.groupdict().items() if v}
        product = printable(groups.get("product", rule.product))
        version = printable(groups.get("version", ""))
        banner = printable(groups.get("banner", ""))
        if rule.header:
            value = header_value(answer.data, rule.header)
            if value:
                banner = value
                split = _SERVER_SPLIT.match(value)
                if split is not None:
                    product = split.group("product")
                    version = split.group("version") or ""
        name = rule.tls_service if answer.tls and rule.tls_service else rule.service
        return Match(
            service=name,
            product=product,
            version=version,
            banner=banner or first_line(answer.data),
            rule=rule.spec,
        )
    return None


# --- talking to a port ---------------------------------------------------------------------------


def tls_context() -> ssl.SSLContext:
    """A client context that completes a handshake with anything: no verification, old versions."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    # Reaching old devices is the point here; the stdlib's deprecation warning is not news.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    return ctx


# OpenSSL reasons that mean the peer answered in TLS (an alert), though no handshake finished.
_TLS_ALERT = re.compile(r"ALERT|UNSUPPORTED_PROTOCOL|NO_SHARED_CIPHER|NO_PROTOCOLS_AVAILABLE")


@dataclass
class Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    tls: bool = False

    def close(self) -> None:
        """Plain TCP: a FIN after what we wrote. TLS: abort (no close_notify exchange to wait
        for, which a broken device may never finish)."""
        if self.tls:
            self.writer.transport.abort()
        else:
            self.writer.close()

    async def closed(self, limit_s: float) -> None:
        self.close()
        try:
            async with asyncio.timeout(limit_s):
                await self.writer.wait_closed()
        except (TimeoutError, ConnectionError, OSError, ssl.SSLError):
            self.writer.transport.abort()


async def _open(
    ip: str, port: int, opts: FingerprintOptions, tls: ssl.SSLContext | None = None
) -> Conn:
    async with asyncio.timeout(opts.connect_s + (opts.probe_s if tls else 0)):
        reader, writer = await asyncio.open_connection(
            ip,
            port,
            ssl=tls,
            server_hostname="" if tls else None,  # no SNI: we talk to an address
            ssl_handshake_timeout=opts.probe_s if tls else None,
            limit=opts.max_read,
        )
    return Conn(reader, writer, tls=tls is not None)


async def read_answer(
    reader: asyncio.StreamReader,
    opts: FingerprintOptions,
    *,
    first_s: float,
    stop_at: bytes = b"",
    stop_after_bytes: int = 0,
) -> bytes:
    """Read until the peer closes, goes idle, says enough, or `max_read` bytes came.

    Waits `first_s` for the first bytes, then `idle_s` for each next chunk, and never longer than
    `probe_s` once the first bytes came. Never raises for the peer's doing.
    """
    buf = bytearray()
    loop = asyncio.get_running_loop()
    deadline = end = loop.time() + first_s
    while len(buf) < opts.max_read:
        left = deadline - loop.time()
        if left <= 0:
            break
        try:
            chunk = await asyncio.wait_for(reader.read(opts.max_read - len(buf)), left)
        except (TimeoutError, ConnectionError, OSError, ssl.SSLError):
            break
        if not chunk:
            break
        if not buf:
            end = loop.time() + opts.probe_s
        buf += chunk
        if (stop_at and stop_at in buf) or (stop_after_bytes and len(buf) >= stop_after_bytes):
            break
        deadline = min(end, loop.time() + opts.idle_s)
    return bytes(buf)


@dataclass
class PortReport:
    """What fingerprinting learned of one port."""

    port: int
    match: Match | None = None
    tls: bool = False
    answers: list[Answer] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def banner(self) -> str:
        for answer in self.answers:
            text = first_line(answer.data)
            if text:
                return text
        return ""


async def _probe(
    ip: str, port: int, probe: Probe, opts: FingerprintOptions, tls: ssl.SSLContext | None
) -> Answer | None:
    """Send one probe on a fresh connection; its answer (possibly empty), None if no connect."""
    try:
        conn = await _open(ip, port, opts, tls)
    except (TimeoutError, ConnectionError, OSError, ssl.SSLError):
        return None
    try:
        conn.writer.write(probe.send)
        data = await read_answer(
            conn.reader,
            opts,
            first_s=opts.probe_s,
            stop_at=probe.stop_at,
            stop_after_bytes=probe.stop_after_bytes,
        )
        if data and probe.after:
            with contextlib.suppress(ConnectionError, OSError):
                conn.writer.write(probe.after)
                async with asyncio.timeout(opts.idle_s):
                    await conn.writer.drain()
        return Answer(probe.id, data, tls=tls is not None)
    except (TimeoutError, ConnectionError, OSError, ssl.SSLError):
        return Answer(probe.id, b"", tls=tls is not None)
    finally:
        await conn.closed(opts.idle_s)


async def _tls_handshake(ip: str, port: int, opts: FingerprintOptions) -> tuple[bool, str]:
    """(the port speaks TLS, why not / how)."""
    try:
        conn = await _open(ip, port, opts, tls_context())
    except ssl.SSLError as exc:
        reason = str(exc.reason or type(exc).__name__)
        return bool(_TLS_ALERT.search(reason.upper())), reason
    except (TimeoutError, ConnectionAbortedError):
        # asyncio aborts a handshake that outlives ssl_handshake_timeout: our timeout too
        return False, "no TLS handshake in time"
    except (ConnectionError, OSError) as exc:
        return False, exc.strerror or type(exc).__name__
    await conn.closed(opts.idle_s)
    return True, "handshake completed"


async def fingerprint_port(
    ip: str, port: int, rules: Rules, opts: FingerprintOptions
) -> PortReport:
    """Name one open port. Never raises for the device's doing; bounded by `port_s`."""
    report = PortReport(port=port)
    start = time.monotonic()
    try:
        async with asyncio.timeout(opts.port_s):
            await _fingerprint(ip, port, rules, opts, report)
    except TimeoutError:
        report.notes.append(f"{ip}:{port}: fingerprinting stopped after {opts.port_s:g} s")
    report.duration_s = round(time.monotonic() - start, 3)
    return report


def _take(report: PortReport, rules: Rules, answer: Answer | None) -> bool:
    if answer is None:
        return False
    report.answers.append(answer)
    report.match = identify(rules, answer, report.port)
    return report.match is not None


async def _fingerprint(
    ip: str, port: int, rules: Rules, opts: FingerprintOptions, report: PortReport
) -> None:
    # 1. The greeting: many services speak first (SSH, FTP, SMTP, telnet, shells).
    try:
        conn = await _open(ip, port, opts)
    except (TimeoutError, ConnectionError, OSError) as exc:
        report.notes.append(f"{ip}:{port}: no connection ({type(exc).__name__})")
        return
    try:
        greeting = await read_answer(conn.reader, opts, first_s=opts.greeting_s)
    finally:
        await conn.closed(opts.idle_s)
    if greeting:
        # A talking service gets no probe: we do not type into what may be a shell.
        _take(report, rules, Answer(GREETING, greeting))
        return

    # 2. A silent port: the likeliest probe first, then TLS, then the rest (in the tunnel if any).
    order = rules.probe_order(port)
    if not order:
        return
    first = await _probe(ip, port, order[0], opts, None)
    if _take(report, rules, first) and not _plain_http_refused(report):
        return
    ok, how = await _tls_handshake(ip, port, opts)
    if ok:
        report.tls = True
        cleartext = report.match
        report.match = None
        ctx = tls_context()
        for probe in order:
            if _take(report, rules, await _probe(ip, port, probe, opts, ctx)):
                return
        report.match = cleartext
        if report.match is None:
            report.match = Match(service="ssl", banner=report.banner, rule="TLS handshake")
        return
    if report.match is not None:
        return  # the plain-HTTP 400 was the service's own answer, not a TLS port's
    if "in time" in how:
        report.notes.append(f"{ip}:{port}: silent, and no TLS handshake in time")
    for probe in order[1:]:
        if _take(report, rules, await _probe(ip, port, probe, opts, None)):
            return


def _plain_http_refused(report: PortReport) -> bool:
    """An HTTP 400 to a plain GET may be a TLS port explaining itself in cleartext: check TLS."""
    if report.match is None or not report.answers:
        return False
    return report.answers[-1].data.startswith((b"HTTP/1.0 400", b"HTTP/1.1 400"))


# --- many devices --------------------------------------------------------------------------------


def apply(svc: Service, report: PortReport) -> None:
    """Write what fingerprinting learned into the service (nmap's table name stays if unknown)."""
    svc.tls = svc.tls or report.tls
    if report.match is not None:
        svc.name = report.match.service
        svc.product = report.match.product
        svc.version = report.match.version
        svc.banner = report.match.banner
    else:
        svc.banner = svc.banner or report.banner


def unidentified(svc: Service) -> bool:
    return svc.name in ("", "unknown", "tcpwrapped") or svc.name == "ssl"


async def fingerprint_hosts(
    scope: Scope,
    services: Mapping[str, Sequence[Service]],
    opts: FingerprintOptions | None = None,
    *,
    on_host: Callable[[str, list[PortReport]], None] | None = None,
) -> tuple[dict[str, list[PortReport]], list[str]]:
    """Fingerprint every open TCP port of every host at once (bounded); fills the services in."""
    opts = opts or FingerprintOptions()
    rules = load_rules(opts.rules_file or RULES_FILE)
    pool = asyncio.Semaphore(max(1, opts.connections))
    reports: dict[str, list[PortReport]] = {}
    notes: list[str] = []

    async def host(ip: str, svcs: Iterable[Service]) -> None:
        scope.check(ip)
        mine = asyncio.Semaphore(max(1, opts.per_device))

        async def one(svc: Service) -> PortReport:
            async with mine, pool:
                report = await fingerprint_port(ip, svc.port, rules, opts)
            apply(svc, report)
            return report

        tcp = [s for s in svcs if s.transport == "tcp"]
        done = list(await asyncio.gather(*(one(s) for s in tcp)))
        reports[ip] = done
        for report in done:
            notes.extend(report.notes)
        if on_host is not None:
            on_host(ip, done)

    await asyncio.gather(*(host(ip, svcs) for ip, svcs in services.items()))
    return reports, notes
