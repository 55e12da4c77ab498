"""`probe report`: HTML and JUnit reports from a run.json, with the history's trend."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from lanprobe.cli.common import DB_HELP, fail_usage


def report_command(
    run_json: Annotated[Path | None, typer.Argument(help="run.json of a scan")] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="directory (default: beside run.json); with --fleet, the HTML file"
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="comma list of: html, junit")] = "html,junit",
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None,
    no_history: Annotated[
        bool, typer.Option("--no-history", help="no trend, no diff from the history")
    ] = False,
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="RUN.json or 'last': show what changed")
    ] = None,
    waivers: Annotated[
        Path | None, typer.Option("--waivers", help="waivers YAML for the diff")
    ] = None,
    fleet: Annotated[
        bool,
        typer.Option("--fleet", help="one page over every bench in --db (no run.json)"),
    ] = False,
    report_url: Annotated[
        str,
        typer.Option(
            "--report-url",
            help="with --fleet: link to each run's report, with {run_id} and {bench} "
            "(e.g. a CI artifact URL), for runs that did not record where their report went "
            "(probe scan --report-url)",
        ),
    ] = "reports/{run_id}/report.html",
) -> None:
    """Write reports (HTML, JUnit) from a run.json; the trend comes from the history.

    `--fleet --db URL --out FILE`: one page over every bench that writes to the history.
    """
    if fleet:
        _fleet_report(db, out, report_url)
        return
    if run_json is None:
        raise fail_usage(ValueError("give a run.json, or --fleet --db URL --out FILE"))
    from lanprobe.diff import compare, load_baseline, load_waivers
    from lanprobe.errors import ProbeError
    from lanprobe.model import ScanRun
    from lanprobe.report.html import write_html
    from lanprobe.report.junit import write_junit
    from lanprobe.store import default_db_path, open_store

    formats = {f.strip() for f in fmt.split(",") if f.strip()}
    if not formats or formats - {"html", "junit"}:
        raise fail_usage(ValueError(f"--format {fmt!r}: choose from html, junit"))
    try:
        run = ScanRun.read(run_json)
        out_dir = out or run_json.parent
        out_dir.mkdir(parents=True, exist_ok=True)
        trend, history, units = [], [], []
        # Read the default history only if it exists: a report never creates a database.
        if not no_history and (db or default_db_path().exists()):
            with open_store(db) as store:
                trend, units = store.report_history(run)
                trend = [s for s in trend if s.run_id != run.run_id]
                history = store.history_before(run, 10)
        diff = None
        if baseline:
            try:
                old = load_baseline(
                    baseline,
                    db=db,
                    exclude=run.run_id,
                    scope=run.scope,
                    bench=run.bench,
                    before=run.started,
                )
            except ProbeError as exc:
                raise ProbeError(f"--baseline {baseline}: {exc}") from exc
            ws = load_waivers(waivers) if waivers else None
            diff = compare(
                old, run, history=[h for h in history if h.started < old.started], waivers=ws
            )
        if "junit" in formats:
            typer.echo(write_junit(run, out_dir / "junit.xml"))
        if "html" in formats:
            page = write_html(run, out_dir / "report.html", trend=trend, diff=diff, history=units)
            typer.echo(page)
    except (ProbeError, OSError, ValueError) as exc:
        raise fail_usage(exc) from exc


def _fleet_report(db: str | None, out: Path | None, report_url: str) -> None:
    from lanprobe.errors import ProbeError
    from lanprobe.fleet import build_fleet
    from lanprobe.report.fleet_html import write_fleet
    from lanprobe.store import default_db_path, open_store, safe_source

    if out is None or out.is_dir():
        raise fail_usage(ValueError("--fleet needs --out FILE (the HTML page to write)"))
    if "{run_id}" not in report_url and "{bench}" not in report_url:
        raise fail_usage(ValueError(f"--report-url {report_url!r} has no {{run_id}} or {{bench}}"))
    source = db or str(default_db_path())
    try:
        if not db and not default_db_path().exists():
            raise ProbeError(f"{source}: no history here (give --db)")
        with open_store(db) as store:
            fleet = build_fleet(store, report_url=report_url)
        out.parent.mkdir(parents=True, exist_ok=True)
        typer.echo(write_fleet(fleet, out, source=safe_source(source)))
    except (ProbeError, OSError, ValueError, KeyError) as exc:
        raise fail_usage(exc) from exc
