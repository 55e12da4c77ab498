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


if __name__ == "__main__":
    app()
