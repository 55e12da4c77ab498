"""`probe history`: past runs with their verdict counts, filtered by bench, model, firmware,
check and date; `probe history prune --keep-days N` keeps the store bounded."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from lanprobe.cli.common import DB_HELP, fail_usage

history_app = typer.Typer(
    help="Past runs with their verdict counts, oldest first; `prune` deletes old runs.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def _date(text: str | None, option: str) -> datetime | None:
    """An ISO date or date-time (UTC unless it says otherwise)."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise fail_usage(ValueError(f"{option} {text!r}: use YYYY-MM-DD[THH:MM]")) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _json_row(obj: Any) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in vars(obj).items()}


@history_app.callback()
def history_command(
    ctx: typer.Context,
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None,
    limit: Annotated[int, typer.Option("--limit", help="how many runs (or rows)")] = 20,
    add: Annotated[
        list[Path] | None, typer.Option("--add", help="store this run.json first")
    ] = None,
    bench: Annotated[str | None, typer.Option("--bench", help="only this bench")] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="only runs with this model (profile id or name)")
    ] = None,
    firmware: Annotated[
        str | None, typer.Option("--firmware", help="only runs with this firmware (with --model)")
    ] = None,
    check: Annotated[
        str | None,
        typer.Option("--check", help="list this check's verdicts, device by device, run by run"),
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="started on or after (ISO)")] = None,
    until: Annotated[str | None, typer.Option("--until", help="started before (ISO)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
) -> None:
    """Past runs with their verdict counts, oldest first (or one check's verdicts: --check)."""
    if ctx.invoked_subcommand is not None:
        return
    from lanprobe.errors import ProbeError
    from lanprobe.model import ScanRun
    from lanprobe.store import RunFilter, open_store

    where = RunFilter(
        bench=bench,
        model=model,
        firmware=firmware,
        since=_date(since, "--since"),
        until=_date(until, "--until"),
    )
    try:
        with open_store(db) as store:
            for path in add or []:
                store.save(ScanRun.read(path))
            if check:
                rows: list[Any] = store.check_history(check, where, limit=limit)
            else:
                rows = store.runs(limit, where=where)
    except (ProbeError, OSError, ValueError) as exc:
        raise fail_usage(exc) from exc
    if as_json:
        typer.echo(json.dumps([_json_row(r) for r in rows], indent=2))
        return
    if not rows:
        typer.echo("no runs stored yet" if where == RunFilter() else "no run matches")
        return
    if check:
        _print_check_rows(rows)
    else:
        _print_runs(rows)


def _print_runs(runs: list[Any]) -> None:
    # dev/conf/nonc/d.inc count devices (all, conforming, not, inconclusive); pass..err count
    # results. Each header names one column (two were headed `inc`).
    bench_w = max(5, *(len(s.bench) for s in runs))
    typer.echo(
        f"{'started (UTC)':<16} {'run':<24} {'dev':>3} {'conf':>4} {'nonc':>4} {'d.inc':>5}  "
        f"{'pass':>4} {'fail':>4} {'inc':>4} {'n/a':>4} {'err':>4}  score  "
        f"{'bench':<{bench_w}}  scope"
    )
    for s in runs:
        dv, v = s.device_verdicts, s.verdicts
        flags = (" interrupted" if s.interrupted else "") + (" partial" if s.partial else "")
        score = "-" if s.mean_score is None else f"{s.mean_score:5.1f}"
        typer.echo(
            f"{s.started:%Y-%m-%d %H:%M} {s.run_id[:24]:<24} {s.devices:>3} "
            f"{dv['conforms']:>4} {dv['does_not_conform']:>4} {dv['inconclusive']:>5}  "
            f"{v['pass']:>4} {v['fail']:>4} {v['inconclusive']:>4} {v['not_applicable']:>4} "
            f"{v['error']:>4}  {score:>5}  {s.bench or '-':<{bench_w}}  {s.scope or '-'}{flags}"
        )


def _print_check_rows(rows: list[Any]) -> None:
    from lanprobe.labels import target_label
    from lanprobe.model import Target

    typer.echo(
        f"{'started (UTC)':<16} {'bench':<12} {'run':<14} {'device':<18} {'model':<16} "
        f"{'firmware':<10} {'target':<16} verdict"
    )
    for r in rows:
        target = target_label(Target(port=r.port, transport=r.transport, service=r.service))
        typer.echo(
            f"{r.started:%Y-%m-%d %H:%M} {r.bench[:12] or '-':<12} {r.run_id[:14]:<14} "
            f"{r.device[:18]:<18} {(r.profile or r.model)[:16] or '-':<16} "
            f"{r.firmware[:10] or '-':<10} {target[:16] or '-':<16} {r.verdict}"
        )


@history_app.command("prune")
def prune_command(
    keep_days: Annotated[
        int, typer.Option("--keep-days", help="delete runs started more than N days ago")
    ],
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None,
) -> None:
    """Delete old runs (each bench's newest run is kept, whatever its age)."""
    from lanprobe.errors import ProbeError
    from lanprobe.store import open_store

    try:
        with open_store(db) as store:
            gone = store.prune(keep_days)
            left = store.count()
    except (ProbeError, OSError) as exc:
        raise fail_usage(exc) from exc
    typer.echo(f"pruned {len(gone)} run(s) older than {keep_days} days; {left} left")
