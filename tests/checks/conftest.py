"""Session fixture `lab_run`: one full scan of the `lab_bench` bench, shared by the check tests.

Check tests assert on this one ScanRun (verdict, target port, evidence per device) instead of each
scanning the bench again. The run is also written to <tmp>/lab_run/run.json for debugging.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from lanprobe.checks.context import RunOptions
from lanprobe.lab.scope import lab_scope
from lanprobe.model import Device, Result, ScanRun, Verdict
from lanprobe.runner import scan
from lanprobe.scope import Scope

PROFILES = Path(__file__).resolve().parents[2] / "profiles"


def bench_scope(bench: Any) -> Scope:
    """The scope of a lab bench (`--lab`): its subnet on its bridge, the host address excluded."""
    return lab_scope(bench.bridge)


@pytest.fixture(scope="session")
def lab_run(lab_bench: Any, tmp_path_factory: pytest.TempPathFactory) -> ScanRun:
    options = RunOptions(trusted_ca_files=(Path(lab_bench.ca_file),))
    run = asyncio.run(scan(bench_scope(lab_bench), options, profiles_dir=PROFILES))
    out = tmp_path_factory.mktemp("lab_run")
    run.write(out / "run.json")
    return run


# Helpers for check tests -----------------------------------------------------------------------


def device_of(run: ScanRun, bench: Any, model: str, unit: int = 0) -> Device:
    """The scanned device of the bench's `unit`-th device of `model` (by its IP)."""
    labdevs = [d for d in bench.devices if d.model == model]
    assert labdevs, f"no {model} on the bench"
    ip = labdevs[unit].ip
    for dev in run.devices:
        if ip in dev.ips:
            return dev
    raise AssertionError(f"{model} ({ip}) not in the scan: {[d.ips for d in run.devices]}")


def results_of(run: ScanRun, device: Device, check_id: str) -> list[Result]:
    return [r for r in run.results if r.device == device.key and r.check_id == check_id]


def verdicts_of(run: ScanRun, device: Device, check_id: str) -> set[Verdict]:
    return {r.verdict for r in results_of(run, device, check_id)}
