#!/usr/bin/env python3
"""The history's size per stored run, as README's "Many benches" gives it: reproducible.

    .venv/bin/python scripts/store_sizes.py RUN.json [--devices 50] [--copies 20] [--db DB]
    .venv/bin/python scripts/store_sizes.py --db DB

With RUN.json (a real scan's run.json): the run is stored --copies times into a new history
(a temporary SQLite file, or --db: a SQLite path that does not exist yet, or an empty PostgreSQL
database) and the store's growth per run is printed; --devices N first repeats the run's devices
(each copy with its own key, MAC and results) up to N, for a bigger bench. README's figures:
a real 3-device lab run, then the same with --devices 50, each on SQLite and PostgreSQL.
Without RUN.json: the mean size per run of the existing history at --db. Sizes are what the
store takes on disk (`Store.size_bytes`: SQLite's pages after a VACUUM, PostgreSQL's tables with
indexes and TOAST).
One JSON object per line on stdout. Nothing is sent on any network.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from lanprobe.model import ScanRun
from lanprobe.store import is_url, open_store


def _backend(db: str) -> str:
    return "postgresql" if is_url(db) and not db.startswith("sqlite") else "sqlite"


def scaled(run: ScanRun, devices: int) -> ScanRun:
    """`run` with its devices repeated up to `devices`, each copy re-keyed with its results and
    score (a bench of that many units of the same models)."""
    out = run.model_copy(deep=True)
    if devices <= len(run.devices) or not run.devices:
        return out
    for n in range(len(run.devices), devices):
        dev = run.devices[n % len(run.devices)].model_copy(deep=True)
        old, key = dev.key, f"02:5a:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}:00"
        dev.key, dev.mac = key, key
        dev.ips = [f"198.18.{n >> 8 & 255}.{n & 255}"]
        out.devices.append(dev)
        out.results.extend(
            r.model_copy(update={"device": key}, deep=True) for r in run.results if r.device == old
        )
        if old in run.scores:
            out.scores[key] = run.scores[old].model_copy(deep=True)
    return out


def growth_per_run(run: ScanRun, db: str, copies: int) -> dict[str, Any]:
    """Store `copies` copies of `run` into the new history at `db`: its growth per run."""
    with open_store(db) as store:
        if store.count():
            raise SystemExit(f"{db}: holds runs already; give a new or empty database")
        empty = store.size_bytes()
        for i in range(copies):
            copy = run.model_copy(deep=True)
            copy.run_id = f"{run.run_id}-size-{i}"
            copy.started = run.started + timedelta(minutes=i)
            store.save(copy)
        full = store.size_bytes()
    return {
        "backend": _backend(db),
        "devices": len(run.devices),
        "results": len(run.results),
        "runs": copies,
        "bytes_per_run": round((full - empty) / copies),
        "run_json_bytes": len(run.to_json().encode()),
    }


def history_per_run(db: str) -> dict[str, Any]:
    """The mean size per run of an existing history."""
    with open_store(db) as store:
        runs = store.count()
        if not runs:
            raise SystemExit(f"{db}: no runs stored")
        size = store.size_bytes()
        summaries = store.runs(runs, complete_only=False)
    return {
        "backend": _backend(db),
        "runs": runs,
        "bytes": size,
        "bytes_per_run": round(size / runs),
        "run_json_bytes": round(sum(s.json_bytes for s in summaries) / runs),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_json", nargs="?", type=Path, help="a scan's run.json")
    ap.add_argument("--devices", type=int, default=0, help="repeat the devices up to N")
    ap.add_argument("--copies", type=int, default=20, help="runs to store (default 20)")
    ap.add_argument("--db", default="", help="SQLite path or postgresql:// URL")
    args = ap.parse_args(argv)
    if args.run_json is None:
        if not args.db:
            ap.error("give RUN.json, or --db with an existing history")
        print(json.dumps(history_per_run(args.db)))
        return 0
    if args.copies < 1:
        ap.error("--copies must be 1 or more")
    run = scaled(ScanRun.read(args.run_json), args.devices)
    if args.db:
        if not is_url(args.db) and Path(args.db).exists():
            ap.error(f"--db {args.db}: exists; give a path for a new history")
        print(json.dumps(growth_per_run(run, args.db, args.copies)))
        return 0
    with tempfile.TemporaryDirectory(prefix="lanprobe-sizes-") as tmp:
        print(json.dumps(growth_per_run(run, str(Path(tmp) / "h.sqlite"), args.copies)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
