"""Fixtures of the robustness tests (all lab: root and namespaces).

Three benches:
- `lab_bench` (tests/conftest.py, $LANPROBE_TEST_BRIDGE): the default models. `full_run` is one
  real `probe scan --lab` of it, in a subprocess, while tcpdump captures the bridge, loopback and
  DNS anywhere; scope and lockout tests read it.
- `hostile_bench` ($LANPROBE_HOSTILE_BRIDGE / $LANPROBE_HOSTILE_SUBNET, default plab8a /
  198.18.120.0/24): the hostile model beside a gizmo-g1 and a hubco-h1 that vanish when discovery
  is done (the gizmo's veth is deleted, the hubco's processes are killed). `hostile_run` is one
  in-process scan of it.
- `repeat_bench` (tests/conftest.py): the default models again, for the repeatability test's five
  scans (and the web login test's standard-depth scan).

Scans of `lab_bench` log in and fail logins on purpose; the lab forgets failures only after
`window_s` (fail2ban's findtime), as real devices do. `LabClock` spaces scans so that one scan's
failures never add up with the next one's (nightly runs are hours apart).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lanprobe.checks.context import RunOptions
from lanprobe.lab import bench as lab_bench_api
from lanprobe.lab.bench import BenchState
from lanprobe.lab.models import BY_ID
from lanprobe.lab.scope import lab_scope
from lanprobe.model import ScanRun
from lanprobe.runner import Progress, scan

from tests.requires import require, require_root
from tests.resolver_lock import resolver_lock

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "profiles"
HOSTILE_PROFILE = Path(__file__).with_name("profiles") / "hostile-x1.yaml"
PROBE = str(Path(sys.executable).with_name("probe"))

HOSTILE_BRIDGE = os.environ.get("LANPROBE_HOSTILE_BRIDGE", "plab8a")
HOSTILE_SUBNET = os.environ.get("LANPROBE_HOSTILE_SUBNET", "198.18.120.0/24")
HOSTILE_MODELS = ["hubco-h1", "gizmo-g1", "hostile-x1"]  # contract order: .10, .11, .12

# The lab forgets failed logins this long after the last one (lab/models.py Limit.window_s);
# failures of a scan happen within its first few seconds of checks.
LAB_WINDOW_S = max(m.ban.window_s if m.ban else 0 for m in BY_ID.values()) or 15
SCAN_SPACING_S = (
    max(LAB_WINDOW_S, max(m.lockout.window_s if m.lockout else 0 for m in BY_ID.values())) + 3.0
)


@dataclass
class LabClock:
    """When the last scan of `lab_bench` started its checks (monotonic), to space scans."""

    checks_started: float = 0.0

    def wait_for_next_scan(self) -> None:
        left = self.checks_started + SCAN_SPACING_S - time.monotonic()
        if left > 0:
            time.sleep(left)


@pytest.fixture(scope="session")
def lab_clock() -> LabClock:
    return LabClock()


def lab_options(bench: BenchState) -> RunOptions:
    """What `probe scan --lab` uses: default timeouts, the lab CA trusted."""
    return RunOptions(trusted_ca_files=(Path(bench.ca_file),))


# --- captures -----------------------------------------------------------------------------------


@dataclass
class Capture:
    name: str
    path: Path
    proc: subprocess.Popen[bytes]
    stderr: str = ""

    def stop(self) -> None:
        # tcpdump flushes and prints its counters on SIGINT; it is our child, ended by its pid.
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.stderr = err.decode(errors="replace")

    @property
    def dropped(self) -> int:
        for line in self.stderr.splitlines():
            if "dropped by kernel" in line:
                return int(line.split()[0])
        return 0


def start_capture(name: str, iface: str, out: Path, bpf: str = "") -> Capture:
    require(shutil.which("tcpdump") is not None, "Debian's tcpdump (`make sysdeps` installs it)")
    path = out / f"{name}.pcap"
    args = ["tcpdump", "-i", iface, "-n", "-U", "-B", "8192", "-s", "256", "-w", str(path)]
    proc = subprocess.Popen(
        [*args, *([bpf] if bpf else [])], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    # Wait for "listening on ...": packets before that would be missed.
    assert proc.stderr is not None
    deadline = time.monotonic() + 10
    line = b""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if b"listening on" in line or not line:
            break
    if b"listening on" not in line:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"tcpdump on {iface} did not start: {line!r}")
    cap = Capture(name=name, path=path, proc=proc)
    return cap


# --- the full scan of lab_bench -----------------------------------------------------------------


@dataclass
class FullRun:
    run: ScanRun
    bench: BenchState
    out: Path
    elapsed_s: float
    captures: dict[str, Capture] = field(default_factory=dict)
    stderr: str = ""


@pytest.fixture(scope="session")
def full_run(
    lab_bench: BenchState, lab_clock: LabClock, tmp_path_factory: pytest.TempPathFactory
) -> FullRun:
    """One real `probe scan --lab` of the default bench, captured on the bridge, on loopback and
    (port 53) on every interface."""
    out = tmp_path_factory.mktemp("full_run")
    with resolver_lock():  # no registry download by another worker in the DNS capture
        caps = {
            "bridge": start_capture("bridge", lab_bench.bridge, out),
            "loopback": start_capture("loopback", "lo", out),
            "dns": start_capture("dns", "any", out, "port 53"),
        }
        try:
            run, elapsed, stderr = cli_scan(lab_bench, out / "scan", lab_clock)
        finally:
            for cap in caps.values():
                cap.stop()
    return FullRun(
        run=run, bench=lab_bench, out=out, elapsed_s=elapsed, captures=caps, stderr=stderr
    )


def cli_scan(bench: BenchState, out: Path, clock: LabClock) -> tuple[ScanRun, float, str]:
    """A real `probe scan --lab` of `bench` in a subprocess: its run, wall time and stderr. The
    clock learns when its checks began (the scan's own timings)."""
    t0 = time.monotonic()
    proc = subprocess.run(
        [PROBE, "scan", "--lab", "--bridge", bench.bridge, "--out", str(out),
         "--format", "json", "--fail-on", "never"],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = ScanRun.read(out / "run.json")
    clock.checks_started = (
        t0 + elapsed - run.timings_s.get("checks", 0.0) - run.timings_s.get("bench", 0.0)
    )
    return run, elapsed, proc.stderr


# --- the hostile bench --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def robust_profiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's profiles directory holding the test-only hostile-x1 profile (layered over the
    built-in set, and the lab's for a lab scope)."""
    root = tmp_path_factory.mktemp("profiles") / "profiles"
    root.mkdir()
    shutil.copy(HOSTILE_PROFILE, root / HOSTILE_PROFILE.name)
    return root


@pytest.fixture(scope="session")
def hostile_bench() -> Iterator[BenchState]:
    require_root("the lab bench uses network namespaces")
    lab_bench_api.down(HOSTILE_BRIDGE)
    try:
        yield lab_bench_api.up(HOSTILE_BRIDGE, HOSTILE_SUBNET, models=HOSTILE_MODELS)
    finally:
        lab_bench_api.down(HOSTILE_BRIDGE)


class RssSampler:
    """Peak resident memory of this process while a block runs (VmRSS every 50 ms)."""

    def __init__(self) -> None:
        self.start_kb = self._rss_kb()
        self.peak_kb = self.start_kb
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @staticmethod
    def _rss_kb() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def _loop(self) -> None:
        while not self._stop.wait(0.05):
            self.peak_kb = max(self.peak_kb, self._rss_kb())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    @property
    def growth_mb(self) -> float:
        return (self.peak_kb - self.start_kb) / 1024


@dataclass
class HostileRun:
    run: ScanRun
    bench: BenchState
    elapsed_s: float
    discovery_s: float
    rss_growth_mb: float
    veth_deleted: str  # the device whose link went away mid-scan (IP)
    killed: str  # the device whose processes were killed mid-scan (IP)
    options: RunOptions


def _vanish(bench: BenchState) -> tuple[str, str]:
    """Right after discovery: unplug the gizmo (delete its veth), crash the hubco (kill -9)."""
    gizmo = bench.by_model("gizmo-g1")[0]
    hub = bench.by_model("hubco-h1")[0]
    subprocess.run(["ip", "link", "del", gizmo.veth], check=True, timeout=10)
    for pid in (hub.pid, hub.mqtt_pid):
        if pid:
            os.kill(pid, signal.SIGKILL)  # processes this test's bench started
    return gizmo.ip, hub.ip


@pytest.fixture(scope="session")
def hostile_run(hostile_bench: BenchState, robust_profiles: Path) -> HostileRun:
    options = lab_options(hostile_bench)
    vanished: list[tuple[str, str]] = []
    discovered_at = 0.0

    def progress(ev: Progress) -> None:
        nonlocal discovered_at
        if ev.kind == "discovered" and not vanished:
            discovered_at = time.monotonic()
            vanished.append(_vanish(hostile_bench))

    async def main() -> ScanRun:
        # A hang is this test's failure, not pytest-timeout's.
        async with asyncio.timeout(240):
            return await scan(
                lab_scope(hostile_bench.bridge),
                options,
                profiles_dir=robust_profiles,
                progress=progress,
            )

    t0 = time.monotonic()
    with RssSampler() as rss:
        run = asyncio.run(main())
    elapsed = time.monotonic() - t0
    assert vanished, "the scan never reported its discovery"
    return HostileRun(
        run=run,
        bench=hostile_bench,
        elapsed_s=elapsed,
        discovery_s=discovered_at - t0,
        rss_growth_mb=rss.growth_mb,
        veth_deleted=vanished[0][0],
        killed=vanished[0][1],
        options=options,
    )
