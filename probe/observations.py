"""Observations several checks share, made once per device through the session's cache
(layer 3: they measure through the clients and judge nothing)."""

from __future__ import annotations

import secrets

from lanprobe.checks.clients import pages
from lanprobe.model import Service
from lanprobe.service_kind import service_kind
from lanprobe.session import DeviceSession


def kind_of(session: DeviceSession, svc: Service) -> str:
    """The service's kind, the profile's declared service name first."""
    declared = session.profile.allowed_port(svc.port, svc.transport)
    return service_kind(svc, declared.service if declared else "")


async def page_controls(session: DeviceSession, svc: Service) -> pages.PageControls:
    """The port's random-path and login-page controls, fetched once per device and port (the
    path checks of every capability compare their answers with them)."""
    tls = kind_of(session, svc) == "https" or svc.tls
    starts = ["/"]
    login = session.profile.interfaces.http_login
    if login is not None and login.port in (None, svc.port):
        starts.insert(0, login.path)

    async def make() -> pages.PageControls:
        return await pages.page_controls(
            session.ip,
            svc.port,
            tls=tls,
            timeouts=session.options.timeouts,
            random_path=f"/lanprobe-{secrets.token_hex(6)}",
            login_starts=starts,
        )

    return await session.observe(f"page-controls:{svc.port}", make)
