"""run.json: the ScanRun as JSON (schema_version 1), written atomically."""

from __future__ import annotations

from pathlib import Path

from lanprobe.model import ScanRun

RUN_FILE = "run.json"


def write_json(run: ScanRun, out_dir: Path) -> Path:
    """Write `out_dir/run.json`, making the directory; a write cut short leaves the old file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RUN_FILE
    run.write(path)
    return path


def read_json(path: Path) -> ScanRun:
    """Read a run.json (or a directory holding one)."""
    if path.is_dir():
        path = path / RUN_FILE
    return ScanRun.read(path)
