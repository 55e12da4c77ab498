"""What an SSH server offers: its identification line and its KEXINIT (RFC 4253 sections 4.2
and 7.1), read before any key exchange, plus the size of an RSA host key.

The server sends KEXINIT unencrypted right after the identification lines, so reading it needs
our identification line and nothing more: no key exchange, no login, no state on the device. For
an RSA host key's size a key exchange is needed: asyncssh's `get_server_host_key` does one and
disconnects before authentication. Measured, not judged (checks/data_protection.py judges).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass, field

import asyncssh
from asyncssh.kex import get_kex_algs
from lanprobe.errors import ProbeTimeout, ProtocolError, Unreachable
from lanprobe.options import Timeouts

CLIENT_ID = b"SSH-2.0-lanprobe\r\n"
MAX_ID_BYTES = 8 * 1024  # identification line plus the lines a server may send before it
MAX_PACKET = 35000  # RFC 4253 section 6.1: implementations must handle 35000-byte packets
MSG_KEXINIT = 20
# RFC 4253 section 7.1, in order.
NAME_LISTS = (
    "kex",
    "host_key",
    "cipher_c2s",
    "cipher_s2c",
    "mac_c2s",
    "mac_s2c",
    "compression_c2s",
    "compression_s2c",
    "lang_c2s",
    "lang_s2c",
)


@dataclass
class KexInit:
    ident: str  # the server's identification line, e.g. SSH-2.0-OpenSSH_9.2p1 Debian-2
    lists: dict[str, list[str]] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        """`2.0`, `1.99` (both) or `1.5` (SSH-1 only)."""
        return self.ident.split("-", 2)[1] if self.ident.count("-") >= 2 else ""

    def offered(self, category: str) -> list[str]:
        """kex, host_key, cipher or mac: the union of both directions, in the server's order."""
        if category in ("kex", "host_key"):
            return list(self.lists.get(category, []))
        both = self.lists.get(f"{category}_s2c", []) + self.lists.get(f"{category}_c2s", [])
        return list(dict.fromkeys(both))


def parse_kexinit(payload: bytes) -> dict[str, list[str]]:
    """The ten name-lists of a KEXINIT payload; ProtocolError if it is not one."""
    if not payload or payload[0] != MSG_KEXINIT:
        raise ProtocolError(f"first packet is not KEXINIT (message {payload[:1].hex() or 'none'})")
    pos = 17  # message byte + 16-byte cookie
    out: dict[str, list[str]] = {}
    for name in NAME_LISTS:
        if pos + 4 > len(payload):
            raise ProtocolError("KEXINIT ends inside its name-lists")
        (length,) = struct.unpack(">I", payload[pos : pos + 4])
        pos += 4
        if pos + length > len(payload):
            raise ProtocolError("KEXINIT name-list runs past the packet")
        raw = payload[pos : pos + length].decode("ascii", "replace")
        out[name] = [n for n in raw.split(",") if n]
        pos += length
    return out


def parse_packet(data: bytes) -> bytes | None:
    """The payload of the first binary packet in `data`, None while incomplete."""
    if len(data) < 5:
        return None
    length, padding = struct.unpack(">IB", data[:5])
    if length < padding + 1 or length > MAX_PACKET:
        raise ProtocolError(f"implausible SSH packet length {length}")
    if len(data) < 4 + length:
        return None
    return data[5 : 4 + length - padding]


async def read_kexinit(ip: str, port: int, timeouts: Timeouts) -> KexInit:
    """Connect, exchange identification lines, read the server's KEXINIT, hang up."""
    target = f"{ip}:{port}"
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(ip, port, limit=MAX_PACKET + 8), timeouts.connect_s
        )
    except TimeoutError as exc:
        raise ProbeTimeout("SSH connect: no answer in time", target=target) from exc
    except OSError as exc:
        raise Unreachable(f"SSH connect: {exc}", target=target) from exc
    try:
        async with asyncio.timeout(timeouts.read_s):
            writer.write(CLIENT_ID)
            ident, seen = "", 0
            while not ident:
                line = await reader.readuntil(b"\n")
                seen += len(line)
                if line.startswith(b"SSH-"):
                    ident = line.rstrip(b"\r\n").decode("ascii", "replace")[:255]
                elif seen > MAX_ID_BYTES:
                    raise ProtocolError("no SSH identification line", target=target)
            kex = KexInit(ident=ident)
            if kex.protocol not in ("2.0", "1.99"):
                return kex  # SSH-1 only: there is no KEXINIT to read
            data = b""
            while (payload := parse_packet(data)) is None:
                chunk = await reader.read(MAX_PACKET + 8 - len(data))
                if not chunk:
                    raise ProtocolError("connection closed before KEXINIT", target=target)
                data += chunk
            kex.lists = parse_kexinit(payload)
            return kex
    except TimeoutError as exc:
        raise ProbeTimeout("SSH: no KEXINIT in time", target=target) from exc
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        raise ProtocolError(f"SSH: unreadable greeting ({exc})", target=target) from exc
    except OSError as exc:
        raise Unreachable(f"SSH: {exc}", target=target) from exc
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 1)


RSA_HOST_KEYS = ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")


async def rsa_key_bits(ip: str, port: int, offered: KexInit, timeouts: Timeouts) -> int | None:
    """The size of the server's RSA host key (a key exchange, no login); None if not learnt."""
    algs = [a for a in RSA_HOST_KEYS if a in offered.offered("host_key")]
    if not algs:
        return None
    try:
        key = await asyncio.wait_for(
            asyncssh.get_server_host_key(
                ip,
                port,
                server_host_key_algs=algs,
                kex_algs=[k for k in offered.offered("kex") if k.encode() in _KEX_WE_SPEAK],
            ),
            timeouts.connect_s + timeouts.read_s,
        )
    except (OSError, TimeoutError, asyncssh.Error, ValueError):
        return None
    pyca = getattr(key, "pyca_key", None)
    size = getattr(pyca, "key_size", None)
    return int(size) if isinstance(size, int) else None


_KEX_WE_SPEAK = frozenset(get_kex_algs())
