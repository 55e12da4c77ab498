"""Where a device no profile describes gets its updates: candidate update endpoints, measured.

Sources, in order (each bounded; every request goes to the device itself, same origin only):
  1. the device's UPnP description fields and mDNS TXT values that are URLs or paths with an
     update word (profiles/data/update-paths.txt `word` lines),
  2. its web UI: the front page of each HTTP(S) port (body capped), parsed as HTML5
     (selectolax/Lexbor): links, scripts, forms and frames, and quoted paths inside inline
     scripts, that point at firmware/update/OTA resources on the same origin,
  3. URLs in retained MQTT messages (an anonymous '#' subscription, when the broker allows it),
  4. the common OTA manifest paths of the data file (`path` lines, sources given there).
A path that cannot exist is asked first: on a server that answers it 200 (a catch-all app) no
path is guessed and that answer is ignored. Candidates are fetched (at most MAX_FETCHES); the
first that reads as a manifest (JSON, XML or a plain version text, checks/clients/manifest.py
`parse_any`) wins; else the first non-HTML 200 the device itself pointed at (its format unknown:
update.signature is inconclusive); a guessed path never counts unless it reads as a manifest.
Update polls the device made itself (gateway mode) point off the device: they are returned as
evidence (`observed`), judged by update.transport from the observation.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from lanprobe.checks.clients import http as web
from lanprobe.checks.clients import manifest as mf
from lanprobe.errors import TargetError
from lanprobe.gateway.observe import load_update_words, looks_like_update
from lanprobe.model import Device
from lanprobe.options import Timeouts

MAX_PAGE_BYTES = 256 * 1024
MAX_FETCHES = 12
MAX_LINKS = 200
# Quoted absolute or relative paths inside scripts: "/api/ota/check", '/fw/manifest.json'.
SCRIPT_PATH = re.compile(r"""["'](/[A-Za-z0-9._~!$&()*+,;=:@%/?-]{1,200})["']""")
GUESSED = "common OTA path (profiles/data/update-paths.txt)"
LINK_ATTRIBUTES = (("a", "href"), ("link", "href"), ("script", "src"), ("form", "action"),
                   ("iframe", "src"), ("frame", "src"))  # fmt: skip
URL_IN_TEXT = re.compile(r"""https?://[^\s"'<>]{1,300}""")


@dataclass
class Candidate:
    url: str  # absolute, on the device
    source: str


@dataclass
class Discovery:
    endpoint: mf.Endpoint | None = None
    source: str = ""
    manifest_format: str = ""
    tried: list[str] = field(default_factory=list)
    observed: list[str] = field(default_factory=list)  # update polls seen going off the device

    def why_none(self) -> str:
        parts = ["no update endpoint found on the device"]
        if self.tried:
            parts.append(f"tried {len(self.tried)}: {', '.join(self.tried[:6])}")
        if self.observed:
            parts.append(f"it polls {', '.join(self.observed[:3])} (off the device)")
        return "; ".join(parts)


def same_origin(url: str, device_ip: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host == device_ip


def links_in_page(html: str, base: str, words: set[str]) -> list[str]:
    """Same-origin URLs in a page that point at update resources (HTML5 parsing, not regexes)."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    raw: list[str] = []
    for selector, attr in LINK_ATTRIBUTES:
        for node in tree.css(selector)[:MAX_LINKS]:
            value = node.attributes.get(attr)
            if value:
                raw.append(value)
    for script in tree.css("script")[:MAX_LINKS]:
        raw.extend(SCRIPT_PATH.findall(script.text() or ""))
    out: list[str] = []
    for value in raw:
        url = urljoin(base, value.strip())
        if url.startswith(("http://", "https://")) and looks_like_update(urlsplit(url).path, words):
            out.append(url)
    return list(dict.fromkeys(out))


def announced(device: Device, words: set[str]) -> list[Candidate]:
    """URLs or paths with an update word in the UPnP description and mDNS TXT values."""
    out: list[Candidate] = []
    values = [(f"UPnP {k}", v) for k, v in device.ssdp.items()]
    values += [(f"mDNS TXT {k} of {s.type}", v) for s in device.mdns for k, v in s.txt.items()]
    for source, value in values:
        text = str(value).strip()
        if text.startswith("/") and looks_like_update(text, words):
            out.append(Candidate(text, source))  # a path: resolved on each web port
        for url in URL_IN_TEXT.findall(text):
            if looks_like_update(urlsplit(url).path, words):
                out.append(Candidate(url, source))
    return out


def web_bases(device: Device, kind_of: dict[int, str]) -> list[str]:
    """`http(s)://ip:port` of each web port (the session's service kinds name them); a port open
    on IPv6 only at the IPv6 address it was found on."""
    return [
        f"{kind_of[s.port]}://{f'[{s.addresses[0]}]' if s.ipv6_only else device.ip}:{s.port}"
        for s in device.services
        if kind_of.get(s.port) in ("http", "https")
    ]


def to_endpoint(url: str) -> mf.Endpoint:
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    scheme = parts.scheme.lower()
    return mf.Endpoint(
        scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80), path
    )


async def discover(
    device: Device,
    kind_of: dict[int, str],
    timeouts: Timeouts,
    *,
    mqtt_urls: list[str] | None = None,
) -> Discovery:
    """Find the device's update endpoint (see the module docstring)."""
    words, paths = load_update_words()
    found = Discovery()
    if device.traffic is not None:
        found.observed = [p.url for p in device.traffic.update_polls]
    bases = web_bases(device, kind_of)
    candidates: list[Candidate] = []
    for cand in announced(device, words):
        if cand.url.startswith("/"):
            candidates += [Candidate(b + cand.url, cand.source) for b in bases]
        elif same_origin(cand.url, device.ip):
            candidates.append(cand)
    for base in bases:
        try:
            page = await _get(base + "/", timeouts, MAX_PAGE_BYTES)
        except TargetError:
            continue
        if page.status == 200:
            html = page.body.decode("utf-8", "replace")
            for url in links_in_page(html, base + "/", words):
                if same_origin(url, device.ip):
                    candidates.append(Candidate(url, f"web UI {base}/"))
    for url in mqtt_urls or []:
        if same_origin(url, device.ip) and looks_like_update(urlsplit(url).path, words):
            candidates.append(Candidate(url, "retained MQTT message"))
    # A web server that answers every path (a catch-all app) proves nothing by a 200: guessed
    # paths are not tried there, and what it sends for a path that cannot exist is ignored.
    catch_all: set[bytes] = set()
    for base in bases:
        with contextlib.suppress(TargetError):
            nowhere = f"{base}/lanprobe-no-such-{secrets.token_hex(4)}.json"
            probe = await _get(nowhere, timeouts, mf.MAX_MANIFEST_BYTES)
            if probe.status == 200:
                catch_all.add(probe.body)
                continue
        candidates += [Candidate(base + p, GUESSED) for p in paths]
    first_ok: tuple[Candidate, str] | None = None
    for cand in list({c.url: c for c in reversed(candidates)}.values())[::-1][:MAX_FETCHES]:
        found.tried.append(cand.url)
        try:
            answer = await _get(cand.url, timeouts, mf.MAX_MANIFEST_BYTES)
        except TargetError:
            continue
        if answer.status != 200 or answer.body in catch_all:
            continue
        man = mf.parse_any(answer.body, answer.headers.get("content-type", ""))
        if not man.error and man.version:
            found.endpoint, found.source = to_endpoint(cand.url), cand.source
            found.manifest_format = man.format
            return found
        # Something the device itself points at that is no manifest we read: inconclusive
        # downstream. A guessed path must read as a manifest to count.
        if first_ok is None and cand.source != GUESSED and not _html(answer.body):
            first_ok = (cand, man.error)
    if first_ok is not None:
        found.endpoint, found.source = to_endpoint(first_ok[0].url), first_ok[0].source
        found.manifest_format = "unknown"
    return found


def _html(body: bytes) -> bool:
    head = body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<body" in head


async def _get(url: str, timeouts: Timeouts, max_bytes: int) -> web.HttpAnswer:
    ep = to_endpoint(url)
    return await web.fetch(
        ep.ip, ep.port, ep.path, tls=ep.tls, timeouts=timeouts, max_bytes=max_bytes
    )
