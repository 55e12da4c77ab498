"""Software update checks against the lab bench."""

from __future__ import annotations

from typing import Any

import pytest
from lanprobe.model import ScanRun, Verdict

from tests.checks.conftest import device_of, results_of, verdicts_of

pytestmark = pytest.mark.lab


def one(run: ScanRun, bench: Any, model: str, check_id: str) -> Any:
    results = results_of(run, device_of(run, bench, model), check_id)
    assert len(results) == 1, results
    return results[0]


def test_update_transport(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = one(lab_run, lab_bench, "acme-ipcam200", "update.transport")
    assert cam.verdict == Verdict.fail
    assert cam.target.port == 80
    assert any("plain HTTP" in p for p in cam.evidence["problems"])
    therma = one(lab_run, lab_bench, "therma-t1", "update.transport")
    assert therma.verdict == Verdict.fail  # HTTPS, but TLS 1.0 and a 1024-bit SHA-1 certificate
    assert any("TLSv1.0" in p for p in therma.evidence["problems"])
    hub = one(lab_run, lab_bench, "hubco-h1", "update.transport")
    assert hub.verdict == Verdict.passed
    assert hub.evidence["manifest"]["version"] == "2.4.1"


def test_update_signature(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = one(lab_run, lab_bench, "acme-ipcam200", "update.signature")
    assert (cam.verdict, cam.title) == (Verdict.fail, "the update manifest is unsigned")
    assert cam.evidence["signature_status"] == 404
    therma = one(lab_run, lab_bench, "therma-t1", "update.signature")
    assert therma.verdict == Verdict.fail  # signed, with the wrong key
    assert therma.evidence["signature"] == "detached"
    assert "does not verify" in therma.title
    hub = one(lab_run, lab_bench, "hubco-h1", "update.signature")
    assert hub.verdict == Verdict.passed
    assert hub.evidence["algorithm"] == "Ed25519"


def test_update_currency(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = one(lab_run, lab_bench, "acme-ipcam200", "update.currency")
    assert cam.verdict == Verdict.fail
    assert (cam.evidence["reported"], cam.evidence["latest"]) == ("1.0.3", "1.2.0")
    assert cam.evidence["source"].startswith("mdns")
    hub = one(lab_run, lab_bench, "hubco-h1", "update.currency")
    assert hub.verdict == Verdict.passed
    assert hub.evidence["reported"] == "2.4.1"


def test_unauthenticated_upload(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = one(lab_run, lab_bench, "acme-ipcam200", "update.unauthenticated-upload")
    assert cam.verdict == Verdict.fail
    assert (cam.evidence["path"], cam.evidence["status"]) == ("/firmware/upload", 200)
    hub = one(lab_run, lab_bench, "hubco-h1", "update.unauthenticated-upload")
    assert hub.verdict == Verdict.passed
    assert hub.evidence["status"] == 401
    plug = device_of(lab_run, lab_bench, "plugco-sp1")
    assert verdicts_of(lab_run, plug, "update.unauthenticated-upload") == {Verdict.not_applicable}
