"""Discovery parsers on arbitrary network input: mDNS TXT records and service types, SSDP answers
and device descriptions, nmap service fingerprints (banners). Hostile input becomes notes,
ProtocolError or ScopeError, never another exception, and what is kept is capped and printable.
"""

from __future__ import annotations

import time
import xml.sax.saxutils as su

from hypothesis import given
from hypothesis import strategies as st
from lanprobe.discovery.fingerprint import GREETING, Answer, first_line, identify, load_rules
from lanprobe.discovery.mdns import (
    MAX_KEY_LEN,
    MAX_TXT_ENTRIES,
    MAX_VALUE_LEN,
    decode_txt,
    txt_identifiers,
    valid_type,
)
from lanprobe.discovery.services import MAX_BANNER, banner_from_fingerprint, fingerprint_responses
from lanprobe.discovery.ssdp import (
    MAX_VALUE_LEN as SSDP_MAX_VALUE,
)
from lanprobe.discovery.ssdp import (
    location_target,
    parse_answer,
    parse_description,
)
from lanprobe.errors import ProtocolError, ScopeError
from lanprobe.scope import Scope

from tests.fuzz.common import FUZZ

# --- mDNS TXT -----------------------------------------------------------------------------------

_entry = st.one_of(
    st.binary(max_size=300),
    st.tuples(st.binary(max_size=80), st.binary(max_size=300)).map(lambda kv: kv[0] + b"=" + kv[1]),
    st.sampled_from([b"serial=ACM-1", b"model=X", b"fw=1.0", b"=", b"", b"\xff=\xfe"]),
)


def _txt(entries: list[bytes], lengths: list[int]) -> bytes:
    # Length bytes may lie (shorter, longer, or past the end): `lengths` overrides some.
    out = bytearray()
    for i, e in enumerate(entries):
        n = lengths[i] if i < len(lengths) else min(len(e), 255)
        out.append(n % 256)
        out += e[:255]
    return bytes(out)


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=3000),
        st.builds(_txt, st.lists(_entry, max_size=90), st.lists(st.integers(0, 255), max_size=5)),
    )
)
def test_decode_txt_is_capped_and_printable(raw: bytes) -> None:
    txt, notes = decode_txt(raw)
    assert len(txt) <= MAX_TXT_ENTRIES
    for key, value in txt.items():
        assert key and len(key) <= MAX_KEY_LEN
        assert key.isascii() and key.isprintable() and key == key.lower()
        assert len(value) <= MAX_VALUE_LEN and value.isprintable()
    assert all(isinstance(n, str) for n in notes)
    for ident in txt_identifiers(txt, "mdns:fuzz").values():
        assert ident.value


@FUZZ
@given(st.text(max_size=300))
def test_valid_type_never_raises(name: str) -> None:
    assert valid_type(name) in (True, False)


# --- SSDP ---------------------------------------------------------------------------------------

_header = st.tuples(st.text(max_size=30), st.text(max_size=400)).map(lambda kv: f"{kv[0]}:{kv[1]}")
ssdp_answer = st.one_of(
    st.binary(max_size=2000),
    st.lists(_header, max_size=20).map(
        lambda hs: ("HTTP/1.1 200 OK\r\n" + "\r\n".join(hs) + "\r\n\r\n").encode("utf-8", "replace")
    ),
)


@FUZZ
@given(ssdp_answer)
def test_parse_answer(data: bytes) -> None:
    headers = parse_answer(data)
    if headers is not None:
        for key, value in headers.items():
            assert key == key.lower()
            assert len(value) <= SSDP_MAX_VALUE and value.isprintable()


SCOPE = Scope.build(["198.18.0.0/24"], [], lab=True)


@FUZZ
@given(
    st.one_of(
        st.text(max_size=200),
        st.builds(
            lambda scheme, host, rest: f"{scheme}://{host}{rest}",
            st.sampled_from(["http", "https", "ftp", "HTTP", ""]),
            st.one_of(
                st.sampled_from(
                    [
                        "198.18.0.5",
                        "198.18.0.5:80",
                        "[::1",
                        "[::1]",
                        "10.0.0.1",
                        "198.18.0.5:99999",
                        "camera.local",
                        "[fe80::1%eth0]",
                        "",
                    ]
                ),
                st.text(max_size=40),
            ),
            st.text(max_size=40),
        ),
    )
)
def test_location_target_only_scope_errors(location: str) -> None:
    try:
        url = location_target(location, SCOPE)
    except ScopeError:
        return
    assert url == location


_field = st.sampled_from(["manufacturer", "modelName", "modelNumber", "serialNumber", "UDN",
                          "friendlyName", "firmwareVersion", "device", "root", "x"])  # fmt: skip


def _description(fields: list[tuple[str, str]], decl: str, wrap: bool) -> bytes:
    body = "".join(f"<{f}>{su.escape(v)}</{f}>" for f, v in fields)
    doc = f'<root xmlns="urn:schemas-upnp-org:device-1-0"><device>{body}</device></root>'
    if not wrap:
        doc = body
    return (decl + doc).encode("utf-8", "surrogatepass")


xml_docs = st.one_of(
    st.binary(max_size=3000),
    st.builds(
        _description,
        st.lists(st.tuples(_field, st.text(max_size=300)), max_size=12),
        st.sampled_from(
            [
                "",
                '<?xml version="1.0"?>',
                '<?xml version="1.0" encoding="utf-16"?>',
                '<?xml version="1.0" encoding="x-unknown"?>',
                '<!DOCTYPE r [<!ENTITY a "aaaa">]>',
            ]
        ),
        st.booleans(),
    ),
)


@FUZZ
@given(xml_docs)
def test_parse_description_only_protocol_errors(data: bytes) -> None:
    try:
        desc = parse_description(data)
    except ProtocolError:
        return
    for value in desc.values():
        assert len(value) <= SSDP_MAX_VALUE and value.isprintable()


# --- nmap fingerprints (banners) ----------------------------------------------------------------

_response = st.builds(
    lambda probe, text: f'r({probe},{len(text):X},"{text}")',
    st.sampled_from(["NULL", "GetRequest", "HTTPOptions", "GenericLines", "x-y_1"]),
    st.one_of(
        st.text(max_size=200),
        st.sampled_from(
            [
                "HTTP/1\\.1\\x20200\\x20OK\\r\\nServer:\\x20Acme\\r\\n\\r\\n",
                "\\xff\\xfb\\x01login:\\x20",
                "\\x",
                "\\x4",
                "\\\\",
                "220\\x20FTP\\r\\n",
            ]
        ),
    ),
)


@FUZZ
@given(st.one_of(st.text(max_size=2000), st.lists(_response, max_size=8).map("\nSF:".join)))
def test_banner_from_fingerprint(fp: str) -> None:
    responses = fingerprint_responses(fp)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in responses.items())
    banner = banner_from_fingerprint(fp)
    assert len(banner) <= MAX_BANNER and banner.isprintable()


def test_description_dtd_refused_in_any_encoding() -> None:
    """UTF-16 hides `<!DOCTYPE` from a byte search; the entity must still never expand."""
    doc = '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE r [<!ENTITY a "EXPANDED">]>'
    doc += "<root><device><manufacturer>&a;</manufacturer></device></root>"
    try:
        desc = parse_description(doc.encode("utf-16"))
    except ProtocolError as exc:
        assert "DTD" in str(exc)
    else:
        raise AssertionError(f"a DTD was accepted: {desc}")


# --- our own fingerprints (probe/discovery/fingerprint.py) --------------------------------------

_RULES = load_rules()
_PROBES = [GREETING, *(p.id for p in _RULES.probes)]
_answer_bytes = st.one_of(
    st.binary(max_size=4096),
    st.sampled_from(
        [b"HTTP/1.1 200 OK\r\nServer: " + b"A/" * 2000 + b"\r\n\r\n", b"SSH-2.0-" + b"-" * 4000,
         b"220 " + b"(" * 4000, b"\xff\xfb\x01" * 1000, b"RTSP/1.0 200 OK\r\nServer:\r\n\r\n"]
    ),
    st.lists(st.sampled_from([b"HTTP/1.", b"Server: ", b"SSH-", b"220 ", b"\r\n", b"/", b" ",
                              b"login: ", b"\xff\xfd\x18", b"MQTT", b"\x20\x02\x00\x00"]),
             max_size=60).map(b"".join),
)  # fmt: skip


@FUZZ
@given(st.sampled_from(_PROBES), _answer_bytes, st.booleans(), st.integers(1, 65535))
def test_fingerprint_identify_any_answer(probe: str, data: bytes, tls: bool, port: int) -> None:
    start = time.monotonic()
    match = identify(_RULES, Answer(probe=probe, data=data, tls=tls), port)
    assert time.monotonic() - start < 1.0, "a rule backtracks on hostile input"
    if match is not None:
        for text in (match.product, match.version, match.banner):
            assert len(text) <= MAX_BANNER and text.isprintable()
    assert first_line(data).isprintable()
