"""The web login models at standard depth (lab/README.md "Web login models"): the probe, given no
login in their profiles, finds the single-page camera's JSON login from its script and the
router's CSRF form behind a meta refresh and a script redirect, finds each default (11th of the
generic list) and proves it, and never trips their ban of 3 failures per 30 s (their own logs);
the control, refusing everything and never locking, passes with every candidate refused.

One scan of the three devices of the repeatability bench (`repeat_bench`: the default models, so
that these minutes run beside the session bench's tests; the devices run in parallel): the bans
make it take about 5 lockout windows (~2.5 min), the cost of a default past position 10 on such
a device.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lanprobe.checks.context import RunOptions
from lanprobe.lab.bench import BenchState, LabDevice
from lanprobe.model import Result, ScanRun, Verdict
from lanprobe.runner import scan
from lanprobe.scope import Scope

pytestmark = pytest.mark.lab

PROFILES = Path(__file__).resolve().parents[2] / "profiles"
WEB = ("camco-c2", "routa-r7", "webctl-w0")
CHECKS = ("configuration.default-login", "access.no-lockout")
WINDOW_S = 30  # the models' ban window (lab/models.py WEB_BAN)
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) event login failed", re.M)


def _devices(bench: BenchState) -> dict[str, LabDevice]:
    return {d.model: d for d in bench.devices if d.model in WEB}


def _log(bench: BenchState, dev: LabDevice) -> str:
    path = bench.state_dir / "logs" / f"{dev.name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def _wait_out_earlier_failures(bench: BenchState, devs: list[LabDevice]) -> None:
    """Other scans of the bench (quick depth) may have left failures in a device's ban
    window; this scan's pacer cannot know them. Wait until the window has passed (bounded)."""
    last = 0.0
    for dev in devs:
        for stamp in STAMP.findall(_log(bench, dev)):
            when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            last = max(last, when.timestamp())
    time.sleep(max(0.0, min(WINDOW_S + 2.0, last + WINDOW_S + 2.0 - time.time())))


@pytest.fixture(scope="module")
def web_run(repeat_bench: BenchState) -> Iterator[tuple[ScanRun, dict[str, str]]]:
    devs = _devices(repeat_bench)
    assert set(devs) == set(WEB), f"the web login models are not on the bench: {list(devs)}"
    _wait_out_earlier_failures(repeat_bench, list(devs.values()))
    before = {m: _log(repeat_bench, d) for m, d in devs.items()}
    scope = Scope.build([f"{d.ip}/32" for d in devs.values()], [repeat_bench.bridge], lab=True)
    run = asyncio.run(scan(scope, RunOptions(depth="standard"), profiles_dir=PROFILES,
                           checks=CHECKS))  # fmt: skip
    # What each device logged during this scan (its own record of logins and bans).
    logs = {m: _log(repeat_bench, d)[len(before[m]) :] for m, d in devs.items()}
    yield run, logs


def _results(run: ScanRun, bench: BenchState, model: str, check: str) -> list[Result]:
    ip = _devices(bench)[model].ip
    keys = {d.key for d in run.devices if ip in d.ips}
    return [r for r in run.results if r.device in keys and r.check_id == check]


@pytest.mark.parametrize(
    ("model", "interface"),
    [("camco-c2", "HTTP json login on http/80 /api/v1/auth/login"),
     ("routa-r7", "HTTP form login on http/80 /cgi-bin/login.cgi")],
)  # fmt: skip
def test_web_default_found_proven_and_no_ban(
    web_run: tuple[ScanRun, dict[str, str]], repeat_bench: BenchState, model: str, interface: str
) -> None:
    run, logs = web_run
    [res] = _results(run, repeat_bench, model, "configuration.default-login")
    assert res.verdict is Verdict.fail, res.title
    ev = res.evidence
    assert ev["interface"] == interface and ev["accepted"]["user"] == "root"
    assert len(ev["tried"]) == 11  # the 11th candidate of the generic list
    assert ev["accepted"]["proof"]["answers"] is True  # the protected path answers after
    assert ev["wrong_password"]["accepted"] is False
    assert ev["waited_s"] >= 4 * WINDOW_S  # paced under the ban: 2 failures per window
    found = " ".join(ev["found"])
    if model == "camco-c2":
        assert "named in the script /static/app.js" in found and "/api/v1/device" in found
    else:
        assert "meta refresh" in found and "/api/config" in found
        assert ev["accepted"]["hidden_fields"] == ["csrf_token"]
    # The device's own log: ten refusals, the login, the wrong password; no ban.
    assert logs[model].count("event login failed") == 11
    assert logs[model].count("event login ok user=root") == 1
    assert "event ban" not in logs[model]
    # Paced failures under a documented ban are no evidence that nothing locks.
    [lock] = _results(run, repeat_bench, model, "access.no-lockout")
    assert lock.verdict is Verdict.inconclusive, lock.title


def test_control_refuses_everything_and_passes(
    web_run: tuple[ScanRun, dict[str, str]], repeat_bench: BenchState
) -> None:
    run, logs = web_run
    results = _results(run, repeat_bench, "webctl-w0", "configuration.default-login")
    assert {r.target.port for r in results if r.target} == {80, 8080}
    for res in results:
        assert res.verdict is Verdict.passed, res.title
        assert res.evidence["tried_of"] == "30 of 30"
    assert "event login ok" not in logs["webctl-w0"]
