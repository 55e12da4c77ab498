"""The `probe` command line (typer): lab, gateway, discover, scan, report, diff, history, profile,
checks.

Exit codes are a contract (probe/cli/common.py, docs/architecture.md): 0 every device conforms
(or --fail-on never), 1 a device does not conform or a regression, 2 usage or scope error,
3 the scan itself could not run (no privileges, nmap missing), 4 the scan ran but some checks
broke (`error` results).

Each command lives in its own module; heavy imports (engine, pydantic, httpx, scapy, the lab)
stay inside the command functions so that `probe --help` stays fast
(tests/test_cli_imports.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from lanprobe.cli import checks, diff, discover, gateway, history, lab, profile, report, scan
from lanprobe.cli.common import (
    EXIT_CANNOT_RUN,
    EXIT_CODES_HELP,
    EXIT_ERRORS,
    EXIT_NONCONFORM,
    EXIT_OK,
    EXIT_USAGE,
)

__all__ = ["EXIT_CANNOT_RUN", "EXIT_ERRORS", "EXIT_NONCONFORM", "EXIT_OK", "EXIT_USAGE", "app"]

app = typer.Typer(
    help="lanprobe: scan an IoT test bench and score each device against NIST IR 8259A.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main(
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose", "-v", count=True, help="-v: each verdict and why; -vv: also each request."
        ),
    ] = 0,
    log_file: Annotated[
        Path | None, typer.Option("--log-file", help="Write the log here instead of stderr.")
    ] = None,
    log_json: Annotated[
        bool, typer.Option("--log-json", help="Log as JSON lines (one object per record).")
    ] = False,
) -> None:
    """lanprobe: scan an IoT test bench and score each device against NIST IR 8259A."""
    import logging
    import sys

    from lanprobe import logs

    logs.setup(verbose, log_file, log_json)
    logging.getLogger(__name__).debug(
        "probe %s", " ".join(sys.argv[1:]), extra={"fields": {"event": "start"}}
    )


app.add_typer(lab.lab_app, name="lab")
app.add_typer(gateway.gateway_app, name="gateway")
app.command("discover")(discover.discover_command)
app.command("scan", epilog=EXIT_CODES_HELP)(scan.scan_command)
app.command("checks")(checks.checks_command)
app.add_typer(profile.profile_app, name="profile")
app.command("report")(report.report_command)
app.command("diff")(diff.diff_command)
app.add_typer(history.history_app, name="history")
