"""TLS tier 1: certificate facts and judgements (pure), and handshakes against local servers.

The servers are real stdlib TLS servers on 127.0.0.1 with certificates made here, so nothing in
the repository can expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import ssl
import subprocess
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from lanprobe.checks.clients import tls

NOW = dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca() -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("test CA"))
        .issuer_name(_name("test CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_leaf(
    issuer: tuple[x509.Certificate, rsa.RSAPrivateKey] | None = None,
    *,
    key: object | None = None,
    cn: str = "device",
    ips: tuple[str, ...] = ("127.0.0.1",),
    dns: tuple[str, ...] = (),
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> tuple[x509.Certificate, object]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    names += [x509.DNSName(d) for d in dns]
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer[0].subject if issuer else _name(cn))
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(start or NOW - dt.timedelta(days=1))
        .not_valid_after(end or NOW + dt.timedelta(days=10))
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    signer = issuer[1] if issuer else key
    return builder.sign(signer, hashes.SHA256()), key  # type: ignore[arg-type]


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def write_pair(cert: x509.Certificate, key: object, tmp: Path, stem: str) -> tuple[Path, Path]:
    c, k = tmp / f"{stem}.pem", tmp / f"{stem}.key"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(
        key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return c, k


# --- pure facts ---------------------------------------------------------------------------------


def test_facts_of_a_ca_signed_leaf() -> None:
    ca = make_ca()
    leaf, _ = make_leaf(ca, dns=("cam.local",))
    facts = tls.cert_facts(der(leaf))
    assert facts.key_type == "ec" and facts.key_bits == 256
    assert facts.signature_hash == "sha256"
    assert not facts.self_signed
    assert facts.ip_names == ["127.0.0.1"] and facts.dns_names == ["cam.local"]
    assert len(facts.spki_sha256) == 64
    assert tls.cert_problems(facts, ips=["127.0.0.1"], trusted=[ca[0]]) == []
    assert "der" not in facts.evidence()


def test_self_signed_fails_without_and_with_a_ca() -> None:
    leaf, _ = make_leaf()
    facts = tls.cert_facts(der(leaf))
    assert facts.self_signed
    assert tls.cert_problems(facts, ips=["127.0.0.1"]) == ["self-signed"]
    ca = make_ca()
    problems = tls.cert_problems(facts, ips=["127.0.0.1"], trusted=[ca[0]])
    assert problems == ["self-signed, not chained to a trusted CA"]


def test_other_ca_is_untrusted_and_chain_through_intermediate() -> None:
    root, other = make_ca(), make_ca()
    inter_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    inter = (
        x509.CertificateBuilder()
        .subject_name(_name("intermediate"))
        .issuer_name(root[0].subject)
        .public_key(inter_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=10))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(root[1], hashes.SHA256())
    )
    leaf, _ = make_leaf((inter, inter_key))
    assert tls.chains_to(der(leaf), [der(leaf), der(inter)], [root[0]])
    assert not tls.chains_to(der(leaf), [der(leaf)], [root[0]])
    assert not tls.chains_to(der(leaf), [der(leaf), der(inter)], [other[0]])
    # root and "other" share a subject name: the signature, not the name, decides
    facts = tls.cert_facts(der(leaf))
    assert tls.cert_problems(facts, trusted=[other[0]], chain_der=[der(inter)]) == [
        "issued by CN=intermediate, not chained to a trusted CA"
    ]


def test_expired_and_not_yet_valid() -> None:
    ca = make_ca()
    old, _ = make_leaf(ca, start=NOW - dt.timedelta(days=400), end=NOW - dt.timedelta(days=30))
    problems = tls.cert_problems(tls.cert_facts(der(old)), ips=["127.0.0.1"], trusted=[ca[0]])
    assert len(problems) == 1 and problems[0].startswith("expired on ")
    future, _ = make_leaf(ca, start=NOW + dt.timedelta(days=5), end=NOW + dt.timedelta(days=50))
    problems = tls.cert_problems(tls.cert_facts(der(future)), trusted=[ca[0]])
    assert problems and problems[0].startswith("not valid before")


def test_weak_rsa_sha1_cert_made_by_openssl(tmp_path: Path) -> None:
    # cryptography refuses to sign with SHA-1; the openssl CLI still can.
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:1024", "-sha1", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=weak",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    facts = tls.cert_facts(x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(
        serialization.Encoding.DER))  # fmt: skip
    assert (facts.key_type, facts.key_bits, facts.signature_hash) == ("rsa", 1024, "sha1")
    problems = tls.cert_problems(facts, ips=["127.0.0.1"])
    assert "RSA key of 1024 bits (< 2048)" in problems
    assert "signed with SHA1" in problems
    assert "self-signed" in problems


def test_names() -> None:
    leaf, _ = make_leaf(ips=("198.18.0.10",), dns=("*.lab.local",))
    facts = tls.cert_facts(der(leaf))
    assert tls.name_matches(facts, ["198.18.0.10"], [])
    assert tls.name_matches(facts, ["198.18.0.99"], ["cam1.lab.local"])
    assert not tls.name_matches(facts, ["198.18.0.99"], ["a.b.lab.local", "lab.local"])
    problems = tls.cert_problems(facts, ips=["198.18.0.99"], trusted=None)
    assert any(p.startswith("names ") for p in problems)
    # without SANs the CN is looked at
    bare, _ = make_leaf(cn="198.18.0.11", ips=())
    assert tls.name_matches(tls.cert_facts(der(bare)), ["198.18.0.11"], [])


@pytest.mark.parametrize(
    ("suite", "broken"),
    [
        ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", True),
        ("DES-CBC3-SHA", True),
        ("TLS_ECDH_anon_WITH_AES_128_CBC_SHA", True),
        ("AECDH-AES256-SHA", True),
        ("TLS_RSA_WITH_RC4_128_MD5", True),
        ("TLS_RSA_EXPORT_WITH_RC4_40_MD5", True),
        ("TLS_RSA_WITH_NULL_SHA256", True),
        ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", False),
        ("TLS_RSA_WITH_AES_128_CBC_SHA", False),
        ("TLS_AES_256_GCM_SHA384", False),
    ],
)
def test_broken_reason(suite: str, broken: bool) -> None:
    assert bool(tls.broken_reason(suite)) is broken


def test_forward_secrecy() -> None:
    assert not tls.forward_secret("TLS_RSA_WITH_AES_128_CBC_SHA")
    assert not tls.forward_secret("AES128-SHA")
    assert not tls.forward_secret("AES256-GCM-SHA384")
    assert tls.forward_secret("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
    assert tls.forward_secret("ECDHE-RSA-AES128-GCM-SHA256")
    assert tls.forward_secret("DHE-RSA-AES256-GCM-SHA384")
    assert tls.forward_secret("TLS_AES_128_GCM_SHA256")


# --- handshakes against local servers -----------------------------------------------------------


async def _serve(ctx: ssl.SSLContext | None) -> tuple[asyncio.Server, int]:
    """A TLS server (or, without a context, a TCP port that reads and never answers)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(3):
                while await reader.read(1024):
                    pass
        except (TimeoutError, OSError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    return server, server.sockets[0].getsockname()[1]


def _server_ctx(cert: Path, key: Path, *, old: bool, ciphers: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1 if old else ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers)
    ctx.load_cert_chain(cert, key)
    return ctx


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[dict[str, int]]:
    ca = make_ca()
    leaf, leaf_key = make_leaf(
        ca, key=rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    cert, key = write_pair(leaf, leaf_key, tmp_path, "leaf")
    weak = _server_ctx(cert, key, old=True, ciphers="ALL:@SECLEVEL=0")
    strong = _server_ctx(cert, key, old=False, ciphers="ECDHE+AESGCM:ECDHE+CHACHA20")
    made = [await _serve(weak), await _serve(strong), await _serve(None)]
    try:
        yield {"weak": made[0][1], "strong": made[1][1], "silent": made[2][1]}
    finally:
        for server, _ in made:
            server.close()
        await asyncio.sleep(0)


async def test_observe_weak_server(servers: dict[str, int]) -> None:
    obs = await tls.observe("127.0.0.1", servers["weak"])
    assert obs.is_tls and obs.decided
    assert obs.old_versions == ["TLSv1.0", "TLSv1.1"]
    assert obs.versions["TLSv1.2"] and obs.versions["TLSv1.3"]
    assert any("AECDH" in s for s in obs.broken_suites)
    assert obs.static_kx_suites  # AES128-SHA: static RSA key exchange
    assert obs.cert is not None and obs.cert.key_type == "rsa"
    assert obs.duration_s < 2


async def test_observe_strong_server(servers: dict[str, int]) -> None:
    obs = await tls.observe("127.0.0.1", servers["strong"])
    assert obs.is_tls
    assert obs.old_versions == []
    assert obs.versions == {"TLSv1.0": False, "TLSv1.1": False, "TLSv1.2": True, "TLSv1.3": True}
    assert obs.broken_suites == [] and obs.static_kx_suites == []


async def test_silent_port_is_undecided_within_the_deadline(servers: dict[str, int]) -> None:
    start = time.monotonic()
    obs = await tls.observe("127.0.0.1", servers["silent"], connect_s=1, read_s=1, deadline_s=2)
    assert time.monotonic() - start < 2.5
    assert not obs.is_tls and not obs.decided
    assert obs.error


async def test_closed_port_is_undecided() -> None:
    """Discovery saw the port open; refused now, the device is gone or crashed: that says
    nothing about TLS (a refused connection never answered in cleartext either)."""
    server, port = await _serve(None)
    server.close()
    await server.wait_closed()
    obs = await tls.observe("127.0.0.1", port, connect_s=1, read_s=1, deadline_s=2)
    assert not obs.is_tls and not obs.decided and not obs.timed_out
    assert obs.error
