"""UPnP control, read-only: the device's description, its services' control URLs, and SOAP calls
of actions that only read (profiles/data/upnp-read-actions.txt), without credentials.

Measured, not judged: `call()` says what the control URL answered (the action's response, a UPnP
error code, an HTTP refusal). The description is parsed with discovery's safe parser (size cap,
no DTD). Every request goes through checks/clients/http.py (timeouts, caps, our exceptions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from xml.sax.saxutils import escape

from lanprobe import datacache
from lanprobe.checks.clients import http
from lanprobe.discovery.ssdp import parse_services
from lanprobe.errors import ProbeTimeout, ProtocolError, Unreachable
from lanprobe.options import Timeouts

_ERROR_CODE = re.compile(rb"<(?:\w+:)?errorCode>\s*(\d+)\s*</", re.IGNORECASE)
# UPnP Device Architecture 2.0 section 3.2.2 / IGD: errors that mean the action was not run
# for want of rights, or is unknown here.
NOT_AUTHORIZED = frozenset({606, 607, 608, 609, 610, 611, 612, 613})
INVALID_ACTION = 401
# IGD WANIPConnection:1 section 2.4.16: index errors that only come once the action ran.
RAN_BUT_EMPTY = frozenset({713, 714})


@dataclass(frozen=True)
class ReadAction:
    service_prefix: str
    action: str
    args: tuple[tuple[str, str], ...] = ()


def load_actions(path: Path) -> list[ReadAction]:
    """profiles/data/upnp-read-actions.txt: `<service type prefix> <action> [name=value ...]`
    lines (parsed once: probe/datacache.py; the list is shared, never changed)."""
    return datacache.load(path, _parse_actions)


def _parse_actions(path: Path) -> list[ReadAction]:
    out: list[ReadAction] = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 2 or not parts[0].startswith("urn:"):
            raise ValueError(f"{path}:{lineno}: expected '<service type prefix> <action> [a=b]'")
        args = tuple(tuple(a.split("=", 1)) for a in parts[2:])
        if any(len(a) != 2 for a in args):
            raise ValueError(f"{path}:{lineno}: arguments are name=value")
        out.append(ReadAction(parts[0], parts[1], args))  # type: ignore[arg-type]
    return out


def envelope(service_type: str, action: ReadAction) -> bytes:
    args = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in action.args)
    return (
        '<?xml version="1.0"?>\r\n'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
        f'<u:{action.action} xmlns:u="{escape(service_type)}">{args}</u:{action.action}>'
        "</s:Body></s:Envelope>"
    ).encode()


@dataclass
class CallOutcome:
    service_type: str
    control_path: str
    action: str
    status: int = 0
    upnp_error: int | None = None
    answered: bool = False  # the action's own response came back
    error: str = ""  # no answer at all
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def callable(self) -> bool:
        """The action ran for us: its response, or an error only a run action gives."""
        return self.answered or self.upnp_error in RAN_BUT_EMPTY

    @property
    def refused(self) -> bool:
        return self.status in (401, 403) or self.upnp_error in NOT_AUTHORIZED

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {"request": f"POST {self.control_path} (SOAP {self.action}, "
                                  "no credentials)", "service": self.service_type,
                                  "status": self.status}  # fmt: skip
        if self.upnp_error is not None:
            out["upnp_error"] = self.upnp_error
        if self.fields:
            out["response"] = self.fields
        if self.error:
            out["error"] = self.error
        return out


def control_path(ip: str, location: str, control_url: str) -> tuple[int, bool, str] | None:
    """(port, tls, path) of a control URL on the device itself; None if it points elsewhere."""
    url = urlsplit(urljoin(location, control_url))
    if url.hostname != ip or url.scheme not in ("http", "https"):
        return None
    port = url.port or (443 if url.scheme == "https" else 80)
    return port, url.scheme == "https", (url.path or "/") + (f"?{url.query}" if url.query else "")


def _response_fields(body: bytes, action: str) -> dict[str, str]:
    m = re.search(rb"<(?:\w+:)?" + action.encode() + rb"Response[^>]*>(.*?)</", body, re.S)
    if m is None:
        return {}
    inner = re.findall(rb"<(\w+)>([^<]{0,80})</\1>", m.group(0) + body[m.end() :][:2000])
    return {k.decode(): v.decode("utf-8", "replace") for k, v in inner[:8]}


async def call(
    ip: str, port: int, tls: bool, path: str, service_type: str, action: ReadAction,
    timeouts: Timeouts,
) -> CallOutcome:  # fmt: skip
    out = CallOutcome(service_type, path, action.action)
    headers = {"Content-Type": 'text/xml; charset="utf-8"',
               "SOAPAction": f'"{service_type}#{action.action}"'}  # fmt: skip
    try:
        body = envelope(service_type, action)
        answer = await http.fetch(ip, port, path, tls=tls, timeouts=timeouts, method="POST",
                                  content=body, headers=headers)  # fmt: skip
    except (Unreachable, ProbeTimeout, ProtocolError) as exc:
        out.error = str(exc)
        return out
    out.status = answer.status
    code = _ERROR_CODE.search(answer.body)
    if code is not None:
        out.upnp_error = int(code.group(1))
    if 200 <= answer.status < 300 and f"{action.action}Response".encode() in answer.body:
        out.answered = True
        out.fields = _response_fields(answer.body, action.action)
    return out


async def description_services(
    ip: str, port: int, tls: bool, path: str, timeouts: Timeouts
) -> list[tuple[str, str]]:
    answer = await http.fetch(ip, port, path, tls=tls, timeouts=timeouts)
    if answer.status != 200:
        raise ProtocolError(f"description answered {answer.status_line}", target=f"{ip}:{port}")
    return parse_services(answer.body)
