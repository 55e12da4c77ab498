"""TLS observations of one port: tier 1 (stdlib ssl + cryptography) and tier 2 (sslyze).

Tier 1 makes a handful of handshakes: one to learn whether the port speaks TLS at all (and to
take its certificate), then one per protocol version with min=max, and one offering only broken
suites. `@SECLEVEL=0` lets our OpenSSL offer what the device might still accept; the stdlib build
here has no SSLv3, RC4, 3DES or EXPORT, so tier 2 (sslyze, with its own legacy OpenSSL) covers
those. Every handshake is aborted right after it finishes (no close_notify to wait for).

A port that accepts TCP but never finishes a handshake is silence, not an error: the observation
says so (`decided` False) and the checks turn it into `inconclusive`.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import ssl
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID
from lanprobe.errors import ProtocolError

# Protocol versions tier 1 can try with the stdlib, oldest first.
VERSIONS: dict[str, ssl.TLSVersion] = {
    "TLSv1.0": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
OLD_VERSIONS = ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1")

# OpenSSL cipher string of suites that are broken whatever else holds (tier 1 offers only these).
BROKEN_CIPHER_STRING = "eNULL:aNULL:EXPORT:RC4:DES:3DES:MD5:@SECLEVEL=0"
# Suites with a static (not forward-secret) RSA key exchange.
STATIC_KX_CIPHER_STRING = "kRSA:@SECLEVEL=0"

# Substrings of suite names (OpenSSL or IANA) that mark a broken suite, and why.
_BROKEN_MARKERS: tuple[tuple[str, str], ...] = (
    ("NULL", "no encryption or no authentication (NULL)"),
    ("ADH", "anonymous key exchange"),
    ("AECDH", "anonymous key exchange"),
    ("_ANON_", "anonymous key exchange"),
    ("EXP", "export-grade"),
    ("RC4", "RC4"),
    ("3DES", "3DES (Sweet32)"),
    ("DES-CBC3", "3DES (Sweet32)"),
    ("DES_EDE", "3DES (Sweet32)"),
    ("DES-CBC-", "single DES"),
    ("_DES_CBC_", "single DES"),
    ("MD5", "MD5 MAC"),
    ("IDEA", "IDEA (64-bit block)"),
    ("RC2", "RC2"),
)


def broken_reason(suite: str) -> str:
    """Why a suite is broken, or "" when it is not (names: OpenSSL or IANA)."""
    name = suite.upper()
    for marker, reason in _BROKEN_MARKERS:
        if marker in name:
            return reason
    return ""


_TLS13_SUITES = ("TLS_AES_", "TLS_CHACHA20_", "TLS_SM4_")


def forward_secret(suite: str) -> bool:
    """Does the suite's key exchange give forward secrecy (ephemeral, authenticated DH)?

    TLS 1.3 suites always do. Static RSA/DH/ECDH key exchange and PSK-only suites do not; anonymous
    DH is ephemeral but unauthenticated (and counted as broken by `broken_reason`).
    """
    name = suite.upper()
    if name.startswith(_TLS13_SUITES):
        return True
    if name.startswith("TLS_"):
        return name.startswith(("TLS_ECDHE_", "TLS_DHE_")) and "_ANON_" not in name
    return name.startswith(("ECDHE-", "DHE-", "EDH-"))


# --- certificate facts (pure) ------------------------------------------------------------------


@dataclass
class CertFacts:
    """What a leaf certificate says, as plain values (JSON-ready through `evidence()`)."""

    subject: str
    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime
    key_type: str  # rsa, ec, ed25519, ed448, dsa, other
    key_bits: int
    signature_hash: str  # sha256, sha1, md5...; "" for Ed25519/Ed448 (no separate hash)
    self_signed: bool
    common_names: list[str]
    dns_names: list[str]
    ip_names: list[str]
    spki_sha256: str  # fingerprint of the public key (SubjectPublicKeyInfo), for shared-key checks
    der: bytes = field(repr=False, default=b"")

    def evidence(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("der")
        data["not_before"] = self.not_before.isoformat()
        data["not_after"] = self.not_after.isoformat()
        return data


def _key_facts(cert: x509.Certificate) -> tuple[str, int]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec", key.curve.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448", 456
    if isinstance(key, dsa.DSAPublicKey):
        return "dsa", key.key_size
    return "other", 0


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Does `issuer`'s key verify `cert`'s signature? By hand, so that SHA-1 signatures (which
    cryptography's `verify_directly_issued_by` refuses) can still be checked: we must see them
    to report them."""
    if cert.issuer != issuer.subject:
        return False
    key = issuer.public_key()
    algo = cert.signature_hash_algorithm
    sig, tbs = cert.signature, cert.tbs_certificate_bytes
    try:
        if isinstance(key, rsa.RSAPublicKey) and algo is not None:
            pad = cert.signature_algorithm_parameters
            key.verify(sig, tbs, pad if pad is not None else padding.PKCS1v15(), algo)  # type: ignore[arg-type]
        elif isinstance(key, ec.EllipticCurvePublicKey) and algo is not None:
            key.verify(sig, tbs, ec.ECDSA(algo))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(sig, tbs)
        elif isinstance(key, dsa.DSAPublicKey) and algo is not None:
            key.verify(sig, tbs, algo)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def spki_fingerprint(cert: x509.Certificate) -> str:
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def cert_facts(der: bytes) -> CertFacts:
    """The facts of a DER certificate. A certificate cryptography cannot read (malformed, an
    unknown key type: a handshake without verification takes anything) is ProtocolError."""
    try:
        return _cert_facts(der)
    # cryptography reads hostile DER lazily and fails in many ways (ValueError,
    # UnsupportedAlgorithm, even KeyError from rfc4514_string of an odd attribute type).
    except Exception as exc:
        raise ProtocolError(f"unreadable certificate: {type(exc).__name__}: {exc}") from exc


def load_der(der: bytes) -> x509.Certificate:
    """A certificate a device sent (ValueError when unreadable)."""
    with warnings.catch_warnings():
        # A device's non-positive serial number is its flaw, not a deprecation in our code.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_der_x509_certificate(der)


def _cert_facts(der: bytes) -> CertFacts:
    cert = load_der(der)
    key_type, key_bits = _key_facts(cert)
    try:
        algo = cert.signature_hash_algorithm
        sig_hash = algo.name if algo is not None else ""
    except Exception:  # an algorithm cryptography does not know
        sig_hash = "unknown"
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
        ip_names = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        dns_names, ip_names = [], []
    cns = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return CertFacts(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=key_type,
        key_bits=key_bits,
        signature_hash=sig_hash,
        self_signed=_signed_by(cert, cert),
        common_names=cns,
        dns_names=dns_names,
        ip_names=ip_names,
        spki_sha256=spki_fingerprint(cert),
        der=der,
    )


def load_ca_certs(paths: list[Path]) -> list[x509.Certificate]:
    """Every certificate in the given PEM files; unreadable files are skipped by the caller."""
    certs: list[x509.Certificate] = []
    for path in paths:
        certs.extend(x509.load_pem_x509_certificates(path.read_bytes()))
    return certs


def chains_to(leaf_der: bytes, chain_der: list[bytes], trusted: list[x509.Certificate]) -> bool:
    """Does the leaf chain to one of `trusted`, through the intermediates the server sent?

    Signatures and issuer names only: dates and key sizes are judged separately, so that an
    expired certificate from the right CA reads "expired", not "untrusted".
    """
    leaf = load_der(leaf_der)  # read before, by cert_facts
    pool = []
    for der in chain_der:
        if der == leaf_der:
            continue
        try:
            pool.append(load_der(der))
        except ValueError:
            continue  # an intermediate the device sent that cannot be read links nothing
    current = leaf
    for _ in range(len(pool) + 1):
        for ca in trusted:
            if current == ca or _signed_by(current, ca):
                return True
        nxt = next((c for c in pool if _signed_by(current, c)), None)
        if nxt is None or nxt == current:
            return False
        pool.remove(nxt)
        current = nxt
    return False


def issuer_names(leaf_der: bytes, chain_der: list[bytes]) -> list[x509.Name]:
    """The issuer names along what the server sent: the leaf's issuer, then each intermediate's
    (in the order sent; unreadable ones skipped)."""
    names = [load_der(leaf_der).issuer]
    for der in chain_der:
        if der == leaf_der:
            continue
        try:
            names.append(load_der(der).issuer)
        except ValueError:
            continue
    return names


def covers(trusted: list[x509.Certificate], leaf_der: bytes, chain_der: list[bytes]) -> bool:
    """Is one of `trusted` the CA the chain names (its subject is an issuer along the chain)?
    Such a CA can judge the chain; any other CA cannot say whether the issuer is genuine."""
    subjects = {ca.subject for ca in trusted}
    return any(name in subjects for name in issuer_names(leaf_der, chain_der))


def _dns_match(pattern: str, name: str) -> bool:
    """RFC 6125: exact, or a wildcard as the whole left-most label."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern == name:
        return True
    if pattern.startswith("*.") and "." in name:
        return name.split(".", 1)[1] == pattern[2:]
    return False


def name_matches(facts: CertFacts, ips: list[str], hostnames: list[str]) -> bool:
    """Does the certificate name one of the device's addresses or hostnames?

    SANs rule when present; the subject CN is looked at only without SANs (as browsers did).
    """
    wanted_ips = set()
    for ip in ips:
        try:
            wanted_ips.add(ipaddress.ip_address(ip))
        except ValueError:
            continue
    san_ips = set()
    for text in facts.ip_names:
        try:
            san_ips.add(ipaddress.ip_address(text))
        except ValueError:
            continue
    if san_ips & wanted_ips:
        return True
    names = facts.dns_names or ([] if facts.ip_names else facts.common_names)
    for name in names:
        if any(_dns_match(name, h) for h in hostnames if h):
            return True
        try:
            if ipaddress.ip_address(name) in wanted_ips:
                return True
        except ValueError:
            pass
    return False


def cert_problems(
    facts: CertFacts,
    *,
    now: datetime | None = None,
    ips: list[str] = (),  # type: ignore[assignment]
    hostnames: list[str] = (),  # type: ignore[assignment]
    trusted: list[x509.Certificate] | None = None,
    chain_der: list[bytes] = (),  # type: ignore[assignment]
    min_rsa_bits: int = 2048,
    judge_trust: bool = True,
) -> list[str]:
    """Every reason the certificate fails; [] when it holds.

    `trusted` None means no CA was given: a self-signed certificate then fails on its own; with
    CAs given, the certificate must chain to one of them. `judge_trust=False` leaves trust out
    (the caller judges it, e.g. data.tls-certificate with the CAs that cover the issuer).
    """
    now = now or datetime.now(UTC)
    problems: list[str] = []
    if facts.not_after < now:
        problems.append(f"expired on {facts.not_after.date().isoformat()}")
    if facts.not_before > now:
        problems.append(f"not valid before {facts.not_before.date().isoformat()}")
    if facts.key_type in ("rsa", "dsa") and facts.key_bits < min_rsa_bits:
        problems.append(f"{facts.key_type.upper()} key of {facts.key_bits} bits (< {min_rsa_bits})")
    if facts.key_type == "ec" and facts.key_bits < 224:
        problems.append(f"EC key of {facts.key_bits} bits (< 224)")
    if facts.signature_hash in ("sha1", "md5", "md2", "md4"):
        problems.append(f"signed with {facts.signature_hash.upper()}")
    if not judge_trust:
        pass
    elif trusted:
        if not chains_to(facts.der, list(chain_der), trusted):
            what = "self-signed" if facts.self_signed else f"issued by {facts.issuer}"
            problems.append(f"{what}, not chained to a trusted CA")
    elif facts.self_signed:
        problems.append("self-signed")
    if (ips or hostnames) and not name_matches(facts, list(ips), list(hostnames)):
        shown = facts.dns_names + facts.ip_names or facts.common_names
        problems.append(f"names {shown} match none of {list(ips) + list(hostnames)}")
    return problems


# --- tier 1: handshakes -------------------------------------------------------------------------


@dataclass
class Handshake:
    ok: bool
    version: str = ""
    cipher: str = ""
    error: str = ""
    timed_out: bool = False
    # No TCP session to judge: refused, reset or unreachable before any TLS byte came back (a
    # device that is gone or crashed), as opposed to a peer that answered something not TLS.
    unreachable: bool = False
    cert_der: bytes = field(default=b"", repr=False)
    chain_der: list[bytes] = field(default_factory=list, repr=False)
    duration_s: float = 0.0


def _context(
    version: ssl.TLSVersion | None = None, ciphers: str = "ALL:COMPLEMENTOFALL:@SECLEVEL=0"
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # we judge certificates ourselves
    ctx.set_ciphers(ciphers)
    # Offering TLS 1.0/1.1 is what we are here to do: the stdlib's deprecation warning is not news.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = version or ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = version or ssl.TLSVersion.MAXIMUM_SUPPORTED
    return ctx


def _chain(sslobj: ssl.SSLObject) -> list[bytes]:
    # get_unverified_chain is private before Python 3.13; use it when there, else leaf only.
    inner = getattr(sslobj, "_sslobj", None)
    getter = getattr(inner, "get_unverified_chain", None)
    if getter is None:
        return []
    try:
        chain = getter() or []
        return [c.public_bytes(ssl._ssl.ENCODING_DER) for c in chain]  # type: ignore[attr-defined]
    except Exception:
        return []


async def handshake(
    ip: str, port: int, ctx: ssl.SSLContext, *, connect_s: float, read_s: float
) -> Handshake:
    """One TLS handshake, aborted as soon as it is done. Never raises for the peer's doing."""
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    transport: asyncio.Transport | None = None
    try:
        async with asyncio.timeout(connect_s + read_s):
            transport, _ = await loop.create_connection(
                asyncio.Protocol,
                ip,
                port,
                ssl=ctx,
                server_hostname="",  # no SNI: we talk to an address
                ssl_handshake_timeout=read_s,
            )
        sslobj: ssl.SSLObject = transport.get_extra_info("ssl_object")
        cipher = sslobj.cipher()
        return Handshake(
            ok=True,
            version=sslobj.version() or "",
            cipher=cipher[0] if cipher else "",
            cert_der=sslobj.getpeercert(binary_form=True) or b"",
            chain_der=_chain(sslobj),
            duration_s=time.monotonic() - start,
        )
    except (TimeoutError, ConnectionAbortedError):
        # asyncio aborts a handshake that outlives ssl_handshake_timeout: that is our timeout too
        return Handshake(
            ok=False,
            error="no handshake in time",
            timed_out=True,
            duration_s=time.monotonic() - start,
        )
    except ssl.SSLError as exc:
        reason = exc.reason or exc.__class__.__name__
        return Handshake(ok=False, error=str(reason), duration_s=time.monotonic() - start)
    except (ConnectionError, OSError) as exc:
        return Handshake(
            ok=False,
            error=exc.strerror or exc.__class__.__name__,
            unreachable=True,
            duration_s=time.monotonic() - start,
        )
    finally:
        if transport is not None:
            transport.abort()


# Errors that mean our client could not even offer what was asked (not the server's answer).
_LOCAL_ERRORS = ("NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE", "NO_CIPHER_MATCH")


@dataclass
class TlsObservation:
    """Tier 1 facts of one port."""

    ip: str
    port: int
    is_tls: bool = False  # a handshake finished
    decided: bool = True  # False: the port never answered a handshake in time, or refused
    timed_out: bool = False  # undecided because of silence (not a refused or reset connection)
    error: str = ""
    versions: dict[str, bool | None] = field(default_factory=dict)  # None: undecided
    ciphers: dict[str, str] = field(default_factory=dict)  # version -> negotiated suite
    broken_suites: list[str] = field(default_factory=list)  # accepted by the tier-1 probe
    static_kx_suites: list[str] = field(default_factory=list)  # no forward secrecy, accepted
    cert: CertFacts | None = None
    chain_der: list[bytes] = field(default_factory=list, repr=False)
    handshakes: int = 0
    duration_s: float = 0.0

    @property
    def old_versions(self) -> list[str]:
        return [v for v in OLD_VERSIONS if self.versions.get(v)]

    def evidence(self) -> dict[str, Any]:
        return {
            "versions": {k: v for k, v in self.versions.items()},
            "ciphers": dict(self.ciphers),
            "handshakes": self.handshakes,
            "duration_s": round(self.duration_s, 3),
        }


async def observe(
    ip: str,
    port: int,
    *,
    connect_s: float = 3.0,
    read_s: float = 5.0,
    deadline_s: float = 30.0,
) -> TlsObservation:
    """Tier 1 of one port. Bounded by `deadline_s` whatever the device does."""
    obs = TlsObservation(ip=ip, port=port)
    start = time.monotonic()
    try:
        async with asyncio.timeout(deadline_s):
            await _observe(obs, connect_s=connect_s, read_s=read_s)
    except TimeoutError:
        obs.timed_out = True
        obs.decided = obs.is_tls and any(v is not None for v in obs.versions.values())
        obs.error = obs.error or f"no answer within the {deadline_s:.0f}s deadline"
    obs.duration_s = time.monotonic() - start
    return obs


async def _observe(obs: TlsObservation, *, connect_s: float, read_s: float) -> None:
    first = await handshake(obs.ip, obs.port, _context(), connect_s=connect_s, read_s=read_s)
    obs.handshakes += 1
    if not first.ok:
        obs.error = first.error
        # Silence (TCP open, no handshake) and a port that refuses or resets the connection
        # (the device is gone) cannot be decided; a peer answering something else is "not TLS".
        obs.decided = not (first.timed_out or first.unreachable)
        obs.timed_out = first.timed_out
        return
    obs.is_tls = True
    if first.cert_der:
        obs.cert = cert_facts(first.cert_der)
        obs.chain_der = first.chain_der
    for name, version in VERSIONS.items():
        if name == first.version:
            obs.versions[name] = True
            obs.ciphers[name] = first.cipher
            continue
        hs = await handshake(
            obs.ip, obs.port, _context(version), connect_s=connect_s, read_s=read_s
        )
        obs.handshakes += 1
        if hs.ok:
            obs.versions[name] = True
            obs.ciphers[name] = hs.cipher
        elif hs.timed_out or any(e in hs.error for e in _LOCAL_ERRORS):
            obs.versions[name] = None
        else:
            obs.versions[name] = False
    # Broken and static-key-exchange suites exist only below TLS 1.3: offer only them and see
    # whether the device takes one.
    if any(obs.versions.get(v) for v in ("TLSv1.0", "TLSv1.1", "TLSv1.2")):
        for ciphers, found in (
            (BROKEN_CIPHER_STRING, obs.broken_suites),
            (STATIC_KX_CIPHER_STRING, obs.static_kx_suites),
        ):
            ctx = _context(ciphers=ciphers)
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # TLS 1.3 suites cannot be left out
            hs = await handshake(obs.ip, obs.port, ctx, connect_s=connect_s, read_s=read_s)
            obs.handshakes += 1
            if hs.ok and hs.cipher:
                found.append(hs.cipher)
