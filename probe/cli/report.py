"""`probe report`: HTML and JUnit reports from a run.json, with the history's trend."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from lanprobe.cli.common import DB_HELP, fail_usage


def report_command(
    run_json: Annotated[Path, typer.Argument(help="run.json of a scan")],
    out: Annotated[
        Path | None, typer.Option("--out", help="directory (default: beside run.json)")
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
        raise fail_usage(ValueError(f"--format {fmt!r}: choose from html, junit"))
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
            old = load_baseline(
                baseline, db=db, exclude=run.run_id, scope=run.scope, bench=run.bench
            )
            ws = load_waivers(waivers) if waivers else None
            diff = compare(
                old, run, history=[h for h in history if h.started < old.started], waivers=ws
            )
        if "junit" in formats:
            typer.echo(write_junit(run, out_dir / "junit.xml"))
        if "html" in formats:
            typer.echo(write_html(run, out_dir / "report.html", trend=trend, diff=diff))
    except (ProbeError, OSError, ValueError) as exc:
        raise fail_usage(exc) from exc
