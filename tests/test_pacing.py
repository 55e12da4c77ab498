"""Lockout-safe pacing (probe/pacing.py) on a fake clock: bursts, quiet gaps, the margin, and
slots shared by concurrent services."""

from __future__ import annotations

import asyncio

from lanprobe.pacing import MARGIN_S, Limit, Pacer, depth_cost


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _pacer() -> tuple[Pacer, Clock]:
    clock = Clock()
    return Pacer(clock=clock), clock


def test_a_full_burst_waits_for_a_quiet_window_after_its_last_failure() -> None:
    pacer, clock = _pacer()
    limit = Limit("account:admin", 2, 30.0)
    pacer.failures["account:admin"] = [1000.0, 1010.0]
    clock.now = 1015.0
    # Safe against fail2ban's sliding window and against counters reset by a quiet gap alike.
    assert pacer.wait_s([limit]) == 1010.0 + 30.0 + MARGIN_S - 1015.0
    clock.now = 1041.5  # the gap is over: a new burst starts
    assert pacer.wait_s([limit]) == 0.0


def test_a_quiet_gap_ends_the_burst() -> None:
    pacer, _ = _pacer()
    pacer.failures["source"] = [900.0, 950.0, 995.0]  # gaps of 50 and 45 s
    assert pacer.wait_s([Limit("source", 2, 40.0)]) == 0.0
    assert pacer.wait_s([Limit("source", 4, 60.0)]) == 0.0  # 3 + this one
    assert pacer.wait_s([Limit("source", 3, 60.0)]) == 995.0 + 60.0 + MARGIN_S - 1000.0


def test_a_slot_taken_for_later_still_counts_now() -> None:
    """Another service took a slot after the window: an attempt now still joins the old burst
    (the bug a lab device with a 3 s window caught: a 5th failure slipped in)."""
    pacer, _ = _pacer()
    pacer.failures["account:admin"] = [997.0, 998.0, 999.0, 999.5, 1003.6]  # last one: future
    limit = Limit("account:admin", 4, 3.0)
    # Now would join [997..999.5] and, 3.6 s later, nothing: full. After 999.5 + 4 = 1003.5 it
    # would sit next to the slot at 1003.6: that burst has room.
    assert pacer.earliest([limit], 1000.0) == 999.5 + 3.0 + MARGIN_S


def test_the_strictest_limit_sets_the_wait() -> None:
    pacer, _ = _pacer()
    pacer.failures = {"account:root": [999.0], "service:ssh:22": [990.0, 995.0, 999.0]}
    limits = [Limit("account:root", 2, 10.0), Limit("service:ssh:22", 3, 60.0)]
    assert pacer.wait_s(limits) == 999.0 + 60.0 + MARGIN_S - 1000.0


async def test_slots_count_as_failures_until_settled() -> None:
    pacer, clock = _pacer()
    limit = Limit("source", 1, 5.0)
    first = await pacer.slot([limit], deadline=clock.now)
    assert first is not None
    # A concurrent service sees the provisional failure: no slot before the deadline.
    assert await pacer.slot([limit], deadline=clock.now + 1.0) is None
    pacer.settle(first, failed=False)  # a success gives its slot back
    assert pacer.wait_s([limit]) == 0.0
    again = await pacer.slot([limit], deadline=clock.now)
    assert again is not None
    clock.now += 0.5
    pacer.settle(again, failed=True)
    assert pacer.failures["source"] == [1000.5]  # dated when it ended


async def test_slot_sleeps_the_wait() -> None:
    pacer = Pacer()
    limit = Limit("account:a", 1, 0.05)
    now = pacer.clock()
    pacer.failures["account:a"] = [now]
    loop = asyncio.get_running_loop()
    start = loop.time()
    slot = await pacer.slot([limit], deadline=now + 10)
    assert slot is not None and slot.waited_s > 1.0
    assert loop.time() - start >= slot.waited_s - 0.01


def test_depth_cost_is_printed_per_depth() -> None:
    assert "quick" in depth_cost("quick", 240) and "no waiting" in depth_cost("quick", 240)
    std = depth_cost("standard", 120)
    assert "up to 120 s of logins per device" in std and "every candidate" in std
    assert "large lists" in depth_cost("deep", 240)
    assert "each profile's" in depth_cost(None, 240)


def test_scan_refuses_an_unknown_depth_before_any_traffic() -> None:
    from lanprobe.cli import app
    from typer.testing import CliRunner

    res = CliRunner().invoke(app, ["scan", "--cidr", "127.0.0.1/32", "--depth", "thorough"])
    assert res.exit_code == 2
    assert "--depth 'thorough': choose quick, standard, deep" in res.output


def test_plugin_depth_option_is_checked() -> None:
    from lanprobe.pytest_bench import ProbeOptions

    assert ProbeOptions(lab=True, depth="standard").problem() is None
    assert "--probe-depth" in (ProbeOptions(lab=True, depth="x").problem() or "")


def test_one_login_time_per_device_shared_by_its_services() -> None:
    """DeviceSession.login_deadline: set by the first campaign, the same for every later one
    (a second login service does not get a fresh --campaign-s)."""
    from lanprobe.model import Device
    from lanprobe.options import RunOptions, Timeouts
    from lanprobe.profile_schema import Profile
    from lanprobe.scope import Scope
    from lanprobe.session import DeviceSession

    now = [100.0]
    session = DeviceSession(
        device=Device(key="k", ips=["127.0.0.1"]), profile=Profile(id="t"),
        scope=Scope.build(["127.0.0.1/32"]), pacer=Pacer(clock=lambda: now[0]),
        options=RunOptions(depth="standard", timeouts=Timeouts(campaign_s=60)),
    )  # fmt: skip
    assert session.login_deadline() == 160.0
    now[0] = 150.0  # the second service's campaign starts later: same end
    assert session.login_deadline() == 160.0


async def test_a_slow_attempt_does_not_split_a_burst_the_device_sees_whole() -> None:
    """Failures dated at their end look further apart than the device saw them when an
    attempt was slow: linked from end to the next start, the 5th in a 3 s window waits."""
    pacer, clock = _pacer()
    limit = Limit("account:admin", 4, 3.0)
    # The first failure ended at 1000.0; the second took 2 s (began 1002.0, ended 1004.0):
    # end to end 4 s apart, but the device may have counted them 2 s apart.
    pacer.failures["account:admin"] = [1000.0, 1004.0, 1005.0, 1006.0]
    pacer.began[("account:admin", 1004.0)] = 1002.0
    clock.now = 1006.5
    assert pacer.wait_s([limit]) == 1006.0 + 3.0 + MARGIN_S - 1006.5
    slot = await pacer.slot([Limit("source", 9, 1.0)], deadline=clock.now)
    assert slot is not None
    clock.now = 1008.0
    pacer.settle(slot, failed=True)
    assert pacer.began[("source", 1008.0)] == 1006.5
