"""`probe scan`: discover, run the checks, score each device; write reports and the history.

Exit codes: probe/cli/common.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from lanprobe.cli.common import (
    EXIT_CANNOT_RUN,
    EXIT_ERRORS,
    EXIT_NONCONFORM,
    EXIT_OK,
    EXIT_USAGE,
    AllowPublicOpt,
    BridgeOpt,
    CidrOpt,
    IfaceOpt,
    IotPortsOpt,
    LabOpt,
    PortsOpt,
    TopPortsOpt,
    UpstreamOpt,
    VersionDetectionOpt,
    build_scope,
    discovery_options,
)

if TYPE_CHECKING:
    from lanprobe.diff import Diff
    from lanprobe.gateway.observe import GatewayWatch

_FORMATS = ("console", "json", "junit", "html")


async def _scan_until_signal(coro_factory):  # type: ignore[no-untyped-def]
    """Run the scan; SIGINT/SIGTERM cancel it and the runner returns the partial run."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(coro_factory())
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, task.cancel)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    try:
        return await task
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def _leave_promptly(exit_code: int, grace_s: float = 3.0) -> None:
    """After an interrupted scan (its run already written): cancel what is left of it and wait a
    moment; if something still will not end (a library stuck in its own cleanup), exit now
    rather than hang, since everything the run found is on disk."""
    import asyncio
    import os
    import sys

    me = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
    for task in left:
        task.cancel()
    if left:
        _done, pending = await asyncio.wait(left, timeout=grace_s)
        if pending:
            typer.echo(f"{len(pending)} task(s) did not stop; exiting anyway", err=True)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exit_code)


def scan_command(
    lab: LabOpt = False,
    bridge: BridgeOpt = "plab0",
    iface: IfaceOpt = None,
    cidr: CidrOpt = None,
    allow_public: AllowPublicOpt = False,
    profiles: Annotated[
        Path | None,
        typer.Option(
            "--profiles",
            help="Your profiles directory, layered over the built-in profiles (their models "
            "added, their generic overrides ours). Default: the built-in profiles only.",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write DIR/run.json (and other formats) here.")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="Comma list of: console, json, junit, html.")
    ] = "console,json",
    fail_on: Annotated[
        str,
        typer.Option(
            "--fail-on",
            help="fail (exit 1 when a device does not conform), "
            "regression (exit 1 on a regression against --baseline), never (exit 0, even "
            "with `error` results; otherwise they exit 4).",
        ),
    ] = "fail",
    baseline_run: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="An earlier run.json, or 'last' (the newest complete run in the history): "
            "print what changed; with --fail-on regression exit 1 on a regression.",
        ),
    ] = None,
    waivers: Annotated[
        Path | None,
        typer.Option("--waivers", help="YAML of accepted known failures (with expiry dates)."),
    ] = None,
    reveal_secrets: Annotated[
        bool, typer.Option("--reveal-secrets", help="Show found passwords in evidence.")
    ] = False,
    ca: Annotated[
        list[Path] | None, typer.Option("--ca", help="Trust this CA file too (repeatable).")
    ] = None,
    timeout_s: Annotated[
        float, typer.Option("--timeout-s", help="Deadline of one check run, in seconds.")
    ] = 60.0,
    depth: Annotated[
        str | None,
        typer.Option(
            "--depth",
            help="Default logins: quick (the profile's attempt budget), standard (every "
            "candidate that fits, paced under lockout windows), deep (standard plus the large "
            "lists). Default: each profile's depth, else quick.",
        ),
    ] = None,
    campaign_s: Annotated[
        float,
        typer.Option(
            "--campaign-s",
            help="standard/deep: how long one device's paced logins may take, in seconds.",
        ),
    ] = 240.0,
    connect_timeout_s: Annotated[
        float, typer.Option("--connect-timeout-s", help="TCP/TLS connect timeout, in seconds.")
    ] = 3.0,
    read_timeout_s: Annotated[
        float, typer.Option("--read-timeout-s", help="Read timeout, in seconds.")
    ] = 5.0,
    only: Annotated[
        list[str] | None,
        typer.Option("--check", help="Run only this check id or capability prefix (repeatable)."),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Check runs at once, all devices together.")
    ] = 32,
    device_concurrency: Annotated[
        int, typer.Option("--device-concurrency", help="Check runs at once on one device.")
    ] = 4,
    top_ports: TopPortsOpt = 100,
    iot_ports: IotPortsOpt = True,
    ports: PortsOpt = "",
    version_detection: VersionDetectionOpt = "ours",
    gateway: Annotated[
        bool,
        typer.Option(
            "--gateway",
            help="Be the bench's network during the scan (DHCP/DNS, NTP, sinkhole, capture; "
            "`probe gateway`) and judge what devices send on their own. Uses a gateway that is "
            "already up on the interface, else starts one and stops it after the scan.",
        ),
    ] = False,
    observe: Annotated[
        str,
        typer.Option(
            "--observe",
            help="Gateway mode: how long to watch what devices send (60, 60s, 2m; up to 1h).",
        ),
    ] = "10s",
    observe_hook: Annotated[
        str | None,
        typer.Option(
            "--observe-hook",
            help="Gateway mode: a command run (no shell) as the observation window starts, e.g. "
            "one that power-cycles the units, so that their boot-time traffic is seen.",
        ),
    ] = None,
    upstream: UpstreamOpt = False,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Store the run in this history (a path or postgresql:// URL); interrupted "
            "runs too, flagged, and never used as a baseline.",
        ),
    ] = None,
    bench_name: Annotated[
        str | None,
        typer.Option(
            "--bench",
            help="Name of this bench in the run and the history (default: this host's name); "
            "one history can hold many benches (probe report --fleet).",
        ),
    ] = None,
    report_url: Annotated[
        str | None,
        typer.Option(
            "--report-url",
            envvar="LANPROBE_REPORT_URL",
            help="Where this run's HTML report will be published (e.g. the CI job's artifact "
            "URL; {run_id} and {bench} are filled in): kept in the run, the fleet page links it.",
        ),
    ] = None,
) -> None:
    """Discover the devices in scope, run the checks, score each device against NIST IR 8259A."""
    import asyncio
    import sys

    from lanprobe.datafiles import validate_data_files
    from lanprobe.discovery import discover
    from lanprobe.discovery.ports import parse_ports_option
    from lanprobe.errors import LabError, ProbeError, ProfileError, ScopeError, ToolError
    from lanprobe.model import DeviceVerdict, ScanRun, Verdict
    from lanprobe.options import RunOptions, Timeouts, parse_seconds
    from lanprobe.pacing import DEPTHS, depth_cost
    from lanprobe.paths import profile_layers
    from lanprobe.profiles import load_profiles
    from lanprobe.report.console import ProgressPrinter, print_summary
    from lanprobe.report.json import write_json
    from lanprobe.runner import Limits, checked_catalogue, scan, scope_info, this_host

    formats = [f.strip() for f in fmt.split(",") if f.strip()]
    try:
        bad = [f for f in formats if f not in _FORMATS]
        if bad or not formats:
            raise ScopeError(f"--format {fmt!r}: choose from {', '.join(_FORMATS)}")
        if fail_on not in ("fail", "regression", "never"):
            raise ScopeError(f"--fail-on {fail_on!r}: choose fail, regression or never")
        if fail_on == "regression" and baseline_run is None:
            raise ScopeError("--fail-on regression needs --baseline RUN.json (or 'last')")
        if waivers is not None and not waivers.is_file():
            raise ScopeError(f"--waivers {waivers}: no such file")
        if min(timeout_s, connect_timeout_s, read_timeout_s, campaign_s) <= 0:
            raise ScopeError("timeouts must be positive")
        if depth is not None and depth not in DEPTHS:
            raise ScopeError(f"--depth {depth!r}: choose {', '.join(DEPTHS)}")
        if observe_hook is not None and not gateway:
            raise ScopeError("--observe-hook needs --gateway")
        if gateway and not (lab or len(iface or []) == 1):
            raise ScopeError("--gateway needs --lab or exactly one --iface (the bench interface)")
        try:
            observe_s = parse_seconds(observe, "--observe")
        except ValueError as exc:
            raise ScopeError(str(exc)) from exc
        if not 0 <= observe_s <= 3600:
            raise ScopeError(f"--observe {observe!r}: 0 to 3600 seconds")
        if report_url:
            from lanprobe.fleet import report_link
            from lanprobe.labels import report_link_or

            try:
                filled = report_link(report_url, "run", "bench")
            except ValueError as exc:
                raise ScopeError(f"--report-url: {exc}") from exc
            if not report_link_or(filled, ""):
                raise ScopeError(f"--report-url {report_url!r}: an http(s) URL or a relative path")
        scope = build_scope(lab, bridge, iface or [], cidr or [], allow_public)
        load_profiles(profiles, lab=lab)  # a broken profile is a usage error, before any traffic
        validate_data_files(profile_layers(profiles, lab=lab))  # and so is a broken data file
        checked_catalogue()  # so is a check the baseline file does not describe
        trusted = [p.resolve() for p in ca or []]
        lab_ca: tuple[Path, Path] | None = None
        for path in trusted:
            if not path.is_file():
                raise ScopeError(f"--ca {path}: no such file")
        if lab:
            from lanprobe.lab import bench

            state = bench.status(bridge)
            if state is not None and state.ca_file:
                trusted.insert(0, Path(state.ca_file))
                lab_ca = state.ca  # a gateway this scan starts shows its wrong-name certificate
        # The baseline too, before any traffic: a missing or unreadable file is said now, not
        # after the scan. `last` before the first run of this scope and bench compares nothing:
        # said, and this run starts the history (a nightly job's first night, a new scope).
        old_run = None
        no_baseline = ""
        if baseline_run is not None:
            from lanprobe.diff import NoBaselineYet, load_baseline, load_waivers

            try:
                old_run = load_baseline(baseline_run, db=db, scope=scope_info(scope),
                                        bench=bench_name or this_host().hostname)  # fmt: skip
            except NoBaselineYet as exc:
                no_baseline = f"--baseline last: {exc}: nothing to compare; this run starts it"
                typer.echo(f"note: {no_baseline}", err=True)
            except (ProbeError, OSError, ValueError) as exc:
                raise ScopeError(f"--baseline {baseline_run}: {exc}") from exc
            if waivers is not None:
                try:
                    load_waivers(waivers)
                except (ProbeError, OSError, ValueError) as exc:
                    raise ScopeError(f"--waivers: {exc}") from exc  # names the file
    except (ScopeError, ProfileError, LabError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc

    options = RunOptions(
        timeouts=Timeouts(
            connect_s=connect_timeout_s,
            read_s=read_timeout_s,
            check_s=timeout_s,
            campaign_s=campaign_s,
        ),
        depth=depth,
        reveal_secrets=reveal_secrets,
        profiles_dir=profiles,
        lab_profiles=lab,
        trusted_ca_files=tuple(trusted),
    )
    typer.echo(depth_cost(depth, campaign_s), err=True)  # the time cost, before any traffic
    try:
        dopts = discovery_options(version_detection, profiles)
        wanted = parse_ports_option(ports)
        dopts.full_ports = wanted.full
        dopts.iot_ports = iot_ports
    except ValueError as exc:
        typer.echo(f"error: --ports: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    except ScopeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    dopts.nmap.top_ports = max(0, top_ports)

    async def _discover(scope_, *, ports=None):  # type: ignore[no-untyped-def]
        return await discover(scope_, ports=[*(ports or ()), *wanted.extra], options=dopts)

    def changes(run: ScanRun) -> Diff | None:
        """The diff against the baseline read before the scan."""
        if old_run is None or run.interrupted:
            return None
        from lanprobe.diff import compare_to_baseline

        return compare_to_baseline(run, old_run, db=db, waivers=waivers)

    def history_of(run: ScanRun) -> tuple[list[Any], list[Any]]:
        """The trend of this bench and its units' past verdicts, for the HTML report."""
        if not db:
            return [], []
        from lanprobe.store import open_store

        with open_store(db) as history:
            return history.report_history(run)

    def emit(run: ScanRun, diff: Diff | None = None) -> None:
        out_dir = out
        if out_dir is None and any(f != "console" for f in formats):
            out_dir = Path("reports") / run.run_id
        if out_dir is not None:
            if watch is not None:
                watch.keep_pcap(run, out_dir)  # run.json's evidence points at the copy
            typer.echo(f"wrote {write_json(run, out_dir)}", err=True)
            if "junit" in formats:
                from lanprobe.report.junit import write_junit

                typer.echo(f"wrote {write_junit(run, out_dir / 'junit.xml')}", err=True)
            if "html" in formats:
                from lanprobe.report.html import write_html

                trend, units = history_of(run)
                page = write_html(
                    run, out_dir / "report.html", trend=trend, diff=diff, history=units
                )
                typer.echo(f"wrote {page}", err=True)
        if "console" in formats:
            print_summary(run, sys.stdout)
        if diff is not None:
            from lanprobe.diff import render_text

            typer.echo(render_text(diff))
        elif no_baseline:
            typer.echo(f"no diff: {no_baseline}")

    def store(run: ScanRun) -> None:
        # One transaction per run (probe/store.py): a kill half-way leaves the history as it was.
        from lanprobe.store import open_store

        try:
            with open_store(db) as history:
                history.save(run)
        except (ProbeError, OSError) as exc:
            typer.echo(f"error: could not store the run in {db}: {exc}", err=True)
            return
        flag = " (interrupted: never a baseline)" if run.interrupted else ""
        typer.echo(f"stored run {run.run_id} in {db}{flag}", err=True)

    diff: Diff | None = None
    watch: GatewayWatch | None = None

    async def main() -> ScanRun:
        nonlocal watch
        if gateway:
            import shlex

            from lanprobe.gateway.observe import GatewayWatch

            # Started before discovery: the observation window runs alongside it.
            name = bridge if lab else (iface or [""])[0]
            hook = shlex.split(observe_hook) if observe_hook else None
            watch = await asyncio.to_thread(
                GatewayWatch, name, observe_s, upstream=upstream, hook=hook, trusted_ca=lab_ca
            )
        run = await _scan_until_signal(
            lambda: scan(
                scope,
                options,
                profiles_dir=profiles,
                progress=ProgressPrinter(),
                discover_fn=_discover,
                checks=only or None,
                bench=bench_name,
                limits=Limits(
                    global_checks=max(1, concurrency),
                    per_device_checks=max(1, device_concurrency),
                ),
                gateway=watch,
            )
        )
        if report_url:
            from lanprobe.fleet import report_link

            run.report_url = report_link(report_url, run.run_id, run.bench)
        # Written before the loop shuts down: an interrupted scan may still wait there for
        # worker threads (nmap) to end, and its partial run must already be on disk.
        nonlocal diff
        try:
            diff = changes(run)
        finally:
            emit(run, diff)
            if db:
                store(run)  # after the diff, so that 'last' is the run before this one
        if run.interrupted:
            await _leave_promptly(EXIT_CANNOT_RUN)
        return run

    try:
        run = asyncio.run(main())
    except ScopeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    except (ToolError, LabError) as exc:
        typer.echo(f"error: the scan could not run: {exc}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN) from exc
    except ProbeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN) from exc
    finally:
        if watch is not None:
            watch.close()  # only a gateway this scan started

    if run.interrupted:
        typer.echo("scan interrupted: partial results written", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN)
    if fail_on == "never":
        raise typer.Exit(EXIT_OK)
    errors = sum(1 for r in run.results if r.verdict == Verdict.error)
    if errors:
        typer.echo(
            f"error: {errors} check result(s) are errors, lanprobe's own failures (see the "
            f"summary): the run is incomplete; exit {EXIT_ERRORS}",
            err=True,
        )
        raise typer.Exit(EXIT_ERRORS)
    if fail_on == "regression":
        raise typer.Exit(EXIT_NONCONFORM if diff is not None and diff.regression else EXIT_OK)
    bad_devices = [k for k, s in run.scores.items() if s.verdict == DeviceVerdict.does_not_conform]
    raise typer.Exit(EXIT_NONCONFORM if bad_devices else EXIT_OK)
