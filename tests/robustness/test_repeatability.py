"""Repeatability: five scans of the same bench give identical verdicts (no flapping).

The bench is `repeat_bench` (tests/conftest.py: the default models on a bench of their own, so
that under pytest-xdist these five scans run beside the session bench's tests, not after them).
Scan 1 is a real `probe scan --lab`, in a subprocess; scans 2-5 are full scans too (discovery
included: ~5 s since discovery fingerprints services itself), run in this process.
They start their checks `SCAN_SPACING_S` apart: the lab forgets failed logins after its window
(fail2ban's findtime), and scans closer than that would add up failures on the ban/lockout models
as they would on a real device (nightly runs are hours apart).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import pytest
from lanprobe.lab.bench import BenchState
from lanprobe.lab.scope import lab_scope
from lanprobe.model import ScanRun
from lanprobe.runner import Progress, scan

from tests.lab.test_web_logins import _devices as web_devices
from tests.lab.test_web_logins import _wait_out_earlier_failures
from tests.robustness.conftest import PROFILES, LabClock, cli_scan, lab_options
from tests.robustness.credentials import refused_right_logins

pytestmark = pytest.mark.lab

SCANS = 5


def verdicts(run: ScanRun) -> dict[tuple[str, str, int | None], tuple[str, ...]]:
    out: dict[tuple[str, str, int | None], list[str]] = defaultdict(list)
    for r in run.results:
        out[(r.device, r.check_id, r.target.port)].append(r.verdict.value)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def services(run: ScanRun) -> dict[str, list[tuple[int, str, bool]]]:
    """What discovery found: each device's ports, service names and TLS flags."""
    return {d.key: sorted((s.port, s.name, s.tls) for s in d.services) for d in run.devices}


# Five full scans, each bounded by its own timeouts: on a loaded 2-core machine ~60 s each.
@pytest.mark.timeout(600)
def test_five_scans_give_identical_verdicts(
    repeat_bench: BenchState, tmp_path_factory: pytest.TempPathFactory
) -> None:
    bench = repeat_bench
    # The web login test's scan of this bench may have just left failures in a ban window.
    _wait_out_earlier_failures(bench, list(web_devices(bench).values()))
    lab_clock = LabClock()
    first_run, _, _ = cli_scan(bench, tmp_path_factory.mktemp("repeat") / "scan1", lab_clock)
    first = verdicts(first_run)
    first_devices = {k: s.verdict for k, s in first_run.scores.items()}
    first_services = services(first_run)
    flaps: list[str] = []

    def mark(ev: Progress) -> None:
        if ev.kind == "discovered":
            lab_clock.checks_started = time.monotonic()

    for n in range(2, SCANS + 1):
        lab_clock.wait_for_next_scan()
        run = asyncio.run(
            scan(
                lab_scope(bench.bridge),
                lab_options(bench),
                profiles_dir=PROFILES,
                progress=mark,
            )
        )
        got = verdicts(run)
        for key in sorted(set(first) | set(got), key=str):
            if first.get(key) != got.get(key):
                titles = [r.title for r in run.results if (r.device, r.check_id, r.target.port)
                          == key]  # fmt: skip
                flaps.append(f"scan {n}: {key}: {first.get(key)} -> {got.get(key)} {titles}")
        if services(run) != first_services:
            flaps.append(f"scan {n}: discovery differs: {services(run)} vs {first_services}")
        for dev, score in run.scores.items():
            if first_devices.get(dev) != score.verdict:
                flaps.append(f"scan {n}: device {dev}: {first_devices.get(dev)} -> {score.verdict}")
    assert not flaps, "verdicts flapped:\n" + "\n".join(flaps)
    # Five scans later, still nobody locked out.
    _, refused = refused_right_logins(bench)
    assert not refused, "\n".join(map(str, refused))
