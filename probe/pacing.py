"""Lockout-safe pacing of login attempts: failure limits per account, per service and per source.

A device that locks accounts or bans addresses counts failed logins. Two counters are common:
fail2ban's (failures within a sliding `findtime`) and firmware that forgets its count after a
quiet gap. Pacing that is safe against both: no more than `failures` failures in one *burst*,
where a burst ends only after `window_s` without any failure. Once a burst is full, the next
attempt waits until `window_s` (plus a margin) has passed since the burst's last failure: by then
every earlier failure is older than the window, whichever counter the device keeps.

Every attempt is counted as a failure when its slot is taken (it may well fail), dated when it
ends (the device counts it when it answers) and remembered with when it began: bursts are linked
from one failure's end to the next one's start; a success removes it again. One `Pacer` per device
is shared by every service, so a username's failures add up across telnet, SSH and the web UI,
and a source limit holds across the whole device.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Added to every window: clocks differ and a device counts a failure when it has answered.
MARGIN_S = 1.0


@dataclass(frozen=True)
class Limit:
    """At most `failures` failures of `key` in one burst; a burst ends after `window_s` quiet."""

    key: str  # "account:<user>", "service:<kind>:<port>", "source"
    failures: int
    window_s: float

    def describe(self) -> str:
        return f"{self.failures} failure(s) per {self.window_s:g} s ({self.key.split(':')[0]})"


@dataclass
class Slot:
    """A reserved attempt: its provisional failure entries, settled after the attempt."""

    keys: tuple[str, ...]
    at: float
    waited_s: float = 0.0


@dataclass
class Pacer:
    """Failure bookkeeping of one device (monotonic seconds)."""

    clock: Callable[[], float] = time.monotonic
    failures: dict[str, list[float]] = field(default_factory=dict)
    waited_s: float = 0.0  # total time attempts waited for a window (for the evidence)
    # (key, end) -> when that failed attempt began (settle); a failure without one began at its end
    began: dict[tuple[str, float], float] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def _start(self, key: str, end: float) -> float:
        return self.began.get((key, end), end)

    def _chain(self, key: str, t: float, window_s: float) -> list[float]:
        """The failures an attempt at `t` would share a burst with: those linked to `t` by gaps
        of at most `window_s`, before it and after it (slots taken for later count too). A gap
        runs from one failure's end to the next one's start: the device counted each somewhere
        in between, so a slow answer must not make two failures look further apart than the
        device saw them (a loaded machine's SSH attempts let a 5th failure into a 3 s window)."""
        times = sorted(self.failures.get(key, []))
        before = [x for x in times if x <= t]
        after = [x for x in times if x > t]
        chain: list[float] = []
        edge = t
        for x in reversed(before):
            if edge - x > window_s:
                break
            chain.append(x)
            edge = self._start(key, x)
        edge = t
        for x in after:
            if self._start(key, x) - edge > window_s:
                break
            chain.append(x)
            edge = x
        return chain

    def earliest(self, limits: list[Limit], now: float) -> float:
        """The first time from `now` at which one more failure keeps every limit."""
        t = now
        for _ in range(1000):  # each round moves past one full burst; bursts are finite
            moved = False
            for limit in limits:
                chain = self._chain(limit.key, t, limit.window_s)
                if len(chain) + 1 > limit.failures:
                    t = max(chain) + limit.window_s + MARGIN_S
                    moved = True
            if not moved:
                return t
        return t

    def wait_s(self, limits: list[Limit], now: float | None = None) -> float:
        """How long the next attempt must wait so that no limit can be exceeded."""
        now = self.clock() if now is None else now
        return max(0.0, self.earliest(limits, now) - now)

    async def slot(self, limits: list[Limit], deadline: float) -> Slot | None:
        """Wait for a slot under every limit; None when it must wait past `deadline`."""
        async with self._lock:
            now = self.clock()
            wait = self.wait_s(limits, now)
            if wait > 0 and now + wait > deadline:
                return None
            at = now + wait
            keys = tuple(limit.key for limit in limits)
            for key in keys:  # provisional: later callers see this attempt as a failure
                self.failures.setdefault(key, []).append(at)
                self.failures[key].sort()
        if wait > 0:
            self.waited_s += wait
            await asyncio.sleep(wait)
        return Slot(keys=keys, at=at, waited_s=wait)

    def settle(self, slot: Slot, failed: bool) -> None:
        """After the attempt: a failure is dated when it ended; a success is no failure."""
        end = self.clock()
        for key in slot.keys:
            times = self.failures.get(key, [])
            if slot.at in times:
                times.remove(slot.at)
            if failed:
                times.append(max(end, slot.at))
                times.sort()
                self.began[(key, max(end, slot.at))] = slot.at


DEPTHS = ("quick", "standard", "deep")


def depth_cost(depth: str | None, campaign_s: float) -> str:
    """What a scan depth costs in time, printed before the scan (issue 12)."""
    if depth is None:
        return (
            "login depth: each profile's (quick unless it says otherwise); quick stays within "
            "the profile's attempts per login service and never waits for a lockout window"
        )
    if depth == "quick":
        return (
            "login depth quick: at most the profile's attempts per login service (3 on an "
            "unknown device), no waiting for lockout windows: seconds per device"
        )
    extra = " plus the large lists" if depth == "deep" else ""
    return (
        f"login depth {depth}: every candidate that fits each login service{extra}, paced "
        "under lockout windows (documented ones, else 2 failures per account and 4 per "
        f"service per 600 s): up to {campaign_s:g} s of logins per device, devices in parallel; "
        "what the time does not cover stays inconclusive"
    )
