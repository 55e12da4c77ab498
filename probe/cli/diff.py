"""`probe diff`: what changed between two runs; exit 1 on a regression."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from lanprobe.cli.common import EXIT_NONCONFORM, EXIT_OK, fail_usage

if TYPE_CHECKING:
    from lanprobe.diff import Diff


def diff_command(
    old: Annotated[Path | None, typer.Argument(help="the earlier run.json")] = None,
    new: Annotated[Path | None, typer.Argument(help="the later run.json")] = None,
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
    model: Annotated[
        str | None,
        typer.Option("--model", help="across the history (--db): this model (profile id or name)"),
    ] = None,
    bench: Annotated[
        str | None, typer.Option("--bench", help="with --model: the (old side's) bench")
    ] = None,
    to_bench: Annotated[
        str | None, typer.Option("--to-bench", help="with --model: compare against this bench")
    ] = None,
    firmware: Annotated[
        str | None, typer.Option("--firmware", help="with --model: the new firmware build")
    ] = None,
    from_firmware: Annotated[
        str | None,
        typer.Option(
            "--from-firmware", help="with --firmware: the old build (default: the one before)"
        ),
    ] = None,
) -> None:
    """Compare two runs; exit 1 on a regression (new failure, expired waiver, device gone).

    Across benches, from the history: `--model M --bench A --to-bench B` (the same model on
    two benches), `--model M --firmware N [--from-firmware N-1] [--bench A]` (two builds).
    """
    from lanprobe.diff import compare, load_waivers, render_text
    from lanprobe.errors import ProbeError
    from lanprobe.model import ScanRun
    from lanprobe.store import open_store

    try:
        ws = load_waivers(waivers) if waivers else None
        if model is not None:
            diff = _across(db, model, bench, to_bench, firmware, from_firmware)
        else:
            if old is None or new is None:
                raise ValueError("give OLD.json NEW.json, or --model with --db (see --help)")
            old_run, new_run = ScanRun.read(old), ScanRun.read(new)
            history = []
            if db:
                with open_store(db) as store:
                    history = store.history_before(old_run, history_runs)
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


def _across(
    db: str | None,
    model: str,
    bench: str | None,
    to_bench: str | None,
    firmware: str | None,
    from_firmware: str | None,
) -> Diff:
    """A model's diff between two selections of the history (probe/fleet.py)."""
    from lanprobe.fleet import compare_across, previous_firmware
    from lanprobe.store import RunFilter, open_store

    if not db:
        raise ValueError("--model compares runs in a history: give --db")
    if (to_bench is None) == (firmware is None):
        raise ValueError("--model needs --to-bench (two benches) or --firmware (two builds)")
    with open_store(db) as store:
        if to_bench is not None:
            if not bench:
                raise ValueError("--to-bench needs --bench (the bench to compare it with)")
            return compare_across(store, model, RunFilter(bench=bench), RunFilter(bench=to_bench))
        assert firmware is not None
        old_fw = from_firmware or previous_firmware(store, model, firmware, bench)
        return compare_across(
            store,
            model,
            RunFilter(bench=bench, firmware=old_fw),
            RunFilter(bench=bench, firmware=firmware),
        )
