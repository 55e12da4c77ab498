"""Scoring on hand-made results: weights, folding per check, coverage, verdict, declared items."""

from __future__ import annotations

import io

import pytest
from lanprobe.baseline import load_baseline
from lanprobe.model import (
    Capability,
    Device,
    DeviceVerdict,
    Result,
    ScanRun,
    Severity,
    Target,
    Verdict,
)
from lanprobe.profile_schema import Declarations, Profile
from lanprobe.report.console import print_summary
from lanprobe.scoring import fold, score_device

DEV = "02:00:00:00:00:01"
B = load_baseline()


def res(
    check_id: str,
    verdict: Verdict,
    severity: Severity | None = None,
    *,
    port: int | None = None,
    device: str = DEV,
) -> Result:
    cdef = B.checks[check_id]
    return Result(
        check_id=check_id,
        device=device,
        capability=cdef.capability,
        verdict=verdict,
        severity=severity or cdef.severity,
        title=f"{check_id} {verdict}",
        target=Target(port=port),
    )


def test_capability_score_is_weighted_by_severity() -> None:
    # logical_access: cleartext-admin high(5) pass, unexpected-port medium(2) fail,
    # no-lockout medium(2) inconclusive -> 5 / 9
    results = [
        res("access.cleartext-admin", Verdict.passed),
        res("access.unexpected-port", Verdict.fail),
        res("access.no-lockout", Verdict.inconclusive),
        res("access.anonymous-mqtt", Verdict.not_applicable),
    ]
    s = score_device(DEV, results, B)
    la = s.details["logical_access"]
    assert la.score == pytest.approx(100 * 5 / 9, abs=0.1)
    assert (la.passed, la.failed, la.inconclusive, la.not_applicable) == (1, 1, 1, 1)
    assert s.capabilities["logical_access"] == la.score
    # Nothing decided elsewhere: no score rather than 0 or 100.
    assert s.capabilities["software_update"] is None


def test_results_of_one_check_fold_into_its_worst_verdict() -> None:
    results = [
        res("data.tls-protocol", Verdict.passed, port=443),
        res("data.tls-protocol", Verdict.passed, port=8443),
        res("data.tls-protocol", Verdict.fail, port=8883),
        res("data.tls-cipher", Verdict.passed, port=443),
    ]
    outcomes = {o.check_id: o for o in fold(results)}
    assert outcomes["data.tls-protocol"].verdict == Verdict.fail
    assert outcomes["data.tls-cipher"].verdict == Verdict.passed
    s = score_device(DEV, results, B)
    # one vote per check, both medium: 2 / 4
    assert s.details["data_protection"].score == 50.0


def test_raised_severity_of_a_result_counts() -> None:
    results = [
        res("access.unauthenticated-interface", Verdict.fail, Severity.critical),
        res("access.cleartext-admin", Verdict.passed),
    ]
    s = score_device(DEV, results, B)
    assert s.details["logical_access"].score == pytest.approx(100 * 5 / 15, abs=0.1)


def test_verdict_does_not_conform_on_high_or_critical_fail_whatever_the_score() -> None:
    passes = [
        res(cid, Verdict.passed)
        for cid in ("data.tls-required", "identification.shared-key", "update.signature")
    ]
    s = score_device(DEV, [*passes, res("configuration.default-login", Verdict.fail)], B)
    assert s.verdict == DeviceVerdict.does_not_conform
    s = score_device(DEV, [*passes, res("access.cleartext-admin", Verdict.fail)], B)
    assert s.verdict == DeviceVerdict.does_not_conform


def test_verdict_inconclusive_on_high_inconclusive_or_error() -> None:
    base = [res("data.tls-protocol", Verdict.passed)]
    s = score_device(DEV, [*base, res("access.anonymous-mqtt", Verdict.inconclusive)], B)
    assert s.verdict == DeviceVerdict.inconclusive
    s = score_device(DEV, [*base, res("configuration.default-login", Verdict.error)], B)
    assert s.verdict == DeviceVerdict.inconclusive
    # An error weighs like inconclusive in the score.
    assert s.details["device_configuration"].score == 0.0


# Passes that give every capability its minimum coverage (the baseline's min_coverage).
COVERED = [
    res(cid, Verdict.passed)
    for cid in (
        "identification.identifier",
        "configuration.default-login",
        "data.tls-protocol",
        "access.unexpected-port",
        "access.unauthenticated-interface",
        "update.signature",
        "state.reporting",
        "declarations.vulnerability-contact",
    )
]


def test_verdict_conforms_with_only_low_and_medium_fails() -> None:
    results = [
        *COVERED,
        res("configuration.default-login", Verdict.passed),
        res("data.tls-cipher", Verdict.fail),
        res("access.no-lockout", Verdict.inconclusive),
    ]
    s = score_device(DEV, results, B)
    assert s.verdict == DeviceVerdict.conforms
    assert s.score is not None and s.score < 100


def test_score_overall_and_other_devices_ignored() -> None:
    results = [
        res("configuration.default-login", Verdict.passed),  # critical 10
        res("access.unexpected-port", Verdict.fail),  # medium 2
        res("configuration.default-login", Verdict.fail, device="other"),
    ]
    s = score_device(DEV, results, B)
    assert s.score == pytest.approx(100 * 10 / 12, abs=0.1)
    s = score_device(DEV, [*COVERED, *results], B)
    assert s.verdict == DeviceVerdict.conforms


def test_coverage_counts_elements_verified_by_decided_checks() -> None:
    results = [
        res("access.cleartext-admin", Verdict.passed),  # LAI-1
        res("access.no-lockout", Verdict.inconclusive),  # LAI-3 not verified
        res("configuration.default-login", Verdict.fail),  # LAI-2, CFG-2
        res("access.anonymous-mqtt", Verdict.not_applicable),
    ]
    s = score_device(DEV, results, B)
    assert s.details["logical_access"].coverage == pytest.approx(100 * 2 / 3, abs=0.1)
    assert s.details["device_configuration"].coverage == pytest.approx(100 / 3, abs=0.1)
    assert s.details["software_update"].coverage == 0.0
    total = sum(len(c.elements) for c in B.capabilities.values())
    assert s.coverage == pytest.approx(100 * 3 / total, abs=0.1)


def test_declared_items_are_listed_never_counted() -> None:
    profile = Profile(
        id="p",
        version="7",
        declarations=Declarations(declared={"SU-3": "dual bank", "DP-2": "factory reset"}),
    )
    s = score_device(DEV, [res("update.signature", Verdict.passed)], B, profile)
    su = s.details["software_update"]
    assert su.declared == ["SU-3"]
    assert s.details["data_protection"].declared == ["DP-2"]
    # SU-3 declared is not a verified element, and adds no weight.
    assert su.coverage == pytest.approx(100 / 6, abs=0.1)
    assert su.score == 100.0 and su.passed == 1
    assert s.profile == "p" and s.profile_version == "7"
    assert s.baseline_version.startswith("nistir-8259a")


def test_no_results_do_not_conform_vacuously() -> None:
    s = score_device(DEV, [], B)
    assert s.score is None
    assert s.coverage == 0.0
    assert set(s.capabilities) == {c.value for c in Capability}
    assert s.verdict == DeviceVerdict.inconclusive
    assert set(s.lacking_evidence) == {c.value for c in B.min_coverage if B.min_coverage[c] > 0}


def test_only_not_applicable_results_do_not_conform() -> None:
    results = [res(cid, Verdict.not_applicable) for cid in B.checks]
    s = score_device(DEV, results, B)
    assert s.verdict == DeviceVerdict.inconclusive
    assert "software_update" in s.lacking_evidence
    assert any(r.startswith("software_update: coverage 0% below the minimum") for r in s.reasons)


def test_a_capability_below_its_minimum_coverage_is_named() -> None:
    # everything covered but software update: no decided check verified SU-2 or SU-4
    results = [r for r in COVERED if r.capability != Capability.software_update]
    results.append(res("update.signature", Verdict.inconclusive))  # critical, undecided
    s = score_device(DEV, results, B)
    assert s.verdict == DeviceVerdict.inconclusive
    assert s.lacking_evidence == ["software_update"]
    su = s.details["software_update"]
    assert su.min_coverage == B.min_coverage[Capability.software_update]
    assert "SU-2" in su.unverified and "SU-4" in su.unverified
    assert "update.signature inconclusive (critical)" in s.reasons
    # with SU-4 verified the minimum is met
    s = score_device(DEV, [*results[:-1], res("update.unauthenticated-upload", Verdict.passed)], B)
    assert s.verdict == DeviceVerdict.conforms and s.reasons == [] and s.lacking_evidence == []


def test_does_not_conform_names_the_grave_fails() -> None:
    s = score_device(DEV, [*COVERED, res("data.tls-required", Verdict.fail)], B)
    assert s.verdict == DeviceVerdict.does_not_conform
    assert s.reasons == ["data.tls-required failed (high)"]


def test_min_coverage_beyond_what_checks_verify_is_refused() -> None:
    data = B.model_dump(mode="json")
    data["min_coverage"]["software_update"] = 50  # only SU-2 and SU-4 (33.3%) are verifiable
    with pytest.raises(ValueError, match="more than the checks can verify"):
        type(B).model_validate(data)


def test_console_names_the_capabilities_that_lacked_evidence() -> None:
    results = [res(cid, Verdict.not_applicable) for cid in B.checks]
    run = ScanRun(
        run_id="r1",
        devices=[Device(key=DEV, ips=["198.18.0.10"])],
        results=results,
        scores={DEV: score_device(DEV, results, B)},
    )
    out = io.StringIO()
    print_summary(run, file=out)
    text = out.getvalue()
    assert "lacking" in text and "software_update: coverage 0% below the minimum" in text
    assert "0 conform" in text and "1 inconclusive" in text
