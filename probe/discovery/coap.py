"""CoAP (RFC 7252) GET requests and the CoRE link format (RFC 6690), read-only.

A small codec of our own for discovery and checks: NON-confirmable GETs (the server answers with
a NON, so no ACK bookkeeping is needed; our bounded resend covers loss), Uri-Path options, the
answer's code, Content-Format and payload. Only GET is ever built: nothing here can change a
resource. The lab's CoAP device runs aiocoap, a real CoAP server, to test this against.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from lanprobe.checks.clients import datagram

COAP_PORT = 5683
GET = 0x01
NON = 1
URI_PATH, CONTENT_FORMAT, BLOCK2 = 11, 12, 23
LINK_FORMAT = 40
MAX_RESOURCES = 32
_LINK = re.compile(r"<([^>]{1,200})>((?:;[^,<]*)*)")


def _option(delta: int, value: bytes) -> bytes:
    """One option (RFC 7252 section 3.1), delta and length with their extended forms."""

    def nibble(n: int) -> tuple[int, bytes]:
        if n < 13:
            return n, b""
        if n < 269:
            return 13, bytes([n - 13])
        return 14, (n - 269).to_bytes(2, "big")

    d, dext = nibble(delta)
    n, next_ = nibble(len(value))
    return bytes([(d << 4) | n]) + dext + next_ + value


def get_request(path: str, message_id: int, token: bytes) -> bytes:
    """A NON GET of `path` (e.g. "/.well-known/core")."""
    head = bytes([(1 << 6) | (NON << 4) | len(token), GET]) + message_id.to_bytes(2, "big")
    out = head + token
    last = 0
    for segment in [s for s in path.split("/") if s]:
        out += _option(URI_PATH - last, segment.encode())
        last = URI_PATH
    return out


@dataclass
class CoapAnswer:
    code: str  # "2.05", "4.01", ...
    token: bytes = b""
    content_format: int | None = None
    payload: bytes = b""
    more_blocks: bool = False
    options: dict[int, list[bytes]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.code.startswith("2.")


def parse_answer(data: bytes) -> CoapAnswer:
    """A CoAP message; ValueError when it is not one."""
    if len(data) < 4 or data[0] >> 6 != 1:
        raise ValueError("not a CoAP message")
    tkl = data[0] & 0x0F
    if tkl > 8 or len(data) < 4 + tkl:
        raise ValueError("bad CoAP token length")
    code = f"{data[1] >> 5}.{data[1] & 0x1F:02d}"
    pos = 4 + tkl
    ans = CoapAnswer(code=code, token=data[4:pos])
    number = 0
    while pos < len(data):
        if data[pos] == 0xFF:
            ans.payload = data[pos + 1 :]
            break
        delta, length = data[pos] >> 4, data[pos] & 0x0F
        pos += 1
        ext: list[int] = []
        for nib in (delta, length):
            if nib == 13:
                ext.append(data[pos] + 13)
                pos += 1
            elif nib == 14:
                ext.append(int.from_bytes(data[pos : pos + 2], "big") + 269)
                pos += 2
            elif nib == 15:
                raise ValueError("reserved CoAP option nibble")
            else:
                ext.append(nib)
        number += ext[0]
        value = data[pos : pos + ext[1]]
        if len(value) != ext[1]:
            raise ValueError("CoAP option runs past the message")
        pos += ext[1]
        ans.options.setdefault(number, []).append(value)
    fmt = ans.options.get(CONTENT_FORMAT)
    if fmt:
        ans.content_format = int.from_bytes(fmt[0], "big") if fmt[0] else 0
    block = ans.options.get(BLOCK2)
    if block and block[0]:
        ans.more_blocks = bool(block[0][-1] & 0x08)
    return ans


@dataclass(frozen=True)
class Link:
    path: str
    attrs: dict[str, str]

    @property
    def declared_writable(self) -> bool:
        """The link says it takes writes: an actuator or a parameter (CoRE interfaces, if=)."""
        return any(i in ("core.a", "core.p") for i in self.attrs.get("if", "").split())


def parse_links(text: str) -> list[Link]:
    """RFC 6690 link-format: `</path>;rt="x";if="core.a",</other>` (capped)."""
    out: list[Link] = []
    for m in _LINK.finditer(text):
        attrs: dict[str, str] = {}
        for part in m.group(2).split(";")[1:]:
            key, _, value = part.partition("=")
            attrs[key.strip()] = value.strip().strip('"')
        out.append(Link(m.group(1), attrs))
        if len(out) >= MAX_RESOURCES:
            break
    return out


async def get(
    ip: str, path: str, *, port: int = COAP_PORT, timeout_s: float = 1.0, retries: int = 1
) -> CoapAnswer | None:
    """GET one resource; None when nothing (or nothing matching our token) came back."""
    token = secrets.token_bytes(4)
    message = get_request(path, secrets.randbelow(65536), token)
    got = await datagram.exchange(ip, port, message, timeout_s=timeout_s, retries=retries)
    if got is None:
        return None
    answer = parse_answer(got[0])
    return answer if answer.token == token else None
