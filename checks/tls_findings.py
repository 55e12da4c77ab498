"""TLS findings several checks judge alike (data.tls-*, update.transport): certificate trust
and problems, broken suites, old protocol versions. Pure judgement of TLS observations
(probe/observations.py); not a check module, so that check modules need not import each other."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from lanprobe.checks.clients import tls
from lanprobe.checks.clients.tls_deep import DeepObservation
from lanprobe.session import DeviceSession


def trusted_cas(session: DeviceSession) -> tuple[list[x509.Certificate], list[str]]:
    """The CAs a device's certificates must chain to (profile CA + the run's), and load notes."""
    paths: list[Path] = []
    if session.profile.tls_ca_file:
        paths.append(Path(session.profile.tls_ca_file))
    paths.extend(Path(p) for p in session.options.trusted_ca_files)
    certs: list[x509.Certificate] = []
    notes: list[str] = []
    for path in dict.fromkeys(paths):
        try:
            certs.extend(tls.load_ca_certs([path]))
        except (OSError, ValueError) as exc:
            notes.append(f"CA file {path} unreadable: {exc}")
    return certs, notes


NO_ANCHOR = "no CA given for this issuer; pass --ca or name it in the profile"


@dataclass(frozen=True)
class Trust:
    """Whether a certificate chains to a CA that can vouch for it: "trusted", "untrusted" (a CA
    that covers the issuer, or the profile's CA, does not verify it) or "unknown" (no CA given
    covers the issuer: nothing was verified)."""

    state: str
    text: str


def certificate_trust(session: DeviceSession, obs: tls.TlsObservation) -> Trust:
    """Trust in the port's certificate. The profile's CA is the model's own anchor: a certificate
    that does not chain to it is untrusted. The run's CAs (--ca, the lab CA) judge only the
    chains whose issuer they are; a self-signed certificate or another issuer is unknown."""
    cert = obs.cert
    if cert is None:
        return Trust("untrusted", "no certificate (anonymous TLS)")
    what = "self-signed" if cert.self_signed else f"issued by {cert.issuer}"
    chain = list(obs.chain_der)
    profile_cas: list[x509.Certificate] = []
    if session.profile.tls_ca_file:
        with contextlib.suppress(OSError, ValueError):  # trusted_cas notes the unreadable file
            profile_cas = tls.load_ca_certs([Path(session.profile.tls_ca_file)])
    if profile_cas:
        if tls.chains_to(cert.der, chain, profile_cas):
            return Trust("trusted", f"chains to the profile's CA ({_names(profile_cas)})")
        return Trust("untrusted", f"{what}, not chained to the profile's CA")
    cas, _ = trusted_cas(session)
    if cas and tls.chains_to(cert.der, chain, cas):
        return Trust("trusted", f"chains to a given CA ({_names(cas)})")
    if cas and tls.covers(cas, cert.der, chain):
        return Trust("untrusted", f"{what}, not chained to a trusted CA (the signature fails)")
    return Trust("unknown", f"{what}: {NO_ANCHOR}")


def _names(cas: list[x509.Certificate]) -> str:
    return "; ".join(dict.fromkeys(c.subject.rfc4514_string() for c in cas))


def certificate_problems(session: DeviceSession, obs: tls.TlsObservation) -> list[str]:
    """Why the port's certificate fails data.tls-certificate ([] when it holds, or when only its
    trust is unknown: see `certificate_trust`)."""
    if obs.cert is None:
        return ["no certificate (anonymous TLS)"]
    hostnames = [session.device.hostname] if session.device.hostname else []
    problems = tls.cert_problems(
        obs.cert,
        ips=list(session.device.ips),
        hostnames=hostnames,
        chain_der=obs.chain_der,
        judge_trust=False,
    )
    trust = certificate_trust(session, obs)
    if trust.state == "untrusted":
        problems.append(trust.text)
    return problems


def suite_problems(obs: tls.TlsObservation, deep: DeepObservation | None) -> dict[str, Any]:
    """Broken and not-forward-secret suites, and TLS implementation flaws, from both tiers."""
    broken = {s: tls.broken_reason(s) or "broken" for s in obs.broken_suites}
    weak = list(obs.static_kx_suites)
    vulns: list[str] = []
    if deep is not None and deep.ok:
        broken.update(deep.broken_suites())
        weak.extend(s for s in deep.no_forward_secrecy() if s not in broken and s not in weak)
        if deep.heartbleed:
            vulns.append("Heartbleed")
        if deep.robot.startswith("VULNERABLE"):
            vulns.append(f"ROBOT ({deep.robot})")
    return {"broken": broken, "no_forward_secrecy": weak, "vulnerabilities": vulns}


def protocol_problems(obs: tls.TlsObservation, deep: DeepObservation | None) -> list[str]:
    old = list(obs.old_versions)
    if deep is not None and deep.ok:
        old = [v for v in tls.OLD_VERSIONS if deep.versions.get(v) or v in old]
    return old
