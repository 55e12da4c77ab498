"""Device identification (NIST IR 8259A ID-1): a logical identifier is exposed, and no two units
share one, nor a TLS key or SSH host key.

Identifiers come from discovery (mDNS TXT, UPnP description: serial, UDN), from mDNS TXT keys
that name a unit, from the TLS certificate subject (a serialNumber/UID attribute, or a common
name that names the unit rather than the model) and, when none of those names the unit, from the
web API (the profile's status and security-state paths, read with the lab credentials).
Key fingerprints are the SHA-256 of the TLS SubjectPublicKeyInfo (measured by the data-protection
checks, or here when they did not run) and asyncssh's SHA-256 fingerprint of the SSH host key.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import asyncssh
from lanprobe.checks.clients import http as web
from lanprobe.checks.clients.labauth import authorised_get
from lanprobe.checks.context import BenchContext, CheckContext, DeviceSession
from lanprobe.checks.registry import Cost, bench_check, check
from lanprobe.errors import TargetError
from lanprobe.model import Capability, Device, Result, Target, Verdict
from lanprobe.observations import service_kind_of, tls_ports

# Identifier kinds that name one unit (model, fw, manufacturer name many).
UNIT_IDENTIFIERS = ("serial", "udn", "uuid", "device_id", "mac_id")
TXT_UNIT_KEYS = {
    "serial": ("serial", "sn", "serialnumber", "serial_number", "serialno"),
    "udn": ("udn",),
    "uuid": ("uuid",),
    "device_id": ("id", "deviceid", "device_id", "did"),
}
SSH_KINDS = ("ssh",)
BENCH_CONCURRENCY = 8
API_PATHS = 3  # at most this many API paths per web port when nothing else names the unit


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def cert_identifier(subject: str, model: str = "") -> str:
    """A unit identifier in a certificate subject (RFC 4514 string), or "".

    serialNumber and UID attributes always name the unit. A common name does when it is neither an
    address, a wildcard, nor the bare model name, and carries a digit (a unit number or serial).
    """
    attrs: dict[str, str] = {}
    for part in re.split(r"(?<!\\),", subject):
        name, _, value = part.partition("=")
        attrs.setdefault(name.strip().lower(), value.strip())
    for name in ("serialnumber", "2.5.4.5", "uid", "0.9.2342.19200300.100.1.1"):
        if attrs.get(name):
            return attrs[name]
    cn = attrs.get("cn", "")
    if (
        cn
        and not _is_address(cn)
        and not cn.startswith("*")
        and cn.lower() != model.lower()
        and re.search(r"\d", cn)
    ):
        return cn
    return ""


def unit_identifiers(session: DeviceSession) -> dict[str, tuple[str, str]]:
    """Identifiers that name this unit: kind -> (value, where seen). No network."""
    dev = session.device
    out: dict[str, tuple[str, str]] = {}
    for kind in UNIT_IDENTIFIERS:
        ident = dev.identifiers.get(kind)
        if ident is not None and ident.value:
            out[kind] = (ident.value, ident.source)
    for svc in dev.mdns:
        for kind, keys in TXT_UNIT_KEYS.items():
            if kind in out:
                continue
            for key in keys:
                if svc.txt.get(key):
                    out[kind] = (svc.txt[key], f"mDNS TXT {key} of {svc.type}")
                    break
    for kind, field in (("udn", "UDN"), ("serial", "serialNumber")):
        if kind not in out and dev.ssdp.get(field):
            out[kind] = (dev.ssdp[field], f"UPnP {field}")
    return out


def json_identifiers(data: Any) -> dict[str, str]:
    """Unit identifiers in a JSON document's top level (an API's status or info object)."""
    out: dict[str, str] = {}
    if not isinstance(data, dict):
        return out
    lowered = {str(k).lower(): v for k, v in data.items()}
    for kind, keys in TXT_UNIT_KEYS.items():
        for key in keys:
            value = lowered.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
                out[kind] = str(value).strip()
                break
    return out


async def api_identifiers(session: DeviceSession) -> dict[str, tuple[str, str]]:
    """Identifiers from the web API: the profile's status paths and security-state endpoint,
    read as the authorised party (lab credentials) when the profile gives them."""
    profile = session.profile
    paths = list(profile.interfaces.status_paths)
    if profile.state is not None and profile.state.path:
        paths.append(profile.state.path)
    cred = profile.credentials.lab
    timeouts = session.options.timeouts
    for svc in session.device.services:
        kind = service_kind_of(session, svc)
        if kind not in ("http", "https"):
            continue
        for path in list(dict.fromkeys(paths))[:API_PATHS]:
            try:
                if cred is not None:
                    got = await authorised_get(
                        session.address(svc),
                        svc.port,
                        path,
                        tls=kind == "https",
                        cred=cred,
                        login=profile.interfaces.http_login,
                        timeouts=timeouts,
                    )
                    answer = got.answer
                else:
                    answer = await web.fetch(
                        session.address(svc), svc.port, path, tls=kind == "https", timeouts=timeouts
                    )
            except TargetError:
                continue
            if answer.status != 200:
                continue
            try:
                data = json.loads(answer.body)
            except (ValueError, UnicodeDecodeError):
                continue
            found = json_identifiers(data)
            if found:
                return {k: (v, f"API {path} on port {svc.port}") for k, v in found.items()}
    return {}


async def collect_identifiers(session: DeviceSession) -> dict[str, tuple[str, str]]:
    """Unit identifiers including certificate subjects; kept in session.facts["identifiers"]."""

    async def make() -> dict[str, tuple[str, str]]:
        found = unit_identifiers(session)
        for _svc, obs in await tls_ports(session):
            if obs.cert is None:
                continue
            value = cert_identifier(obs.cert.subject, session.device.identifier("model") or "")
            if value and "certificate" not in found:
                found["certificate"] = (value, f"TLS certificate subject on port {obs.port}")
        if not found:
            # Nothing announced: ask the web API (a few requests, only for silent devices).
            found = await api_identifiers(session)
        session.facts["identifiers"] = {k: v for k, (v, _) in found.items()}
        return found

    return await session.observe("identifiers", make)


async def ssh_host_key(session: DeviceSession, port: int) -> str:
    """SHA-256 fingerprint of the SSH host key on `port` ("" when none came in time)."""
    timeouts = session.options.timeouts

    async def make() -> str:
        try:
            async with asyncio.timeout(timeouts.connect_s + timeouts.read_s):
                key = await asyncssh.get_server_host_key(session.address(port), port, config=None)
        except (TimeoutError, OSError, asyncssh.Error):
            return ""
        if key is None:
            return ""
        fingerprint = key.get_fingerprint("sha256")
        session.facts.setdefault("ssh_host_keys", {})[port] = fingerprint
        return fingerprint

    return await session.observe(f"ssh-hostkey:{port}", make)


async def collect_keys(session: DeviceSession) -> list[tuple[str, int, str]]:
    """(kind, port, fingerprint) of every TLS key and SSH host key of the device."""
    keys, _missing = await collect_keys_and_gaps(session)
    return keys


async def collect_keys_and_gaps(
    session: DeviceSession,
) -> tuple[list[tuple[str, int, str]], list[str]]:
    """The device's keys, and the TLS/SSH ports whose key could not be read (silent, refused,
    gone): a key not seen may be the shared one."""
    keys: list[tuple[str, int, str]] = []
    missing: list[str] = []
    for _svc, obs in await tls_ports(session):
        if obs.cert is not None:
            keys.append(("tls", obs.port, obs.cert.spki_sha256))
        elif not obs.decided:
            missing.append(f"tls/{obs.port}: {obs.error or 'no handshake'}")
    for svc in session.device.services:
        if svc.transport == "tcp" and service_kind_of(session, svc) in SSH_KINDS:
            fingerprint = await ssh_host_key(session, svc.port)
            if fingerprint:
                keys.append(("ssh", svc.port, fingerprint))
            else:
                missing.append(f"ssh/{svc.port}: no host key in time")
    return keys, missing


# --- checks -------------------------------------------------------------------------------------


@check("identification.identifier", Capability.device_identification, cost=Cost(requests=0))
async def identifier(ctx: CheckContext) -> AsyncIterator[Result]:
    """No logical identifier is exposed on any interface."""
    found = await collect_identifiers(ctx.session)
    if found:
        where = {k: {"value": v, "source": s} for k, (v, s) in found.items()}
        yield ctx.result(
            Verdict.passed,
            "identifier exposed: " + ", ".join(f"{k} ({s})" for k, (_, s) in found.items()),
            evidence={"identifiers": where},
        )
    else:
        yield ctx.result(
            Verdict.fail,
            "no logical identifier on any interface (mDNS, UPnP, TLS certificate, web API)",
            evidence={
                "looked_at": {
                    "mdns": [s.type for s in ctx.device.mdns],
                    "ssdp": bool(ctx.device.ssdp),
                    "identifiers": sorted(ctx.device.identifiers),
                }
            },
        )


def _who(dev: Device) -> str:
    return f"{dev.key} ({dev.ip})"


@bench_check(
    "identification.duplicate-identifier", Capability.device_identification, cost=Cost(requests=0)
)
async def duplicate_identifier(ctx: BenchContext) -> AsyncIterator[Result]:
    """Two devices on the bench share a serial or other unit identifier."""
    per_device: dict[str, dict[str, tuple[str, str]]] = {}
    sem = asyncio.Semaphore(BENCH_CONCURRENCY)

    async def one(session: DeviceSession) -> None:
        async with sem:
            per_device[session.device.key] = await collect_identifiers(session)

    await asyncio.gather(*(one(s) for s in ctx.sessions))
    owners: dict[tuple[str, str], list[DeviceSession]] = defaultdict(list)
    for session in ctx.sessions:
        for kind, (value, _) in per_device[session.device.key].items():
            if kind != "certificate":  # a shared certificate is identification.shared-key's
                owners[(kind, value.strip().lower())].append(session)
    for session in ctx.sessions:
        dev = session.device
        mine = per_device[dev.key]
        clashes = []
        for kind, (value, source) in mine.items():
            group = owners.get((kind, value.strip().lower()), [])
            if len(group) > 1:
                clashes.append(
                    {
                        "kind": kind,
                        "value": value,
                        "source": source,
                        "devices": [_who(s.device) for s in group],
                    }
                )
        if clashes:
            others = sorted({d for c in clashes for d in c["devices"] if d != _who(dev)})
            yield ctx.result(
                dev,
                Verdict.fail,
                f"{clashes[0]['kind']} {clashes[0]['value']} is also on " + ", ".join(others),
                evidence={"duplicates": clashes},
            )
        elif len(ctx.sessions) < 2:
            yield ctx.result(
                dev,
                Verdict.not_applicable,
                "the only device in the scan: no other unit to compare identifiers with",
                evidence={"identifiers": {k: v for k, (v, _) in mine.items()}},
            )
        elif not mine:
            # Nothing to compare is no evidence of uniqueness (identification.identifier fails).
            yield ctx.result(
                dev,
                Verdict.inconclusive,
                "no unit identifier observed to compare with the other devices",
                evidence={
                    "reason": "no unit identifier on any interface (see identification.identifier)",
                    "compared_with": len(ctx.sessions) - 1,
                },
            )
        else:
            yield ctx.result(
                dev,
                Verdict.passed,
                f"no identifier shared with the {len(ctx.sessions) - 1} other device(s)",
                evidence={
                    "identifiers": {k: v for k, (v, _) in mine.items()},
                    "compared_with": len(ctx.sessions) - 1,
                },
            )


@bench_check("identification.shared-key", Capability.device_identification, cost=Cost(requests=2))
async def shared_key(ctx: BenchContext) -> AsyncIterator[Result]:
    """Two devices share a TLS private key or an SSH host key."""
    per_device: dict[str, list[tuple[str, int, str]]] = {}
    gaps: dict[str, list[str]] = {}
    sem = asyncio.Semaphore(BENCH_CONCURRENCY)

    async def one(session: DeviceSession) -> None:
        async with sem:
            keys, missing = await collect_keys_and_gaps(session)
            per_device[session.device.key], gaps[session.device.key] = keys, missing

    await asyncio.gather(*(one(s) for s in ctx.sessions))
    holders: dict[tuple[str, str], list[tuple[DeviceSession, int]]] = defaultdict(list)
    for session in ctx.sessions:
        for kind, port, fingerprint in per_device[session.device.key]:
            holders[(kind, fingerprint)].append((session, port))
    for session in ctx.sessions:
        dev = session.device
        flagged = False
        for kind, port, fingerprint in per_device[dev.key]:
            group = holders[(kind, fingerprint)]
            others = [(s, p) for s, p in group if s.device.key != dev.key]
            if not others:
                continue
            flagged = True
            evidence: dict[str, Any] = {
                "kind": kind,
                "fingerprint": fingerprint,
                "devices": [{"device": _who(s.device), "port": p} for s, p in group],
            }
            what = "TLS key" if kind == "tls" else "SSH host key"
            yield ctx.result(
                dev,
                Verdict.fail,
                f"{what} on port {port} is shared with "
                + ", ".join(_who(s.device) for s, _ in others),
                target=Target(port=port, service=kind),
                evidence=evidence,
            )
        if not flagged and gaps[dev.key]:
            yield ctx.result(
                dev,
                Verdict.inconclusive,
                f"{len(gaps[dev.key])} TLS/SSH key(s) could not be read: "
                + "; ".join(gaps[dev.key]),
                evidence={
                    "reason": "a key not seen may be the shared one",
                    "missing": gaps[dev.key],
                    "keys": [{"kind": k, "port": p, "fingerprint": f}
                             for k, p, f in per_device[dev.key]],
                },
            )  # fmt: skip
        elif not flagged:
            keys = per_device[dev.key]
            yield ctx.result(
                dev,
                Verdict.passed if keys else Verdict.not_applicable,
                f"{len(keys)} key(s), none shared with another device"
                if keys
                else "no TLS or SSH key to compare",
                evidence={"keys": [{"kind": k, "port": p, "fingerprint": f} for k, p, f in keys]},
            )
