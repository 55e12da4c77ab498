"""Issue 11's "Done when" on the lab: the control model conforms with its profile, and scanned
with the built-in defaults only (no lab profiles, no lab CA: a real bench) it has no fail of
medium severity or above and is not does_not_conform. Beside it, the quirk model shows the
verdict branches the default models do not: a login page behind redirects over plain HTTP, a
self-signed certificate, an unparseable update manifest, a web app that answers any path.

Its own bench: $LANPROBE_CONTROL_BRIDGE / $LANPROBE_CONTROL_SUBNET (default plabctl,
198.18.127.0/24). The two scans are spaced by the lab's failed-login window, so the first scan's
failures never add up with the second's (hubco-h1 locks an account after 5 in 15 s).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from lanprobe.checks.context import RunOptions
from lanprobe.lab import bench
from lanprobe.lab.bench import BenchState
from lanprobe.lab.models import BY_ID
from lanprobe.lab.scope import lab_scope
from lanprobe.model import DeviceVerdict, Result, ScanRun, Severity, Verdict
from lanprobe.runner import scan
from lanprobe.scope import Scope

pytestmark = pytest.mark.lab

BRIDGE = os.environ.get("LANPROBE_CONTROL_BRIDGE", "plabctl")
SUBNET = os.environ.get("LANPROBE_CONTROL_SUBNET", "198.18.127.0/24")
QUIRK_PROFILES = Path(__file__).with_name("profiles")
LOCKOUT = BY_ID["hubco-h1"].lockout
SPACING_S = (LOCKOUT.window_s if LOCKOUT else 15) + 3.0


@dataclass
class ControlRuns:
    bench: BenchState
    lab: ScanRun  # --lab: lab profiles, the lab CA trusted, the quirk model's profile
    generic: ScanRun  # hubco-h1 alone as on a real bench: built-in profiles only, no CA


@pytest.fixture(scope="module")
def control() -> Iterator[ControlRuns]:
    bench.down(BRIDGE)
    state = bench.up(BRIDGE, SUBNET, models=["hubco-h1", "quirk-q1"])
    try:
        started = time.monotonic()
        options = RunOptions(trusted_ca_files=(Path(state.ca_file),))
        lab = asyncio.run(scan(lab_scope(BRIDGE), options, profiles_dir=QUIRK_PROFILES))
        time.sleep(max(0.0, started + SPACING_S - time.monotonic()))
        hub = state.by_model("hubco-h1")[0]
        real = Scope.build([f"{hub.ip}/32"], [BRIDGE])
        generic = asyncio.run(scan(real, RunOptions(), profiles_dir=None, lab_profiles=False))
        yield ControlRuns(state, lab, generic)
    finally:
        bench.down(BRIDGE)


def _device(run: ScanRun, runs: ControlRuns, model: str) -> tuple[str, list[Result]]:
    ip = runs.bench.by_model(model)[0].ip
    dev = next(d for d in run.devices if ip in d.ips)
    return dev.key, [r for r in run.results if r.device == dev.key]


def _one(results: list[Result], check_id: str) -> Result:
    [res] = [r for r in results if r.check_id == check_id]
    return res


def test_the_control_conforms_with_the_lab_profiles(control: ControlRuns) -> None:
    key, results = _device(control.lab, control, "hubco-h1")
    score = control.lab.scores[key]
    assert score.verdict == DeviceVerdict.conforms, score.reasons
    assert score.lacking_evidence == []
    assert not [r for r in results if r.verdict in (Verdict.fail, Verdict.error)]


def test_the_control_on_built_in_defaults_is_not_failed(control: ControlRuns) -> None:
    key, results = _device(control.generic, control, "hubco-h1")
    assert control.generic.devices[0].profile == "generic"
    score = control.generic.scores[key]
    assert score.verdict != DeviceVerdict.does_not_conform, score.reasons
    grave = [
        r for r in results if r.verdict == Verdict.fail and r.severity.rank >= Severity.medium.rank
    ]
    assert grave == [], [(r.check_id, r.title) for r in grave]
    # what no declaration covers, and trust without a CA, are inconclusive, never passes
    assert score.verdict == DeviceVerdict.inconclusive
    assert _one(results, "declarations.support-period").verdict == Verdict.inconclusive
    certs = [r for r in results if r.check_id == "data.tls-certificate"]
    assert certs and {r.verdict for r in certs} == {Verdict.inconclusive}
    assert all("no CA given for this issuer" in r.title for r in certs)


def test_a_login_page_behind_redirects_is_a_cleartext_login(control: ControlRuns) -> None:
    _, results = _device(control.lab, control, "quirk-q1")
    res = _one(results, "data.tls-required")
    assert (res.verdict, res.target.port) == (Verdict.fail, 80)
    assert "reached by redirects: / -> /ui/ -> /ui/login" in res.title


def test_a_self_signed_certificate_is_named_not_trusted(control: ControlRuns) -> None:
    _, results = _device(control.lab, control, "quirk-q1")
    res = _one(results, "data.tls-certificate")
    assert res.verdict == Verdict.inconclusive, res.title  # valid, strong, its own address
    assert res.evidence["trust"]["reason"].startswith("self-signed: no CA given")


def test_an_unparseable_manifest_is_not_unsigned(control: ControlRuns) -> None:
    _, results = _device(control.lab, control, "quirk-q1")
    res = _one(results, "update.signature")
    assert res.verdict == Verdict.inconclusive and "could not be parsed" in res.title
    # the catch-all app answered the .sig path with its page: no signature was taken from it
    assert "the signature path answers an HTML page" in " ".join(res.evidence["notes"])


def test_a_catch_all_app_gives_no_path_finding(control: ControlRuns) -> None:
    _, results = _device(control.lab, control, "quirk-q1")
    status = _one(results, "state.exposed-status")
    assert status.verdict == Verdict.inconclusive and "told apart" in status.title
    upload = _one(results, "update.unauthenticated-upload")
    assert upload.verdict == Verdict.inconclusive and "told apart" in upload.title
    unauth = [r for r in results if r.check_id == "access.unauthenticated-interface"]
    assert Verdict.fail not in {r.verdict for r in unauth}
    web = next(r for r in unauth if r.target.port == 80)
    assert "/admin" in web.evidence["same_as_random_path"]
