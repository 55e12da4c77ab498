"""Observations several checks share, made once per device through the session's cache
(layer 3: they measure through the clients and judge nothing)."""

from __future__ import annotations

import asyncio
import secrets
import weakref

from lanprobe.checks.clients import pages, tls
from lanprobe.checks.clients.tls_deep import DeepObservation, deep_scan
from lanprobe.model import Service
from lanprobe.service_kind import profile_kind
from lanprobe.session import DeviceSession


async def page_controls(session: DeviceSession, svc: Service) -> pages.PageControls:
    """The port's random-path and login-page controls, fetched once per device and port (the
    path checks of every capability compare their answers with them)."""
    tls_on = service_kind_of(session, svc) == "https" or svc.tls
    starts = ["/"]
    login = session.profile.interfaces.http_login
    if login is not None and login.port in (None, svc.port):
        starts.insert(0, login.path)

    async def make() -> pages.PageControls:
        return await pages.page_controls(
            session.address(svc),
            svc.port,
            tls=tls_on,
            timeouts=session.options.timeouts,
            random_path=f"/lanprobe-{secrets.token_hex(6)}",
            login_starts=starts,
        )

    return await session.observe(f"page-controls:{svc.port}", make)


# --- TLS: tier 1 (stdlib handshake) and tier 2 (sslyze), once per device and port ----------

TLS_KINDS = ("https", "mqtts", "tls")
# Kinds known to be something else: no speculative TLS handshake on them.
KNOWN_CLEAR = ("http", "telnet", "ssh", "ftp", "mqtt", "rtsp", "domain", "dns")
# How long a speculative handshake on an unknown port may wait before it is taken as "not TLS".
SPECULATIVE_READ_S = 2.0
# Tier 2: at most this many sslyze scans at once (each in a worker thread), per event loop.
DEEP_SCANS_AT_ONCE = 4
DEEP_CONNECTIONS_PER_DEVICE = 2


def service_kind_of(session: DeviceSession, svc: Service) -> str:
    """The service's kind, the profile's declared service name first."""
    return profile_kind(session.profile, svc)


def tls_candidates(session: DeviceSession) -> list[tuple[Service, bool]]:
    """TCP services that are or may be TLS: (service, speculative)."""
    out: list[tuple[Service, bool]] = []
    for svc in session.device.services:
        if svc.transport != "tcp":
            continue
        declared = session.profile.allowed_port(svc.port, svc.transport)
        kind = service_kind_of(session, svc)
        if kind in TLS_KINDS or svc.tls or (declared is not None and declared.tls):
            out.append((svc, False))
        elif kind not in KNOWN_CLEAR:
            out.append((svc, True))
    return out


def record_tls_facts(session: DeviceSession, obs: tls.TlsObservation) -> None:
    """Keep what bench checks compare (key fingerprints, certificate subjects)."""
    if obs.cert is None:
        return
    session.facts.setdefault("tls_keys", {})[obs.port] = obs.cert.spki_sha256
    session.facts.setdefault("tls_subjects", {})[obs.port] = obs.cert.subject


async def tls_observation(
    session: DeviceSession, port: int, *, speculative: bool = False
) -> tls.TlsObservation:
    """Tier 1 of one port, measured once per device and port."""
    timeouts = session.options.timeouts

    async def make() -> tls.TlsObservation:
        read_s = min(timeouts.read_s, SPECULATIVE_READ_S) if speculative else timeouts.read_s
        obs = await tls.observe(
            session.address(port),
            port,
            connect_s=timeouts.connect_s,
            read_s=read_s,
            deadline_s=max(5.0, min(timeouts.check_s / 3, 30.0)),
        )
        record_tls_facts(session, obs)
        return obs

    return await session.observe(f"tls:{port}", make)


async def tls_ports(session: DeviceSession) -> list[tuple[Service, tls.TlsObservation]]:
    """Every port of the device that speaks TLS or should (speculative misses left out)."""

    async def make() -> list[tuple[Service, tls.TlsObservation]]:
        out = []
        for svc, speculative in tls_candidates(session):
            obs = await tls_observation(session, svc.port, speculative=speculative)
            if speculative and not obs.is_tls:
                continue
            out.append((svc, obs))
        return out

    return await session.observe("tls-ports", make)


_DEEP_LIMITS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _deep_limit() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    sem = _DEEP_LIMITS.get(loop)
    if sem is None:
        sem = _DEEP_LIMITS[loop] = asyncio.Semaphore(DEEP_SCANS_AT_ONCE)
    return sem


async def deep_scans(session: DeviceSession) -> dict[int, DeepObservation]:
    """Tier 2 (sslyze) of every TLS port of the device, one port after the other."""
    timeouts = session.options.timeouts

    async def make() -> dict[int, DeepObservation]:
        out: dict[int, DeepObservation] = {}
        for _svc, obs in await tls_ports(session):
            if not obs.is_tls:
                continue
            async with _deep_limit():
                out[obs.port] = await deep_scan(
                    session.address(obs.port),
                    obs.port,
                    connections=DEEP_CONNECTIONS_PER_DEVICE,
                    network_timeout_s=max(1, int(timeouts.connect_s)),
                    deadline_s=max(10.0, timeouts.check_s * 0.6),
                )
        return out

    return await session.observe("tls-deep", make)
