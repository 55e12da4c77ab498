"""`probe profile validate|init|schema`: profile tooling."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from lanprobe.cli.common import EXIT_OK, EXIT_USAGE

profile_app = typer.Typer(help="Profile tooling: validate, init, schema.", no_args_is_help=True)


@profile_app.command("validate")
def profile_validate_command(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Profile files (default: all under --profiles, else the built-in)."),
    ] = None,
    profiles: Annotated[
        Path | None,
        typer.Option("--profiles", help="Your profiles directory (over the built-in profiles)."),
    ] = None,
) -> None:
    """Validate profiles; each error reads file:line: field: message. Exit 0 valid, 2 invalid."""
    from lanprobe.errors import ProfileError
    from lanprobe.paths import BUILTIN_PROFILES
    from lanprobe.profiles import ProfileIndex, load_profiles, validate_files

    paths = list(files or [])
    if not paths:
        root = profiles or BUILTIN_PROFILES
        paths = ProfileIndex.files_of(root)
        if not paths:
            typer.echo(f"error: no profiles under {root}", err=True)
            raise typer.Exit(EXIT_USAGE)
        try:
            load_profiles(profiles)  # duplicate ids across files
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
    run_json: Annotated[Path, typer.Option("--run", help="run.json of a scan of the unit.")],
    device: Annotated[str, typer.Option("--device", help="The unit's MAC (or key, or IP).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the YAML here (default: stdout).")
    ] = None,
    profile_id: Annotated[
        str, typer.Option("--id", help="Profile id (default: vendor-model).")
    ] = "",
    pin: Annotated[
        bool,
        typer.Option("--pin", help="Also match this unit by its MAC (a bench's own units)."),
    ] = False,
) -> None:
    """Write a starting profile from a known-good unit: its ports, TLS, firmware, the strongest
    identifiers it showed (said on stderr), and per port whether it asked for credentials."""
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
    draft = profile_from_device(
        dev, results=run.results, run_id=run.run_id, profile_id=profile_id, pin=pin
    )
    said = "; ".join(draft.identifiers) or "nothing"
    typer.echo(f"matched by ({draft.strength}): {said}", err=True)
    for note in draft.notes:
        typer.echo(f"note: {note}", err=True)
    if out is None:
        typer.echo(draft.text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(draft.text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


@profile_app.command("schema")
def profile_schema_command(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write here (profiles/profile.schema.json).")
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
