"""Scores and the conformance verdict of one device, from its results and the baseline. Pure.

One check, one vote: a check's results on a device (one per port, say) fold into one verdict, the
worst of them (fail > inconclusive > pass), at the highest severity among the results that gave it.
So a device's score does not depend on how many ports it has.

- capability score = 100 x weight(passed) / weight(passed + failed + inconclusive), severity
  weights from the baseline; None when nothing weighted was decided. A check that broke (`error`)
  counts as inconclusive: it cannot vouch for the device.
- coverage = share of the capability's 8259A elements that a decided check (pass or fail) verified
  over the network (the baseline's `verifies`).
- device verdict (DESIGN.md): `does_not_conform` when a high or critical check fails, whatever
  the score; else `inconclusive` when a high or critical check is inconclusive (or broke), or when
  a capability's coverage is below the baseline's `min_coverage` for it (a device whose checks
  found nothing to look at, all not_applicable, does not conform by default); else `conforms`.
  Lower-severity fails lower the score but not the verdict. `reasons` says why a device does not
  conform, `lacking_evidence` names the capabilities below their minimum.
- declared items (the profile's declarations.declared) are listed per capability, never counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lanprobe.baseline import Baseline
from lanprobe.model import (
    Capability,
    CapabilityScore,
    DeviceScore,
    DeviceVerdict,
    Result,
    Severity,
    Verdict,
)
from lanprobe.profile_schema import Profile
from lanprobe.verdicts import worst_verdict

_GRAVE = (Severity.high, Severity.critical)


@dataclass(frozen=True)
class CheckOutcome:
    """One check's folded verdict on one device."""

    check_id: str
    capability: Capability
    verdict: Verdict
    severity: Severity


def fold(results: Iterable[Result]) -> list[CheckOutcome]:
    """Fold each check's results into one outcome (the worst verdict, its highest severity)."""
    by_check: dict[str, list[Result]] = {}
    for r in results:
        by_check.setdefault(r.check_id, []).append(r)
    out = []
    for cid, rs in sorted(by_check.items()):
        worst = worst_verdict(r.verdict for r in rs)  # the verdict when results disagree
        sev = max((r.severity for r in rs if r.verdict == worst), key=lambda s: s.rank)
        out.append(CheckOutcome(cid, rs[0].capability, worst, sev))
    return out


def _ratio(passed: int, decided: int) -> float | None:
    return round(100.0 * passed / decided, 1) if decided > 0 else None


def score_device(
    device_key: str,
    results: Iterable[Result],
    baseline: Baseline,
    profile: Profile | None = None,
) -> DeviceScore:
    outcomes = fold(r for r in results if r.device == device_key)
    element_cap = baseline.element_capability()
    declared = profile.declarations.declared if profile is not None else {}

    details: dict[str, CapabilityScore] = {}
    weights: dict[str, tuple[int, int]] = {}  # capability -> (passed weight, decided weight)
    verified: set[str] = set()
    for cap in baseline.capabilities:
        details[cap.value] = CapabilityScore()
        weights[cap.value] = (0, 0)

    for o in outcomes:
        cs = details.setdefault(o.capability.value, CapabilityScore())
        w = baseline.weight(o.severity)
        passed_w, decided_w = weights.get(o.capability.value, (0, 0))
        if o.verdict == Verdict.passed:
            cs.passed += 1
            passed_w += w
            decided_w += w
        elif o.verdict == Verdict.fail:
            cs.failed += 1
            decided_w += w
        elif o.verdict in (Verdict.inconclusive, Verdict.error):
            cs.inconclusive += 1
            decided_w += w
        else:
            cs.not_applicable += 1
        weights[o.capability.value] = (passed_w, decided_w)
        cdef = baseline.checks.get(o.check_id)
        if cdef is not None and o.verdict in (Verdict.passed, Verdict.fail):
            verified.update(cdef.verifies)

    for code, _statement in declared.items():
        owner = element_cap.get(code)
        key = owner.value if owner is not None else Capability.declarations.value
        details.setdefault(key, CapabilityScore()).declared.append(code)

    all_elements = 0
    all_verified = 0
    lacking: list[str] = []
    for cap, capdef in baseline.capabilities.items():
        cs = details[cap.value]
        passed_w, decided_w = weights[cap.value]
        cs.score = _ratio(passed_w, decided_w)
        codes = list(capdef.elements)
        hit = [c for c in codes if c in verified]
        cs.coverage = round(100.0 * len(hit) / len(codes), 1) if codes else 0.0
        cs.unverified = [c for c in codes if c not in verified]
        cs.min_coverage = baseline.min_coverage.get(cap, 0.0)
        # compare unrounded: 1 of 3 elements (33.33...) meets a minimum of 33.3
        if codes and 100.0 * len(hit) / len(codes) + 1e-9 < cs.min_coverage:
            lacking.append(cap.value)
        all_elements += len(codes)
        all_verified += len(hit)

    total_passed = sum(p for p, _ in weights.values())
    total_decided = sum(d for _, d in weights.values())

    grave_fails = [o for o in outcomes if o.verdict == Verdict.fail and o.severity in _GRAVE]
    grave_open = [
        o
        for o in outcomes
        if o.verdict in (Verdict.inconclusive, Verdict.error) and o.severity in _GRAVE
    ]
    reasons = [f"{o.check_id} failed ({o.severity.value})" for o in grave_fails]
    reasons += [f"{o.check_id} {o.verdict.value} ({o.severity.value})" for o in grave_open]
    for cap_name in lacking:
        cs = details[cap_name]
        open_ = [c for c in baseline.verifiable(Capability(cap_name)) if c in cs.unverified]
        reasons.append(
            f"{cap_name}: coverage {cs.coverage:g}% below the minimum {cs.min_coverage:g}% "
            f"(no decided check verified {', '.join(open_)})"
        )
    if grave_fails:
        verdict = DeviceVerdict.does_not_conform
    elif grave_open or lacking:
        verdict = DeviceVerdict.inconclusive
    else:
        verdict = DeviceVerdict.conforms

    return DeviceScore(
        device=device_key,
        verdict=verdict,
        score=_ratio(total_passed, total_decided),
        coverage=round(100.0 * all_verified / all_elements, 1) if all_elements else 0.0,
        capabilities={k: v.score for k, v in details.items()},
        details=details,
        baseline_version=f"{baseline.id} {baseline.version}",
        profile=profile.id if profile is not None else None,
        profile_version=profile.version if profile is not None else "",
        reasons=reasons,
        lacking_evidence=lacking,
    )
