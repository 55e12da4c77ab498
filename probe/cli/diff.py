"""`probe diff`: what changed between two runs; exit 1 on a regression."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from lanprobe.cli.common import EXIT_NONCONFORM, EXIT_OK, fail_usage


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
        raise fail_usage(exc) from exc
    if as_json:
        typer.echo(
            json.dumps({**diff.model_dump(mode="json"), "regression": diff.regression}, indent=2)
        )
    else:
        typer.echo(render_text(diff), nl=False)
    raise typer.Exit(EXIT_NONCONFORM if diff.regression else EXIT_OK)
