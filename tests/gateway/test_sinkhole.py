"""The sinkhole's listeners against real clients on loopback (stdlib http.client and ssl, raw
MQTT): what a device sends is read by its first bytes, not by the port it went to, and cleartext
the sinkhole cannot read leaves data.cleartext-outbound inconclusive, never a pass."""

from __future__ import annotations

import asyncio
import http.client
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from lanprobe.checks import outbound
from lanprobe.gateway import control, observe, sinkhole
from lanprobe.model import Device, Identifier, Verdict

from tests.requires import require

WORDS, _ = observe.load_update_words()
UNIT = Device(
    key="k", mac="a4:cf:12:00:00:01", ips=["127.0.0.1"],
    identifiers={"serial": Identifier(value="C1-0042", source="test")},
)  # fmt: skip
# MQTT 3.1.1 CONNECT, client id "C1-0042", clean session, keep-alive 10 (section 3.1).
CONNECT = b"\x10\x13\x00\x04MQTT\x04\x02\x00\x0a\x00\x07C1-0042"


@pytest.fixture
async def listen(tmp_path: Path) -> AsyncIterator[Callable[[int], Any]]:
    """start(port) -> (loopback port, events): `port` is the sinkhole port it behaves as."""
    cert, key = control._write_cert(tmp_path)
    ctx = sinkhole.server_context(str(cert), str(key))
    servers: list[asyncio.AbstractServer] = []

    async def start(as_port: int) -> tuple[int, list[dict[str, Any]]]:
        events: list[dict[str, Any]] = []

        async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await sinkhole.handle(r, w, as_port, ctx, events.append)

        server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        servers.append(server)
        return server.sockets[0].getsockname()[1], events

    yield start
    for server in servers:
        server.close()


def judged(events: list[dict[str, Any]]) -> tuple[Any, Any]:
    g = observe.Gathered(events=events)
    g.flows[("127.0.0.1", "127.0.0.1", 443, "tcp")] = observe.Flow(5, 500)
    t = observe.traffic_for(UNIT, g, window_s=5, pcap="", words=WORDS)
    return t, outbound.judge_cleartext(t)


async def wait_events(events: list[dict[str, Any]]) -> None:
    for _ in range(100):
        if events:
            return
        await asyncio.sleep(0.02)


async def test_plain_http_sent_to_the_tls_port_is_read(listen: Any) -> None:
    port, events = await listen(443)

    def get() -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/v1/report?serial=C1-0042", headers={"Host": "api.cloud.example"})
        return conn.getresponse().status

    assert await asyncio.to_thread(get) == 404
    await wait_events(events)
    (event,) = events
    assert event["tls"] is False and event["http"]["path"].startswith("/v1/report")
    t, j = judged(events)
    assert not t.tls and t.cleartext[0].port == 443
    assert j.verdict == Verdict.fail and "identifier serial" in j.title, j.title


async def test_tls_sent_to_the_mqtt_port_is_met_with_tls(listen: Any) -> None:
    port, events = await listen(1883)

    def connect() -> bytes:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # accepts anything
        raw = socket.create_connection(("127.0.0.1", port), 5)
        with raw, ctx.wrap_socket(raw, server_hostname="mqtt.cloud.example") as tls:
            tls.sendall(CONNECT)
            return tls.recv(4)

    assert await asyncio.to_thread(connect) == b"\x20\x02\x00\x00"  # CONNACK, accepted
    await wait_events(events)
    (event,) = events
    assert event["tls"] is True and event["mqtt"]["client_id"] == "C1-0042"
    t, _ = judged(events)
    (facts,) = t.tls
    assert facts.sni == "mqtt.cloud.example" and facts.accepted_untrusted_cert is True
    assert outbound.judge_client_tls(t).verdict == Verdict.fail
    assert not t.cleartext  # it went inside TLS


@pytest.mark.parametrize(
    ("as_port", "payload"),
    [
        (1883, b"\x20\x02\x00\x00"),  # a CONNACK first: not a client's CONNECT
        (80, b"\x00\x01binary telemetry C1-0042 that is no HTTP"),  # no request head ends
    ],
)
async def test_cleartext_the_sinkhole_cannot_read_is_no_pass(
    listen: Any, as_port: int, payload: bytes
) -> None:
    port, events = await listen(as_port)

    def send() -> None:
        with socket.create_connection(("127.0.0.1", port), 5) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(5)
            while s.recv(1024):
                pass

    await asyncio.to_thread(send)
    await wait_events(events)
    t, j = judged(events)
    assert t.unread and t.unread[0].startswith(f"tcp/{as_port}: {len(payload)} bytes")
    assert j.verdict == Verdict.inconclusive and f"tcp/{as_port}" in j.title, j.title


@pytest.mark.parametrize(
    ("checks_name", "verdict", "said"),
    [
        (True, Verdict.passed, "and a trusted CA's certificate for another name"),
        (False, Verdict.fail, "accepted a trusted CA's certificate for another name"),
    ],
)
async def test_a_trusted_ca_shows_which_clients_check_the_name(
    tmp_path: Path, checks_name: bool, verdict: Verdict, said: str
) -> None:
    """`probe gateway up --ca`: after a client refused the untrusted certificate, its next
    connection is shown one from the CA it trusts, for another name. A client that checks the
    chain but not the name (the classic missing validation) completes that one and fails; one
    that checks both refuses both and passes. Real stdlib clients, a real CA (lab/certs.py)."""
    from lanprobe.lab.certs import LabCA

    ca = LabCA(tmp_path)
    untrusted = sinkhole.server_context(*map(str, control._write_cert(tmp_path)))
    wrong = control._write_cert(tmp_path, (ca.cert_file, ca.key_file), "wrong-name")
    certs = sinkhole.Certs(untrusted, sinkhole.server_context(*map(str, wrong)))
    events: list[dict[str, Any]] = []

    async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await sinkhole.handle(r, w, 443, certs, events.append)

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    def connect() -> str:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(ca.cert_file)
        ctx.check_hostname = checks_name
        raw = socket.create_connection(("127.0.0.1", port), 5)
        try:
            with raw, ctx.wrap_socket(raw, server_hostname="api.cloud.example") as tls:
                tls.sendall(b"GET /v1/hello HTTP/1.1\r\nHost: api.cloud.example\r\n\r\n")
                return tls.recv(64).decode()
        except ssl.SSLError as exc:
            return exc.reason or str(exc)

    try:
        got = [await asyncio.to_thread(connect) for _ in range(3)]
        for _ in range(100):
            if len(events) == 3:
                break
            await asyncio.sleep(0.02)
    finally:
        server.close()
    shown = [e["tls_client"]["certificate"] for e in events]
    assert shown == [sinkhole.UNTRUSTED, sinkhole.WRONG_NAME, sinkhole.UNTRUSTED], got
    assert "CERTIFICATE_VERIFY_FAILED" in got[0]
    t, _ = judged(events)
    j = outbound.judge_client_tls(t)
    assert j.verdict == verdict and said in j.title, j.title


async def test_ftp_and_telnet_logins_are_read(listen: Any) -> None:
    """The stdlib FTP client and a telnet-style login (prompt, user, password) on the sinkhole's
    FTP and telnet listeners: the login is seen (the password only as present) and fails
    data.cleartext-outbound."""
    import ftplib

    ftp_port, ftp_events = await listen(21)
    telnet_port, telnet_events = await listen(23)

    def ftp_login() -> str:
        client = ftplib.FTP()
        client.connect("127.0.0.1", ftp_port, timeout=5)
        try:
            client.login("C1-0042", "s3cret")
        except ftplib.error_perm as exc:
            return str(exc)
        finally:
            client.close()
        return "logged in"

    def telnet_login() -> bytes:
        with socket.create_connection(("127.0.0.1", telnet_port), 5) as s:
            assert s.recv(64) == b"login: "
            s.sendall(b"admin\r\n")
            assert s.recv(64) == b"Password: "
            s.sendall(b"hunter22\r\n")
            return s.recv(64)

    assert (await asyncio.to_thread(ftp_login)).startswith("530")
    assert b"Login incorrect" in await asyncio.to_thread(telnet_login)
    await wait_events(ftp_events)
    await wait_events(telnet_events)
    t, j = judged(ftp_events + telnet_events)
    uses = {u.protocol: u for u in t.cleartext}
    assert uses["ftp"].credentials == ["ftp user name and password"]
    assert uses["ftp"].identifiers == ["serial"]  # the unit's serial as the FTP user
    assert uses["telnet"].credentials == ["telnet user name and password"]
    assert j.verdict == Verdict.fail and "ftp port 21" in j.title and "telnet port 23" in j.title
    assert "s3cret" not in str(t.model_dump()) and "hunter22" not in str(t.model_dump())


async def test_a_chunked_request_body_is_read(listen: Any) -> None:
    """http.client posting its telemetry chunked (no Content-Length): the body was not read
    before, so the request counted as carrying nothing."""
    port, events = await listen(80)
    unknown = Device(key="u", mac="02:00:00:00:00:20", ips=["127.0.0.1"])

    def post() -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        body = iter([b'{"temp": 21.5, ', b'"hum": 40}'])
        conn.request("POST", "/v1/telemetry", body=body, encode_chunked=True,
                     headers={"Host": "api.cloud.example"})  # fmt: skip
        return conn.getresponse().status

    assert await asyncio.to_thread(post) == 404
    await wait_events(events)
    (event,) = events
    assert event["http"]["body"] == '{"temp": 21.5, '  # the first chunk
    t = observe.traffic_for(unknown, observe.Gathered(events=events), window_s=5, pcap="",
                            words=WORDS)  # fmt: skip
    assert t.cleartext[0].telemetry
    assert outbound.judge_cleartext(t).verdict == Verdict.fail


@pytest.mark.realsw
@pytest.mark.parametrize(
    ("flags", "accepted", "verdict", "said"),
    [
        (["-k", "--tlsv1.2"], True, Verdict.fail, "accepted an untrusted certificate"),
        (["--tlsv1.2"], False, Verdict.passed, "refused an untrusted certificate"),
        ([], False, Verdict.fail, "offers TLSv1.1, TLSv1.0"),
    ],
)
async def test_curl_as_the_units_tls_client(
    listen: Any, flags: list[str], accepted: bool, verdict: Verdict, said: str
) -> None:
    """Real, unmodified client software as the unit: Debian's curl. With `-k` (the firmware
    habit of accepting any certificate) it completes the handshake with the sinkhole's untrusted
    certificate and sends its request: data.client-tls fails. With `--tlsv1.2` and no `-k` it
    refuses the certificate and passes (names untested). Left to its defaults, Debian 12's curl
    still lists TLS 1.0 and 1.1 in its ClientHello: a finding of its own. `--resolve` maps the
    name in curl itself: no resolver is asked."""
    require(shutil.which("curl") is not None, "Debian's curl (`apt-get install curl`)")
    port, events = await listen(443)
    cmd = ["curl", "-s", "-o", "/dev/null", "--max-time", "5", "--noproxy", "*",
           "--resolve", f"api.cloud.example:{port}:127.0.0.1",
           *flags, f"https://api.cloud.example:{port}/v1/hello"]  # fmt: skip
    done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, timeout=15)
    assert (done.returncode == 0) is accepted, done  # 0: the 404 read; 60: certificate refused
    await wait_events(events)
    (event,) = events
    assert event["tls_client"]["sni"] == "api.cloud.example"
    assert ("http" in event) is accepted  # a request only where the handshake was accepted
    t, _ = judged(events)
    (facts,) = t.tls
    assert facts.accepted_untrusted_cert is accepted
    j = outbound.judge_client_tls(t)
    assert j.verdict == verdict and said in j.title, j.title
