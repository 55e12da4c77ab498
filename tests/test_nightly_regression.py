"""End to end, as a nightly job runs it: scan the bench, a new firmware build opens an admin API,
scan again against the last run in the history, and the job fails naming that regression."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from lanprobe.lab import bench
from lanprobe.lab.models import BY_ID

pytestmark = pytest.mark.lab

BRIDGE = os.environ.get("LANPROBE_REGRESSION_BRIDGE", "plabrg")
SUBNET = os.environ.get("LANPROBE_REGRESSION_SUBNET", "198.18.125.0/24")
PROBE = str(Path(sys.executable).with_name("probe"))
# The lab forgets failed logins after this window; nightly scans are hours apart, ours are not.
LOCKOUT = BY_ID["hubco-h1"].lockout
SPACING_S = (LOCKOUT.window_s if LOCKOUT else 15) + 3.0


def _scan(out: Path, db: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROBE, "scan", "--lab", "--bridge", BRIDGE, "--out", str(out), "--db", str(db),
         "--format", "console,json,html", *extra],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _open_config_api(cfg: dict[str, Any]) -> None:
    for http in cfg["model"]["http"]:
        if "/api/config" in http["routes"]:
            http["routes"]["/api/config"]["auth"] = False


def test_a_new_flaw_is_a_named_regression_and_exits_1(tmp_path: Path) -> None:
    bench.down(BRIDGE)
    bench.up(BRIDGE, SUBNET, models=["hubco-h1"])
    try:
        db = tmp_path / "history.db"
        started = time.monotonic()
        first = _scan(tmp_path / "night1", db)
        assert first.returncode == 0, first.stdout + first.stderr  # the control conforms

        (hub,) = bench.status(BRIDGE).devices  # type: ignore[union-attr]
        bench.restart(BRIDGE, hub.name, _open_config_api)
        time.sleep(max(0.0, started + SPACING_S - time.monotonic()))

        second = _scan(tmp_path / "night2", db, "--baseline", "last", "--fail-on", "regression")
        assert second.returncode == 1, second.stdout + second.stderr
        assert "REGRESSIONS" in second.stdout
        regressions = second.stdout.split("REGRESSIONS", 1)[1].split("\n\n", 1)[0]
        assert "access.unauthenticated-interface" in regressions
        assert "hubco-h1" in regressions

        run2 = json.loads((tmp_path / "night2" / "run.json").read_text())
        opened = [
            r
            for r in run2["results"]
            if r["check_id"] == "access.unauthenticated-interface" and r["verdict"] == "fail"
        ]
        assert opened and "/api/config" in json.dumps(opened[0]["evidence"])
        html = (tmp_path / "night2" / "report.html").read_text()
        assert "access.unauthenticated-interface" in html

        # `probe diff` of the two nights says the same, and so does its exit code.
        diff = subprocess.run(
            [PROBE, "diff", str(tmp_path / "night1" / "run.json"),
             str(tmp_path / "night2" / "run.json")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert diff.returncode == 1, diff.stdout + diff.stderr
        assert "access.unauthenticated-interface" in diff.stdout
    finally:
        bench.down(BRIDGE)
