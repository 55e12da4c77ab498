"""The pytest plugin's one scan per test session: where the ScanRun comes from; the bench's life.

    --probe-run RUN.json         read that run; nothing is scanned or brought up
    --probe-lab                  lab.bench.up(bridge, subnet, models), scan it, and bench.down at
                                 the end (also when the session fails, is interrupted, SIGTERM)
    --probe-iface/--probe-cidr   scan that scope (for a bench that stays up, or real hardware)

The scan happens once, at the first need (collection of `device` tests or baseline items, or the
`bench` fixture), and its outcome, a run or an error message, is kept for the whole session.

pytest-xdist: the controller scans in `pytest_sessionstart`, before any worker starts, writes the
run to a file (in --probe-out, else a temporary directory it removes at the end) and hands its
path to every worker (`workerinput`); workers only read that file. The bench is scanned once per
session whatever `-n`, and only the controller brings the lab bench up and takes it down.

This module imports only the standard library at load; the engine is imported when a scan runs.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from lanprobe.device_api import DeviceUnderTest
    from lanprobe.model import ScanRun
    from lanprobe.options import RunOptions
    from lanprobe.profile_schema import Profile
    from lanprobe.profiles import ProfileSet
    from lanprobe.scope import Scope

NO_BENCH = (
    "no bench to test: give --probe-lab (bring up the lab bench), --probe-cidr CIDR "
    "[--probe-iface IF] (scan a bench), or --probe-run RUN.json (use an earlier scan)"
)
WORKER_RUN_KEY = "lanprobe_run"
WORKER_ERROR_KEY = "lanprobe_error"


class BenchUnavailable(Exception):
    """The session has no run: the scan or the bench failed (the message says why)."""


@dataclass(frozen=True)
class ProbeOptions:
    lab: bool = False
    bridge: str = "plab0"
    subnet: str = "198.18.0.0/24"
    lab_models: tuple[str, ...] = ()
    ifaces: tuple[str, ...] = ()
    cidrs: tuple[str, ...] = ()
    profiles: Path | None = None  # the user's, layered over the built-in set (None: built-in)
    out: Path | None = None
    run_file: Path | None = None
    baseline: bool = False
    checks: tuple[str, ...] = ()
    cas: tuple[Path, ...] = ()
    check_timeout_s: float = 60.0
    depth: str | None = None  # login depth (quick|standard|deep); None: each profile's
    gateway: bool = False  # be the bench's network during the scan (probe/gateway)
    observe_s: float = 10.0

    @property
    def scans(self) -> bool:
        return self.lab or bool(self.cidrs)

    @property
    def active(self) -> bool:
        return self.scans or self.run_file is not None

    def problem(self) -> str | None:
        """Why these options cannot work together (a usage error), or None."""
        if self.run_file is not None and self.scans:
            return "--probe-run uses an earlier scan: give it without --probe-lab/--probe-cidr"
        if self.lab and (self.cidrs or self.ifaces):
            return "give either --probe-lab or --probe-iface/--probe-cidr, not both"
        if self.ifaces and not self.cidrs:
            return "--probe-iface needs --probe-cidr (the networks to scan on it)"
        if self.gateway and not (self.lab or len(self.ifaces) == 1):
            return "--probe-gateway needs --probe-lab or exactly one --probe-iface (the bench's)"
        if self.lab_models and not self.lab:
            return "--probe-lab-models only applies with --probe-lab"
        if self.run_file is not None and not self.run_file.is_file():
            return f"--probe-run {self.run_file}: no such file"
        if self.check_timeout_s <= 0:
            return "--probe-timeout-s must be positive"
        if self.depth is not None and self.depth not in ("quick", "standard", "deep"):
            return f"--probe-depth {self.depth!r}: choose quick, standard or deep"
        return None

    def describe(self) -> str:
        if self.run_file is not None:
            return f"run {self.run_file}"
        if self.lab:
            return f"lab bench on {self.bridge} ({self.subnet})"
        ifs = f" on {', '.join(self.ifaces)}" if self.ifaces else ""
        return f"{', '.join(self.cidrs)}{ifs}"


Say = Callable[[str], None]


@dataclass
class ProbeSession:
    """One per pytest config: the session's run (or why there is none) and the devices."""

    opts: ProbeOptions
    say: Say = print
    worker_input: dict[str, Any] | None = None  # set on xdist workers
    scans_done: int = 0
    scan_seconds: float = 0.0
    bench_made: str = ""  # the bridge this session brought up ("" none)
    run_path: Path | None = None  # where the run is on disk (for workers)
    _run: ScanRun | None = None
    _error: str | None = None
    _scope: Scope | None = None
    _tmpdir: Path | None = None
    _profile_set: ProfileSet | None = None
    _devices: dict[str, DeviceUnderTest] = field(default_factory=dict)
    _old_sigterm: Any = None

    @property
    def is_worker(self) -> bool:
        return self.worker_input is not None

    @property
    def error(self) -> str | None:
        """Why the session has no run (kept after the first attempt), or None."""
        return self._error

    @property
    def loaded(self) -> bool:
        return self._run is not None or self._error is not None

    def get_run(self) -> ScanRun:
        """The session's run: scanned or read at the first call, then kept (errors too)."""
        if self._run is not None:
            return self._run
        if self._error is not None:
            raise BenchUnavailable(self._error)
        if not self.opts.active:
            raise BenchUnavailable(NO_BENCH)
        try:
            self._run = self._obtain()
        except BenchUnavailable as exc:
            self._error = str(exc)
            raise
        except Exception as exc:
            self._error = f"lanprobe could not {self._verb()}: {type(exc).__name__}: {exc}"
            raise BenchUnavailable(self._error) from exc
        return self._run

    def _verb(self) -> str:
        return "read the run" if self.opts.run_file else f"scan the {self.opts.describe()}"

    def _obtain(self) -> ScanRun:
        from lanprobe.model import ScanRun

        wi = self.worker_input or {}
        if wi.get(WORKER_ERROR_KEY):
            raise BenchUnavailable(str(wi[WORKER_ERROR_KEY]))
        if wi.get(WORKER_RUN_KEY):
            self.run_path = Path(wi[WORKER_RUN_KEY])
            return ScanRun.read(self.run_path)
        if self.opts.run_file is not None:
            run = ScanRun.read(self.opts.run_file)
            self.run_path = self.opts.run_file
            if self.opts.out is not None and not self.is_worker:
                self._write(run)
            return run
        if self.is_worker:
            # Workers never scan: the controller does, and passes the run in workerinput.
            raise BenchUnavailable("xdist worker got no run from the controller")
        run = self._scan()
        self._write(run)
        return run

    def _write(self, run: ScanRun) -> None:
        from lanprobe.report.json import write_json

        if self.opts.out is not None:
            out_dir = self.opts.out
        else:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="lanprobe-pytest-"))
            out_dir = self._tmpdir
        self.run_path = write_json(run, out_dir)

    # --- scanning ------------------------------------------------------------------------------

    def _scan(self) -> ScanRun:
        from lanprobe.device_api import run_sync
        from lanprobe.options import RunOptions, Timeouts
        from lanprobe.pacing import depth_cost
        from lanprobe.profiles import load_profiles
        from lanprobe.runner import scan

        opts = self.opts
        load_profiles(opts.profiles, lab=opts.lab)  # a broken profile: an error before traffic
        trusted = [p.resolve() for p in opts.cas]
        for path in trusted:
            if not path.is_file():
                raise BenchUnavailable(f"--probe-ca {path}: no such file")
        if opts.lab:
            scope, ca = self._bring_up()
            if ca is not None:
                trusted.insert(0, ca)
        else:
            from lanprobe.discovery import links
            from lanprobe.scope import Scope

            scope = Scope.build(opts.cidrs, opts.ifaces)
            links(scope)  # each --probe-iface exists and has an address, before "scanning"
        self._scope = scope
        options = RunOptions(
            timeouts=Timeouts(check_s=opts.check_timeout_s),
            depth=opts.depth,
            profiles_dir=opts.profiles,
            lab_profiles=opts.lab,
            trusted_ca_files=tuple(trusted),
        )
        watch = None
        if opts.gateway:
            from lanprobe.gateway.observe import GatewayWatch

            iface = opts.bridge if opts.lab else opts.ifaces[0]
            self.say(f"lanprobe: gateway mode on {iface}, observing {opts.observe_s:g} s ...")
            lab_ca = None  # the lab's units trust its CA: the wrong-name certificate test
            if opts.lab:
                from lanprobe.lab import bench

                lab_state = bench.status(opts.bridge)
                lab_ca = lab_state.ca if lab_state is not None else None
            watch = GatewayWatch(iface, opts.observe_s, trusted_ca=lab_ca)
        self.say(f"lanprobe: scanning {scope.describe()} ...")
        self.say(f"lanprobe: {depth_cost(opts.depth, options.timeouts.campaign_s)}")
        start = time.monotonic()
        try:
            run = run_sync(
                scan(
                    scope,
                    options,
                    profiles_dir=opts.profiles,
                    lab_profiles=opts.lab,
                    checks=list(opts.checks) or None,
                    gateway=watch,
                )
            )
            if watch is not None and opts.out is not None:
                watch.keep_pcap(run, opts.out)
        finally:
            if watch is not None:
                watch.close()  # only a gateway this session started
        self.scan_seconds = round(time.monotonic() - start, 1)
        self.scans_done += 1
        self.say(
            f"lanprobe: scanned {len(run.devices)} device(s), {len(run.results)} results "
            f"in {self.scan_seconds:g} s (run {run.run_id})"
        )
        if run.interrupted:
            raise BenchUnavailable("the scan was interrupted; its results are partial")
        return run

    def _bring_up(self) -> tuple[Scope, Path | None]:
        from lanprobe.lab import bench
        from lanprobe.lab.scope import lab_scope

        opts = self.opts
        if bench.status(opts.bridge) is not None:
            raise BenchUnavailable(
                f"a lab bench is already up on {opts.bridge}: --probe-lab brings up its own. "
                f"Take it down (probe lab down --bridge {opts.bridge}), or test it as it is "
                f"with --probe-iface {opts.bridge} --probe-cidr <its subnet>"
            )
        self._trap_sigterm()
        self.say(f"lanprobe: bringing the lab bench up on {opts.bridge} ({opts.subnet}) ...")
        self.bench_made = opts.bridge  # from here on close() takes it down, whatever happens
        state = bench.up(opts.bridge, opts.subnet, models=list(opts.lab_models) or None)
        self.say(f"lanprobe: {len(state.devices)} lab device(s) up in {state.up_seconds:g} s")
        ca = Path(state.ca_file) if state.ca_file else None
        return lab_scope(opts.bridge), ca

    def _trap_sigterm(self) -> None:
        """CI cancels jobs with SIGTERM: turn it into KeyboardInterrupt so the bench comes down."""

        def on_term(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt("SIGTERM")

        try:
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                self._old_sigterm = signal.signal(signal.SIGTERM, on_term)
        except ValueError:  # not the main thread
            pass

    def close(self) -> None:
        """Take down the bench this session made and remove its temporary run file."""
        try:
            if self.bench_made:
                from lanprobe.lab import bench

                bridge, self.bench_made = self.bench_made, ""
                bench.down(bridge)
                self.say(f"lanprobe: lab bench on {bridge} taken down")
        finally:
            if self._old_sigterm is not None:
                signal.signal(signal.SIGTERM, self._old_sigterm)
                self._old_sigterm = None
            if self._tmpdir is not None:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                self._tmpdir = None

    # --- devices -------------------------------------------------------------------------------

    def scope(self) -> Scope:
        """The scope live calls are held to: the scan's own, else the one the run records, else
        the run's device addresses; a run with none of these allows no live call at all."""
        if self._scope is None:
            from lanprobe.errors import ScopeError
            from lanprobe.scope import Scope

            run = self.get_run()
            info = run.scope
            ips = [f"{d.ip}/{128 if ':' in d.ip else 32}" for d in run.devices if d.ip]
            self._scope = Scope(networks=())
            for cidrs in (info.cidrs, ips):
                try:
                    self._scope = Scope.build(cidrs, info.interfaces, lab=info.lab)
                    break
                except ScopeError:
                    continue
        return self._scope

    def _lab_profiles(self) -> bool:
        """The lab models' profiles count for a lab bench only (--probe-lab, or a lab run)."""
        return self.opts.lab or (self._run is not None and self._run.scope.lab)

    def _profiles(self) -> ProfileSet | None:
        """The built-in profiles, the lab's for a lab run, --probe-profiles on top (None: the
        directory given does not exist, e.g. a run read elsewhere). An invalid profile is an
        error, not a silent gap."""
        user = self.opts.profiles
        if self._profile_set is None and (user is None or user.is_dir()):
            from lanprobe.errors import ProfileError
            from lanprobe.profiles import load_profiles

            try:
                self._profile_set = load_profiles(user, lab=self._lab_profiles())
            except ProfileError as exc:
                raise BenchUnavailable(f"lanprobe could not load the profiles: {exc}") from exc
        return self._profile_set

    def _profile(self, profile_id: str) -> Profile:
        """The device's profile; one the profiles lack (a run made elsewhere) is a bare one."""
        from lanprobe.profile_schema import Profile

        found = self._profiles()
        return (found.get(profile_id) if found is not None else None) or Profile(id=profile_id)

    def profile_source(self, profile_id: str) -> Path | None:
        """The file of a profile (where a device's test items point), if it is loaded."""
        found = self._profiles()
        return found.source(profile_id) if found is not None else None

    def run_options(self) -> RunOptions:
        from lanprobe.options import RunOptions, Timeouts

        return RunOptions(
            timeouts=Timeouts(check_s=self.opts.check_timeout_s),
            depth=self.opts.depth,
            profiles_dir=self.opts.profiles,
            lab_profiles=self._lab_profiles(),
        )

    def device(self, key: str) -> DeviceUnderTest:
        if key not in self._devices:
            from lanprobe.device_api import DeviceUnderTest

            run = self.get_run()
            dev = run.device(key)
            if dev is None:
                raise BenchUnavailable(f"device {key} is not in run {run.run_id}")
            self._devices[key] = DeviceUnderTest(
                dev,
                run,
                profile=self._profile(dev.profile or "generic"),
                scope=self.scope(),
                options=self.run_options(),
            )
        return self._devices[key]


# Where the plugin keeps the ProbeSession of a pytest config (read by pytest_items too).
SESSION_KEY = pytest.StashKey[ProbeSession]()
