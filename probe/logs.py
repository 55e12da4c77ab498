"""Logging through the standard library: what was sent where, and why a verdict was reached.

Every module logs to `logging.getLogger(__name__)` (names under `lanprobe.`); nothing is shown
unless the CLI (or a caller) sets it up here: `-v` shows each verdict with its reason (INFO),
`-vv` also each request sent (DEBUG: HTTP requests, nmap command lines, check starts).
`--log-file PATH` writes the records to a file instead of stderr, `--log-json` as JSON lines.
Records may carry structured fields (`extra={"fields": {...}}`): the JSON lines keep them.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = "lanprobe"
LEVELS = {0: logging.WARNING, 1: logging.INFO}  # 2 and more: DEBUG


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup(verbosity: int = 0, log_file: Path | None = None, json_lines: bool = False) -> None:
    """Send lanprobe's records at the chosen level to stderr or `log_file` (replaces an earlier
    set-up, so that repeated CLI invocations in one process do not stack handlers)."""
    logger = logging.getLogger(ROOT)
    for old in list(logger.handlers):
        if getattr(old, "_lanprobe", False):
            logger.removeHandler(old)
            old.close()
    if verbosity == 0 and log_file is None and not json_lines:
        logger.setLevel(logging.NOTSET)  # nothing asked for: Python's defaults (warnings)
        return
    level = LEVELS.get(verbosity, logging.DEBUG)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(log_file, encoding="utf-8")
        if verbosity == 0:
            level = logging.INFO  # a log file asked for: at least the verdicts
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler._lanprobe = True  # type: ignore[attr-defined]
    if json_lines:
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(level)
    logger.addHandler(handler)
    logger.setLevel(level)
