"""What a check gets: its view of the device session (`CheckContext`), or of every session for a
bench-wide check (`BenchContext`).

The engine types live in lower layers (docs/architecture.md); they are re-exported here so that
checks can keep importing them from one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lanprobe.checkmeta import CheckMeta
from lanprobe.model import Device, Result, ScanCoverage, Service, Severity, Target, Verdict
from lanprobe.options import RunOptions, Timeouts
from lanprobe.profile_schema import Profile
from lanprobe.scope import Scope
from lanprobe.service_kind import service_kind
from lanprobe.session import STANDARD_BUDGET, DeviceBudget, DeviceSession, LoginGuard

__all__ = [
    "STANDARD_BUDGET",
    "BenchContext",
    "CheckContext",
    "CheckMeta",
    "DeviceBudget",
    "DeviceSession",
    "LoginGuard",
    "RunOptions",
    "Timeouts",
    "service_kind",
]


@dataclass
class CheckContext:
    """One check's view of a device session."""

    session: DeviceSession
    check_id: str
    meta: CheckMeta

    @property
    def device(self) -> Device:
        return self.session.device

    @property
    def profile(self) -> Profile:
        return self.session.profile

    @property
    def scope(self) -> Scope:
        return self.session.scope

    @property
    def coverage(self) -> ScanCoverage | None:
        """What the run's discovery looked for on every device (None: not recorded)."""
        return self.session.coverage

    @property
    def options(self) -> RunOptions:
        return self.session.options

    @property
    def timeouts(self) -> Timeouts:
        return self.session.options.timeouts

    @property
    def ip(self) -> str:
        """The device address, checked against the scope."""
        return self.session.ip

    def address(self, svc: Service | int, transport: str = "tcp") -> str:
        """Where to reach `svc` (or the device's service on that port): the device address, or
        for a port found open on IPv6 only, the IPv6 address it was found on (checked against
        the scope). Every check that connects to a service asks here, never `ip`."""
        return self.session.address(svc, transport)

    def kind(self, svc: Service) -> str:
        declared = self.profile.allowed_port(svc.port, svc.transport)
        return service_kind(svc, declared.service if declared else "")

    def services(self, *kinds: str) -> list[Service]:
        """The device's services of the given kinds (all services when none given)."""
        return [s for s in self.device.services if not kinds or self.kind(s) in kinds]

    def target(
        self, svc: Service | None = None, *, port: int | None = None, service: str = ""
    ) -> Target:
        """What a result is about; `address` is named when the service was reached elsewhere
        than the device's (IPv4) address: a port open on IPv6 only."""
        if svc is not None:
            return Target(port=svc.port, transport=svc.transport, service=service or self.kind(svc),
                          address=self._elsewhere(svc))  # fmt: skip
        return Target(port=port, service=service,
                      address=self._elsewhere(port) if port is not None else "")  # fmt: skip

    def _elsewhere(self, svc: Service | int) -> str:
        if isinstance(svc, int):
            svc = self.session.service(svc)
        return svc.addresses[0] if svc.ipv6_only else ""

    def result(
        self,
        verdict: Verdict,
        title: str,
        *,
        target: Target | None = None,
        evidence: dict[str, Any] | None = None,
        severity: Severity | None = None,
    ) -> Result:
        return self.meta.result(
            self.check_id, self.device, verdict, title, target, evidence, severity
        )

    def redact(self, secret: str) -> str:
        """Secrets go into evidence redacted unless the run asked to reveal them."""
        if self.options.reveal_secrets:
            return secret
        return "*" * min(len(secret), 8) if secret else ""


@dataclass
class BenchContext:
    """What a bench-wide check sees: every device session after the per-device checks."""

    sessions: list[DeviceSession]
    check_id: str
    meta: CheckMeta

    def result(
        self,
        device: Device,
        verdict: Verdict,
        title: str,
        *,
        target: Target | None = None,
        evidence: dict[str, Any] | None = None,
        severity: Severity | None = None,
    ) -> Result:
        return self.meta.result(self.check_id, device, verdict, title, target, evidence, severity)
