"""The sinkhole: where the gateway's DNS sends every name. It completes TCP and TLS handshakes
and answers HTTP, MQTT, FTP and telnet minimally, so that what a device sends is seen.

Measuring only: each connection becomes one event (a dict) handed to `record`. Every read is
capped (`MAX_READ`) and every connection has a deadline (`CONN_S`); nothing is forwarded.
TLS is terminated with a self-signed certificate for a name no device asks for, so a client
that completes the handshake accepted an untrusted certificate for the wrong name.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from lanprobe.gateway import clienthello

MAX_READ = 65536  # bytes read from one connection, in all
CONN_S = 10.0  # one connection's whole life
LINE_MAX = 4096
SNIPPET = 512  # bytes of a payload kept in an event
DRAIN_MAX = 32768  # bytes of a request body read (and dropped) before the answer
DRAIN_S = 1.0
MAX_EVENTS_PER_CONN = 20

Record = Callable[[dict[str, Any]], None]


class Closed(Exception):
    """The client went away (or used up its read budget)."""


class Stream:
    """A byte stream over TCP, optionally through TLS (an SSLObject on memory BIOs, so the raw
    ClientHello can be read before the handshake)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.budget = MAX_READ
        self.tls: ssl.SSLObject | None = None
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._buf = b""

    async def raw(self) -> bytes:
        if self.budget <= 0:
            raise Closed("read budget spent")
        data = await self.reader.read(min(4096, self.budget))
        if not data:
            raise Closed("eof")
        self.budget -= len(data)
        return data

    async def _flush(self) -> None:
        pending = self._out.read()
        if pending:
            self.writer.write(pending)
            await self.writer.drain()

    async def start_tls(self, ctx: ssl.SSLContext, first: bytes) -> None:
        self.tls = ctx.wrap_bio(self._in, self._out, server_side=True)
        self._in.write(first)
        while True:
            try:
                self.tls.do_handshake()
                await self._flush()
                return
            except ssl.SSLWantReadError:
                await self._flush()
                self._in.write(await self.raw())

    def unread(self, data: bytes) -> None:
        """Put bytes already taken from the socket back in front of what comes next."""
        self._buf = data + self._buf

    async def read_some(self) -> bytes:
        if self._buf:
            data, self._buf = self._buf, b""
            return data
        if self.tls is None:
            return await self.raw()
        while True:
            try:
                data = self.tls.read(4096)
                if not data:
                    raise Closed("tls close")
                return data
            except ssl.SSLWantReadError:
                self._in.write(await self.raw())
            except ssl.SSLZeroReturnError as exc:
                raise Closed("tls close") from exc

    async def read_exactly(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += await self.read_some()
        self._buf = out[n:] + self._buf
        return out[:n]

    async def read_until(self, sep: bytes, limit: int) -> bytes:
        out = b""
        while sep not in out:
            if len(out) > limit:
                raise Closed("line too long")
            out += await self.read_some()
        head, rest = out.split(sep, 1)
        self._buf = rest + self._buf
        return head

    async def write(self, data: bytes) -> None:
        if self.tls is None:
            self.writer.write(data)
            await self.writer.drain()
        else:
            self.tls.write(data)
            await self._flush()


# --- the protocols ------------------------------------------------------------------------------


async def _rest_of_chunks(stream: Stream, left: int) -> None:
    """Read the rest of a chunked body (up to DRAIN_MAX bytes): the chunk begun, then the rest."""
    total = 0
    while total <= DRAIN_MAX:
        if left > 0:
            await stream.read_exactly(min(left, DRAIN_MAX))
            total += left
        await stream.read_until(b"\r\n", LINE_MAX)  # the CRLF after a chunk's data
        size = (await stream.read_until(b"\r\n", LINE_MAX)).split(b";")[0].strip()
        left = int(size or b"0", 16)
        if left == 0:
            return


async def _drain(reading: Awaitable[Any]) -> None:
    """Read what the client is still sending before we answer and close: closing a socket with
    unread data sends a reset, and the client then never reads our answer. Bounded in bytes
    (the stream's budget, DRAIN_MAX) and time; a client that stops sending ends it."""
    with contextlib.suppress(TimeoutError, Closed, OSError, ValueError):
        async with asyncio.timeout(DRAIN_S):
            await reading


async def http(stream: Stream, event: dict[str, Any]) -> None:
    """One HTTP request: method, host, path, headers of interest, body snippet; answer 404."""
    head = (await stream.read_until(b"\r\n\r\n", 16384)).decode("latin-1")
    line, *header_lines = head.split("\r\n")
    parts = line.split(" ")
    headers: dict[str, str] = {}
    for h in header_lines:
        name, _, value = h.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b""
    length = headers.get("content-length", "0")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        # RFC 9112 7.1: the first chunk is enough to see what the body carries.
        size = (await stream.read_until(b"\r\n", LINE_MAX)).split(b";")[0].strip()
        chunk = int(size or b"0", 16)
        body = await stream.read_exactly(min(chunk, SNIPPET)) if chunk > 0 else b""
        await _drain(_rest_of_chunks(stream, chunk - len(body)))
    elif length.isdigit() and int(length) > 0:
        body = await stream.read_exactly(min(int(length), SNIPPET))
        await _drain(stream.read_exactly(min(int(length) - len(body), DRAIN_MAX)))
    auth = headers.get("authorization", "")
    event["http"] = {
        "method": parts[0] if parts else "",
        "path": parts[1] if len(parts) > 1 else "",
        "version": parts[2] if len(parts) > 2 else "",
        "host": headers.get("host", ""),
        "user_agent": headers.get("user-agent", ""),
        "authorization": auth.split(" ", 1)[0] if auth else "",
        "credentials": auth,
        "cookie": bool(headers.get("cookie")),
        "body": body.decode("utf-8", "replace"),
    }
    await stream.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


async def _mqtt_packet(stream: Stream) -> tuple[int, int, bytes]:
    first = (await stream.read_exactly(1))[0]
    length, shift = 0, 0
    for _ in range(4):
        byte = (await stream.read_exactly(1))[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    if length > MAX_READ:
        raise Closed("MQTT packet too large")
    return first >> 4, first & 0x0F, await stream.read_exactly(length)


def _mqtt_str(data: bytes, pos: int) -> tuple[bytes, int]:
    n = int.from_bytes(data[pos : pos + 2], "big")
    return data[pos + 2 : pos + 2 + n], pos + 2 + n


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return value, pos


def parse_connect(body: bytes) -> dict[str, Any]:
    """MQTT CONNECT (3.1.1 section 3.1, 5.0 section 3.1): the client id and login fields."""
    _proto, pos = _mqtt_str(body, 0)
    level, flags = body[pos], body[pos + 1]
    pos += 4  # level, flags, keep-alive
    if level == 5:
        props, pos = _varint(body, pos)
        pos += props
    client_id, pos = _mqtt_str(body, pos)
    if flags & 0x04:  # will
        if level == 5:
            props, pos = _varint(body, pos)
            pos += props
        _topic, pos = _mqtt_str(body, pos)
        _msg, pos = _mqtt_str(body, pos)
    username = b""
    if flags & 0x80:
        username, pos = _mqtt_str(body, pos)
    return {
        "level": level,
        "client_id": client_id.decode("utf-8", "replace"),
        "username": username.decode("utf-8", "replace"),
        "password": bool(flags & 0x40),
    }


async def mqtt(stream: Stream, event: dict[str, Any]) -> None:
    """Accept the CONNECT, then take PUBLISH/SUBSCRIBE/PING until DISCONNECT or the deadline."""
    kind, _flags, body = await _mqtt_packet(stream)
    if kind != 1:
        event["mqtt"] = {"error": f"first packet type {kind} is not CONNECT"}
        return
    info = parse_connect(body)
    info["publish"] = []
    info["subscribe"] = []
    event["mqtt"] = info
    level = info["level"]
    await stream.write(b"\x20\x03\x00\x00\x00" if level == 5 else b"\x20\x02\x00\x00")
    for _ in range(MAX_EVENTS_PER_CONN):
        kind, flags, body = await _mqtt_packet(stream)
        if kind == 3:  # PUBLISH
            topic, pos = _mqtt_str(body, 0)
            qos = (flags >> 1) & 3
            packet_id = body[pos : pos + 2]
            if qos:
                pos += 2
            if level == 5:
                props, pos = _varint(body, pos)
                pos += props
            payload = body[pos : pos + SNIPPET].decode("utf-8", "replace")
            info["publish"].append({"topic": topic.decode("utf-8", "replace"), "payload": payload})
            if qos == 1:
                await stream.write(b"\x40\x02" + packet_id)
        elif kind == 8:  # SUBSCRIBE: grant QoS 0 to each filter
            topic, _ = _mqtt_str(body, 2 + (1 if level == 5 else 0))
            info["subscribe"].append(topic.decode("utf-8", "replace"))
            await stream.write(b"\x90\x03" + body[:2] + b"\x00")
        elif kind == 12:
            await stream.write(b"\xd0\x00")
        elif kind == 14:
            return


async def ftp(stream: Stream, event: dict[str, Any]) -> None:
    """An FTP greeting; USER and PASS are recorded (the password only as present), then refused."""
    info: dict[str, Any] = {"user": "", "password": False, "commands": []}
    event["ftp"] = info
    await stream.write(b"220 ready\r\n")
    for _ in range(MAX_EVENTS_PER_CONN):
        line = (await stream.read_until(b"\r\n", LINE_MAX)).decode("latin-1")
        verb, _, arg = line.partition(" ")
        verb = verb.upper()
        info["commands"].append(verb)
        if verb == "USER":
            info["user"] = arg
            await stream.write(b"331 password please\r\n")
        elif verb == "PASS":
            info["password"] = bool(arg)
            await stream.write(b"530 login incorrect\r\n")
        elif verb == "QUIT":
            await stream.write(b"221 bye\r\n")
            return
        else:
            await stream.write(b"530 log in first\r\n")


async def telnet(stream: Stream, event: dict[str, Any]) -> None:
    """A login prompt; the user name and whether a password followed are recorded."""
    info: dict[str, Any] = {"user": "", "password": False}
    event["telnet"] = info
    await stream.write(b"login: ")
    info["user"] = _printable(await stream.read_until(b"\n", LINE_MAX))
    await stream.write(b"Password: ")
    info["password"] = bool(_printable(await stream.read_until(b"\n", LINE_MAX)))
    await stream.write(b"\r\nLogin incorrect\r\n")


def _printable(raw: bytes) -> str:
    # Telnet option negotiation (IAC ...) and line endings are not part of what was typed.
    text = raw.split(b"\xff")[0] if raw.startswith(b"\xff") else raw
    return text.decode("latin-1").strip("\r\n\x00 ")


Handler = Callable[[Stream, dict[str, Any]], Awaitable[None]]

# Port -> (TLS first?, protocol). Common IoT cloud ports; anything else is seen in the capture.
LISTENERS: dict[int, tuple[bool, Handler]] = {
    21: (False, ftp),
    23: (False, telnet),
    80: (False, http),
    443: (True, http),
    1883: (False, mqtt),
    8080: (False, http),
    8443: (True, http),
    8883: (True, mqtt),
}
PROTOCOL_NAMES: dict[Handler, str] = {ftp: "ftp", telnet: "telnet", http: "http", mqtt: "mqtt"}
CLIENT_FIRST = (http, mqtt)  # the client speaks first: its first bytes show TLS or not
TLS_HANDSHAKE = b"\x16"  # a TLS record of type handshake (RFC 8446 5.1)


# TLS alerts (RFC 8446 6.2) a client sends when it rejects the server's certificate, as OpenSSL
# names them on our side ("TLSV1_ALERT_UNKNOWN_CA"...). Any other failure (no shared suite, a
# reset) says nothing about certificate checks; nor do decrypt_error (a handshake signature or
# Finished that did not verify) and access_denied (a policy refusal): neither names the
# certificate, so neither shows the client validates it.
CERT_ALERTS = (
    "UNKNOWN_CA",
    "BAD_CERTIFICATE",
    "CERTIFICATE_UNKNOWN",
    "UNSUPPORTED_CERTIFICATE",
    "CERTIFICATE_EXPIRED",
    "CERTIFICATE_REVOKED",
)
UNTRUSTED = "untrusted"  # self-signed, for a name no device asks for
WRONG_NAME = "wrong name"  # from a CA the units trust (`--ca`), for a name no device asks for


def refused_cert(tls_event: dict[str, Any]) -> bool:
    """The client stopped the handshake with an alert about our certificate."""
    reason = str(tls_event.get("reason", "")).upper()
    return tls_event.get("handshake") == "refused" and any(a in reason for a in CERT_ALERTS)


class Certs:
    """Which certificate a TLS client is shown. The untrusted one first; with a CA the units
    trust, a client (address, port, SNI) that refused it is shown the trusted CA's certificate
    for another name on its next connection, then the untrusted one again, and so on: a client
    that checks the chain but not the name completes that handshake."""

    def __init__(self, untrusted: ssl.SSLContext, wrong_name: ssl.SSLContext | None = None) -> None:
        self.contexts = {UNTRUSTED: untrusted}
        if wrong_name is not None:
            self.contexts[WRONG_NAME] = wrong_name
        self._next_wrong_name: set[tuple[str, int, str]] = set()

    def pick(self, who: tuple[str, int, str]) -> tuple[str, ssl.SSLContext]:
        kind = WRONG_NAME if who in self._next_wrong_name else UNTRUSTED
        return kind, self.contexts[kind]

    def outcome(self, who: tuple[str, int, str], kind: str, info: dict[str, Any]) -> None:
        if kind == WRONG_NAME:
            self._next_wrong_name.discard(who)
        elif WRONG_NAME in self.contexts and refused_cert(info):
            self._next_wrong_name.add(who)


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """Accept every version and suite this OpenSSL has, so old clients show what they do."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():  # TLS 1.0 is deprecated: that is what we want to see
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


async def handle(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    port: int,
    ctx: ssl.SSLContext | Certs,
    record: Record,
) -> None:
    certs = ctx if isinstance(ctx, Certs) else Certs(ctx)
    use_tls, proto = LISTENERS[port]
    peer = writer.get_extra_info("peername") or ("", 0)
    event: dict[str, Any] = {
        "kind": "tcp",
        "time": time.time(),
        "client": peer[0],
        "client_port": peer[1],
        "port": port,
        "protocol": PROTOCOL_NAMES[proto],
        "tls": use_tls,
    }
    stream = Stream(reader, writer)
    try:
        async with asyncio.timeout(CONN_S):
            first = b""
            if proto in CLIENT_FIRST:
                # The client's first bytes decide, not the port: plain HTTP sent to 443 is read
                # as cleartext, a TLS client on 1883 or 80 is met with TLS.
                first = await stream.raw()
                use_tls = event["tls"] = first[:1] == TLS_HANDSHAKE
            if use_tls:
                await _tls(stream, certs, event, first)
                if event["tls_client"]["handshake"] != "completed":
                    return
            else:
                stream.unread(first)
            await proto(stream, event)
    except (TimeoutError, Closed, OSError, ssl.SSLError, IndexError, ValueError) as exc:
        event["ended"] = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        if use_tls and "tls_client" in event:
            # Application data after the handshake: the client went on with our certificate.
            event["tls_client"]["sent_data"] = any(k in event for k in ("http", "mqtt"))
        event["bytes_in"] = MAX_READ - stream.budget  # > 0 and nothing parsed: unread
        record(event)
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(1):
                await writer.wait_closed()


async def _tls(stream: Stream, certs: Certs, event: dict[str, Any], first: bytes) -> None:
    info: dict[str, Any] = {"handshake": "no ClientHello"}
    event["tls_client"] = info
    while True:
        try:
            hello = clienthello.parse(first)
            break
        except clienthello.NotAHello as exc:
            if first and "incomplete" not in str(exc):
                info["handshake"] = f"not TLS: {exc}"
                return
        first += await stream.raw()
    info.update(
        versions=hello.versions,
        suites=hello.suites,
        sni=hello.sni,
        legacy_version=hello.legacy_version,
    )
    who = (event["client"], event["port"], hello.sni)
    kind, ctx = certs.pick(who)
    info["certificate"] = kind
    try:
        await stream.start_tls(ctx, first)
    except ssl.SSLError as exc:
        # A client that checks certificates stops here, usually with an alert naming why.
        info["handshake"] = "refused"
        info["reason"] = getattr(exc, "reason", None) or str(exc)[:200]
        return
    except Closed as exc:
        info["handshake"] = "refused"
        info["reason"] = f"connection closed during the handshake ({exc})"
        return
    finally:
        certs.outcome(who, kind, info)
    assert stream.tls is not None
    info["handshake"] = "completed"
    info["negotiated"] = stream.tls.version() or ""
    cipher = stream.tls.cipher()
    info["cipher"] = cipher[0] if cipher else ""


async def serve(
    address: str,
    ports: list[int],
    cert_file: str,
    key_file: str,
    record: Record,
    wrong_name: tuple[str, str] | None = None,
) -> list[asyncio.AbstractServer]:
    """Listen on `address` (the bench interface's own address only) on each port that is free.
    `wrong_name`: (cert, key) from a CA the units trust, for a name they do not ask for."""
    ctx = Certs(
        server_context(cert_file, key_file),
        server_context(*wrong_name) if wrong_name else None,
    )
    servers: list[asyncio.AbstractServer] = []
    for port in ports:

        async def on_conn(
            r: asyncio.StreamReader, w: asyncio.StreamWriter, port: int = port
        ) -> None:
            await handle(r, w, port, ctx, record)

        try:
            servers.append(await asyncio.start_server(on_conn, address, port, reuse_address=True))
        except OSError as exc:
            record({"kind": "listener", "port": port, "error": str(exc)})
    return servers
