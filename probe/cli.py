"""The `probe` command line (typer). Exit codes are a contract (docs/architecture.md):

0 every device conforms (or --fail-on never), 1 a device does not conform or a regression,
2 usage or scope error, 3 the scan itself could not run (no privileges, nmap missing).
"""

from __future__ import annotations

import typer
from lanprobe.lab.cli import lab_app

EXIT_OK = 0
EXIT_NONCONFORM = 1
EXIT_USAGE = 2
EXIT_CANNOT_RUN = 3

app = typer.Typer(
    help="lanprobe: scan an IoT test bench and score each device against NIST IR 8259A.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(lab_app, name="lab")


# --- discovery (probe/discovery) -------------------------------------------------------------
from lanprobe.discovery.cli import discover_command  # noqa: E402

app.command("discover")(discover_command)


# --- scan, checks, profile (probe/runner.py, checks/, probe/profiles.py) ---------------------
# Heavy imports stay inside the commands so that `probe --help` stays fast.
from pathlib import Path as _Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402
from typing import Annotated as _Annotated  # noqa: E402

if TYPE_CHECKING:
    from lanprobe.diff import Diff

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


@app.command("scan")
def scan_command(
    lab: _Annotated[bool, typer.Option("--lab", help="Scan the running lab bench.")] = False,
    bridge: _Annotated[str, typer.Option(help="The lab bench's bridge (with --lab).")] = "plab0",
    iface: _Annotated[
        list[str] | None, typer.Option("--iface", help="Interface to scan from (repeatable).")
    ] = None,
    cidr: _Annotated[
        list[str] | None, typer.Option("--cidr", help="Network in scope (repeatable).")
    ] = None,
    allow_public: _Annotated[
        bool, typer.Option("--allow-public", help="Allow globally routable networks.")
    ] = False,
    profiles: _Annotated[_Path, typer.Option("--profiles", help="Profiles directory.")] = _Path(
        "profiles"
    ),
    out: _Annotated[
        _Path | None, typer.Option("--out", help="Write DIR/run.json (and other formats) here.")
    ] = None,
    fmt: _Annotated[
        str, typer.Option("--format", help="Comma list of: console, json, junit, html.")
    ] = "console,json",
    fail_on: _Annotated[
        str,
        typer.Option(
            "--fail-on",
            help="fail (exit 1 when a device does not conform), "
            "regression (exit 1 on a regression against --baseline), never.",
        ),
    ] = "fail",
    baseline_run: _Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="An earlier run.json, or 'last' (the newest complete run in the history): "
            "print what changed; with --fail-on regression exit 1 on a regression.",
        ),
    ] = None,
    waivers: _Annotated[
        _Path | None,
        typer.Option("--waivers", help="YAML of accepted known failures (with expiry dates)."),
    ] = None,
    reveal_secrets: _Annotated[
        bool, typer.Option("--reveal-secrets", help="Show found passwords in evidence.")
    ] = False,
    ca: _Annotated[
        list[_Path] | None, typer.Option("--ca", help="Trust this CA file too (repeatable).")
    ] = None,
    timeout_s: _Annotated[
        float, typer.Option("--timeout-s", help="Deadline of one check run, in seconds.")
    ] = 60.0,
    connect_timeout_s: _Annotated[
        float, typer.Option("--connect-timeout-s", help="TCP/TLS connect timeout, in seconds.")
    ] = 3.0,
    read_timeout_s: _Annotated[
        float, typer.Option("--read-timeout-s", help="Read timeout, in seconds.")
    ] = 5.0,
    only: _Annotated[
        list[str] | None,
        typer.Option("--check", help="Run only this check id or capability prefix (repeatable)."),
    ] = None,
    concurrency: _Annotated[
        int, typer.Option("--concurrency", help="Check runs at once, all devices together.")
    ] = 32,
    device_concurrency: _Annotated[
        int, typer.Option("--device-concurrency", help="Check runs at once on one device.")
    ] = 4,
    top_ports: _Annotated[
        int, typer.Option("--top-ports", help="Also scan nmap's N most common TCP ports.")
    ] = 100,
    version_detection: _Annotated[
        str,
        typer.Option(
            "--version-detection",
            help="How open ports are named: ours (fast, default), nmap (-sV, slow), or both.",
        ),
    ] = "ours",
    db: _Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Store the run in this history (a path or postgresql:// URL); interrupted "
            "runs too, flagged, and never used as a baseline.",
        ),
    ] = None,
) -> None:
    """Discover the devices in scope, run the checks, score each device against NIST IR 8259A."""
    import asyncio
    import sys

    from lanprobe.checks.context import RunOptions, Timeouts
    from lanprobe.discovery import discover
    from lanprobe.discovery.cli import build_scope, discovery_options
    from lanprobe.errors import LabError, ProbeError, ProfileError, ScopeError, ToolError
    from lanprobe.model import DeviceVerdict, ScanRun
    from lanprobe.profiles import load_profiles
    from lanprobe.report.console import ProgressPrinter, print_summary
    from lanprobe.report.json import write_json
    from lanprobe.runner import Limits, scan

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
        if min(timeout_s, connect_timeout_s, read_timeout_s) <= 0:
            raise ScopeError("timeouts must be positive")
        scope = build_scope(lab, bridge, iface or [], cidr or [], allow_public)
        load_profiles(profiles)  # a broken profile is a usage error, before any traffic
        trusted = [p.resolve() for p in ca or []]
        for path in trusted:
            if not path.is_file():
                raise ScopeError(f"--ca {path}: no such file")
        if lab:
            from lanprobe.lab import bench

            state = bench.status(bridge)
            if state is not None and state.ca_file:
                trusted.insert(0, _Path(state.ca_file))
    except (ScopeError, ProfileError, LabError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc

    options = RunOptions(
        timeouts=Timeouts(connect_s=connect_timeout_s, read_s=read_timeout_s, check_s=timeout_s),
        reveal_secrets=reveal_secrets,
        profiles_dir=profiles,
        trusted_ca_files=tuple(trusted),
    )
    try:
        dopts = discovery_options(version_detection, profiles)
    except ScopeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    dopts.nmap.top_ports = max(0, top_ports)

    async def _discover(scope_, *, ports=None):  # type: ignore[no-untyped-def]
        return await discover(scope_, ports=ports or (), options=dopts)

    def changes(run: ScanRun) -> Diff | None:
        """The diff against --baseline; a baseline that cannot be read is a usage error."""
        if baseline_run is None or run.interrupted:
            return None
        from lanprobe.diff import compare_to_baseline

        try:
            return compare_to_baseline(run, baseline_run, db=db, waivers=waivers)
        except (ProbeError, OSError, ValueError) as exc:
            raise ScopeError(f"--baseline {baseline_run}: {exc}") from exc

    def trend() -> list[Any]:
        if not db:
            return []
        from lanprobe.store import open_store

        with open_store(db) as history:
            return list(history.runs(30, complete_only=True))

    def emit(run: ScanRun, diff: Diff | None = None) -> None:
        out_dir = out
        if out_dir is None and any(f != "console" for f in formats):
            out_dir = _Path("reports") / run.run_id
        if out_dir is not None:
            typer.echo(f"wrote {write_json(run, out_dir)}", err=True)
            if "junit" in formats:
                from lanprobe.report.junit import write_junit

                typer.echo(f"wrote {write_junit(run, out_dir / 'junit.xml')}", err=True)
            if "html" in formats:
                from lanprobe.report.html import write_html

                page = write_html(run, out_dir / "report.html", trend=trend(), diff=diff)
                typer.echo(f"wrote {page}", err=True)
        if "console" in formats:
            print_summary(run, sys.stdout)
        if diff is not None:
            from lanprobe.diff import render_text

            typer.echo(render_text(diff))

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

    async def main() -> ScanRun:
        run = await _scan_until_signal(
            lambda: scan(
                scope,
                options,
                profiles_dir=profiles,
                progress=ProgressPrinter(),
                discover_fn=_discover,
                checks=only or None,
                limits=Limits(
                    global_checks=max(1, concurrency),
                    per_device_checks=max(1, device_concurrency),
                ),
            )
        )
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

    if run.interrupted:
        typer.echo("scan interrupted: partial results written", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN)
    if fail_on == "never":
        raise typer.Exit(EXIT_OK)
    if fail_on == "regression":
        raise typer.Exit(EXIT_NONCONFORM if diff is not None and diff.regression else EXIT_OK)
    bad_devices = [k for k, s in run.scores.items() if s.verdict == DeviceVerdict.does_not_conform]
    raise typer.Exit(EXIT_NONCONFORM if bad_devices else EXIT_OK)


@app.command("checks")
def checks_command(
    as_json: _Annotated[bool, typer.Option("--json", help="Print the catalogue as JSON.")] = False,
) -> None:
    """The check catalogue: id, capability, 8259A elements, EN 303 645, OWASP IoT, severity."""
    import json as _json
    import sys

    from lanprobe.baseline import load_baseline
    from lanprobe.runner import load_catalogue

    catalogue, missing = load_catalogue()
    base = load_baseline()
    rows: list[dict[str, Any]] = []
    for cid in sorted(set(catalogue) | set(base.checks)):
        cdef = base.checks.get(cid)
        spec = catalogue.get(cid)
        rows.append(
            {
                "id": cid,
                "capability": (spec.capability if spec else cdef.capability).value,  # type: ignore[union-attr]
                "nistir_8259a": cdef.elements if cdef else [],
                "en_303_645": cdef.en_303_645 if cdef else [],
                "owasp_iot": cdef.owasp_iot if cdef else [],
                "severity": cdef.severity.value if cdef else "medium",
                "services": list(spec.services) if spec else [],
                "bench": bool(spec and spec.bench),
                "registered": spec is not None,
                "description": spec.description if spec else "",
            }
        )
    if as_json:
        typer.echo(_json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} checks, baseline {base.id} {base.version}")
    for col in ("id", "capability", "8259A", "EN 303 645", "OWASP IoT", "severity"):
        table.add_column(col)
    for row in rows:
        mark = "" if row["registered"] else " (not registered)"
        table.add_row(
            row["id"] + mark,
            row["capability"],
            ", ".join(row["nistir_8259a"]),
            ", ".join(row["en_303_645"]) or "-",
            ", ".join(row["owasp_iot"]) or "-",
            row["severity"],
        )
    Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160).print(table)
    if missing:
        typer.echo(f"note: check modules not present: {', '.join(missing)}", err=True)


profile_app = typer.Typer(help="Profile tooling: validate, init, schema.", no_args_is_help=True)
app.add_typer(profile_app, name="profile")


@profile_app.command("validate")
def profile_validate_command(
    files: _Annotated[
        list[_Path] | None, typer.Argument(help="Profile files (default: all under --profiles).")
    ] = None,
    profiles: _Annotated[
        _Path | None, typer.Option("--profiles", help="Profiles directory (for extends by id).")
    ] = None,
) -> None:
    """Validate profiles; each error reads file:line: field: message. Exit 0 valid, 2 invalid."""
    from lanprobe.errors import ProfileError
    from lanprobe.profiles import ProfileIndex, load_profiles, validate_files

    paths = list(files or [])
    if not paths:
        root = profiles or _Path("profiles")
        paths = ProfileIndex(root).files()
        if not paths:
            typer.echo(f"error: no profiles under {root}", err=True)
            raise typer.Exit(EXIT_USAGE)
        try:
            load_profiles(root)  # duplicate ids across files
        except ProfileError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(EXIT_USAGE) from exc
    errors = validate_files(paths, profiles)
    for err in errors:
        typer.echo(err, err=True)
    typer.echo(f"{len(paths) - len(errors)} valid, {len(errors)} invalid", err=True)
    raise typer.Exit(EXIT_USAGE if errors else EXIT_OK)


@profile_app.command("init")
def profile_init_command(
    run_json: _Annotated[_Path, typer.Option("--run", help="run.json of a scan of the unit.")],
    device: _Annotated[str, typer.Option("--device", help="The unit's MAC (or key, or IP).")],
    out: _Annotated[
        _Path | None, typer.Option("--out", help="Write the YAML here (default: stdout).")
    ] = None,
    profile_id: _Annotated[
        str, typer.Option("--id", help="Profile id (default: vendor-model).")
    ] = "",
) -> None:
    """Write a starting profile from a known-good unit (ports, services, mDNS, TLS ports)."""
    from lanprobe.errors import ProbeError
    from lanprobe.model import ScanRun
    from lanprobe.profiles import profile_from_device

    try:
        run = ScanRun.read(run_json)
    except (ProbeError, OSError, ValueError) as exc:
        typer.echo(f"error: {run_json}: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    want = device.lower().replace("-", ":")
    dev = next(
        (d for d in run.devices if want in ((d.mac or "").lower(), d.key.lower(), *d.ips)), None
    )
    if dev is None:
        known = ", ".join(d.mac or d.key for d in run.devices)
        typer.echo(f"error: no device {device} in {run_json} (known: {known})", err=True)
        raise typer.Exit(EXIT_USAGE)
    text = profile_from_device(dev, run_id=run.run_id, profile_id=profile_id)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


@profile_app.command("schema")
def profile_schema_command(
    out: _Annotated[
        _Path | None, typer.Option("--out", help="Write here (profiles/profile.schema.json).")
    ] = None,
) -> None:
    """Print (or write) the JSON Schema of a profile file."""
    from lanprobe.profiles import json_schema

    text = json_schema()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


# --- report, diff, history (probe/report, probe/diff.py, probe/store.py) ---------------------
# Heavy imports stay inside the commands so that `probe --help` stays fast.
import json  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated  # noqa: E402

_DB_HELP = (
    "history database: a path, or a SQLAlchemy URL (postgresql://...); "
    "default: $LANPROBE_DB or the user data dir"
)


def _fail_usage(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(EXIT_USAGE)


@app.command("report")
def report_command(
    run_json: Annotated[Path, typer.Argument(help="run.json of a scan")],
    out: Annotated[
        Path | None, typer.Option("--out", help="directory (default: beside run.json)")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="comma list of: html, junit")] = "html,junit",
    db: Annotated[str | None, typer.Option("--db", help=_DB_HELP)] = None,
    no_history: Annotated[
        bool, typer.Option("--no-history", help="no trend, no diff from the history")
    ] = False,
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="RUN.json or 'last': show what changed")
    ] = None,
    waivers: Annotated[
        Path | None, typer.Option("--waivers", help="waivers YAML for the diff")
    ] = None,
) -> None:
    """Write reports (HTML, JUnit) from a run.json; the trend comes from the history."""
    from lanprobe.diff import compare, load_baseline, load_waivers
    from lanprobe.errors import ProbeError
    from lanprobe.model import ScanRun
    from lanprobe.report.html import write_html
    from lanprobe.report.junit import write_junit
    from lanprobe.store import default_db_path, open_store

    formats = {f.strip() for f in fmt.split(",") if f.strip()}
    if not formats or formats - {"html", "junit"}:
        raise _fail_usage(ValueError(f"--format {fmt!r}: choose from html, junit"))
    try:
        run = ScanRun.read(run_json)
        out_dir = out or run_json.parent
        out_dir.mkdir(parents=True, exist_ok=True)
        trend, history = [], []
        # Read the default history only if it exists: a report never creates a database.
        if not no_history and (db or default_db_path().exists()):
            with open_store(db) as store:
                trend = [s for s in store.runs(30) if s.run_id != run.run_id]
                history = store.recent(10, before=run)
        diff = None
        if baseline:
            old = load_baseline(baseline, db=db, exclude=run.run_id)
            ws = load_waivers(waivers) if waivers else None
            diff = compare(
                old, run, history=[h for h in history if h.started < old.started], waivers=ws
            )
        if "junit" in formats:
            typer.echo(write_junit(run, out_dir / "junit.xml"))
        if "html" in formats:
            typer.echo(write_html(run, out_dir / "report.html", trend=trend, diff=diff))
    except (ProbeError, OSError, ValueError) as exc:
        raise _fail_usage(exc) from exc


@app.command("diff")
def diff_command(
    old: Annotated[Path, typer.Argument(help="the earlier run.json")],
    new: Annotated[Path, typer.Argument(help="the later run.json")],
    waivers: Annotated[
        Path | None, typer.Option("--waivers", help="waivers YAML: accepted failures")
    ] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="read flapping checks from this history")
    ] = None,
    history_runs: Annotated[
        int, typer.Option("--history-runs", help="runs of history for flapping")
    ] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print the diff as JSON")] = False,
) -> None:
    """Compare two runs; exit 1 on a regression (new failure, expired waiver, device gone)."""
    from lanprobe.diff import compare, load_waivers, render_text
    from lanprobe.errors import ProbeError
    from lanprobe.model import ScanRun
    from lanprobe.store import open_store

    try:
        old_run, new_run = ScanRun.read(old), ScanRun.read(new)
        ws = load_waivers(waivers) if waivers else None
        history = []
        if db:
            with open_store(db) as store:
                history = store.recent(history_runs, before=old_run)
        diff = compare(old_run, new_run, history=history, waivers=ws)
    except (ProbeError, OSError, ValueError) as exc:
        raise _fail_usage(exc) from exc
    if as_json:
        typer.echo(
            json.dumps({**diff.model_dump(mode="json"), "regression": diff.regression}, indent=2)
        )
    else:
        typer.echo(render_text(diff), nl=False)
    raise typer.Exit(EXIT_NONCONFORM if diff.regression else EXIT_OK)


@app.command("history")
def history_command(
    db: Annotated[str | None, typer.Option("--db", help=_DB_HELP)] = None,
    limit: Annotated[int, typer.Option("--limit", help="how many runs")] = 20,
    add: Annotated[
        list[Path] | None, typer.Option("--add", help="store this run.json first")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
) -> None:
    """Past runs with their verdict counts, oldest first."""
    from lanprobe.errors import ProbeError
    from lanprobe.model import ScanRun
    from lanprobe.store import open_store

    try:
        with open_store(db) as store:
            for path in add or []:
                store.save(ScanRun.read(path))
            runs = store.runs(limit)
    except (ProbeError, OSError, ValueError) as exc:
        raise _fail_usage(exc) from exc
    if as_json:
        rows = [
            {
                **vars(s),
                "started": s.started.isoformat(),
                "finished": s.finished.isoformat() if s.finished else None,
            }
            for s in runs
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    if not runs:
        typer.echo("no runs stored yet")
        return
    head = (
        f"{'started (UTC)':<16} {'run':<24} {'dev':>3} {'conf':>4} {'nonc':>4} {'inc':>4}  "
        f"{'pass':>4} {'fail':>4} {'inc':>4} {'n/a':>4} {'err':>4}  score"
    )
    typer.echo(head)
    for s in runs:
        dv, v = s.device_verdicts, s.verdicts
        flags = (" interrupted" if s.interrupted else "") + (" partial" if s.partial else "")
        score = "-" if s.mean_score is None else f"{s.mean_score:5.1f}"
        typer.echo(
            f"{s.started:%Y-%m-%d %H:%M} {s.run_id[:24]:<24} {s.devices:>3} "
            f"{dv['conforms']:>4} {dv['does_not_conform']:>4} {dv['inconclusive']:>4}  "
            f"{v['pass']:>4} {v['fail']:>4} {v['inconclusive']:>4} {v['not_applicable']:>4} "
            f"{v['error']:>4}  {score}{flags}"
        )


if __name__ == "__main__":
    app()
