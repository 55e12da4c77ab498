"""Declarations checks against the lab bench, and the declarations in run.json."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from lanprobe.model import ScanRun, Severity, Verdict
from lanprobe.profile_schema import Declarations, Foundational, Profile

from tests.checks.conftest import device_of, results_of
from tests.checks.recorded import device, run, session

lab = pytest.mark.lab


def one(run: ScanRun, bench: Any, model: str, check_id: str) -> Any:
    [res] = results_of(run, device_of(run, bench, model), check_id)
    return res


@lab
def test_vulnerability_contact(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = one(lab_run, lab_bench, "acme-ipcam200", "declarations.vulnerability-contact")
    assert cam.verdict == Verdict.fail
    assert {t["status"] for t in cam.evidence["tried"]} == {404}
    hub = one(lab_run, lab_bench, "hubco-h1", "declarations.vulnerability-contact")
    assert hub.verdict == Verdict.passed
    txt = hub.evidence["security_txt"]
    assert txt["url"].endswith("/.well-known/security.txt")
    assert txt["contact"] == ["mailto:security@hubco.example"]
    assert txt["problems"] == []
    # no security.txt on the plug, but its profile names a contact
    plug = one(lab_run, lab_bench, "plugco-sp1", "declarations.vulnerability-contact")
    assert plug.verdict == Verdict.passed and "security_txt" not in plug.evidence


@lab
def test_support_period(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = one(lab_run, lab_bench, "acme-ipcam200", "declarations.support-period")
    assert (cam.verdict, cam.title) == (Verdict.fail, "support ended on 2023-12-31")
    hub = one(lab_run, lab_bench, "hubco-h1", "declarations.support-period")
    assert hub.verdict == Verdict.passed and hub.evidence["days_left"] > 0


@lab
def test_foundational(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = one(lab_run, lab_bench, "acme-ipcam200", "declarations.foundational")
    assert cam.verdict == Verdict.fail and cam.severity == Severity.low
    assert set(cam.evidence["missing"]) == {
        "environment",
        "dependencies",
        "misuse",
        "data",
        "support",
        "end_of_life",
        "problem_reporting",
    }
    hub = one(lab_run, lab_bench, "hubco-h1", "declarations.foundational")
    assert hub.verdict == Verdict.passed
    assert "SU-3" in hub.evidence["declared"]


@lab
def test_declarations_travel_into_the_run(lab_run: ScanRun) -> None:
    hub = lab_run.profiles["hubco-h1"]["declarations"]
    assert hub["support_end"] == "2031-12-31"
    assert hub["foundational"]["customers"]
    cam = lab_run.profiles["acme-ipcam200"]["declarations"]
    assert cam["foundational"]["environment"] == ""
    # round trip through run.json keeps them
    again = ScanRun.from_json(lab_run.to_json())
    assert again.profiles["hubco-h1"]["declarations"] == hub


# --- recorded: a profile that declares nothing is no device failure ------------------------------

DECLARATION_CHECKS = (
    "declarations.support-period",
    "declarations.foundational",
    "declarations.vulnerability-contact",
)


@pytest.mark.parametrize("check_id", DECLARATION_CHECKS)
async def test_nothing_on_file_is_inconclusive(check_id: str) -> None:
    [res] = await run(check_id, session(device(), Profile(id="generic")))
    assert res.verdict == Verdict.inconclusive, res.title
    assert "no declaration on file for this model" in res.title


@pytest.mark.parametrize("check_id", DECLARATION_CHECKS)
async def test_with_declarations_on_file_missing_ones_fail(check_id: str) -> None:
    # one answer on file: the maker did declare, so what is missing fails as before
    profile = Profile(
        id="maker-m1",
        declarations=Declarations(foundational=Foundational(customers="home users")),
    )
    [res] = await run(check_id, session(device(), profile))
    assert res.verdict == Verdict.fail, res.title


async def test_declared_support_period_is_judged() -> None:
    over = Profile(id="old", declarations=Declarations(support_end=date(2020, 1, 1)))
    [res] = await run("declarations.support-period", session(device(), over))
    assert (res.verdict, res.title) == (Verdict.fail, "support ended on 2020-01-01")
    ok = Profile(id="new", declarations=Declarations(support_end=date(2099, 1, 1)))
    [res] = await run("declarations.support-period", session(device(), ok))
    assert res.verdict == Verdict.passed
