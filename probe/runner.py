"""One scan: discovery -> profile matching -> checks -> scoring, as one `ScanRun`.

    scope ─> discover() ─> Device records ─> ProfileSet.apply() ─> DeviceSession per device
          ─> per-device checks (rounds by CheckSpec.order; global and per-device semaphores;
             a deadline per check run) ─> bench checks over all sessions ─> score_device()

Every check run ends in at least one verdict:
- the profile's `not_applicable` entry, or a check whose `services` the device lacks:
  `not_applicable` with the reason, without running it;
- the deadline (Timeouts.check_s) or a TargetError (the device's doing): `inconclusive`;
- any other exception (our bug): `error` with the exception;
- a check that yields nothing: `error` ("check produced no verdict").

Progress events go to an optional callback (the console draws them). A cancelled scan (Ctrl-C,
SIGTERM: the CLI cancels the task) still returns the partial run with `interrupted: true`, at
once: discovery's nmap processes are killed while it unwinds (probe/cancel.py), the results a
check yielded before it was cancelled are kept with an `inconclusive` "interrupted" beside them,
and every check that never ran on a device gets `inconclusive` "not run", so that a partial run
never reads as a pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import platform
import socket
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lanprobe import __version__
from lanprobe.baseline import Baseline, load_baseline
from lanprobe.cancel import reap_children
from lanprobe.checks import registry
from lanprobe.checks.context import BenchContext, CheckContext
from lanprobe.checks.registry import CheckSpec
from lanprobe.datafiles import validate_data_files
from lanprobe.errors import ProfileError, TargetError
from lanprobe.gateway.observe import GatewayWatch
from lanprobe.model import (
    Device,
    HostInfo,
    Result,
    ScanRun,
    ScopeInfo,
    Target,
    ToolInfo,
    Verdict,
    digest,
    utcnow,
)
from lanprobe.options import RunOptions
from lanprobe.paths import profile_layers
from lanprobe.profiles import ProfileSet, load_profiles, match_note
from lanprobe.scope import Scope
from lanprobe.scoring import score_device
from lanprobe.service_kind import service_kind
from lanprobe.session import DeviceSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    """One progress event. `kind` is one of: discovery, discovered, matched, check_start,
    check_done, bench, scored, done."""

    kind: str
    device: str = ""
    check_id: str = ""
    message: str = ""
    verdicts: tuple[str, ...] = ()
    total: int = 0  # check runs planned (check_start/check_done), devices (discovered)


ProgressFn = Callable[[Progress], None]


class InventoryLike(Protocol):
    devices: list[Device]
    partial: bool
    notes: list[str]


DiscoverFn = Callable[..., Awaitable[InventoryLike]]


@dataclass
class Limits:
    """Concurrency bounds: all devices together, and one device (be gentle)."""

    global_checks: int = 32
    per_device_checks: int = 4


@dataclass
class _Ctx:
    run: ScanRun
    baseline: Baseline
    options: RunOptions
    limits: Limits
    progress: ProgressFn | None
    global_sem: asyncio.Semaphore
    sessions: list[DeviceSession] = field(default_factory=list)

    def emit(self, event: Progress) -> None:
        if self.progress is not None:
            # A drawing bug must not break a scan.
            with contextlib.suppress(Exception):
                self.progress(event)


# --- verdicts the runner makes itself ---------------------------------------------------------


def _own_result(
    spec: CheckSpec,
    device: Device,
    baseline: Baseline,
    verdict: Verdict,
    title: str,
    evidence: dict[str, Any] | None = None,
) -> Result:
    meta = baseline.meta(spec.id, spec.capability)
    return Result(
        check_id=spec.id,
        device=device.key,
        capability=spec.capability,
        verdict=verdict,
        severity=meta.severity,
        title=title,
        target=Target(),
        evidence=evidence or {},
        references=list(meta.references),
    )


def applicability(spec: CheckSpec, session: DeviceSession) -> str | None:
    """Why `spec` does not apply to the device (None: it applies)."""
    reason = session.profile.not_applicable.get(spec.id)
    if reason:
        return f"profile {session.profile.id}: {reason}"
    if spec.services and not spec.bench:
        kinds = set()
        for svc in session.device.services:
            declared = session.profile.allowed_port(svc.port, svc.transport)
            kinds.add(service_kind(svc, declared.service if declared else ""))
        if not kinds & set(spec.services):
            return f"no {'/'.join(spec.services)} service on the device"
    return None


def _exception_evidence(exc: BaseException) -> dict[str, Any]:
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {"exception": f"{type(exc).__name__}: {exc}", "traceback": "".join(tb[-3:])[-2000:]}


Failure = tuple[Verdict, str, dict[str, Any]]
NO_VERDICT: Failure = (Verdict.error, "check produced no verdict", {})


async def _collect(
    spec: CheckSpec, ctx: CheckContext | BenchContext, deadline_s: float, results: list[Result]
) -> None:
    """Run a check within its deadline, its results into `results` as they come (so that what
    it yielded before it raised or was cancelled is kept)."""
    async with asyncio.timeout(deadline_s):
        gen = spec.fn(ctx)  # type: ignore[arg-type]
        async with contextlib.aclosing(gen):  # type: ignore[type-var]
            async for res in gen:
                results.append(res)


def check_failure(exc: Exception, deadline_s: float, elapsed_s: float) -> Failure:
    """The verdict of a check (per device or bench-wide) that raised `exc` (module docstring):
    its deadline or a TargetError is `inconclusive`, anything else is our bug, `error`."""
    if isinstance(exc, TimeoutError):
        if elapsed_s >= deadline_s * 0.99:
            why = f"check ran out of time ({deadline_s:g} s)"
        else:
            why = f"timed out: {exc}" if str(exc) else "a network operation timed out"
        return Verdict.inconclusive, why, {"reason": why}
    if isinstance(exc, TargetError):
        return Verdict.inconclusive, str(exc), {"reason": str(exc), "error": type(exc).__name__}
    return Verdict.error, f"check failed: {type(exc).__name__}: {exc}", _exception_evidence(exc)


async def run_check(
    spec: CheckSpec,
    session: DeviceSession,
    baseline: Baseline,
    *,
    deadline_s: float,
    partial: list[Result] | None = None,
) -> list[Result]:
    """Run one check on one device; always returns at least one result.

    Cancelled, it raises; the results yielded so far then go to `partial` (when given) with an
    `inconclusive` result saying the check was interrupted.
    """
    device = session.device
    reason = applicability(spec, session)
    if reason is not None:
        return [_own_result(spec, device, baseline, Verdict.not_applicable, reason)]
    ctx = CheckContext(
        session=session, check_id=spec.id, meta=baseline.meta(spec.id, spec.capability)
    )
    results: list[Result] = []
    start = time.monotonic()
    log.debug("%s on %s: started", spec.id, device.key, extra={"fields": {"check": spec.id}})
    try:
        await _collect(spec, ctx, deadline_s, results)
    except asyncio.CancelledError:
        if partial is not None:
            why = INTERRUPTED_WHILE_RUNNING
            partial.extend(results)
            partial.append(
                _own_result(spec, device, baseline, Verdict.inconclusive, why, {"reason": why})
            )
        raise
    except Exception as exc:
        failure = check_failure(exc, deadline_s, time.monotonic() - start)
        results.append(_own_result(spec, device, baseline, *failure))
    if not results:
        results.append(_own_result(spec, device, baseline, *NO_VERDICT))
    duration = time.monotonic() - start
    for res in results:
        if res.duration_s == 0.0:
            res.duration_s = round(duration, 3)
        log_verdict(res)
    return results


def log_verdict(res: Result) -> None:
    """-v: each verdict with its reason (the title) and where it was observed."""
    where = f":{res.target.port}" if res.target.port else ""
    log.info(
        "%s on %s%s: %s: %s",
        res.check_id,
        res.device,
        where,
        res.verdict.value,
        res.title,
        extra={
            "fields": {
                "event": "verdict",
                "check": res.check_id,
                "device": res.device,
                "port": res.target.port,
                "verdict": res.verdict.value,
                "reason": res.title,
                "evidence": res.evidence,
            }
        },
    )


async def _device_checks(ctx: _Ctx, session: DeviceSession, specs: list[CheckSpec]) -> None:
    """All per-device checks of one device, round by round (CheckSpec.order)."""
    dev_sem = asyncio.Semaphore(ctx.limits.per_device_checks)
    rounds = sorted({s.order for s in specs})
    total = len(specs)

    async def one(spec: CheckSpec) -> None:
        # The device slot first: a task waiting for its device must not hold a global slot.
        async with dev_sem, ctx.global_sem:
            paced = spec.cost.logs_in and session.login_time_s > 0
            note = f"depth {session.depth}: up to {session.login_time_s:g} s of paced logins"
            ctx.emit(Progress("check_start", session.device.key, spec.id,
                              message=note if paced else "", total=total))  # fmt: skip
            partial: list[Result] = []
            try:
                results = await run_check(
                    spec,
                    session,
                    ctx.baseline,
                    deadline_s=ctx.options.timeouts.check_s
                    + (session.login_time_s if spec.cost.logs_in else 0.0),
                    partial=partial,
                )
            except asyncio.CancelledError:
                ctx.run.results.extend(partial)
                raise
            ctx.run.results.extend(results)
            ctx.emit(
                Progress(
                    "check_done",
                    session.device.key,
                    spec.id,
                    verdicts=tuple(r.verdict.value for r in results),
                    total=total,
                )
            )

    for order in rounds:
        async with asyncio.TaskGroup() as tg:
            for spec in specs:
                if spec.order == order:
                    tg.create_task(one(spec))


async def _bench_checks(ctx: _Ctx, specs: list[CheckSpec]) -> None:
    """Checks over all devices, after the per-device ones. Every device gets a verdict."""
    for spec in specs:
        ctx.emit(Progress("bench", check_id=spec.id))
        meta = ctx.baseline.meta(spec.id, spec.capability)
        bctx = BenchContext(sessions=ctx.sessions, check_id=spec.id, meta=meta)
        results: list[Result] = []
        failure: Failure | None = None
        start = time.monotonic()
        deadline_s = ctx.options.timeouts.check_s
        try:
            await _collect(spec, bctx, deadline_s, results)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failure = check_failure(exc, deadline_s, time.monotonic() - start)
        duration = round(time.monotonic() - start, 3)
        for session in ctx.sessions:
            dev = session.device
            mine = [r for r in results if r.device == dev.key]
            reason = applicability(spec, session)
            if reason is not None:
                mine = [_own_result(spec, dev, ctx.baseline, Verdict.not_applicable, reason)]
            elif failure is not None:
                mine.append(_own_result(spec, dev, ctx.baseline, *failure))
            elif not mine:
                mine = [_own_result(spec, dev, ctx.baseline, *NO_VERDICT)]
            for res in mine:
                if res.duration_s == 0.0:
                    res.duration_s = duration
            ctx.run.results.extend(mine)


def _profile_record(profiles: ProfileSet, profile_id: str) -> dict[str, Any]:
    profile = profiles.get(profile_id)
    if profile is None:
        return {}
    src = profiles.source(profile_id)
    return {
        "version": profile.version,
        "vendor": profile.vendor,
        "model": profile.model,
        "source": str(src) if src else "",
        "declarations": profile.declarations.model_dump(mode="json"),
        "not_applicable": dict(profile.not_applicable),
        "digest": digest(profile.model_dump(mode="json")),
    }


INTERRUPTED_WHILE_RUNNING = "the scan was interrupted while this check ran"
NOT_RUN = "not run: the scan was interrupted before this check ran"
# Child processes discovery waits on from worker threads (see probe/cancel.py).
DISCOVERY_TOOLS = ("nmap",)
CANCEL_GRACE_S = 10.0


async def _discover_cancellable(coro: Awaitable[InventoryLike]) -> InventoryLike:
    """Run discovery in its own task; when the scan is cancelled, kill the nmap processes its
    worker threads wait on while it unwinds, so that the partial run is written at once rather
    than after nmap's host timeout."""
    task = asyncio.ensure_future(coro)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with reap_children(DISCOVERY_TOOLS, limit_s=CANCEL_GRACE_S + 5):
            task.cancel()
            await asyncio.wait({task}, timeout=CANCEL_GRACE_S)
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: a failure while unwinding is no news now
        raise


async def _default_discover(scope: Scope, *, ports: list[int] | None = None) -> InventoryLike:
    from lanprobe.discovery import discover

    return await discover(scope, ports=ports or ())


def _deep_workers() -> contextlib.AbstractAsyncContextManager[object]:
    """Long-lived sslyze workers for the check phase (TLS tier 2 imports sslyze once per worker
    instead of once per TLS port); they end with the phase, also when it is cancelled."""
    try:
        from lanprobe.checks.clients.tls_deep import worker_pool
        from lanprobe.observations import DEEP_SCANS_AT_ONCE
    except ImportError:
        return contextlib.nullcontext()
    # sslyze is CPU-bound: workers beyond the cores add memory (~60 MB each), not speed
    # (measured on 2 cores, 50 devices: 2 and 4 workers within noise, 19-20 s).
    return worker_pool(min(DEEP_SCANS_AT_ONCE, max(2, os.cpu_count() or 2)))


def scope_info(scope: Scope) -> ScopeInfo:
    """The scope as a run records it (and as `--baseline last` looks a run up by)."""
    return ScopeInfo(
        interfaces=list(scope.interfaces), cidrs=[str(n) for n in scope.networks], lab=scope.lab
    )


def this_host() -> HostInfo:
    """The probe host as a run records it."""
    return HostInfo(
        hostname=socket.gethostname(),
        platform=platform.platform(terse=True),
        python=platform.python_version(),
    )


def load_catalogue() -> tuple[dict[str, CheckSpec], list[str]]:
    """The registered checks, and the check modules that do not exist (yet).

    A missing capability module is a note in the run, not a crash of the whole scan; an import
    error inside an existing module is a bug and raises.
    """
    missing = []
    for mod in registry.CHECK_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
            missing.append(mod)
    return dict(sorted(registry._CATALOGUE.items())), missing


def checked_catalogue(
    baseline: Baseline | None = None,
) -> tuple[dict[str, CheckSpec], list[str]]:
    """`load_catalogue()`, checked against the baseline file before any traffic: a registered
    check without a baseline entry, or with another capability, is a ProfileError."""
    catalogue, missing = load_catalogue()
    problems = registry.disagreements(catalogue, baseline or load_baseline())
    if problems:
        where = "the baseline (profiles/baseline/nistir-8259a.yaml)"
        raise ProfileError(f"{where} and the registered checks disagree: " + "; ".join(problems))
    return catalogue, missing


def _select(specs: Iterable[CheckSpec], only: Iterable[str] | None) -> list[CheckSpec]:
    wanted = set(only or ())
    return [s for s in specs if not wanted or s.id in wanted or s.id.split(".")[0] in wanted]


async def scan(
    scope: Scope,
    options: RunOptions,
    *,
    profiles_dir: Path | None = None,
    lab_profiles: bool | None = None,
    ports: list[int] | None = None,
    progress: ProgressFn | None = None,
    discover_fn: DiscoverFn | None = None,
    checks: Iterable[str] | None = None,
    catalogue: dict[str, CheckSpec] | None = None,
    baseline: Baseline | None = None,
    limits: Limits | None = None,
    bench: str | None = None,
    gateway: GatewayWatch | None = None,
) -> ScanRun:
    """Scan `scope` and return the `ScanRun` (partial, `interrupted`, when cancelled).

    `bench` names the bench in the run (and the history); the probe host's name by default.
    `profiles_dir` is the user's profiles, layered over the built-in set (None: built-in only);
    `lab_profiles` adds the lab models' profiles (default: when the scope is the lab bench).
    `checks` limits the run to these ids (or capability prefixes such as "access");
    `catalogue` replaces the registered checks (tests).
    """
    lab = scope.lab if lab_profiles is None else lab_profiles
    profiles = load_profiles(profiles_dir, lab=lab)
    validate_data_files(profile_layers(profiles_dir, lab=lab))  # file:line, before any traffic
    baseline = baseline or load_baseline()
    options.profiles_dir = Path(profiles_dir) if profiles_dir is not None else None
    options.lab_profiles = lab
    missing_modules: list[str] = []
    if catalogue is None:
        catalogue, missing_modules = checked_catalogue(baseline)
    specs = _select(catalogue.values(), checks)
    run = ScanRun(
        run_id=uuid.uuid4().hex[:12],
        tool=ToolInfo(version=__version__),
        bench=bench or this_host().hostname,
        host=this_host(),
        scope=scope_info(scope),
        baseline={
            "id": baseline.id,
            "version": baseline.version,
            "digest": digest(baseline.judged()),
        },
    )
    if missing_modules:
        run.notes.append(f"check modules missing, their checks did not run: {missing_modules}")
    ctx = _Ctx(
        run=run,
        baseline=baseline,
        options=options,
        limits=limits or Limits(),
        progress=progress,
        global_sem=asyncio.Semaphore((limits or Limits()).global_checks),
    )
    try:
        # Discovery scans the profiles' ports besides its defaults, so declared services show.
        scan_ports = sorted(set(ports or []) | set(profiles.all_ports()))
        if gateway is not None:
            # Devices join the bench through the gateway (DHCP) and talk meanwhile: discovery
            # starts once the observation window is over, so that it finds them all.
            ctx.emit(Progress("discovery", message=f"gateway: observing {gateway.window_s:g} s"))
            t0 = time.monotonic()
            await gateway.wait()
            run.timings_s["gateway"] = round(time.monotonic() - t0, 3)
        ctx.emit(Progress("discovery", message=scope.describe()))
        t0 = time.monotonic()
        inventory = await _discover_cancellable(
            (discover_fn or _default_discover)(scope, ports=scan_ports)
        )
        run.timings_s["discovery"] = round(time.monotonic() - t0, 3)
        for phase, secs in (getattr(inventory, "timings_s", None) or {}).items():
            run.timings_s[f"discovery.{phase}"] = secs
        run.partial = bool(getattr(inventory, "partial", False))
        run.coverage = getattr(inventory, "coverage", None)
        run.notes.extend(getattr(inventory, "notes", []))
        devices = [d for d in inventory.devices if d.ip and scope.contains(d.ip)]
        run.devices = devices
        ctx.emit(Progress("discovered", total=len(devices)))
        if gateway is not None:
            await gateway.attach(run, devices)

        for dev in devices:
            dev.record_observed()
            profile = profiles.apply(dev)
            run.profiles.setdefault(profile.id, _profile_record(profiles, profile.id))
            ctx.emit(Progress("matched", dev.key, message=f"{profile.id} ({match_note(dev)})"))
            session = DeviceSession(
                device=dev, profile=profile, scope=scope, options=options, coverage=run.coverage
            )
            ctx.sessions.append(session)

        missing = sorted(s.id for s in specs if s.id not in baseline.checks)
        if missing:
            run.notes.append(f"checks without a baseline entry (medium severity): {missing}")

        device_specs = [s for s in specs if not s.bench]
        bench_specs = [s for s in specs if s.bench]
        t0 = time.monotonic()
        async with _deep_workers(), asyncio.TaskGroup() as tg:
            for session in ctx.sessions:
                tg.create_task(_device_checks(ctx, session, device_specs))
        run.timings_s["checks"] = round(time.monotonic() - t0, 3)
        if bench_specs and ctx.sessions:
            t0 = time.monotonic()
            await _bench_checks(ctx, bench_specs)
            run.timings_s["bench"] = round(time.monotonic() - t0, 3)
    except asyncio.CancelledError:
        run.interrupted = True
        run.notes.append("scan interrupted: results are partial")
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
    finally:
        await _settle(ctx.sessions)
        if run.interrupted:
            _mark_not_run(run, ctx, specs)
        _finish(run, ctx, profiles)
    return run


SETTLE_S = 10.0


async def _settle(sessions: list[DeviceSession]) -> None:
    """Cancel and wait for the shared observations still running (a check cut short leaves its
    observation behind, shielded), so that nothing of this scan outlives it: left to the event
    loop's shutdown, one cancelled while it starts a child process hangs there (CPython 3.11)."""
    pending = [task for session in sessions for task in session.pending_observations()]
    for task in pending:
        task.cancel()
    if not pending:
        return
    try:
        await asyncio.wait(pending, timeout=SETTLE_S)
    except asyncio.CancelledError:  # a second Ctrl-C: the partial run is still returned
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()


def _mark_not_run(run: ScanRun, ctx: _Ctx, specs: list[CheckSpec]) -> None:
    """An interrupted run: every check that gave a device no verdict is `inconclusive`."""
    done = {(r.device, r.check_id) for r in run.results}
    for session in ctx.sessions:
        dev = session.device
        for spec in specs:
            if (dev.key, spec.id) in done:
                continue
            reason = applicability(spec, session)
            if reason is not None:
                res = _own_result(spec, dev, ctx.baseline, Verdict.not_applicable, reason)
            else:
                res = _own_result(
                    spec, dev, ctx.baseline, Verdict.inconclusive, NOT_RUN, {"reason": NOT_RUN}
                )
            run.results.append(res)


def _finish(run: ScanRun, ctx: _Ctx, profiles: ProfileSet) -> None:
    by_key = {s.device.key: s for s in ctx.sessions}
    # A stable order for reports and diffs.
    run.results.sort(key=lambda r: (r.device, r.check_id, r.target.port or 0))
    for dev in run.devices:
        session = by_key.get(dev.key)
        profile = session.profile if session else profiles.get(dev.profile or "")
        run.scores[dev.key] = score_device(dev.key, run.results, ctx.baseline, profile)
        ctx.emit(Progress("scored", dev.key, message=run.scores[dev.key].verdict.value))
    run.finished = utcnow()
    ctx.emit(Progress("done", message=run.run_id))
