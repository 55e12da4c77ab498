"""SSDP / UPnP discovery: M-SEARCH on the scan interface, then each device description.

The M-SEARCH leaves from a UDP socket bound to the scan interface's address, multicast TTL 1, so
it never crosses a router. A description is fetched only when its LOCATION is an address literal
inside the scope (no names are resolved), with a timeout and a size cap, and parsed without a DTD
(no entities, internal or external).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from xml.parsers import expat

import httpx
from lanprobe.checks.clients import http as http_client
from lanprobe.discovery.inventory import Sighting
from lanprobe.errors import ProtocolError, ScopeError
from lanprobe.model import Identifier
from lanprobe.options import Timeouts
from lanprobe.scope import Scope

SSDP_GROUP = "239.255.255.250"
SSDP_PORT = 1900
MAX_DATAGRAM = 8192
MAX_DESCRIPTION_BYTES = 256 * 1024
MAX_VALUE_LEN = 256
MAX_LOCATIONS = 256

# Description fields we keep, and the identifier each one feeds.
DESCRIPTION_FIELDS = (
    "UDN",
    "friendlyName",
    "manufacturer",
    "modelName",
    "modelNumber",
    "modelDescription",
    "serialNumber",
    "firmwareVersion",  # not in the UPnP schema, but common
    "softwareVersion",
)
IDENTIFIER_FIELDS = {
    "udn": ("UDN",),
    "serial": ("serialNumber",),
    "model": ("modelName", "modelNumber"),
    "fw": ("firmwareVersion", "softwareVersion"),
    "manufacturer": ("manufacturer",),
}


@dataclass
class SsdpOptions:
    window_s: float = 1.5  # listen for answers this long after the first M-SEARCH
    mx: int = 1  # devices answer within MX seconds
    sends: int = 2  # UDP gets lost: send the M-SEARCH this many times
    fetch_timeout_s: float = 2.0
    fetch_concurrency: int = 16


@dataclass
class SsdpAnswer:
    ip: str
    headers: dict[str, str]

    @property
    def location(self) -> str:
        return self.headers.get("location", "")


@dataclass
class SsdpResult:
    sightings: list[Sighting] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def msearch(mx: int = 1, st: str = "ssdp:all") -> bytes:
    return (
        "M-SEARCH * HTTP/1.1\r\n"
        f"HOST: {SSDP_GROUP}:{SSDP_PORT}\r\n"
        'MAN: "ssdp:discover"\r\n'
        f"MX: {mx}\r\n"
        f"ST: {st}\r\n"
        "\r\n"
    ).encode("ascii")


def parse_answer(data: bytes) -> dict[str, str] | None:
    """Headers of an M-SEARCH answer (lower-cased names), or None if it is not one."""
    text = data[:MAX_DATAGRAM].decode("utf-8", errors="replace")
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    if not lines or not lines[0].upper().startswith("HTTP/1.") or " 200" not in lines[0]:
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            continue
        key = name.strip().lower()
        if key not in headers:
            headers[key] = "".join(c for c in value.strip() if c.isprintable())[:MAX_VALUE_LEN]
    return headers


def location_target(location: str, scope: Scope) -> str:
    """The URL to fetch, if LOCATION points at an in-scope address literal; else ScopeError."""
    try:
        parts = urlsplit(location)
    except ValueError as exc:  # "http://[": an unbalanced IPv6 bracket
        raise ScopeError(f"LOCATION {location[:120]!r} is not a URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise ScopeError(f"LOCATION {location!r} is not an http(s) URL")
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError as exc:
        raise ScopeError(f"LOCATION {location!r} names a host; lanprobe resolves no names") from exc
    scope.check(host)
    return location


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _refuse_dtd(data: bytes) -> None:
    """Scan with expat, stopping at a DOCTYPE before any entity is declared or expanded."""

    def refuse(*_args: object) -> None:
        raise ProtocolError("description carries a DTD; refused")

    scan = expat.ParserCreate()
    scan.StartDoctypeDeclHandler = refuse
    scan.EntityDeclHandler = refuse
    try:
        scan.Parse(data, True)
    except (expat.ExpatError, LookupError, ValueError) as exc:
        raise ProtocolError(f"description is not XML: {exc}") from exc


def _safe_root(data: bytes) -> ET.Element:
    """The XML root of a description, refused when too large, carrying a DTD or not XML."""
    if len(data) > MAX_DESCRIPTION_BYTES:
        raise ProtocolError(f"description larger than {MAX_DESCRIPTION_BYTES} bytes")
    head = data.upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        # A DTD is never needed for a description; refusing it rules out entity expansion.
        raise ProtocolError("description carries a DTD; refused")
    _refuse_dtd(data)  # the same, whatever the document's encoding (UTF-16 hides the bytes above)
    try:
        return ET.fromstring(data)
    except (ET.ParseError, LookupError, ValueError) as exc:  # LookupError: unknown encoding=
        raise ProtocolError(f"description is not XML: {exc}") from exc


def parse_services(data: bytes) -> list[tuple[str, str]]:
    """(serviceType, controlURL) of every service of every (embedded) device in a description
    (UPnP Device Architecture 2.0 section 2.3). Raises ProtocolError when unsafe/bad."""
    out: list[tuple[str, str]] = []
    for el in _safe_root(data).iter():
        if _local(el.tag) != "service":
            continue
        fields = {_local(c.tag): (c.text or "").strip() for c in el}
        stype, control = fields.get("serviceType", ""), fields.get("controlURL", "")
        if stype and control and len(out) < 64:
            out.append((stype[:MAX_VALUE_LEN], control[:MAX_VALUE_LEN]))
    return out


def parse_description(data: bytes) -> dict[str, str]:
    """The root device's fields from a UPnP description. Raises ProtocolError when unsafe/bad."""
    root = _safe_root(data)
    device = next((el for el in root.iter() if _local(el.tag) == "device"), None)
    if device is None:
        raise ProtocolError("description has no <device>")
    out: dict[str, str] = {}
    for child in device:  # direct children only: embedded devices describe other units
        name = _local(child.tag)
        if name in DESCRIPTION_FIELDS and child.text and child.text.strip():
            text = "".join(c for c in child.text.strip() if c.isprintable())
            out[name] = text[:MAX_VALUE_LEN]
    return out


def description_identifiers(desc: dict[str, str], source: str) -> dict[str, Identifier]:
    out: dict[str, Identifier] = {}
    for ident, fields in IDENTIFIER_FIELDS.items():
        for name in fields:
            if desc.get(name):
                out[ident] = Identifier(value=desc[name], source=source)
                break
    return out


class _Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answers: list[tuple[bytes, str]] = []

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if len(self.answers) < 4096:
            self.answers.append((data, str(addr[0])))


def _search_socket(iface_ip: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface_ip))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        sock.bind((iface_ip, 0))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def search(scope: Scope, iface_ip: str, options: SsdpOptions | None = None) -> SsdpResult:
    """M-SEARCH ssdp:all on the interface, then read each in-scope device description."""
    opts = options or SsdpOptions()
    result = SsdpResult()
    loop = asyncio.get_running_loop()
    try:
        sock = _search_socket(iface_ip)
    except OSError as exc:
        result.notes.append(f"SSDP: cannot send from {iface_ip}: {exc}")
        return result
    transport, proto = await loop.create_datagram_endpoint(_Collector, sock=sock)
    try:
        payload = msearch(opts.mx)
        gap = min(0.3, opts.window_s / max(opts.sends, 1))
        for i in range(opts.sends):
            transport.sendto(payload, (SSDP_GROUP, SSDP_PORT))
            if i + 1 < opts.sends:
                await asyncio.sleep(gap)
        await asyncio.sleep(max(0.0, opts.window_s - gap * (opts.sends - 1)))
    finally:
        transport.close()

    answers: dict[str, SsdpAnswer] = {}  # by LOCATION (a device answers once per ST)
    outside: set[str] = set()
    for data, ip in proto.answers:
        if not scope.contains(ip):
            outside.add(ip)
            continue
        headers = parse_answer(data)
        if headers is None:
            result.notes.append(f"SSDP: malformed answer from {ip} ignored")
            continue
        key = headers.get("location") or f"{ip}#{headers.get('usn', '')}"
        if key not in answers and len(answers) < MAX_LOCATIONS:
            answers[key] = SsdpAnswer(ip=ip, headers=headers)
    if outside:
        result.notes.append(f"SSDP: ignored answers from outside the scope: {sorted(outside)}")

    result.sightings = await describe_all(list(answers.values()), scope, opts, result.notes)
    result.notes = list(dict.fromkeys(result.notes))
    return result


async def describe_all(
    answers: list[SsdpAnswer], scope: Scope, opts: SsdpOptions, notes: list[str]
) -> list[Sighting]:
    """A sighting per answer, its description fetched (in scope only) through the checks' HTTP
    client: no proxy from the environment, no certificate trusted (a description is read, never
    trusted), no redirect followed."""
    sem = asyncio.Semaphore(opts.fetch_concurrency)
    fetch_t = Timeouts(connect_s=opts.fetch_timeout_s, read_s=opts.fetch_timeout_s)
    sightings: list[Sighting] = []
    async with http_client.new_client(True, fetch_t) as client:

        async def one(answer: SsdpAnswer) -> None:
            async with sem:
                sightings.append(await _describe(client, scope, answer, notes, opts))

        await asyncio.gather(*(one(a) for a in answers))
    return sightings


async def _describe(
    client: httpx.AsyncClient, scope: Scope, answer: SsdpAnswer, notes: list[str], opts: SsdpOptions
) -> Sighting:
    keep = ("location", "server", "st", "usn")
    ssdp = {k: answer.headers[k] for k in keep if k in answer.headers}
    sighting = Sighting(source="ssdp", ip=answer.ip, ssdp=ssdp)
    location = answer.location
    if not location:
        return sighting
    try:
        url = location_target(location, scope)
    except ScopeError as exc:
        notes.append(f"SSDP: {answer.ip}: description not fetched: {exc}")
        return sighting
    try:
        data = await asyncio.wait_for(_fetch(client, url), opts.fetch_timeout_s * 2)
        desc = parse_description(data)
    except (httpx.HTTPError, ProtocolError, TimeoutError) as exc:
        notes.append(f"SSDP: {answer.ip}: description {url} unusable: {exc or type(exc).__name__}")
        return sighting
    sighting.ssdp.update(desc)
    sighting.identifiers = description_identifiers(desc, f"ssdp:{url}")
    return sighting


async def _fetch(client: httpx.AsyncClient, url: str) -> bytes:
    async with client.stream("GET", url) as resp:
        if resp.status_code != 200:
            raise ProtocolError(f"HTTP {resp.status_code}", target=url)
        body = bytearray()
        async for chunk in resp.aiter_bytes():
            body += chunk
            if len(body) > MAX_DESCRIPTION_BYTES:
                raise ProtocolError(f"larger than {MAX_DESCRIPTION_BYTES} bytes", target=url)
        return bytes(body)
