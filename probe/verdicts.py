"""The order of verdicts, in one place: which verdict a group of results adds up to, and the
order reports list results in."""

from __future__ import annotations

from collections.abc import Iterable

from lanprobe.model import DeviceVerdict, Verdict

# Worst first: fail beats error beats inconclusive beats pass beats not_applicable (a pass
# among not_applicable results still says something was verified).
WORST_FIRST = (
    Verdict.fail,
    Verdict.error,
    Verdict.inconclusive,
    Verdict.passed,
    Verdict.not_applicable,
)
_RANK = {v: len(WORST_FIRST) - i for i, v in enumerate(WORST_FIRST)}

# How reports list results: findings first, then what could not be judged, passes last.
REPORT_ORDER = (
    Verdict.fail,
    Verdict.error,
    Verdict.inconclusive,
    Verdict.not_applicable,
    Verdict.passed,
)
_REPORT_POSITION = {v: i for i, v in enumerate(REPORT_ORDER)}

# The console's per-device listing of what needs a look: the run's own errors first (the result
# cannot be trusted until they are fixed), then findings, then what could not be judged.
CONSOLE_LISTED = (Verdict.error, Verdict.fail, Verdict.inconclusive)

# A device's verdict, worst first (diff's "got worse", the fleet page's worst-first lists).
DEVICE_WORST_FIRST = (
    DeviceVerdict.does_not_conform,
    DeviceVerdict.inconclusive,
    DeviceVerdict.conforms,
)
_DEVICE_RANK = {v: len(DEVICE_WORST_FIRST) - i for i, v in enumerate(DEVICE_WORST_FIRST)}


def rank(verdict: Verdict) -> int:
    """Higher is worse (fail highest, not_applicable lowest)."""
    return _RANK[verdict]


def worst_verdict(verdicts: Iterable[Verdict]) -> Verdict:
    """The worst of `verdicts` (WORST_FIRST); ValueError when there is none."""
    given = set(verdicts)
    for verdict in WORST_FIRST:
        if verdict in given:
            return verdict
    raise ValueError("no verdicts")


def report_position(verdict: Verdict) -> int:
    """Where a result of this verdict goes in a report (0 first)."""
    return _REPORT_POSITION[verdict]


def device_rank(verdict: DeviceVerdict) -> int:
    """Higher is worse (does_not_conform highest, conforms lowest)."""
    return _DEVICE_RANK[verdict]
