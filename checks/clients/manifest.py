"""Firmware update manifests: where they are, what they say, whether their signature holds.

A manifest is JSON (model, version, image URL, digest...). Its signature is either detached (a
file beside it, raw or base64 or hex) over the manifest's exact bytes, or embedded as a
`signature` field over the rest of the manifest (canonical JSON: sorted keys, no spaces) or over
a `signed`/`payload` member. Ed25519, Ed448, ECDSA (DER or raw r||s) and RSA (PKCS#1 v1.5 or PSS)
public keys are accepted, as the profile's PEM names them.

Versions compare by their numeric dotted parts: "1.10.0" > "1.9.2", "v2.0" == "2.0.0".
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lanprobe.errors import ProtocolError

MAX_MANIFEST_BYTES = 256 * 1024
MAX_SIGNATURE_BYTES = 16 * 1024
SIGNATURE_FIELDS = ("signature", "sig")
PAYLOAD_FIELDS = ("signed", "payload", "manifest")
VERSION_FIELDS = ("version", "fw", "firmware", "firmware_version", "fw_version", "latest")


# --- URLs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """An HTTP endpoint on a device: scheme, address, port, path (never a name)."""

    scheme: str
    ip: str
    port: int
    path: str

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    def url(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{self.scheme}://{host}:{self.port}{self.path}"


def resolve(spec: str, ip: str, *, scheme: str = "", port: int | None = None) -> Endpoint:
    """Turn a profile's path or URL ("{ip}" stands for the device address) into an Endpoint.

    A URL must name an address: the probe resolves no names (ValueError otherwise).
    """
    in_url = "://" in spec and ":" in ip  # an IPv6 address in a URL goes in brackets
    text = spec.replace("{ip}", f"[{ip}]" if in_url else ip).strip()
    if text.lower().startswith(("http://", "https://")):
        parts = urlsplit(text)
        host = parts.hostname or ""
        if not _is_address(host):
            raise ValueError(f"update URL {spec!r} names a host, not an address")
        url_scheme = parts.scheme.lower()
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return Endpoint(
            url_scheme, host, parts.port or (443 if url_scheme == "https" else 80), path
        )
    url_scheme = scheme or ("https" if port in (None, 443, 8443) else "http")
    path = text if text.startswith("/") else "/" + text
    return Endpoint(url_scheme, ip, port or (443 if url_scheme == "https" else 80), path)


def _is_address(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# --- parsing ------------------------------------------------------------------------------------


@dataclass
class Manifest:
    raw: bytes
    data: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # why it is not a JSON object (parse_any: not a format we read)
    format: str = "json"  # json | xml | text (parse_any)

    @property
    def version(self) -> str:
        for key in VERSION_FIELDS:
            value = self.data.get(key)
            if isinstance(value, str | int | float) and str(value).strip():
                return str(value).strip()
        return ""

    @property
    def embedded_signature(self) -> str:
        for key in SIGNATURE_FIELDS:
            value = self.data.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return ""

    def summary(self) -> dict[str, Any]:
        keys = sorted(self.data)[:12]
        return {"bytes": len(self.raw), "keys": keys, "version": self.version or None}


def parse_manifest(raw: bytes) -> Manifest:
    """Never raises: what is not a JSON object is a Manifest with `error` set."""
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    # ValueError: also an integer past Python's digit limit; RecursionError: nesting too deep.
    except (ValueError, RecursionError) as exc:
        return Manifest(raw=raw, error=f"not JSON: {str(exc)[:200]}")
    if not isinstance(data, dict):
        return Manifest(raw=raw, error="not a JSON object")
    return Manifest(raw=raw, data=data)


# A plain version text: "1.4.2", "v2.0.1-rc1", "version=1.2.3" alone in a short body.
VERSION_TEXT = re.compile(
    r"^\s*(?:(?:version|fw|firmware|latest)\s*[=:]\s*)?v?(\d+(?:\.\d+){1,3}[\w.+-]*)\s*$", re.I
)


def parse_any(raw: bytes, content_type: str = "") -> Manifest:
    """A manifest in any format we read: JSON, XML (leaf elements and attributes by local name,
    lower-cased; no DTD or entities), or a plain version text. Anything else: `error` set."""
    text = raw.decode("utf-8-sig", "replace").strip()
    if text.startswith(("{", "[")) or "json" in content_type.lower():
        return parse_manifest(raw)
    if text.startswith("<"):
        return _parse_xml(raw, text)
    lines = [line for line in text.splitlines() if line.strip()]
    if 1 <= len(lines) <= 3 and len(text) <= 200:
        m = VERSION_TEXT.match(lines[0])
        if m:
            return Manifest(raw=raw, data={"version": m.group(1)}, format="text")
    return Manifest(raw=raw, error="unknown manifest format (not JSON, XML or a version text)",
                    format="unknown")  # fmt: skip


def _parse_xml(raw: bytes, text: str) -> Manifest:
    import xml.etree.ElementTree as ET

    if re.search(r"<!(DOCTYPE|ENTITY)", text, re.I):
        return Manifest(raw=raw, error="XML with a DTD or entities: not read", format="xml")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        return Manifest(raw=raw, error=f"not XML: {exc}", format="xml")
    data: dict[str, Any] = {}
    for node in root.iter():
        name = node.tag.rsplit("}", 1)[-1].lower()
        for key, value in node.attrib.items():
            data.setdefault(key.rsplit("}", 1)[-1].lower(), value)
        text_value = (node.text or "").strip()
        if len(node) == 0 and text_value:
            data.setdefault(name, text_value)
    return Manifest(raw=raw, data=data, format="xml")


def _utf8(text: str) -> bytes:
    # JSON may carry lone surrogates ("\ud800"); keep them as bytes rather than fail on them.
    return text.encode("utf-8", "surrogatepass")


def canonical_json(data: Any) -> bytes:
    return _utf8(json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def signed_messages(manifest: Manifest) -> list[bytes]:
    """What an embedded signature may cover, most likely first."""
    rest = {k: v for k, v in manifest.data.items() if k not in SIGNATURE_FIELDS}
    out: list[bytes] = []
    for key in PAYLOAD_FIELDS:
        value = rest.get(key)
        if isinstance(value, str):
            out.append(_utf8(value))
            out.extend(decode_signature(_utf8(value))[1:])  # base64/hex forms of a payload
        elif isinstance(value, dict):
            out.append(canonical_json(value))
    out.append(canonical_json(rest))
    out.append(json.dumps(rest, sort_keys=True).encode())
    out.append(json.dumps(rest, indent=2).encode())
    return list(dict.fromkeys(out))


# --- signatures ---------------------------------------------------------------------------------


def decode_signature(data: bytes) -> list[bytes]:
    """Candidate signature bytes: as sent, and decoded from base64 or hex text."""
    out = [data]
    text = data.strip()
    if re.fullmatch(rb"[0-9a-fA-F]+", text) and len(text) % 2 == 0:
        out.append(binascii.unhexlify(text))
    compact = re.sub(rb"\s+", b"", text)
    if re.fullmatch(rb"[A-Za-z0-9+/_-]+={0,2}", compact):
        try:
            padded = compact + b"=" * (-len(compact) % 4)
            out.append(base64.b64decode(padded.replace(b"-", b"+").replace(b"_", b"/")))
        except (binascii.Error, ValueError):
            pass
    return list(dict.fromkeys(d for d in out if d))


def load_public_key(pem: str) -> Any:
    """The profile's public key; ValueError when it is not a PEM public key."""
    return serialization.load_pem_public_key(pem.strip().encode())


def key_algorithm(key: Any) -> str:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA-{key.curve.name}"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    return type(key).__name__


def _ec_hashes(key: ec.EllipticCurvePublicKey) -> list[hashes.HashAlgorithm]:
    preferred: hashes.HashAlgorithm = {256: hashes.SHA256(), 384: hashes.SHA384()}.get(
        key.curve.key_size, hashes.SHA512()
    )
    return [preferred] + [h for h in (hashes.SHA256(), hashes.SHA384(), hashes.SHA512())
                          if h.name != preferred.name]  # fmt: skip


def _verify_one(key: Any, signature: bytes, message: bytes) -> bool:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, message)
            return True
        if isinstance(key, ec.EllipticCurvePublicKey):
            forms = [signature]
            size = (key.curve.key_size + 7) // 8
            if len(signature) == 2 * size:  # raw r||s (JWS, many firmware tools)
                r = int.from_bytes(signature[:size], "big")
                s = int.from_bytes(signature[size:], "big")
                forms.append(encode_dss_signature(r, s))
            for form in forms:
                for algo in _ec_hashes(key):
                    try:
                        key.verify(form, message, ec.ECDSA(algo))
                        return True
                    except (InvalidSignature, ValueError):
                        continue
            return False
        if isinstance(key, rsa.RSAPublicKey):
            for algo in (hashes.SHA256(), hashes.SHA384(), hashes.SHA512()):
                for pad in (
                    padding.PKCS1v15(),
                    padding.PSS(mgf=padding.MGF1(algo), salt_length=padding.PSS.AUTO),
                ):
                    try:
                        key.verify(signature, message, pad, algo)
                        return True
                    except (InvalidSignature, ValueError):
                        continue
            return False
    except (InvalidSignature, ValueError):
        return False
    return False


def verify(public_key_pem: str, messages: list[bytes], signature: bytes) -> bool:
    """Does `signature` (raw, base64 or hex) verify over one of `messages` with the key?"""
    key = load_public_key(public_key_pem)
    return any(
        _verify_one(key, sig, msg) for sig in decode_signature(signature) for msg in messages
    )


# --- versions -----------------------------------------------------------------------------------


MAX_VERSION_LEN = 64


class VersionError(ProtocolError, ValueError):
    """A reported version that is no version (a ValueError too, for callers that catch that)."""


def version_key(text: str) -> tuple[int, ...]:
    """The numeric dotted parts of a version: "v1.2.10-rc1" -> (1, 2, 10).

    What a device reports is untrusted: text that is too long, carries control characters or
    bytes that were not UTF-8 (U+FFFD), or digits that are not ASCII is no version (ValueError),
    rather than a number picked out of garbage.
    """
    if len(text) > MAX_VERSION_LEN or not text.isprintable() or "\ufffd" in text:
        raise VersionError(f"{text[:MAX_VERSION_LEN]!r} is not a version")
    match = re.search(r"[0-9]+(?:[._][0-9]+)*", text)
    if not match:
        raise VersionError(f"no version number in {text!r}")
    parts = [int(p) for p in re.split(r"[._]", match.group(0))]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()  # "2.0.0" == "2.0" == "2"
    return tuple(parts)


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as `a` is older than, equal to or newer than `b` (ValueError if unreadable)."""
    ka, kb = version_key(a), version_key(b)
    return (ka > kb) - (ka < kb)
