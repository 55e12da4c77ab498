"""The login guard's lockout signs (checks/context.py LoginGuard), as the robustness tests found
they must be: a refusal before any failed login is no lockout sign, and one slow answer is not a
slowdown (a lone 1.1 s answer under load made access.no-lockout flap between scans)."""

from __future__ import annotations

from lanprobe.checks.clients.login import is_named_lockout
from lanprobe.checks.context import LoginGuard


def test_sign_before_any_failure_is_not_a_reaction_to_failures() -> None:
    guard = LoginGuard(budget=5, pacing_s=0.0)
    guard.record(accepted=None, latency_s=0.01, sign="connection reset")
    assert guard.locked_out  # no more attempts on a service that resets
    assert guard.signs == ["connection reset"] and guard.signs_after_failure == []
    guard = LoginGuard(budget=5, pacing_s=0.0)
    guard.record(accepted=False, latency_s=0.01)
    guard.record(accepted=None, latency_s=0.01, sign="HTTP 429")
    assert guard.signs_after_failure == ["HTTP 429"]


def test_one_slow_answer_is_no_slowdown_two_are() -> None:
    guard = LoginGuard(budget=10, pacing_s=0.0)
    for latency in (0.08, 0.08, 0.08, 1.11, 0.09):
        guard.record(accepted=False, latency_s=latency)
    assert not guard.locked_out and guard.signs == []
    guard.record(accepted=False, latency_s=1.5)
    assert not guard.locked_out
    guard.record(accepted=False, latency_s=2.5)
    assert guard.locked_out.startswith("answer slowed")
    assert guard.signs_after_failure == [guard.locked_out]


def test_a_slowdown_stops_logins_but_names_no_lockout() -> None:
    # Load on either side slows answers as much as a throttle: the guard stops (lockout-safe), but
    # access.no-lockout may not pass on it (a lab device that never throttles did under load).
    guard = LoginGuard(budget=10, pacing_s=0.0)
    for latency in (0.2, 0.2, 0.2, 1.28, 1.3):
        guard.record(accepted=False, latency_s=latency)
    assert guard.locked_out.startswith("answer slowed")
    assert not is_named_lockout(guard.locked_out)
    assert is_named_lockout("HTTP 429") and is_named_lockout("SSH disconnect: account locked")
