"""Update manifests: URL resolution, parsing, signatures (Ed25519, ECDSA, RSA), versions."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from lanprobe.checks.clients.manifest import (
    canonical_json,
    compare_versions,
    decode_signature,
    parse_manifest,
    resolve,
    signed_messages,
    verify,
    version_key,
)

BODY = json.dumps(
    {"model": "H1", "version": "2.4.1", "url": "x", "sha256": "00"}, indent=2
).encode()


def pem(key: object) -> str:
    return (
        key.public_key()
        .public_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        .decode()
    )


def test_resolve_path_and_url() -> None:
    ep = resolve("/fw/manifest.json", "198.18.5.13", port=443)
    assert (ep.scheme, ep.ip, ep.port, ep.path) == (
        "https",
        "198.18.5.13",
        443,
        "/fw/manifest.json",
    )
    ep = resolve("fw/m.json", "198.18.5.13", scheme="http")
    assert ep.url() == "http://198.18.5.13:80/fw/m.json"
    ep = resolve("http://{ip}:8080/firmware/manifest.json?x=1", "198.18.5.10")
    assert (ep.scheme, ep.port, ep.path) == ("http", 8080, "/firmware/manifest.json?x=1")
    assert not ep.tls


def test_resolve_refuses_host_names() -> None:
    with pytest.raises(ValueError, match="names a host"):
        resolve("https://updates.example.com/m.json", "198.18.5.10")


def test_ed25519_detached_base64_signature() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    sig = base64.b64encode(key.sign(BODY)) + b"\n"
    assert verify(pem(key), [BODY], sig)
    other = ed25519.Ed25519PrivateKey.generate()
    assert not verify(pem(other), [BODY], sig)
    assert not verify(pem(key), [BODY + b" "], sig)


def test_ecdsa_der_and_raw_signatures() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.sign(BODY, ec.ECDSA(hashes.SHA256()))
    assert verify(pem(key), [BODY], der)
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert verify(pem(key), [BODY], raw.hex().encode())
    assert not verify(pem(key), [b"other"], der)


def test_rsa_pkcs1_and_pss() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sig = key.sign(BODY, padding.PKCS1v15(), hashes.SHA256())
    assert verify(pem(key), [BODY], sig)
    pss = key.sign(
        BODY,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH),
        hashes.SHA256(),
    )
    assert verify(pem(key), [BODY], base64.b64encode(pss))


def test_embedded_signature_over_canonical_rest() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    body = {"version": "1.2.0", "url": "http://x/fw.bin"}
    signed = dict(body, signature=base64.b64encode(key.sign(canonical_json(body))).decode())
    man = parse_manifest(json.dumps(signed).encode())
    assert man.embedded_signature
    assert verify(pem(key), signed_messages(man), man.embedded_signature.encode())
    tampered = parse_manifest(json.dumps(dict(signed, version="9.9.9")).encode())
    assert not verify(pem(key), signed_messages(tampered), tampered.embedded_signature.encode())


def test_embedded_signature_over_payload_string() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    payload = json.dumps({"version": "3.0"})
    doc = {"payload": payload, "signature": key.sign(payload.encode()).hex()}
    man = parse_manifest(json.dumps(doc).encode())
    assert verify(pem(key), signed_messages(man), man.embedded_signature.encode())


def test_parse_manifest_errors_and_version() -> None:
    assert parse_manifest(b"<html>").error.startswith("not JSON")
    assert parse_manifest(b"[1, 2]").error == "not a JSON object"
    assert parse_manifest(BODY).version == "2.4.1"
    assert parse_manifest(b'{"fw": 3}').version == "3"


def test_decode_signature_forms() -> None:
    raw = bytes(range(64))
    assert raw in decode_signature(base64.b64encode(raw))
    assert raw in decode_signature(raw.hex().encode())
    assert decode_signature(raw)[0] == raw


def test_bad_public_key_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        verify("not a key", [BODY], b"sig")


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ("1.0.3", "1.2.0", -1),
        ("1.10.0", "1.9.2", 1),
        ("v2.0", "2.0.0", 0),
        ("2.4.1", "2.4.1", 0),
        ("3.1.0-rc1", "3.1.0", 0),
        ("5.0.2", "5.0.10", -1),
        ("1_2_3", "1.2.3", 0),
    ],
)
def test_compare_versions(a: str, b: str, want: int) -> None:
    assert compare_versions(a, b) == want


def test_version_without_number() -> None:
    with pytest.raises(ValueError):
        version_key("unknown")
