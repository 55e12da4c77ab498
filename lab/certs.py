"""Certificates and keys made at `up` time in the bench's state directory.

Nothing here is stored in the repository, so no lab certificate can expire between runs. The
cryptography package refuses SHA-1 signatures ("Hash algorithm sha1 not supported for
signatures"), so the weak RSA-1024 + SHA-1 certificate is signed by the `openssl x509 -sha1` CLI
with the lab CA key instead.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from lanprobe.errors import LabError

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(cn: str, org: str = "lanprobe lab") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _write_key(key: PrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(cert: x509.Certificate, path: Path) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


class LabCA:
    """The lab CA (RSA-2048, SHA-256), valid from a day ago for two years."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.cert_file = directory / "ca.pem"
        self.key_file = directory / "ca.key"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = _now()
        name = _name("lanprobe lab CA")
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=730))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        _write_cert(self.cert, self.cert_file)
        _write_key(self.key, self.key_file)

    def leaf(self, cn: str, ip: str, out: Path, *, expired: bool = False) -> tuple[Path, Path]:
        """A server certificate with the unit's IP in its SAN. `expired`: ended 30 days ago."""
        key: PrivateKey = (
            ec.generate_private_key(ec.SECP256R1())
            if expired
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
        now = _now()
        start, end = (
            (now - dt.timedelta(days=400), now - dt.timedelta(days=30))
            if expired
            else (now - dt.timedelta(days=1), now + dt.timedelta(days=365))
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .sign(self.key, hashes.SHA256())
        )
        return _pair(cert, key, out)

    def weak_leaf(self, cn: str, ip: str, out: Path) -> tuple[Path, Path]:
        """RSA-1024 key, certificate signed by the lab CA with SHA-1 (via the openssl CLI)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(_name(cn))
            .sign(key, hashes.SHA256())
        )
        out.mkdir(parents=True, exist_ok=True)
        csr_file, ext_file = out / f"{cn}.csr", out / f"{cn}.ext"
        cert_file, key_file = out / f"{cn}.pem", out / f"{cn}.key"
        csr_file.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
        ext_file.write_text(f"subjectAltName=IP:{ip}\nextendedKeyUsage=serverAuth\n")
        _write_key(key, key_file)
        cmd = [
            "openssl", "x509", "-req", "-sha1", "-days", "365",
            "-in", str(csr_file), "-CA", str(self.cert_file), "-CAkey", str(self.key_file),
            "-set_serial", str(x509.random_serial_number()),
            "-extfile", str(ext_file), "-out", str(cert_file),
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        if proc.returncode != 0:
            raise LabError(f"openssl could not sign the weak certificate: {proc.stderr.strip()}")
        return cert_file, key_file


def self_signed(cn: str, out: Path, ip: str = "") -> tuple[Path, Path]:
    """A self-signed EC P-256 certificate; with `ip`, that address in its SAN (else none: the
    twins share one)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn, org="Acme"))
        .issuer_name(_name(cn, org="Acme"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
    )
    if ip:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))])
        builder = builder.add_extension(san, critical=False)
    return _pair(builder.sign(key, hashes.SHA256()), key, out, name=cn)


def _pair(
    cert: x509.Certificate, key: PrivateKey, out: Path, name: str | None = None
) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    stem = name or str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
    cert_file, key_file = out / f"{stem}.pem", out / f"{stem}.key"
    _write_cert(cert, cert_file)
    _write_key(key, key_file)
    return cert_file, key_file


def ssh_host_key(path: Path, rsa_bits: int | None = None) -> Path:
    """An Ed25519 SSH host key in OpenSSH format (asyncssh reads it); RSA of `rsa_bits` bits
    when given (the weak-algorithm models: a 1024-bit RSA host key)."""
    key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
    if rsa_bits is None:
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path
