"""The `probe` CLI stays light: `probe --help` (and loading the app) imports no engine, no lab,
no heavy library; commands import what they need when they run."""

from __future__ import annotations

import subprocess
import sys

# pydantic is left out: typer itself loads it to coerce a sub-command's options.
HEAVY = (
    "lanprobe.model",
    "lanprobe.runner",
    "lanprobe.discovery",
    "lanprobe.checks.context",
    "lanprobe.lab.bench",
    "lanprobe.store",
    "httpx",
    "scapy",
    "sqlalchemy",
    "yaml",
)


def test_cli_help_imports_no_engine() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from lanprobe.cli import app\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        "assert 'pydantic' not in sys.modules\n"
        "for cmd in ('scan', 'discover', 'lab', 'profile', 'report', 'history'):\n"
        "    args = [cmd, '--help']\n"
        "    result = CliRunner().invoke(app, args)\n"
        "    assert result.exit_code == 0, (args, result.output)\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_cli_has_every_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "lanprobe.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for name in ("lab", "discover", "scan", "report", "diff", "history", "profile", "checks"):
        assert name in out, out
