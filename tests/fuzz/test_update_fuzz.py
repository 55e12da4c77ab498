"""Update manifests and security.txt (checks/clients/manifest.py, securitytxt.py) on arbitrary
device answers: parsing never raises, signature checks say yes or no, versions either compare or
raise our ProtocolError (a ValueError too, for the callers that catch that)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st
from lanprobe.checks.clients import manifest as mf
from lanprobe.checks.clients import securitytxt
from lanprobe.errors import ProbeError

from tests.fuzz.common import FUZZ

# --- manifests ----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=30,
)
_fields = st.sampled_from([*mf.VERSION_FIELDS, *mf.SIGNATURE_FIELDS, *mf.PAYLOAD_FIELDS, "url"])
manifest_objects = st.dictionaries(st.one_of(_fields, st.text(max_size=10)), json_values,
                                   max_size=8)  # fmt: skip


def _raw(obj: object) -> bytes:
    return json.dumps(obj).encode()


manifest_bytes = st.one_of(
    st.binary(max_size=2000),
    manifest_objects.map(_raw),
    st.sampled_from(
        [
            b"[" * 50_000 + b"]" * 50_000,  # nesting past the recursion limit
            b"1" * 5000,  # an integer past Python's digit limit
            b'{"version": "\\ud800", "signature": "AAAA"}',  # a lone surrogate
            b'{"version": NaN, "signed": {"a": Infinity}}',
            b"\xef\xbb\xbf{}",
        ]
    ),
)


@FUZZ
@given(manifest_bytes)
def test_manifest_parse_and_fields(raw: bytes) -> None:
    m = mf.parse_manifest(raw)
    assert isinstance(m.data, dict)
    if m.error:
        assert m.data == {}
    assert isinstance(m.version, str) and isinstance(m.embedded_signature, str)
    m.summary()
    for message in mf.signed_messages(m):
        assert isinstance(message, bytes)


_KEYS = [
    ed25519.Ed25519PrivateKey.generate(),
    ec.generate_private_key(ec.SECP256R1()),
    rsa.generate_private_key(public_exponent=65537, key_size=2048),
]
PEMS = [
    k.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
    for k in _KEYS
]


@FUZZ
@given(
    st.sampled_from(PEMS),
    st.lists(st.binary(max_size=200), min_size=1, max_size=3),
    st.one_of(st.binary(max_size=600), st.text(max_size=600).map(str.encode)),
)
def test_verify_says_yes_or_no(pem: str, messages: list[bytes], signature: bytes) -> None:
    assert mf.verify(pem, messages, signature) in (True, False)


@FUZZ
@given(st.one_of(st.text(max_size=100), st.from_regex(r"[vV]?[0-9]{1,5}(\.[0-9]{1,5}){0,4}.*")))
def test_versions_compare_or_raise_ours(text: str) -> None:
    try:
        order = mf.compare_versions(text, "1.2.0")
    except ProbeError as exc:
        assert isinstance(exc, ValueError)  # callers that catch ValueError still do
        return
    assert order in (-1, 0, 1)


@FUZZ
@given(st.text(max_size=200), st.text(max_size=30).filter(lambda s: "{ip}" not in s))
def test_resolve_update_url(spec: str, scheme: str) -> None:
    try:
        ep = mf.resolve(spec, "198.18.0.10", scheme=scheme)
    except ValueError:
        return  # a URL naming a host (documented: the probe resolves no names)
    assert ep.ip == "198.18.0.10" or mf._is_address(ep.ip)


# --- security.txt -------------------------------------------------------------------------------

_line = st.one_of(
    st.text(max_size=120),
    st.builds(
        lambda name, value: f"{name}: {value}",
        st.sampled_from(["Contact", "Expires", "Policy", "Canonical", "Encryption", "EXPIRES"]),
        st.one_of(
            st.text(max_size=60),
            st.sampled_from(
                ["2099-01-01T00:00:00Z", "9999-12-31T23:59:59+23:59", "0001-01-01T00:00:00-23:59",
                 "2024-02-30T00:00:00Z", "+002024-01-01", "mailto:a@b", "2030-01-01T00:00:00"]
            ),
        ),
    ),
    st.sampled_from(["-----BEGIN PGP SIGNED MESSAGE-----", "Hash: SHA256", "",
                     "-----BEGIN PGP SIGNATURE-----", "- Contact: mailto:x@y"]),
)  # fmt: skip


@FUZZ
@given(st.lists(_line, max_size=25).map("\n".join))
def test_security_txt_never_raises(text: str) -> None:
    doc = securitytxt.parse(text)
    now = datetime.now(UTC)
    assert all(isinstance(p, str) for p in doc.problems(now))
    assert all(isinstance(a, str) for a in doc.advice(now))
    doc.summary()
