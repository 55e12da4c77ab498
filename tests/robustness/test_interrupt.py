"""Ctrl-C and SIGTERM during a scan: `probe scan` writes run.json with `"interrupted": true` and
what it found so far within seconds (not after nmap's host timeout: the nmap processes are
killed), stores the run in the history flagged as interrupted, and the history stays consistent
and never offers an interrupted run as the baseline.

- SIGINT while discovery's nmap runs: a real `probe scan --lab` of the default bench.
- SIGTERM in the middle of the checks of the hostile bench (ports that never answer, devices that
  are gone): the real command, with discovery replaced by the inventory of `hostile_run`
  (tests/robustness/cached_scan.py), so that the checks start at once.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lab.bench import BenchState
from probe.cancel import children
from probe.diff import load_baseline
from probe.model import ScanRun, Verdict
from probe.runner import NOT_RUN, load_catalogue
from probe.store import open_store
from tests.robustness.conftest import PROBE, ROOT, HostileRun

pytestmark = pytest.mark.lab

PROMPT_S = 5.0  # "within a few seconds"
EXIT_CANNOT_RUN = 3


class Scan:
    """A `probe scan` subprocess whose stderr lines are collected as they come."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, what: str, timeout_s: float) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if any(what in line for line in self.lines):
                return
            assert self.proc.poll() is None, "\n".join(self.lines[-20:])
            time.sleep(0.05)
        raise AssertionError(f"no {what!r} within {timeout_s} s:\n" + "\n".join(self.lines[-20:]))

    def interrupt(self, sig: signal.Signals) -> tuple[int, float]:
        """Send `sig`; (exit code, seconds it took to exit)."""
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)
        return rc, time.monotonic() - t0


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state == "Z"


def test_sigint_during_nmap(lab_bench: BenchState, tmp_path: Path) -> None:
    out, db = tmp_path / "out", tmp_path / "history.sqlite"
    scan = Scan([PROBE, "scan", "--lab", "--bridge", lab_bench.bridge, "--out", str(out),
                 "--format", "json", "--fail-on", "never", "--db", str(db)])  # fmt: skip
    # Wait until nmap runs (after ARP, mDNS and SSDP), so that Ctrl-C meets it.
    end = time.monotonic() + 60
    nmaps: list[int] = []
    while time.monotonic() < end and not nmaps:
        assert scan.proc.poll() is None, "\n".join(scan.lines)
        nmaps = children(("nmap",), parent=scan.proc.pid)
        time.sleep(0.05)
    assert nmaps, "nmap never started"
    time.sleep(1.0)
    rc, took = scan.interrupt(signal.SIGINT)
    assert rc == EXIT_CANNOT_RUN, "\n".join(scan.lines)
    assert took < PROMPT_S, f"took {took:.1f} s to stop (nmap's host timeout is 60 s)"
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not all(_gone(p) for p in nmaps):
        time.sleep(0.05)
    assert all(_gone(p) for p in nmaps), f"nmap left running: {nmaps}"
    run = ScanRun.read(out / "run.json")
    assert run.interrupted and run.finished is not None
    assert any("interrupted" in n for n in run.notes)
    with open_store(db) as store:
        [summary] = store.runs()
        assert summary.run_id == run.run_id and summary.interrupted
        assert store.check_consistency() == []
        assert store.last() is None  # an interrupted run is never a baseline


def test_sigterm_mid_checks(hostile_run: HostileRun, robust_profiles: Path, tmp_path: Path) -> None:
    bench = hostile_run.bench
    earlier = tmp_path / "earlier.json"
    hostile_run.run.write(earlier)
    out, db = tmp_path / "out", tmp_path / "history.sqlite"
    with open_store(db) as store:
        store.save(hostile_run.run)  # a complete run, older than the one we interrupt
    scan = Scan([sys.executable, "-m", "tests.robustness.cached_scan", str(earlier), "--",
                 "scan", "--lab", "--bridge", bench.bridge, "--profiles", str(robust_profiles),
                 "--out", str(out), "--format", "json", "--fail-on", "never",
                 "--db", str(db)])  # fmt: skip
    scan.wait_for("device(s) found", 60)
    time.sleep(2.0)  # checks are running: the hostile ports hold them for 5-10 s and more
    rc, took = scan.interrupt(signal.SIGTERM)
    assert rc == EXIT_CANNOT_RUN, "\n".join(scan.lines)
    assert took < PROMPT_S, f"took {took:.1f} s to stop"
    run = ScanRun.read(out / "run.json")
    assert run.interrupted
    # Everything found so far: the devices, and the verdicts of the checks that finished.
    assert {d.key for d in run.devices} == {d.key for d in hostile_run.run.devices}
    cut_short = [r for r in run.results if "interrupted" in r.title]
    decided = [r for r in run.results if "interrupted" not in r.title]
    assert cut_short, "SIGTERM did not land mid-checks"
    assert any(r.verdict in (Verdict.passed, Verdict.fail) for r in decided)
    # Every check has a verdict on every device; none of the missing ones reads as a pass.
    catalogue, _ = load_catalogue()
    for dev in run.devices:
        have = {r.check_id for r in run.results if r.device == dev.key}
        assert have == set(catalogue), dev.key
    for r in run.results:
        if r.title in (NOT_RUN,) or "interrupted" in r.title:
            assert r.verdict in (Verdict.inconclusive, Verdict.not_applicable)
    with open_store(db) as store:
        runs = store.runs()
        assert [s.run_id for s in runs] == [hostile_run.run.run_id, run.run_id]
        assert [s.interrupted for s in runs] == [False, True]
        assert store.check_consistency() == []
        last = store.last()
        assert last is not None and last.run_id == hostile_run.run.run_id
    assert load_baseline("last", db=str(db)).run_id == hostile_run.run.run_id
