"""Record verdict-branch cases from real servers on loopback, for branches no lab bench shows.

    python -m tests.checks.record_local [NAME ...]

Each local bench below starts real software (Debian's vsftpd, mosquitto) or a small HTTP or TCP
server of this file answering one way (a security.txt without Expires, a manifest in XML, a port
that never speaks), on an address of its own in 127.0.0.0/8. Its device record is what discovery's
own fingerprinting (probe/discovery/fingerprint.py) names on the port; the profile is the input a
user would give. Then tests/checks/record_cases.py `record_sessions` runs the checks the bench
names on it and keeps the cases whose replay reaches a branch no case reached, each with a
`source` saying which server answered. Loopback traffic only; every server is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
from lanprobe.checks.context import DeviceSession, RunOptions
from lanprobe.discovery import ssdp
from lanprobe.discovery.fingerprint import FingerprintOptions, apply, fingerprint_port, load_rules
from lanprobe.lab.certs import self_signed
from lanprobe.model import Device, Service
from lanprobe.paths import BUILTIN_PROFILES
from lanprobe.profile_schema import Profile
from lanprobe.profiles import load_profiles
from lanprobe.scope import Scope

from tests.checks.record_cases import LIVE_TIMEOUTS, record_sessions, write_cases

# --- small servers answering one way ---------------------------------------------------------

# path -> (status, headers, body); "*" answers every other path.
Routes = dict[str, tuple[int, dict[str, str], bytes]]


@dataclass
class Behaviour:
    """How a small HTTP server answers, besides its routes."""

    routes: Routes = field(default_factory=dict)
    answer_first: int | None = None  # hangs up on every request after this many (a crash)
    endless: bytes = b""  # every path: 200 and this, repeated, up to ENDLESS_BYTES
    basic: tuple[str, str] | None = None  # Basic auth on every path, this pair only
    ban_after: int = 0  # with `basic`: this many wrong pairs, then every connection reset
    crash_after_login: bool = False  # with `basic`: the right pair answered, then a crash
    reset_logins: bool = False  # with `basic`: any request with credentials is reset
    requests: int = 0
    failures: int = 0
    banned_until: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


ENDLESS_BYTES = 4 * 1024 * 1024  # the client stops at its cap long before; this bounds the rest
BAN_S = 120.0


class _Handler(BaseHTTPRequestHandler):
    how: ClassVar[Behaviour]
    server_version = "local-bench"
    sys_version = ""

    def _reset(self) -> None:
        """Close with a TCP reset, nothing answered."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def do_GET(self) -> None:
        how = self.how
        with how.lock:
            how.requests += 1
            crashed = how.answer_first is not None and how.requests > how.answer_first
            banned = time.monotonic() < how.banned_until
        if crashed or banned:
            self._reset()
            return
        if how.endless:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()  # no length: the body ends when the connection does
            with contextlib.suppress(OSError):
                for _ in range(ENDLESS_BYTES // len(how.endless)):
                    self.wfile.write(how.endless)
            return
        if how.basic is not None:
            want = "Basic " + base64.b64encode(":".join(how.basic).encode()).decode()
            given = self.headers.get("Authorization")
            if given is not None and how.reset_logins:
                self._reset()
                return
            if given != want:
                with how.lock:
                    how.failures += given is not None
                    if how.ban_after and how.failures >= how.ban_after:
                        how.banned_until = time.monotonic() + BAN_S
                self._answer(401, {"WWW-Authenticate": 'Basic realm="device"'}, b"unauthorised")
                return
            if how.crash_after_login:
                with how.lock:
                    how.answer_first = how.requests
        path = self.path.split("?", 1)[0]
        self._answer(*(how.routes.get(path) or how.routes.get("*") or (404, {}, b"")))

    def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for k, v in {"Content-Type": "text/html", **headers}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def http_server(ip: str, routes: Routes | Behaviour) -> Iterator[int]:
    how = routes if isinstance(routes, Behaviour) else Behaviour(routes=routes)
    handler = type("Handler", (_Handler,), {"how": how})
    server = ThreadingHTTPServer((ip, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def tcp_server(ip: str, on_connection: Callable[[socket.socket, list[socket.socket]], None]
               ) -> Iterator[int]:  # fmt: skip
    """A TCP listener handing each connection to `on_connection` (in a thread of its own); the
    connections it keeps in the list given are closed at the end."""
    listener = socket.create_server((ip, 0))
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                conn, _ = listener.accept()
                threading.Thread(target=on_connection, args=(conn, held), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        listener.close()


def silent_server(ip: str) -> contextlib.AbstractContextManager[int]:
    """Accepts connections and never says a word (a hung service)."""
    return tcp_server(ip, lambda conn, held: held.append(conn))


def _free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def _wait_port(ip: str, port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    for _ in range(50):
        with socket.socket() as s:
            if s.connect_ex((ip, port)) == 0:
                return
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {ip}:{port}")


@contextlib.contextmanager
def process(argv: list[str], ip: str, port: int, what: str) -> Iterator[int]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(ip, port, proc, what)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def vsftpd(ip: str, tmp: Path, *, anonymous: bool) -> Iterator[int]:
    """Debian's vsftpd as tests/clients/test_ftp_vsftpd.py starts it (root needed)."""
    exe = shutil.which("vsftpd") or "/usr/sbin/vsftpd"
    Path("/var/run/vsftpd/empty").mkdir(parents=True, exist_ok=True)
    port = _free_port(ip)
    root = tmp / "pub"
    root.mkdir(exist_ok=True)
    root.chmod(0o555)
    conf = tmp / f"vsftpd-{port}.conf"
    conf.write_text("\n".join([
        "listen=YES", "listen_ipv6=NO", f"listen_address={ip}", f"listen_port={port}",
        "background=NO", f"anonymous_enable={'YES' if anonymous else 'NO'}",
        f"local_enable={'NO' if anonymous else 'YES'}", f"anon_root={root}",
        "secure_chroot_dir=/var/run/vsftpd/empty", "seccomp_sandbox=NO",
        "pasv_enable=NO", "port_enable=NO",
    ]) + "\n")  # fmt: skip
    with process([exe, str(conf)], ip, port, "vsftpd") as p:
        yield p


@contextlib.contextmanager
def mosquitto(ip: str, tmp: Path, *, password: tuple[str, str] | None = None) -> Iterator[int]:
    """Debian's mosquitto: anyone in, or one user from a password file."""
    port = _free_port(ip)
    lines = [f"listener {port} {ip}", "persistence false"]
    if password is None:
        lines.append("allow_anonymous true")
    else:
        pw = tmp / f"mosquitto-{port}.passwd"
        pw.write_text("")
        subprocess.run(["mosquitto_passwd", "-b", str(pw), *password], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        pw.chmod(0o644)
        lines += ["allow_anonymous false", f"password_file {pw}"]
    conf = tmp / f"mosquitto-{port}.conf"
    conf.write_text("\n".join(lines) + "\n")
    with process(["mosquitto", "-c", str(conf)], ip, port, "mosquitto") as p:
        yield p


def _legacy_hello(head: bytes) -> bool:
    """A ClientHello offering at most TLS 1.1 (or an SSLv2-format hello)."""
    if head[:1] and head[0] & 0x80:
        return True
    return len(head) >= 11 and head[0] == 0x16 and head[5] == 1 and head[9:11] < b"\x03\x03"


@contextlib.contextmanager
def tls_dropping_legacy(ip: str, tmp: Path) -> Iterator[int]:
    """HTTPS (TLS 1.2/1.3, forward-secret AEAD suites only) that never answers a ClientHello
    of TLS 1.1 or older: no alert, no close, as some embedded stacks do."""
    cert, key = self_signed("local-bench", tmp / "tls-legacy", ip=ip)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
    ctx.load_cert_chain(cert, key)

    def one(conn: socket.socket, held: list[socket.socket]) -> None:
        conn.settimeout(3.0)
        try:
            head = conn.recv(11, socket.MSG_PEEK)
            if _legacy_hello(head):
                held.append(conn)  # silent until the end of the recording
                return
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(4096)
                tls.sendall(b"HTTP/1.1 200 OK\r\nServer: local-bench\r\nContent-Length: 2\r\n"
                            b"Connection: close\r\n\r\nok")  # fmt: skip
        except (OSError, ssl.SSLError):
            conn.close()

    with tcp_server(ip, one) as port:
        yield port


@contextlib.contextmanager
def ssdp_responder(ip: str, location: str) -> Iterator[int]:
    """Answers an M-SEARCH (unicast, on its own port) as a UPnP root device does."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ip, 0))
    sock.settimeout(0.2)
    stop = threading.Event()
    answer = (
        "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\n"
        f"LOCATION: {location}\r\nSERVER: Linux/5.10 UPnP/1.0 local-bench/1.0\r\n"
        "ST: upnp:rootdevice\r\nUSN: uuid:6c0a1f6e-0000-4000-8000-00000000c0de::upnp:rootdevice"
        "\r\n\r\n"
    ).encode()

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                data, peer = sock.recvfrom(2048)
                if data.startswith(b"M-SEARCH"):
                    sock.sendto(answer, peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=2)
        sock.close()


async def ssdp_sighting(ip: str, port: int, scope: Scope) -> dict[str, str]:
    """The device's SSDP record as discovery makes it: discovery's M-SEARCH, sent unicast to the
    responder, its answer parsed and its description read by discovery's own code."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2.0)
        sock.sendto(ssdp.msearch(), (ip, port))
        data, (peer, _) = sock.recvfrom(ssdp.MAX_DATAGRAM)
    headers = ssdp.parse_answer(data)
    if headers is None:
        raise RuntimeError(f"SSDP answer from {peer} not parsed")
    notes: list[str] = []
    async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
        seen = await ssdp._describe(
            client, scope, ssdp.SsdpAnswer(ip=peer, headers=headers), notes, ssdp.SsdpOptions()
        )
    if notes:
        raise RuntimeError(f"SSDP: {notes}")
    return seen.ssdp


UPNP_DESCRIPTION = b"""<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor>
</specVersion><device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<friendlyName>local bench gateway</friendlyName><manufacturer>local-bench</manufacturer>
<modelName>LB-1</modelName><UDN>uuid:6c0a1f6e-0000-4000-8000-00000000c0de</UDN><serviceList>
<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><controlURL>/ctl/IPConn</controlURL>
<eventSubURL>/evt/IPConn</eventSubURL><SCPDURL>/WANIPCn.xml</SCPDURL></service></serviceList>
</device></root>
"""


# --- the local benches ---------------------------------------------------------------------------


Serve = Callable[[str, Path], contextlib.AbstractContextManager[int]]  # (ip, tmp dir) -> port


@dataclass
class Local:
    """One device on loopback: what serves it, the profile given, what to record."""

    name: str
    source: str  # the fixture's `source`: which server answered and how
    serve: Serve
    profile: Callable[[int], dict[str, Any]] | None = None  # the port -> profile; None: generic
    stop_before_checks: bool = False  # the server goes away after discovery
    upnp: bool = False  # an SSDP responder announces /upnp/desc.xml on the served port
    checks: list[str] | None = None  # in this order within a round (the runner: at once)


def _manifest(body: bytes, ctype: str) -> Serve:
    return lambda ip, tmp: http_server(ip, {"/fw/manifest": (200, {"Content-Type": ctype}, body),
                                            "/": (200, {}, b"<html>device</html>")})  # fmt: skip


def _update_profile(name: str, scheme: str = "http", **extra: Any) -> Callable[[int], Any]:
    return lambda port: {
        "id": name,
        "strict_ports": False,
        "update": {"manifest_url": "/fw/manifest", "port": port, "scheme": scheme, **extra},
    }


def _default_profile(name: str, password: str) -> Callable[[int], Any]:
    """A profile documenting one default login, admin:`password`, and no other candidates."""
    return lambda port: {
        "id": name,
        "strict_ports": False,
        "credentials": {
            "defaults": [{"user": "admin", "password": password}],
            "lists": [],
            "max_attempts": 3,
            "pacing_s": 0,
        },
    }


SIGNED_JSON = b'{"version": "1.2.3", "url": "https://updates.example/fw.bin", "signature": "' + (
    b"A" * 86 + b'=="}'
)
LOCALS: list[Local] = [
    Local(
        "vsftpd-anonymous",
        "Debian vsftpd on loopback, anonymous_enable=YES (tests/checks/record_local.py)",
        lambda ip, tmp: vsftpd(ip, tmp, anonymous=True),
        checks=["configuration.default-login"],
    ),
    Local(
        "vsftpd-documented-default",
        "Debian vsftpd on loopback, local (PAM) logins only: the profile's documented default "
        "is refused (tests/checks/record_local.py)",
        lambda ip, tmp: vsftpd(ip, tmp, anonymous=False),
        _default_profile("local-ftp", "ftp-default"),
        checks=["configuration.default-login"],
    ),
    Local(
        "mosquitto-anonymous",
        "Debian mosquitto on loopback, allow_anonymous true, nothing published "
        "(tests/checks/record_local.py)",
        lambda ip, tmp: mosquitto(ip, tmp),
        checks=["access.anonymous-mqtt"],
    ),
    Local(
        "mosquitto-budget-spent",
        "Debian mosquitto on loopback with a password file holding admin:admin, the profile's "
        "documented default; the profile allows 2 attempts, which default-login spends (the "
        "login and its wrong-password proof) before anonymous-mqtt asks, as when the runner "
        "starts both at once (tests/checks/record_local.py)",
        lambda ip, tmp: mosquitto(ip, tmp, password=("admin", "admin")),
        lambda port: {
            "id": "local-mqtt",
            "strict_ports": False,
            "credentials": {
                "defaults": [{"user": "admin", "password": "admin"}],
                "lists": [],
                "max_attempts": 2,
                "pacing_s": 0,
            },
        },
        checks=["configuration.default-login", "access.anonymous-mqtt"],
    ),
    Local(
        "http-security-txt-invalid",
        "Python http.server on loopback serving a security.txt with a bare e-mail Contact and "
        "no Expires (tests/checks/record_local.py)",
        lambda ip, tmp: http_server(
            ip,
            {
                "/.well-known/security.txt": (
                    200,
                    {"Content-Type": "text/plain"},
                    b"Contact: security@example.org\n",
                ),
                "/": (200, {}, b"<html>device</html>"),
            },
        ),
        checks=["declarations.vulnerability-contact"],
    ),
    Local(
        "http-any-path",
        "Python http.server on loopback answering every path 200 with the same page "
        "(tests/checks/record_local.py)",
        lambda ip, tmp: http_server(ip, {"*": (200, {}, b"<html><h1>Welcome</h1></html>")}),
        checks=["state.exposed-status", "access.unauthenticated-interface"],
    ),
    Local(
        "http-401",
        "Python http.server on loopback asking for Basic credentials on every path; the profile "
        "names a state endpoint and no lab credentials (tests/checks/record_local.py)",
        lambda ip, tmp: http_server(
            ip, {"*": (401, {"WWW-Authenticate": 'Basic realm="dev"'}, b"unauthorised")}
        ),
        lambda port: {
            "id": "local-state",
            "strict_ports": False,
            "state": {"port": port, "path": "/api/security", "scheme": "http"},
        },
        checks=["state.reporting"],
    ),
    Local(
        "http-declared-tls",
        "Python http.server on loopback, plain HTTP on a port the profile declares TLS "
        "(tests/checks/record_local.py)",
        lambda ip, tmp: http_server(
            ip, {"*": (404, {}, b"not found"), "/": (200, {}, b"<html>device</html>")}
        ),
        lambda port: {
            "id": "local-tls",
            "strict_ports": False,
            "ports": [{"port": port, "service": "https", "tls": True}],
        },
        checks=["data.tls-required", "data.tls-protocol"],
    ),
    Local(
        "http-gone",
        "Python http.server on loopback, stopped after discovery named the port (a device that "
        "went away mid-scan; tests/checks/record_local.py)",
        lambda ip, tmp: http_server(ip, {"*": (200, {}, b"<html>device</html>")}),
        stop_before_checks=True,
        checks=["access.unauthenticated-interface"],
    ),
    Local(
        "upnp-gone",
        "Python http.server on loopback serving a UPnP IGD description, announced by an SSDP "
        "responder (discovery's M-SEARCH sent unicast, its answer and the description read by "
        "discovery's code); both stopped before the checks (a device that went away mid-scan; "
        "tests/checks/record_local.py)",
        lambda ip, tmp: http_server(
            ip,
            {
                "/upnp/desc.xml": (200, {"Content-Type": "text/xml"}, UPNP_DESCRIPTION),
                "/": (200, {}, b"<html>gateway</html>"),
            },
        ),
        upnp=True,
        stop_before_checks=True,
        checks=["access.unauthenticated-interface"],
    ),
    Local(
        "tls-drops-legacy",
        "an HTTPS server of Python's ssl on loopback (TLS 1.2/1.3, ECDHE AEAD suites) that never "
        "answers a TLS 1.1-or-older ClientHello: tier 1 cannot settle TLS 1.0/1.1 and sslyze "
        "runs out of time (tests/checks/record_local.py)",
        tls_dropping_legacy,
        checks=["data.tls-protocol", "data.tls-cipher"],
    ),
    Local(
        "update-silent-tls",
        "a TCP listener on loopback that accepts and never speaks, named by the profile as the "
        "HTTPS update endpoint (tests/checks/record_local.py)",
        lambda ip, tmp: silent_server(ip),
        _update_profile("local-update-silent", scheme="https"),
        checks=["update.transport"],
    ),
    Local(
        "update-unparseable",
        "Python http.server on loopback serving a manifest that is no format lanprobe reads "
        "(tests/checks/record_local.py)",
        _manifest(
            b"FWVER 1.2.3 BUILD 7 CRC 9a3f\nURL http://x/fw.bin\nSIZE 1024\nEND\n",
            "application/octet-stream",
        ),
        _update_profile("local-update"),
        checks=["update.signature"],
    ),
    Local(
        "update-xml-signed",
        "Python http.server on loopback serving an XML manifest with a <signature> element "
        "(tests/checks/record_local.py)",
        _manifest(
            b'<?xml version="1.0"?><firmware><version>1.2.3</version>'
            b"<signature>" + b"A" * 86 + b"==</signature></firmware>",
            "application/xml",
        ),
        _update_profile("local-update"),
        checks=["update.signature"],
    ),
    Local(
        "update-signed-no-key",
        "Python http.server on loopback serving a JSON manifest with an embedded signature; the "
        "profile gives no public key (tests/checks/record_local.py)",
        _manifest(SIGNED_JSON, "application/json"),
        _update_profile("local-update"),
        checks=["update.signature"],
    ),
    Local(
        "update-signed-bad-key",
        "Python http.server on loopback serving a JSON manifest with an embedded signature; the "
        "profile's public key is not a key (tests/checks/record_local.py)",
        _manifest(SIGNED_JSON, "application/json"),
        _update_profile(
            "local-update",
            public_key="-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n",
        ),
        checks=["update.signature"],
    ),
    Local(
        "update-missing",
        "Python http.server on loopback answering 404 at the profile's manifest URL "
        "(tests/checks/record_local.py)",
        lambda ip, tmp: http_server(ip, {"/": (200, {}, b"<html>device</html>")}),
        _update_profile("local-update"),
        checks=["update.signature"],
    ),
    Local(
        "unknown-port",
        "a TCP listener on loopback that accepts and never speaks: discovery cannot name it "
        "(tests/checks/record_local.py)",
        lambda ip, tmp: silent_server(ip),
        checks=["data.tls-required"],
    ),
    Local(
        "http-crash",
        "Python http.server on loopback that answers its first 3 requests (discovery's, the "
        "random path, /) and then resets every connection (a web server that crashed; "
        "tests/checks/record_local.py)",
        lambda ip, tmp: http_server(
            ip,
            Behaviour(
                {"*": (404, {}, b"not found"), "/": (200, {}, b"<html>device</html>")},
                answer_first=3,
            ),
        ),
        checks=["access.unauthenticated-interface"],
    ),
    Local(
        "http-endless",
        "Python http.server on loopback answering every path 200 with an endless page (one "
        "line repeated, bounded at 4 MiB; the client reads its 64 KiB cap; like the lab's "
        "hostile-x1; tests/checks/record_local.py)",
        lambda ip, tmp: http_server(ip, Behaviour(endless=b"<p>status ok</p>\n" * 64)),
        checks=["access.unauthenticated-interface"],
    ),
    Local(
        "http-basic-crash",
        "Python http.server on loopback with HTTP Basic on every path, admin:admin (the "
        "profile's documented default) accepted, after which it resets every connection (a web "
        "server that crashed after a login; tests/checks/record_local.py)",
        lambda ip, tmp: http_server(
            ip,
            Behaviour(
                {"*": (200, {}, b"<html>settings</html>")},
                basic=("admin", "admin"),
                crash_after_login=True,
            ),
        ),
        _default_profile("local-basic", "admin"),
        checks=["configuration.default-login"],
    ),
    Local(
        "http-basic-broken",
        "Python http.server on loopback with HTTP Basic on every path that resets every "
        "request carrying credentials (a login that is broken, not locked; "
        "tests/checks/record_local.py)",
        lambda ip, tmp: http_server(
            ip, Behaviour(basic=("admin", "Zq7-not-in-any-list"), reset_logins=True)
        ),
        checks=["configuration.default-login", "access.no-lockout"],
    ),
    Local(
        "http-basic-ban",
        "Python http.server on loopback with HTTP Basic on every path that, after a wrong "
        "pair, resets every connection for 120 s without a word (a silent ban; "
        "tests/checks/record_local.py)",
        lambda ip, tmp: http_server(
            ip, Behaviour(basic=("admin", "Zq7-not-in-any-list"), ban_after=1)
        ),
        checks=["configuration.default-login", "access.no-lockout"],
    ),
]


async def _device(ip: str, port: int, n: int) -> Device:
    """The device as discovery names it: the open port fingerprinted by discovery's own code."""
    services = []
    if port:
        svc = Service(port=port, transport="tcp", addresses=[ip])
        report = await fingerprint_port(ip, port, load_rules(), FingerprintOptions())
        apply(svc, report)
        services.append(svc)
    return Device(key=f"02:00:00:00:7f:{n:02x}", ips=[ip], services=services)


async def record_local(local: Local, ip: str, n: int, tmp: Path) -> dict[str, list[dict[str, Any]]]:
    profile = load_profiles(None).generic
    options = RunOptions(timeouts=LIVE_TIMEOUTS, profiles_dir=BUILTIN_PROFILES)
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(local.serve(ip, tmp))
        if local.profile:
            profile = Profile.model_validate(local.profile(port))
        device = await _device(ip, port, n)
        if local.upnp:
            where = f"http://{ip}:{port}/upnp/desc.xml"
            responder = stack.enter_context(ssdp_responder(ip, where))
            device.ssdp = await ssdp_sighting(ip, responder, Scope.build([f"{ip}/32"]))
        if local.stop_before_checks:
            stack.close()
        session = DeviceSession(device=device, profile=profile,
                                scope=Scope.build([f"{ip}/32"]), options=options)  # fmt: skip
        started = datetime.now(UTC).isoformat()
        found = await record_sessions([session], started, None, local.checks)
    for cases in found.values():
        for case in cases:
            case["name"] = f"{local.name} (loopback, {profile.id}): {case['check']}"
            case["source"] = local.source
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="local benches to record (default: all)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("vsftpd needs root")
    chosen = [loc for loc in LOCALS if not args.names or loc.name in args.names]
    with tempfile.TemporaryDirectory(prefix="lanprobe-local-") as tmp:
        Path(tmp).chmod(0o755)  # mosquitto and vsftpd drop root and read their files as themselves
        for local in chosen:
            n = LOCALS.index(local) + 1
            ip = f"127.0.80.{n}"
            print(f"== {local.name} on {ip}")
            try:
                found = asyncio.run(record_local(local, ip, n, Path(tmp)))
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                print(f"- {local.name}: not recorded: {exc}")
                continue
            write_cases(found, "recorded from real servers on loopback "
                        "(tests/checks/record_local.py)")  # fmt: skip


if __name__ == "__main__":
    main()
