"""mDNS / DNS-SD discovery with zeroconf's async API, bound to the scan interface.

Enumerate the service types (`_services._dns-sd._udp.local.`), browse each type as it appears,
resolve every instance (SRV, TXT, A). Everything the network says is untrusted: type names are
validated, TXT records are decoded by hand with caps, addresses outside the scope are dropped, and
whatever cannot be used becomes a note, never an exception.

Queries are QM (multicast answers): several probes may share UDP 5353 on one host, and unicast
answers would reach only one of them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from lanprobe.discovery.inventory import Sighting
from lanprobe.model import Identifier, MdnsService
from lanprobe.scope import Scope

META_QUERY = "_services._dns-sd._udp.local."

MAX_TXT_ENTRIES = 64
MAX_KEY_LEN = 64
MAX_VALUE_LEN = 255
MAX_INSTANCES = 1024  # a flood of fake instances must not become a flood of resolves
MAX_NAME_LEN = 255

# TXT keys that carry identifiers, as common firmware spells them (RFC 6763 leaves keys free).
TXT_IDENTIFIER_KEYS: dict[str, tuple[str, ...]] = {
    "serial": ("serial", "sn", "serialnumber", "serial_number", "serialno"),
    "model": ("model", "md", "mdl", "modelname", "model_name", "usb_mdl"),
    "fw": ("fw", "fwver", "fw_ver", "fwversion", "firmware", "firmwareversion", "fv", "swver"),
    "manufacturer": ("vendor", "manufacturer", "mfg", "usb_mfg", "mf"),
}


@dataclass
class MdnsOptions:
    # Responders delay answers by 20-120 ms, and by a further second when they saw a similar
    # record multicast within the last second (RFC 6762 s14; zeroconf does this under load).
    min_window_s: float = 2.5  # always listen this long
    quiet_s: float = 1.5  # then stop once nothing new arrived for this long
    max_window_s: float = 4.5  # and never listen longer than this (a loaded host answers late)
    resolve_timeout_s: float = 1.5  # per instance


@dataclass
class MdnsResult:
    sightings: list[Sighting] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _clean(text: str, limit: int) -> str:
    """Printable text only: a TXT value ends up in terminals and HTML reports."""
    out = "".join(ch if ch.isprintable() else "?" for ch in text)
    return out[:limit]


def decode_txt(raw: bytes) -> tuple[dict[str, str], list[str]]:
    """Decode a TXT rdata (length-prefixed strings) into a dict, with notes on what was dropped.

    Keys are case-insensitive (RFC 6763 6.4): lowered. The first occurrence of a key wins (6.4).
    A key-only entry ("flag") maps to "".
    """
    txt: dict[str, str] = {}
    notes: list[str] = []
    pos = 0
    entries = 0
    while pos < len(raw):
        length = raw[pos]
        pos += 1
        if length == 0:
            continue
        chunk = raw[pos : pos + length]
        pos += length
        if len(chunk) < length:
            notes.append("TXT record truncated")
            break
        entries += 1
        if entries > MAX_TXT_ENTRIES:
            notes.append(f"TXT record has more than {MAX_TXT_ENTRIES} entries; rest ignored")
            break
        key_b, sep, value_b = chunk.partition(b"=")
        key = key_b.decode("utf-8", errors="replace").strip().lower()
        if not key:
            notes.append("TXT entry without a key ignored")
            continue
        # RFC 6763 6.4: keys are printable US-ASCII.
        if len(key) > MAX_KEY_LEN or not (key.isascii() and key.isprintable()):
            notes.append(f"TXT key {_clean(key, 32)!r} malformed; ignored")
            continue
        if key in txt:
            continue
        value = value_b.decode("utf-8", errors="replace") if sep else ""
        if "\ufffd" in value:
            notes.append(f"TXT value of {key!r} is not UTF-8; undecodable bytes replaced")
        txt[key] = _clean(value, MAX_VALUE_LEN)
    return txt, notes


def txt_identifiers(txt: dict[str, str], source: str) -> dict[str, Identifier]:
    """The identifiers a TXT record names (serial, model, fw, manufacturer)."""
    out: dict[str, Identifier] = {}
    for ident, keys in TXT_IDENTIFIER_KEYS.items():
        for key in keys:
            value = txt.get(key, "").strip()
            if value:
                out[ident] = Identifier(value=value, source=source)
                break
    return out


def valid_type(name: str) -> bool:
    from zeroconf import BadTypeInNameException
    from zeroconf._utils.name import service_type_name

    if len(name) > MAX_NAME_LEN or not name.isprintable():
        return False
    try:
        service_type_name(name)
    except (BadTypeInNameException, ValueError):
        return False
    return True


async def browse(scope: Scope, iface_ip: str, options: MdnsOptions | None = None) -> MdnsResult:
    """Browse every service type on the interface's link; return one sighting per address."""
    from zeroconf import DNSQuestionType, IPVersion, ServiceStateChange
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

    opts = options or MdnsOptions()
    result = MdnsResult()
    loop = asyncio.get_running_loop()
    last_event = time.monotonic()
    types_seen: set[str] = set()
    instances: set[tuple[str, str]] = set()
    tasks: set[asyncio.Task[None]] = set()
    browsers: list[AsyncServiceBrowser] = []
    qm = DNSQuestionType.QM

    try:
        azc = AsyncZeroconf(interfaces=[iface_ip], ip_version=IPVersion.V4Only)
    except OSError as exc:
        result.notes.append(f"mDNS: cannot listen on {iface_ip}: {exc}")
        return result

    async def resolve(service_type: str, name: str) -> None:
        try:
            info = AsyncServiceInfo(service_type, name)
            ok = await info.async_request(
                azc.zeroconf, int(opts.resolve_timeout_s * 1000), question_type=qm
            )
        except Exception as exc:  # zeroconf rejects some hostile names while resolving
            result.notes.append(f"mDNS: {_clean(name, 80)!r} skipped: {exc}")
            return
        if not ok:
            result.notes.append(f"mDNS: {_clean(name, 80)!r} did not resolve; skipped")
            return
        _add_sightings(result, scope, service_type, name, info)

    def on_instance(
        zeroconf: object, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        nonlocal last_event
        if state_change is not ServiceStateChange.Added or (service_type, name) in instances:
            return
        if len(instances) >= MAX_INSTANCES:
            return
        last_event = time.monotonic()
        instances.add((service_type, name))
        task = loop.create_task(resolve(service_type, name))
        tasks.add(task)

    def on_type(
        zeroconf: object, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        nonlocal last_event
        if state_change is not ServiceStateChange.Added or name in types_seen:
            return
        types_seen.add(name)
        last_event = time.monotonic()
        if not valid_type(name):
            result.notes.append(f"mDNS: malformed service type {_clean(name, 80)!r} skipped")
            return
        try:
            browsers.append(
                AsyncServiceBrowser(azc.zeroconf, name, handlers=[on_instance], question_type=qm)
            )
        except Exception as exc:
            result.notes.append(f"mDNS: cannot browse {_clean(name, 80)!r}: {exc}")

    try:
        browsers.append(
            AsyncServiceBrowser(azc.zeroconf, META_QUERY, handlers=[on_type], question_type=qm)
        )
        started = time.monotonic()
        while True:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            if now - started >= opts.max_window_s:
                break
            if now - started >= opts.min_window_s and now - last_event >= opts.quiet_s:
                break
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=opts.resolve_timeout_s + 0.5)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
                result.notes.append(f"mDNS: {len(pending)} instance(s) did not resolve in time")
    finally:
        for browser in browsers:
            await browser.async_cancel()
        await azc.async_close()
    result.notes = list(dict.fromkeys(result.notes))
    return result


def _add_sightings(
    result: MdnsResult, scope: Scope, service_type: str, name: str, info: object
) -> None:
    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncServiceInfo

    assert isinstance(info, AsyncServiceInfo)
    add_instance(result, scope, service_type, name, info.parsed_addresses(IPVersion.V4Only),
                 info.port or 0, info.text or b"", info.server or "")  # fmt: skip


def add_instance(
    result: MdnsResult,
    scope: Scope,
    service_type: str,
    name: str,
    addresses: list[str],
    port: int,
    text: bytes,
    server: str,
) -> None:
    """One resolved instance -> a sighting per in-scope address (notes for what is dropped)."""
    inside = [a for a in addresses if scope.contains(a)]
    if not inside:
        shown = ", ".join(addresses[:3]) or "no address"
        result.notes.append(f"mDNS: {_clean(name, 80)!r} ({shown}) is outside the scope; ignored")
        return
    txt, txt_notes = decode_txt(text)
    result.notes.extend(f"mDNS: {_clean(name, 80)!r}: {n}" for n in txt_notes)
    source = f"mdns:{service_type}"
    svc = MdnsService(
        type=service_type,
        name=_clean(name, MAX_NAME_LEN),
        port=port,
        txt=txt,
        addresses=inside,
    )
    hostname = _clean(server.rstrip("."), MAX_NAME_LEN)
    idents = txt_identifiers(txt, source)
    for ip in inside:
        result.sightings.append(
            Sighting(source="mdns", ip=ip, hostname=hostname, mdns=svc, identifiers=dict(idents))
        )
