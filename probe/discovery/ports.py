"""The IoT port list (profiles/data/iot-ports.yaml) and the port sets discovery scans.

nmap's top TCP ports come from general server traffic; IoT devices also listen on telnet 2323,
TR-069 7547, DVR 34567/37777, RTSP 554/8554, home-automation UIs (1880, 8123) and UDP services.
The list is data with a source per entry; discovery scans its TCP entries by default besides
nmap's top ports and the profiles' ports, and asks its UDP entries with protocol-correct requests.
`--ports full` scans all 65535 TCP ports instead of the lists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lanprobe import datacache
from lanprobe.discovery.fingerprint import read_yaml
from lanprobe.errors import ProfileError
from lanprobe.paths import DATA_DIR

IOT_PORTS_FILE = DATA_DIR / "iot-ports.yaml"
ALL_TCP_PORTS = tuple(range(1, 65536))
_KEYS = {"port", "transport", "service", "what", "source"}


@dataclass(frozen=True)
class IotPort:
    port: int
    transport: str  # tcp | udp
    service: str
    what: str
    source: str


def _line(seq: Any, index: int) -> int | None:
    try:
        return int(seq.lc.item(index)[0]) + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return None


def parse_iot_ports(data: Any, source: str = "iot-ports") -> tuple[IotPort, ...]:
    """The entries of the document; ProfileError names file, line and field of what is wrong."""
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ProfileError("expected a mapping with version: 1", file=source)
    entries = data.get("ports")
    if not isinstance(entries, list) or not entries:
        raise ProfileError("must be a non-empty list", file=source, field="ports")
    out: list[IotPort] = []
    seen: set[tuple[int, str]] = set()
    for i, item in enumerate(entries):
        line = _line(entries, i)

        def bad(message: str, key: str = "", _i: int = i, _line: int | None = line) -> ProfileError:
            where = f"ports[{_i}]" + (f".{key}" if key else "")
            return ProfileError(message, file=source, line=_line, field=where)

        if not isinstance(item, dict):
            raise bad("must be a mapping")
        unknown = set(item) - _KEYS
        if unknown:
            raise bad(f"unknown keys {sorted(unknown)}")
        port = item.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise bad("must be an integer 1-65535", "port")
        transport = item.get("transport", "tcp")
        if transport not in ("tcp", "udp"):
            raise bad("must be tcp or udp", "transport")
        for key in ("service", "source"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise bad("must be a non-empty string", key)
        if (port, transport) in seen:
            raise bad(f"{port}/{transport} is listed twice", "port")
        seen.add((port, transport))
        out.append(
            IotPort(port, transport, item["service"], str(item.get("what", "")), item["source"])
        )
    return tuple(out)


def load_iot_ports(path: Path = IOT_PORTS_FILE) -> tuple[IotPort, ...]:
    """Parsed once (probe/datacache.py)."""
    return datacache.load(path, _parse_iot_ports)


def _parse_iot_ports(path: Path) -> tuple[IotPort, ...]:
    return parse_iot_ports(read_yaml(path, "the IoT port list", typ="rt"), str(path))


def iot_tcp_ports(path: Path = IOT_PORTS_FILE) -> tuple[int, ...]:
    return tuple(sorted(p.port for p in load_iot_ports(path) if p.transport == "tcp"))


def iot_udp_ports(path: Path = IOT_PORTS_FILE) -> dict[int, str]:
    """UDP port -> service name, for UDP discovery."""
    return {p.port: p.service for p in load_iot_ports(path) if p.transport == "udp"}


def tcp_scan_ports(
    named: Iterable[int], top: Iterable[int], *, iot: bool = True, full: bool = False
) -> tuple[int, ...]:
    """What the port scan covers: all 65535 with `full`; else the named (profiles', caller's)
    ports, nmap's top ports and, unless turned off, the IoT list."""
    if full:
        return ALL_TCP_PORTS
    ports = set(named) | set(top)
    if iot:
        ports |= set(iot_tcp_ports())
    return tuple(sorted(ports))


def iot_name(port: int, transport: str = "tcp") -> str:
    """The list's service name for a port, "" when the list does not name it."""
    for entry in load_iot_ports():
        if entry.port == port and entry.transport == transport:
            return entry.service
    return ""


@dataclass(frozen=True)
class PortsOption:
    """`--ports`: extra TCP ports ("80,8000-8010") or `full` (all 65535)."""

    extra: tuple[int, ...] = ()
    full: bool = False


def parse_ports_option(text: str) -> PortsOption:
    """Parse `--ports`; ValueError names what is wrong."""
    text = text.replace(" ", "")
    if text.lower() == "full":
        return PortsOption(full=True)
    extra: list[int] = []
    for part in filter(None, text.split(",")):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(f"{part!r} is not a port, a range a-b, or 'full'")
        first, last = int(lo), int(hi or lo)
        if not 1 <= first <= last <= 65535:
            raise ValueError(f"{part!r} is outside 1-65535")
        extra.extend(range(first, last + 1))
    return PortsOption(extra=tuple(sorted(set(extra))))
