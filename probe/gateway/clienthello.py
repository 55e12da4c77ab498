"""Read a TLS ClientHello (RFC 8446 4.1.2, RFC 5246 7.4.1.2) from the first bytes a client sends.

Measuring only: which versions and suites a device offers and which name it asks for (SNI).
Bounded: at most `MAX_HELLO` bytes are read, every length is checked against what is there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_HELLO = 16384 + 5 * 4  # one full handshake message over a few records
VERSION_NAMES = {0x0300: "SSLv3", 0x0301: "TLSv1.0", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2",
                 0x0304: "TLSv1.3"}  # fmt: skip
EXT_SNI = 0
EXT_SUPPORTED_VERSIONS = 43


def is_grease(value: int) -> bool:
    """RFC 8701 GREASE values (0x0a0a, 0x1a1a, ...) carry no meaning."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


@dataclass
class ClientHello:
    legacy_version: int
    versions: list[str]  # offered, highest first
    suites: list[int]  # IANA code points, GREASE removed
    sni: str = ""
    extensions: list[int] = field(default_factory=list)

    @property
    def max_version(self) -> str:
        return self.versions[0] if self.versions else ""


class NotAHello(ValueError):
    """The bytes are not (or not yet) a complete ClientHello."""


def handshake_bytes(data: bytes) -> bytes:
    """The handshake layer from TLS records; NotAHello when incomplete or not TLS."""
    out = b""
    pos = 0
    while pos + 5 <= len(data):
        ctype, length = data[pos], int.from_bytes(data[pos + 3 : pos + 5], "big")
        if ctype != 0x16 or data[pos + 1] != 0x03:
            raise NotAHello("not a TLS handshake record")
        out += data[pos + 5 : pos + 5 + length]
        pos += 5 + length
        if len(out) >= 4 and len(out) >= 4 + int.from_bytes(out[1:4], "big"):
            return out
    raise NotAHello("incomplete ClientHello")


def parse(data: bytes) -> ClientHello:
    """Parse the ClientHello at the start of `data` (TLS records as sent on the wire)."""
    hs = handshake_bytes(data[:MAX_HELLO])
    if hs[0] != 1:
        raise NotAHello("first handshake message is not a ClientHello")
    body = hs[4 : 4 + int.from_bytes(hs[1:4], "big")]
    reader = _Reader(body)
    legacy = reader.num(2)
    reader.take(32)  # random
    reader.take(reader.num(1))  # session id
    raw_suites = reader.take(reader.num(2))
    suites = [int.from_bytes(raw_suites[i : i + 2], "big") for i in range(0, len(raw_suites), 2)]
    reader.take(reader.num(1))  # compression methods
    hello = ClientHello(
        legacy_version=legacy, versions=[], suites=[s for s in suites if not is_grease(s)]
    )
    supported: list[int] = []
    if reader.left():
        ext = _Reader(reader.take(reader.num(2)))
        while ext.left() >= 4:
            etype, edata = ext.num(2), ext.take(ext.num(2))
            hello.extensions.append(etype)
            if etype == EXT_SNI:
                hello.sni = _sni(edata)
            elif etype == EXT_SUPPORTED_VERSIONS and edata:
                vs = edata[1 : 1 + edata[0]]
                supported = [int.from_bytes(vs[i : i + 2], "big") for i in range(0, len(vs) - 1, 2)]
    # Without supported_versions the client offers its legacy version (and, perhaps, lower ones
    # we cannot see from the hello).
    offered = [v for v in supported if not is_grease(v)] or [legacy]
    hello.versions = [
        VERSION_NAMES.get(v, f"0x{v:04x}") for v in sorted(set(offered), reverse=True)
    ]
    return hello


def _sni(data: bytes) -> str:
    r = _Reader(data)
    names = _Reader(r.take(r.num(2)))
    while names.left() >= 3:
        kind, name = names.num(1), names.take(names.num(2))
        if kind == 0:
            return name.decode("ascii", "replace")
    return ""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n > self.left():
            raise NotAHello("ClientHello field runs past its message")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def num(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")
