"""The device session: what every check of one device shares.

One `DeviceSession` per device is shared by all of that device's checks: it holds the login guards
(one per service, so that two checks never exceed the profile's attempt budget together) and an
observation cache, so that a TLS handshake or a page fetch made by one check is reused by the
others (measure once, judge many times). Checks see it through `CheckContext`
(checks/context.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lanprobe.model import Device, ScanCoverage, Service
from lanprobe.options import RunOptions
from lanprobe.pacing import Pacer
from lanprobe.profile_schema import Profile
from lanprobe.scope import Scope

T = TypeVar("T")
# Attempts per service beyond quick depth (a bound for bugs; pacing and candidates set the rest).
STANDARD_BUDGET = 500


@dataclass
class DeviceBudget:
    """Login attempts left on the whole device, when the model bans the client address.

    A model that bans the source after N failures (profile `lockout.scope: source`) gets at most
    N-1 attempts across all its services, so that a scan never locks the bench out of a unit.
    """

    remaining: int | None = None  # None: no device-wide cap


@dataclass
class LoginGuard:
    """Paces login attempts on one service and stops them at the first sign of lockout.

    `budget` is the profile's max_attempts for the service, shared by every check that logs in
    there. Signs of lockout (HTTP 429, refused or reset connections after failures, an answer far
    slower than the first ones) stop further attempts and are kept as evidence.
    """

    budget: int
    pacing_s: float
    device: DeviceBudget = field(default_factory=DeviceBudget)
    attempts: int = 0
    failures: int = 0
    locked_out: str = ""  # why we stopped, "" while attempts may go on
    signs: list[str] = field(default_factory=list)
    # The signs that came after a failed login: only those say the device reacts to failures (a
    # reset before any failure is a broken or hung service, not a lockout).
    signs_after_failure: list[str] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)
    # Bare signs (a timeout, a reset) that a pause and a retry of the same attempt cleared.
    transient: list[str] = field(default_factory=list)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _last: float = 0.0
    _slow: int = 0  # slow answers in a row (a slowdown counts once it is confirmed)

    @property
    def remaining(self) -> int:
        if self.locked_out:
            return 0
        left = max(0, self.budget - self.attempts)
        if self.device.remaining is not None:
            left = min(left, self.device.remaining)
        return left

    async def acquire(self) -> bool:
        """Wait for the pacing slot of one attempt. False when the budget is spent or locked out."""
        async with self._lock:
            if self.remaining <= 0:
                return False
            wait = self._last + self.pacing_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last = time.monotonic()
            self.attempts += 1
            if self.device.remaining is not None:
                self.device.remaining -= 1
            return True

    def record(self, *, accepted: bool | None, latency_s: float, sign: str = "") -> None:
        """Record one attempt's outcome. `accepted` None means no answer (refused, reset, 429)."""
        self.latencies_s.append(latency_s)
        if accepted is False:
            self.failures += 1
        if sign:
            self.signs.append(sign)
            if self.failures > 0:
                self.signs_after_failure.append(sign)
            if self.failures > 0 or accepted is None:
                self.locked_out = sign
        # A sudden slowdown after failures: more than 5x the first answer and over 1 s, twice in
        # a row (one slow answer is as likely our own load or a busy device: measured, a lone
        # 1.1 s answer made access.no-lockout flap between scans of a device that never slows).
        slow = (
            self.failures >= 2
            and len(self.latencies_s) >= 3
            and latency_s > max(1.0, 5 * self.latencies_s[0])
        )
        self._slow = self._slow + 1 if slow else 0
        if self._slow >= 2:
            msg = f"answer slowed from {self.latencies_s[0]:.2f}s to {latency_s:.2f}s"
            self.signs.append(msg)
            self.signs_after_failure.append(msg)
            self.locked_out = msg

    def resume(self) -> None:
        """Take back the last sign: the attempt it came from is retried after a pause."""
        sign = self.locked_out
        self.locked_out = ""
        for signs in (self.signs, self.signs_after_failure):
            if sign in signs:
                signs.remove(sign)
        self.transient.append(sign)

    def evidence(self) -> dict[str, Any]:
        return {
            "transient_signs": list(self.transient),
            "attempts": self.attempts,
            "failures": self.failures,
            "budget": self.budget,
            "lockout_signs": list(self.signs),
            "stopped": self.locked_out or None,
        }


@dataclass
class DeviceSession:
    """Shared by all checks of one device."""

    device: Device
    profile: Profile
    scope: Scope
    options: RunOptions = field(default_factory=RunOptions)
    coverage: ScanCoverage | None = None  # what the run's discovery looked for (None: unknown)
    guards: dict[tuple[str, int], LoginGuard] = field(default_factory=dict)
    budget: DeviceBudget = field(default_factory=DeviceBudget)
    # Failure limits across the device's services; a source ban is kept at bay here (it counts
    # failures, not attempts: a success gives its slot back for the proof).
    pacer: Pacer = field(default_factory=Pacer)
    facts: dict[str, Any] = field(default_factory=dict)  # evidence bench checks read
    _cache: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    _login_end: float | None = None  # login_deadline(), set by the first campaign

    @property
    def depth(self) -> str:
        """The scan depth for this device: the run's --depth, else its profile's, else quick."""
        return self.options.depth or self.profile.credentials.depth or "quick"

    @property
    def login_time_s(self) -> float:
        """Extra deadline a login check gets for pacing: none at quick depth."""
        return 0.0 if self.depth == "quick" else self.options.timeouts.campaign_s

    def login_deadline(self) -> float:
        """When this device's paced logins must end (pacer clock): `login_time_s` after its
        first login campaign began, shared by every login service of the device. A device whose
        services share one ban (a source lockout) cannot try more in that time by taking them
        one after another; the whole bench's time stays that of its slowest device."""
        if self._login_end is None:
            self._login_end = self.pacer.clock() + self.login_time_s
        return self._login_end

    @property
    def ip(self) -> str:
        return self.scope.check(self.device.ip)

    def service(self, port: int, transport: str = "tcp") -> Service:
        """The device's service on that port (a bare one when discovery did not see it)."""
        found = [s for s in self.device.services if (s.port, s.transport) == (port, transport)]
        return found[0] if found else Service(port=port, transport=transport)

    def address(self, svc: Service | int, transport: str = "tcp") -> str:
        """Where to reach a service (or the device's service on that port): the device address,
        or for a port found open on IPv6 only, the IPv6 address it was found on. Checked
        against the scope (ScopeError)."""
        if isinstance(svc, int):
            svc = self.service(svc, transport)
        if svc.ipv6_only:
            return self.scope.check(svc.addresses[0])
        return self.ip

    def guard(self, service: str, port: int) -> LoginGuard:
        key = (service, port)
        if key not in self.guards:
            creds = self.profile.credentials
            # Beyond quick depth the pacer's failure limits keep the device safe, not a count.
            budget = creds.max_attempts if self.depth == "quick" else STANDARD_BUDGET
            self.guards[key] = LoginGuard(
                budget=budget, pacing_s=creds.pacing_s, device=self.budget
            )
        return self.guards[key]

    def pending_observations(self) -> list[asyncio.Task[Any]]:
        """Observations still running (their check was cancelled or ran out of time)."""
        return [task for task in self._cache.values() if not task.done()]

    async def observe(self, key: str, make: Callable[[], Awaitable[T]]) -> T:
        """Run `make` once per device and key; later callers (any check) get the same answer."""
        task = self._cache.get(key)
        if task is None:
            task = asyncio.ensure_future(make())
            self._cache[key] = task
        return await asyncio.shield(task)
