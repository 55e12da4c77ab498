"""`probe history`: past runs with their verdict counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from lanprobe.cli.common import DB_HELP, fail_usage


def history_command(
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None,
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
        raise fail_usage(exc) from exc
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
