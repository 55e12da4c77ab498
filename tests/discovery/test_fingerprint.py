"""Our service fingerprinting: the rules (pure), real local servers, and every lab service.

The local servers listen on 127.0.0.1 and record what they received, so the tests also show what
the fingerprinter sends (nothing to a service that speaks first). The lab test names every
service of every model on the session bench.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lanprobe.discovery.fingerprint import (
    GREETING,
    RULES_FILE,
    Answer,
    FingerprintOptions,
    fingerprint_hosts,
    fingerprint_port,
    first_line,
    identify,
    load_rules,
    parse_rules,
    strip_telnet,
)
from lanprobe.errors import ProfileError
from lanprobe.lab.bench import BenchState
from lanprobe.model import Service
from lanprobe.scope import Scope

RULES = load_rules(RULES_FILE)
FAST = FingerprintOptions(greeting_s=0.5, idle_s=0.1, connect_s=1.0, probe_s=1.0, port_s=6.0)


def name_of(data: bytes, port: int = 0, probe: str = GREETING, tls: bool = False) -> str | None:
    m = identify(RULES, Answer(probe, data, tls=tls), port)
    return m.service if m else None


# --- rules (pure) --------------------------------------------------------------------------------


def test_the_rules_file_says_whose_rules_they_are() -> None:
    head = RULES_FILE.read_text().split("\nversion:", 1)[0].lower()
    assert "lanprobe's own" in head and "specification" in head
    assert "nothing here is taken or derived from nmap" in head
    assert all(r.spec for r in RULES.rules) and {p.id for p in RULES.probes} >= {"http", "mqtt"}


@pytest.mark.parametrize(
    ("banner", "product", "version"),
    [
        (b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", "OpenSSH", "9.2p1"),
        (b"SSH-2.0-AsyncSSH_2.23.1\r\n", "AsyncSSH", "2.23.1"),
        (b"SSH-2.0-dropbear_2022.83\r\n", "dropbear", "2022.83"),
        (b"SSH-1.99-Cisco-1.25\r\n", "Cisco", "1.25"),
        (b"SSH-2.0-libssh\r\n", "libssh", ""),
        (b"Welcome to the box\r\nSSH-2.0-OpenSSH_8.4\r\n", "OpenSSH", "8.4"),  # RFC 4253 4.2
    ],
)
def test_ssh_version_strings(banner: bytes, product: str, version: str) -> None:
    m = identify(RULES, Answer(GREETING, banner), 22)
    assert m is not None and (m.service, m.product, m.version) == ("ssh", product, version)


def test_220_greetings_tell_ftp_from_smtp() -> None:
    ftp = identify(RULES, Answer(GREETING, b"220 Acme IPCAM-200 FTP server ready\r\n"), 21)
    assert ftp is not None and ftp.service == "ftp"
    assert ftp.banner == "Acme IPCAM-200 FTP server ready"
    assert name_of(b"220 mx.example ESMTP Postfix (Debian)\r\n", 2525) == "smtp"
    assert name_of(b"220 mx.example ready\r\n", 25) == "smtp"  # the SMTP port decides
    assert name_of(b"220 ready\r\n", 2121) == "ftp"
    assert name_of(b"220-multi line\r\n220 FTP here\r\n", 21) == "ftp"


def test_other_greetings() -> None:
    assert name_of(b"+OK POP3 server ready\r\n") == "pop3"
    assert name_of(b"* OK [CAPABILITY IMAP4rev1] ready\r\n") == "imap"
    vnc = identify(RULES, Answer(GREETING, b"RFB 003.008\n"), 5900)
    assert vnc is not None and (vnc.service, vnc.version) == ("vnc", "003.008")
    assert name_of(b"\xff\xfd\x18\xff\xfd\x20\xff\xfd\x23") == "telnet"  # IAC DO ...
    assert name_of(b"\r\nacme-ipcam200-1 login: ") == "telnet"
    assert name_of(b"Username: ") == "telnet"
    assert name_of(b"debug shell\r\n# ") is None  # a raw shell is no telnet
    assert name_of(b"\x00\x01\x02garbage") is None
    assert name_of(b"") is None


def test_a_login_prompt_counts_only_as_a_greeting() -> None:
    # Some unknown service echoing "login:" after our HTTP probe is not telnet.
    assert name_of(b"bad request, login: ", probe="http") is None


def test_http_server_header_fills_product_version_and_banner() -> None:
    answer = b"HTTP/1.1 401 Unauthorized\r\nServer: AcmeCam-httpd/1.0.3\r\nX: y\r\n\r\n"
    m = identify(RULES, Answer("http", answer), 80)
    assert m is not None
    assert (m.service, m.product, m.version, m.banner) == (
        "http",
        "AcmeCam-httpd",
        "1.0.3",
        "AcmeCam-httpd/1.0.3",
    )
    m = identify(RULES, Answer("http", b"HTTP/1.0 200 OK\r\nserver: HubCo-H1\r\n\r\n", True), 443)
    assert m is not None and (m.service, m.product, m.version) == ("https", "HubCo-H1", "")
    m = identify(RULES, Answer("http", b"HTTP/1.0 404 Not Found\r\n\r\n"), 8080)
    assert m is not None and (m.service, m.product, m.banner) == (
        "http",
        "",
        "HTTP/1.0 404 Not Found",
    )
    long = b"HTTP/1.1 200 OK\r\nServer: " + b"A" * 5000 + b"\r\n\r\n"
    m = identify(RULES, Answer("http", long), 80)
    assert m is not None and len(m.banner) <= 160


def test_rtsp_and_mqtt_answers() -> None:
    rtsp = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nServer: CamStream/2.1\r\n\r\n"
    m = identify(RULES, Answer("rtsp", rtsp), 554)
    assert m is not None and (m.service, m.product, m.version) == ("rtsp", "CamStream", "2.1")
    assert name_of(b"\x20\x02\x00\x05", probe="mqtt") == "mqtt"  # CONNACK, not authorised
    assert name_of(b"\x20\x02\x00\x00", probe="mqtt", tls=True) == "mqtt"  # kind mqtts via tls
    assert name_of(b"\x20\x02\x00\x00", probe="http") is None  # only an answer to CONNECT
    assert name_of(b"\x30\x02\x00\x00", probe="mqtt") is None  # PUBLISH is no CONNACK


def test_the_mqtt_probe_is_a_well_formed_connect() -> None:
    (probe,) = [p for p in RULES.probes if p.id == "mqtt"]
    pkt = probe.send
    assert pkt[0] == 0x10 and pkt[1] == len(pkt) - 2  # CONNECT, remaining length
    assert pkt[2:8] == b"\x00\x04MQTT" and pkt[8] == 4  # protocol name, level 4 (3.1.1)
    assert pkt[9] == 0x02  # clean session, no user, no password, no will
    cid_len = int.from_bytes(pkt[12:14], "big")
    assert pkt[14:] == b"lanprobe-fp" and cid_len == len(pkt[14:])
    assert probe.after == b"\xe0\x00"  # DISCONNECT


def test_probe_order_puts_hinted_probes_first() -> None:
    assert [p.id for p in RULES.probe_order(1883)] == ["mqtt", "http"]
    assert [p.id for p in RULES.probe_order(80)] == ["http", "mqtt"]
    assert [p.id for p in RULES.probe_order(554)] == ["rtsp", "http", "mqtt"]
    assert "rtsp" not in [p.id for p in RULES.probe_order(7000)]  # hinted_only


def test_telnet_commands_are_stripped_from_banners() -> None:
    data = b"\xff\xfb\x01\xff\xfa\x18\x01\xff\xf0Welcome\r\nlogin: "
    assert strip_telnet(data) == b"Welcome\r\nlogin: "
    assert first_line(data) == "Welcome"
    assert first_line(b"\x1b[0m\r\n\r\n  hi \x07\r\n") == "[0m"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"version": 2}, "version: 1"),
        ({"version": 1, "rules": [{"service": "x", "match": "(", "spec": ""}]}, "regex"),
        ({"version": 1, "rules": [{"service": "x", "match": "a", "colour": 1}]}, "unknown keys"),
        ({"version": 1, "rules": [{"service": "x", "match": "a", "probes": ["ftp"]}]}, "probes"),
        ({"version": 1, "probes": [{"id": "greeting", "send": "x"}]}, "greeting"),
        ({"version": 1, "probes": [{"id": "p", "send": "\u20ac"}]}, "latin-1"),
        ({"version": 1, "rules": [{"service": "x", "match": "a", "header": "via"}]}, "header"),
    ],
)
def test_invalid_rules_are_refused(doc: dict[str, object], message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        parse_rules(doc, "test.yaml")


def test_cli_options_choose_the_mode_and_the_profiles_rules(tmp_path: Path) -> None:
    from lanprobe.cli.common import discovery_options
    from lanprobe.errors import ScopeError

    with pytest.raises(ScopeError, match="choose ours, nmap, both"):
        discovery_options("sV", None)
    assert discovery_options("nmap", tmp_path).version_detection == "nmap"
    # No data/ there: the built-in rules, wherever the working directory is.
    assert discovery_options("ours", tmp_path).fingerprint.rules_file == RULES_FILE
    assert discovery_options("ours", None).fingerprint.rules_file == RULES_FILE
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "fingerprints.yaml").write_text(RULES_FILE.read_text())
    opts = discovery_options("both", tmp_path, services=False)
    assert opts.fingerprint.rules_file == tmp_path / "data" / "fingerprints.yaml"
    assert not opts.services


# --- real servers on 127.0.0.1 ------------------------------------------------------------------


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytearray], Awaitable[None]]


@contextlib.asynccontextmanager
async def serve(
    handler: Handler, tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[int, list[bytearray]]]:
    """A server on 127.0.0.1; yields its port and what each connection received."""
    received: list[bytearray] = []
    tasks: set[asyncio.Task[None]] = set()

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got = bytearray()
        received.append(got)
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer, got)
        except (ConnectionError, OSError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()
            tasks.discard(task)

    server = await asyncio.start_server(client, "127.0.0.1", 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1], received
    finally:
        server.close()
        # Handlers end when the fingerprinter hangs up; a stuck one is cancelled after a while.
        if tasks:
            await asyncio.wait(set(tasks), timeout=5)
        for task in list(tasks):
            task.cancel()
        await server.wait_closed()


async def _record(reader: asyncio.StreamReader, got: bytearray, limit_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(limit_s):
            while chunk := await reader.read(1024):
                got += chunk


def greeter(text: bytes) -> Handler:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter, got: bytearray) -> None:
        w.write(text)
        await w.drain()
        await _record(r, got, 3)

    return handler


async def http_handler(r: asyncio.StreamReader, w: asyncio.StreamWriter, got: bytearray) -> None:
    got += await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 3)
    w.write(b"HTTP/1.0 401 Unauthorized\r\nServer: Box-httpd/4.2\r\nContent-Length: 0\r\n\r\n")
    await w.drain()


async def mqtt_handler(r: asyncio.StreamReader, w: asyncio.StreamWriter, got: bytearray) -> None:
    head = await asyncio.wait_for(r.readexactly(2), 3)
    got += head
    if head[0] != 0x10:
        return  # not a CONNECT: a broker drops the connection
    got += await r.readexactly(head[1])
    w.write(b"\x20\x02\x00\x05")  # CONNACK: not authorised
    await w.drain()
    got += await asyncio.wait_for(r.readexactly(2), 3)  # the DISCONNECT


async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter, got: bytearray) -> None:
    await _record(r, got, 30)  # reads, never answers: a tarpit


async def endless(r: asyncio.StreamReader, w: asyncio.StreamWriter, got: bytearray) -> None:
    for _ in range(100_000):  # bounded: ~100 MB at most, far past the read cap
        w.write(b"x" * 1024)
        await w.drain()


def server_tls(tmp: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fp test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "k.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp / "c.pem", tmp / "k.pem")
    return ctx


async def test_a_greeting_service_is_named_and_gets_no_probe() -> None:
    async with serve(greeter(b"SSH-2.0-OpenSSH_9.2p1\r\n")) as (port, received):
        report = await fingerprint_port("127.0.0.1", port, RULES, FAST)
    assert report.match is not None and report.match.service == "ssh"
    assert not report.tls and len(received) == 1 and received[0] == b""


async def test_a_raw_shell_is_not_typed_into() -> None:
    async with serve(greeter(b"debug shell\r\n# ")) as (port, received):
        report = await fingerprint_port("127.0.0.1", port, RULES, FAST)
    assert report.match is None and report.banner == "debug shell"
    assert [bytes(r) for r in received] == [b""]


async def test_a_silent_http_server() -> None:
    async with serve(http_handler) as (port, received):
        report = await fingerprint_port("127.0.0.1", port, RULES, FAST)
    assert report.match is not None
    assert (report.match.service, report.match.product, report.match.version) == (
        "http",
        "Box-httpd",
        "4.2",
    )
    assert received[1].startswith(b"GET / HTTP/1.0\r\n")  # [0] is the silent greeting wait


async def test_https_is_http_inside_tls(tmp_path: Path) -> None:
    async with serve(http_handler, tls=server_tls(tmp_path)) as (port, _):
        report = await fingerprint_port("127.0.0.1", port, RULES, FAST)
    assert report.tls and report.match is not None
    assert (report.match.service, report.match.banner) == ("https", "Box-httpd/4.2")


async def test_tls_with_nothing_known_inside_is_ssl(tmp_path: Path) -> None:
    # Silent inside TLS: every wait runs out, so short ones (the handshake keeps its 1 s).
    quick = FingerprintOptions(greeting_s=0.2, idle_s=0.1, connect_s=1.0, probe_s=0.3, port_s=6.0)
    async with serve(silent, tls=server_tls(tmp_path)) as (port, _):
        report = await fingerprint_port("127.0.0.1", port, RULES, quick)
    assert report.tls and report.match is not None and report.match.service == "ssl"


async def test_mqtt_connack_of_any_code_and_a_disconnect_after() -> None:
    async with serve(mqtt_handler) as (port, received):
        report = await fingerprint_port("127.0.0.1", port, RULES, FAST)
    assert report.match is not None and report.match.service == "mqtt" and not report.tls
    connects = [r for r in received if r.startswith(b"\x10")]
    assert connects and connects[-1].endswith(b"lanprobe-fp\xe0\x00")  # CONNECT, DISCONNECT


async def test_a_tarpit_costs_its_bounds_not_more() -> None:
    opts = FingerprintOptions(greeting_s=0.3, connect_s=0.5, probe_s=0.5, port_s=3.0)
    async with serve(silent) as (port, _):
        start = time.monotonic()
        report = await fingerprint_port("127.0.0.1", port, RULES, opts)
        took = time.monotonic() - start
    assert report.match is None and not report.tls
    assert took < opts.port_s + 0.5, took
    assert any("no TLS handshake in time" in n for n in report.notes), report.notes


async def test_an_endless_sender_is_read_only_up_to_the_cap() -> None:
    async with serve(endless) as (port, _):
        start = time.monotonic()
        report = await fingerprint_port("127.0.0.1", port, RULES, FAST)
        took = time.monotonic() - start
    assert report.match is None
    assert [len(a.data) for a in report.answers] == [FAST.max_read]
    assert took < FAST.probe_s + 1, took


async def test_closed_port_is_a_note_not_an_error() -> None:
    async with serve(silent) as (port, _):
        pass  # closed again
    report = await fingerprint_port("127.0.0.1", port, RULES, FAST)
    assert report.match is None and report.notes and "no connection" in report.notes[0]


async def test_fingerprint_hosts_fills_services_and_checks_scope() -> None:
    scope = Scope.build(["127.0.0.1/32"], [])
    async with (
        serve(greeter(b"220 Gizmo FTP server ready\r\n")) as (ftp, _),
        serve(http_handler) as (web, _),
    ):
        svcs = [Service(port=ftp, name="table-guess"), Service(port=web, name="")]
        seen: list[str] = []
        reports, notes = await fingerprint_hosts(
            scope, {"127.0.0.1": svcs}, FAST, on_host=lambda ip, _r: seen.append(ip)
        )
    assert [(s.name, s.banner) for s in svcs] == [
        ("ftp", "Gizmo FTP server ready"),
        ("http", "Box-httpd/4.2"),
    ]
    assert seen == ["127.0.0.1"] and len(reports["127.0.0.1"]) == 2 and notes == []
    with pytest.raises(Exception, match="scope"):
        await fingerprint_hosts(scope, {"127.0.0.2": [Service(port=1)]}, FAST)


# --- the lab -------------------------------------------------------------------------------------


@pytest.mark.lab
def test_every_lab_service_is_named_right(lab_bench: BenchState) -> None:
    from lanprobe.checks.context import service_kind
    from lanprobe.lab import models as lab_models
    from lanprobe.lab.scope import lab_scope

    from tests.discovery.test_discovery_lab import expected_kinds

    services = {d.ip: [Service(port=p) for p in sorted(d.ports)] for d in lab_bench.devices}
    start = time.monotonic()
    _, notes = asyncio.run(fingerprint_hosts(lab_scope(lab_bench.bridge), services))
    took = time.monotonic() - start
    assert notes == []
    for dev in lab_bench.devices:
        model = lab_models.BY_ID[dev.model]
        for port, kind in expected_kinds(model).items():
            svc = next(s for s in services[dev.ip] if s.port == port)
            if kind:
                assert service_kind(svc) == kind, f"{dev.name}:{port} {svc}"
            else:  # the raw debug shell: unnamed, cleartext, its banner kept
                assert not svc.tls and svc.banner == "debug shell", svc
            if kind in ("http", "https"):
                assert svc.banner == model.server and svc.product, svc
            if kind == "ssh":
                assert svc.product == "AsyncSSH" and svc.version, svc
    # A bound against hangs (every port at once, each ~1 s of greeting wait), not a benchmark.
    assert took < 8, took
