"""The order of verdicts, in one place: which verdict a group of results adds up to, and the
order reports list results in."""

from __future__ import annotations

from collections.abc import Iterable

from lanprobe.model import Verdict

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
