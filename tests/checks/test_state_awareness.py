"""State awareness checks against the lab bench."""

from __future__ import annotations

from typing import Any

import pytest
from lanprobe.model import ScanRun, Verdict

from tests.checks.conftest import device_of, results_of, verdicts_of

pytestmark = pytest.mark.lab


def test_exposed_status(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = device_of(lab_run, lab_bench, "acme-ipcam200")
    results = results_of(lab_run, cam, "state.exposed-status")
    assert {r.verdict for r in results} == {Verdict.fail}
    assert {r.evidence["path"] for r in results} == {"/api/status", "/logs"}
    status = next(r for r in results if r.evidence["path"] == "/api/status")
    assert "serial" in status.evidence["preview"]
    hub = device_of(lab_run, lab_bench, "hubco-h1")
    [res] = results_of(lab_run, hub, "state.exposed-status")
    assert res.verdict == Verdict.passed
    assert {p["path"] for p in res.evidence["protected"]} == {
        "/api/status",
        "/logs",
        "/api/security",
    }


def test_reporting(lab_run: ScanRun, lab_bench: Any) -> None:
    hub = device_of(lab_run, lab_bench, "hubco-h1")
    [res] = results_of(lab_run, hub, "state.reporting")
    assert res.verdict == Verdict.passed
    assert res.evidence["auth"] == "form login at /login"
    assert "operating_as_expected" in res.evidence["preview"]
    assert res.evidence["password"] != "Hub-Lab-x8Vq2mT!"  # redacted
    therma = device_of(lab_run, lab_bench, "therma-t1")
    [res] = results_of(lab_run, therma, "state.reporting")
    assert res.verdict == Verdict.fail  # the declared /api/security answers 404
    assert res.evidence["status"] == 404
    cam = device_of(lab_run, lab_bench, "acme-ipcam200")
    assert verdicts_of(lab_run, cam, "state.reporting") == {Verdict.not_applicable}
