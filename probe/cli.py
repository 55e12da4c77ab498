"""The `probe` command line (typer). Exit codes are a contract (docs/architecture.md):

0 every device conforms (or --fail-on never), 1 a device does not conform or a regression,
2 usage or scope error, 3 the scan itself could not run (no privileges, nmap missing).
"""

from __future__ import annotations

import typer

from lab.cli import lab_app

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


# --- scan, checks, profile (probe/runner.py, checks/, probe/profiles.py) ---------------------


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
    from probe.diff import compare, load_baseline, load_waivers
    from probe.errors import ProbeError
    from probe.model import ScanRun
    from probe.report.html import write_html
    from probe.report.junit import write_junit
    from probe.store import default_db_path, open_store

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
    from probe.diff import compare, load_waivers, render_text
    from probe.errors import ProbeError
    from probe.model import ScanRun
    from probe.store import open_store

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
    from probe.errors import ProbeError
    from probe.model import ScanRun
    from probe.store import open_store

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
