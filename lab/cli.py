"""`probe lab up|status|down`: the virtual test bench."""

from __future__ import annotations

import typer

lab_app = typer.Typer(
    help="Build, inspect and remove the virtual test bench.", no_args_is_help=True
)
