"""Service fingerprinting with nmap (python-nmap), one scan per host in a bounded pool.

python-nmap reads nmap's XML only when nmap exits, so one nmap per host gives per-device progress,
and `--host-timeout` bounds each one: a tarpit costs its own slot, never the run. nmap always gets
`-n` (no DNS). We read nmap's XML ourselves, because python-nmap's dict drops what we need
(`tunnel="ssl"`, `timedout`, the MAC).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import nmap
from lanprobe.discovery.inventory import Sighting
from lanprobe.errors import ToolError
from lanprobe.model import Service
from lanprobe.scope import Scope

TLS_NAMES = frozenset({"ssl", "tls", "https", "https-alt"})

log = logging.getLogger(__name__)


@dataclass
class NmapOptions:
    top_ports: int = 100  # nmap's N most common TCP ports, added to the ports profiles name
    # 0-9. Whatever the intensity, nmap sends the NULL probe (banners) and every probe registered
    # for the port (HTTP on 80, TLS on 443/8883, ...); higher levels add rarer probes, each of
    # which waits ~5 s on a service it does not recognise (measured: 29 s a host at 0, 41 s at 1
    # and 2, 54 s at 3 on the lab camera).
    version_intensity: int = 0
    host_timeout_s: int = 60  # nmap gives up on one host after this (-sV results are lost)
    fallback_timeout_s: int = 20  # then a plain port scan of that host, without -sV
    workers: int = 32  # nmap processes at once; they mostly wait on probes, not on the CPU
    max_retries: int = 2
    # The fast port scan (no -sV) that our own fingerprinting follows: one nmap run for up to
    # `chunk_hosts` hosts, `port_scan_workers` runs at once.
    chunk_hosts: int = 256
    port_scan_workers: int = 2
    port_scan_timeout_s: int = 120  # wall-clock backstop of one run


@dataclass
class NmapHost:
    ip: str
    state: str = "unknown"
    mac: str | None = None
    timed_out: bool = False
    services: list[Service] = field(default_factory=list)


def nmap_path() -> str:
    path = shutil.which("nmap")
    if path is None:
        raise ToolError("nmap is not installed (Debian: apt-get install nmap)")
    return path


def parse_port_spec(spec: str) -> list[int]:
    """`21-23,80` -> [21, 22, 23, 80]."""
    out: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def format_ports(ports: Iterable[int]) -> str:
    """[21, 22, 23, 80] -> `21-23,80` (runs as ranges: all 65535 ports stay a short argument)."""
    out: list[str] = []
    run: list[int] = []
    for port in sorted(set(ports)):
        if run and port == run[-1] + 1:
            run.append(port)
            continue
        if run:
            out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [port]
    if run:
        out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ",".join(out)


@functools.cache
def top_ports(n: int) -> tuple[int, ...]:
    """nmap's own top-N TCP port list, asked from nmap with an empty target list.

    (nmap combines `-p` and `--top-ports` by intersection; we want the union. The only target
    given is excluded, so this contacts nothing.)
    """
    if n <= 0:
        return ()
    scanner = _scanner()
    try:
        scanner.scan(
            hosts="127.0.0.0/32",
            arguments=f"-n -sT -Pn --top-ports {int(n)} --exclude 127.0.0.0",
            timeout=30,
        )
    except nmap.PortScannerError as exc:
        raise ToolError(f"nmap could not list its top {n} ports: {exc}") from exc
    root = ET.fromstring(scanner.get_nmap_last_output())
    info = root.find("scaninfo")
    if info is None:
        raise ToolError("nmap printed no scaninfo for --top-ports")
    return tuple(parse_port_spec(info.get("services", "")))


def _scanner() -> nmap.PortScanner:
    try:
        return nmap.PortScanner()
    except nmap.PortScannerError as exc:
        raise ToolError(f"nmap is not usable: {exc}") from exc


def scan_arguments(opts: NmapOptions, *, privileged: bool, versions: bool = True) -> str:
    """Arguments for one per-host scan (targets and -p are added by the caller)."""
    args = [
        "-n",  # never resolve names
        "-sS" if privileged else "-sT",
        "-Pn",  # the host was already seen by ARP, mDNS, SSDP or host discovery
    ]
    if versions:
        args += ["-sV", f"--version-intensity {int(opts.version_intensity)}"]
        args.append(f"--host-timeout {int(opts.host_timeout_s)}s")
    else:
        args.append(f"--host-timeout {int(opts.fallback_timeout_s)}s")
    args += [f"--max-retries {int(opts.max_retries)}", "-T4", "--open"]
    return " ".join(args)


def parse_xml(xml: bytes | str) -> list[NmapHost]:
    """Hosts, open ports and service facts from nmap's XML (-oX)."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ToolError(f"nmap output is not XML: {exc}") from exc
    hosts: list[NmapHost] = []
    for el in root.iter("host"):
        host = NmapHost(ip="", timed_out=el.get("timedout") == "true")
        status = el.find("status")
        if status is not None:
            host.state = status.get("state", "unknown")
        for addr in el.iter("address"):
            kind = addr.get("addrtype")
            if kind in ("ipv4", "ipv6") and not host.ip:
                host.ip = addr.get("addr", "")
            elif kind == "mac":
                host.mac = addr.get("addr", "").lower() or None
        for port in el.iter("port"):
            state = port.find("state")
            if state is None or state.get("state") != "open":
                continue
            host.services.append(_service(port))
        if host.ip:
            hosts.append(host)
    return hosts


_FP_RESPONSE = re.compile(r'r\(([A-Za-z0-9_-]+),[0-9A-Fa-f]+,"((?:[^"\\]|\\.)*)"\)')
_FP_ESCAPES = {"r": "\r", "n": "\n", "t": "\t", "0": "\0"}
MAX_BANNER = 160


def _unescape(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "x" and i + 3 < len(text):
                try:
                    out.append(chr(int(text[i + 2 : i + 4], 16)))
                    i += 4
                    continue
                except ValueError:
                    pass
            out.append(_FP_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def fingerprint_responses(fp: str) -> dict[str, str]:
    """What the service answered to each probe, from nmap's servicefp (unrecognised services)."""
    flat = fp.replace("\nSF:", "")  # the normal-output form wraps lines
    out: dict[str, str] = {}
    for match in _FP_RESPONSE.finditer(flat):
        out.setdefault(match.group(1), _unescape(match.group(2)))
    return out


def _printable(text: str) -> str:
    return "".join(c for c in text if c.isprintable()).strip()[:MAX_BANNER]


def banner_from_fingerprint(fp: str) -> str:
    """The HTTP Server header, or the first line the service volunteered (telnet, FTP, shells)."""
    responses = fingerprint_responses(fp)
    for text in responses.values():
        if text.startswith("HTTP/1.") or text.startswith("RTSP/1."):
            for line in text.split("\r\n")[1:]:
                name, sep, value = line.partition(":")
                if not sep:
                    break  # end of the headers
                if name.strip().lower() == "server":
                    return _printable(value)
    greeting = responses.get("NULL", "")
    for line in greeting.splitlines():
        if _printable(line):
            return _printable(line)
    return ""


def _service(port: ET.Element) -> Service:
    svc = port.find("service")
    attrs = dict(svc.attrib) if svc is not None else {}
    name = attrs.get("name", "")
    tls = attrs.get("tunnel") == "ssl" or name in TLS_NAMES or name.startswith("ssl/")
    if name.startswith("ssl/"):
        name = name[4:]
    return Service(
        port=int(port.get("portid", "0")),
        transport=port.get("protocol", "tcp"),
        name=name,
        product=attrs.get("product", ""),
        version=attrs.get("version", ""),
        banner=banner_from_fingerprint(attrs.get("servicefp", "")) or attrs.get("extrainfo", ""),
        tls=tls,
    )


def _run(hosts: str, ports: str | None, arguments: str, timeout_s: int) -> list[NmapHost]:
    """One nmap run (blocking; call from a worker thread)."""
    scanner = _scanner()
    log.debug(
        "nmap %s -p %s %s",
        arguments,
        ports or "-",
        hosts,
        extra={"fields": {"event": "send", "tool": "nmap", "hosts": hosts, "ports": ports}},
    )
    try:
        data = scanner.scan(hosts=hosts, ports=ports, arguments=arguments, timeout=timeout_s)
    except nmap.PortScannerTimeout as exc:
        raise ToolError(f"nmap on {hosts} ran past {timeout_s} s") from exc
    except nmap.PortScannerError as exc:
        raise ToolError(f"nmap failed on {hosts}: {exc}") from exc
    error = data.get("nmap", {}).get("scaninfo", {}).get("error")
    if error:
        raise ToolError(f"nmap on {hosts}: {' '.join(error).strip()}")
    return parse_xml(scanner.get_nmap_last_output())


async def scan_hosts(
    scope: Scope,
    ips: Sequence[str],
    ports: Iterable[int],
    opts: NmapOptions,
    *,
    privileged: bool,
    on_host: Callable[[str, NmapHost | None], None] | None = None,
) -> tuple[list[Sighting], list[str]]:
    """Service-scan each host (bounded pool). Returns sightings and notes; never raises per host."""
    port_spec = format_ports(ports)
    if not port_spec or not ips:
        return [], []
    args = scan_arguments(opts, privileged=privileged)
    plain_args = scan_arguments(opts, privileged=privileged, versions=False)
    loop = asyncio.get_running_loop()
    sightings: list[Sighting] = []
    notes: list[str] = []
    workers = max(1, min(opts.workers, len(ips)))
    # Backstop above nmap's own host timeout, in case nmap itself wedges.
    hard_timeout_s = int(opts.host_timeout_s) + 30

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nmap") as pool:

        async def one(ip: str) -> None:
            scope.check(ip)
            found: NmapHost | None = None
            try:
                hosts = await loop.run_in_executor(pool, _run, ip, port_spec, args, hard_timeout_s)
                found = next((h for h in hosts if h.ip == ip), None)
            except ToolError as exc:
                notes.append(f"nmap: {exc}")
            if found is not None and found.timed_out:
                # nmap drops every -sV result of a host that timed out (a tarpit, or too many
                # unrecognised services): at least learn its open ports without -sV.
                notes.append(
                    f"nmap: {ip} hit the {opts.host_timeout_s} s -sV host timeout; "
                    "ports rescanned without version detection"
                )
                try:
                    hosts = await loop.run_in_executor(
                        pool, _run, ip, port_spec, plain_args, hard_timeout_s
                    )
                    found = next((h for h in hosts if h.ip == ip), found)
                except ToolError as exc:
                    notes.append(f"nmap: {exc}")
                if found.timed_out:
                    notes.append(f"nmap: {ip} timed out again; its services are unknown")
            if found is not None:
                sightings.append(
                    Sighting(source="nmap", ip=ip, mac=found.mac, services=found.services)
                )
            if on_host is not None:
                on_host(ip, found)

        await asyncio.gather(*(one(ip) for ip in ips))
    return sightings, notes


async def port_scan(
    scope: Scope,
    ips: Sequence[str],
    ports: Iterable[int],
    opts: NmapOptions,
    *,
    privileged: bool,
    ipv6: bool = False,
) -> tuple[list[NmapHost], list[str]]:
    """Open TCP ports of many hosts, no version detection: one nmap run per chunk of hosts.
    `ipv6`: the hosts are IPv6 addresses (nmap -6; link-local ones carry their %zone).

    Services carry nmap's port-table names (method "table"); probe/discovery/fingerprint.py then
    names them from what they answer. A host that hits `fallback_timeout_s` is a note.
    """
    port_spec = format_ports(ports)
    if not port_spec or not ips:
        return [], []
    for ip in ips:
        scope.check(ip)
    args = scan_arguments(opts, privileged=privileged, versions=False) + (" -6" if ipv6 else "")
    chunks = [list(ips[i : i + opts.chunk_hosts]) for i in range(0, len(ips), opts.chunk_hosts)]
    gate = asyncio.Semaphore(max(1, opts.port_scan_workers))
    found: list[NmapHost] = []
    notes: list[str] = []

    async def one(chunk: list[str]) -> None:
        async with gate:
            try:
                hosts = await asyncio.to_thread(
                    _run, " ".join(chunk), port_spec, args, int(opts.port_scan_timeout_s)
                )
            except ToolError as exc:
                notes.append(f"nmap: {exc}")
                return
        wanted = {ip.split("%", 1)[0]: ip for ip in chunk}
        for host in hosts:
            if host.ip.split("%", 1)[0] not in wanted:
                continue
            host.ip = wanted[host.ip.split("%", 1)[0]]  # keep the zone we asked with
            if host.timed_out:
                notes.append(
                    f"nmap: {host.ip} hit the {opts.fallback_timeout_s} s port-scan host "
                    "timeout; its open ports may be incomplete"
                )
            found.append(host)

    await asyncio.gather(*(one(c) for c in chunks))
    return found, notes


async def host_discovery(
    scope: Scope, networks: Sequence[str], *, timeout_s: int = 120
) -> tuple[list[Sighting], list[str]]:
    """`nmap -n -sn` over whole networks: what works without ARP (and for routed networks)."""
    if not networks:
        return [], []
    args = "-n -sn -T4"
    if scope.excluded:
        args += " --exclude " + ",".join(str(a) for a in scope.excluded)
    try:
        hosts = await asyncio.to_thread(_run, " ".join(networks), None, args, timeout_s)
    except ToolError as exc:
        return [], [f"nmap host discovery: {exc}"]
    out = [
        Sighting(source="nmap", ip=h.ip, mac=h.mac)
        for h in hosts
        if h.state == "up" and scope.contains(h.ip)
    ]
    return out, []
