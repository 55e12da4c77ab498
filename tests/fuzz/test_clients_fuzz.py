"""Protocol clients (checks/clients) on arbitrary answers: HTTP responses from a real socket on
127.0.0.2, FTP replies, login forms and TLS certificates. A device's answer ends in a value or a
TargetError (Unreachable, ProbeTimeout, ProtocolError), never another exception."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st
from lanprobe.checks.clients import ftp as ftp_client
from lanprobe.checks.clients import http as http_client
from lanprobe.checks.clients import tls as tls_client
from lanprobe.checks.context import Timeouts
from lanprobe.errors import ProtocolError, TargetError
from lanprobe.profile_schema import HttpLogin

from tests.fuzz.common import FUZZ, FUZZ_IO

# --- HTTP over a real socket --------------------------------------------------------------------

_status = st.one_of(
    st.sampled_from([b"HTTP/1.1 200 OK", b"HTTP/1.1 401 Unauthorized", b"HTTP/1.0 302 Found",
                     b"HTTP/1.1 999 Weird", b"HTTP/2 200", b"HTTP/1.1 200", b"ICY 200 OK", b""]),
    st.binary(max_size=60),
)  # fmt: skip
_header = st.one_of(
    st.sampled_from(
        [b"Content-Length: 5", b"Content-Length: -1", b"Content-Length: 99999999999999999999",
         b"Content-Length: 3", b"Content-Length: 3, 4", b"Transfer-Encoding: chunked",
         b"Content-Encoding: gzip", b"Content-Encoding: br", b"Content-Encoding: deflate, gzip",
         b"WWW-Authenticate: Basic realm=\"x", b"Set-Cookie: =", b"Location: http://[",
         b" folded continuation", b"X-Big: " + b"a" * 200_000, b"Connection: close"]
    ),
    st.binary(max_size=80),
)  # fmt: skip
_body = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"0\r\n\r\n", b"zz\r\nab\r\n", b"5\r\nab", b"ffffffffffffffff\r\n",
                     gzip.compress(b"x" * 100_000), b"\x1f\x8b\x08\x00garbage"]),
)  # fmt: skip
http_responses = st.builds(
    lambda status, headers, body: status + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body,
    _status,
    st.lists(_header, max_size=6),
    _body,
)


async def _serve_once(response: bytes) -> http_client.HttpAnswer | TargetError:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
            writer.write(response)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.2", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with server:
            timeouts = Timeouts(connect_s=1.0, read_s=1.0)
            try:
                return await http_client.fetch("127.0.0.2", port, "/", tls=False, timeouts=timeouts)
            except TargetError as exc:
                return exc
    finally:
        server.close()


@FUZZ_IO
@given(http_responses)
def test_fetch_any_response(response: bytes) -> None:
    got = asyncio.run(_serve_once(response))
    if isinstance(got, http_client.HttpAnswer):
        assert len(got.body) <= http_client.MAX_BODY_BYTES
        got.summary()
        got.shows_password_form()


# --- FTP replies --------------------------------------------------------------------------------

_ftp_line = st.one_of(
    st.binary(max_size=120).map(lambda b: b + b"\r\n"),
    st.builds(lambda code, sep, text: code + sep + text + b"\r\n",
              st.sampled_from([b"220", b"230", b"530", b"421", b"331", b"2200", b"22", b""]),
              st.sampled_from([b" ", b"-", b""]), st.binary(max_size=60)),
    st.just(b"x" * 9000 + b"\r\n"),
)  # fmt: skip


async def _ftp_reply(data: bytes) -> tuple[int, str] | TargetError:
    reader = asyncio.StreamReader(limit=ftp_client.MAX_REPLY_BYTES)
    reader.feed_data(data)
    reader.feed_eof()
    ctl = ftp_client.FtpControl(reader, None, "fuzz:21")  # type: ignore[arg-type]
    try:
        return await ctl.reply(1.0)
    except TargetError as exc:
        return exc


@FUZZ
@given(st.lists(_ftp_line, max_size=12).map(b"".join))
def test_ftp_reply(data: bytes) -> None:
    got = asyncio.run(_ftp_reply(data))
    if not isinstance(got, TargetError):
        code, text = got
        assert 100 <= code <= 999 and isinstance(text, str)


# --- login forms and challenges -----------------------------------------------------------------

_action = st.one_of(
    st.sampled_from(["", "/login", "login", "http://[", "//x/y", "?a=b", "http://1.2.3.4:99999/"]),
    st.text(max_size=30),
)
_inputs = st.lists(
    st.sampled_from(['<input name=user>', "<input type=password name=>",
                     "<input type='email' name='e'>", "<input"]), max_size=4,
).map(lambda rest: '<input type="password" name="pw">' + "".join(rest))  # fmt: skip
_html = st.one_of(
    st.binary(max_size=600),
    st.builds(
        lambda method, action, inputs: (
            f'<form method="{method}" action="{action}">{inputs}</form>'.encode("utf-8", "replace")
        ),
        st.sampled_from(["post", "POST", "get"]),
        _action,
        _inputs,
    ),
)


@FUZZ
@given(_html, st.text(max_size=40))
def test_parse_login_form(body: bytes, page: str) -> None:
    form = http_client.parse_login_form(body, page or "/")
    if form is not None:
        assert form.path.startswith("/")


@FUZZ
@given(st.integers(100, 599), _action, st.binary(max_size=200))
def test_form_accepted_any_answer(status: int, location: str, body: bytes) -> None:
    answer = http_client.HttpAnswer(
        status=status, reason="", headers={"location": location}, body=body, truncated=False,
        elapsed_s=0.0,
    )  # fmt: skip
    login = HttpLogin(kind="form", path="/login", failure_marker="Login failed")
    assert http_client.form_accepted(answer, login) in (True, False, None)


@FUZZ
@given(st.text(max_size=200))
def test_parse_challenge(header: str) -> None:
    scheme, realm = http_client.parse_challenge(header)
    assert isinstance(scheme, str) and isinstance(realm, str)


# --- TLS certificates ---------------------------------------------------------------------------


def _cert() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("fuzz.local")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


CERT = _cert()


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, len(CERT) - 1), st.integers(0, 255)), max_size=4),
    st.integers(0, len(CERT)),
    st.lists(st.text(max_size=20), max_size=3),
)
def test_cert_facts_of_mangled_certificates(
    flips: list[tuple[int, int]], cut: int, names: list[str]
) -> None:
    der = bytearray(CERT)
    for pos, value in flips:
        der[pos] = value
    try:
        facts = tls_client.cert_facts(bytes(der[: max(cut, 1)] if cut else der))
    except ProtocolError:
        return
    problems = tls_client.cert_problems(facts, ips=["198.18.0.10"], hostnames=names)
    assert all(isinstance(p, str) for p in problems)
    # The mangled certificate as an intermediate of the good one: links nothing, breaks nothing.
    good = tls_client.cert_facts(CERT)
    trusted = [x509.load_der_x509_certificate(CERT)]
    tls_client.cert_problems(good, trusted=trusted, chain_der=[bytes(der)])
