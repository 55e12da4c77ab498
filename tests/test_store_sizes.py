"""scripts/store_sizes.py: README's sizes per stored run come from a command anyone can run
(they were measured once by hand), on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.pg import fresh_database
from tests.report.runs import sample_run

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "store_sizes.py"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.realsw)]


def _sizes(*args: str) -> dict[str, int | str]:
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def _new_db(backend: str, request: pytest.FixtureRequest, tmp_path: Path, name: str) -> str:
    if backend == "sqlite":
        return str(tmp_path / f"{name}.sqlite")
    return fresh_database(request.getfixturevalue("pg_url"), f"sz_{uuid.uuid4().hex[:8]}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_sizes_per_run_are_measured_from_a_run(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    run = sample_run("sizes")  # 5 devices, 18 results
    run_json = tmp_path / "run.json"
    run.write(run_json)
    small_db = _new_db(backend, request, tmp_path, "small")
    small = _sizes(str(run_json), "--copies", "6", "--db", small_db)
    assert (small["backend"], small["devices"], small["results"], small["runs"]) == (
        "sqlite" if backend == "sqlite" else "postgresql", 5, 18, 6)  # fmt: skip
    assert small["run_json_bytes"] == len(run.to_json().encode())
    per_run = int(small["bytes_per_run"])
    if backend == "sqlite":  # run.json is kept whole, beside its rows
        assert per_run > int(small["run_json_bytes"])
    else:  # TOAST compresses it
        assert per_run > 0
    big = _sizes(str(run_json), "--copies", "6", "--devices", "50",
                 "--db", _new_db(backend, request, tmp_path, "big"))  # fmt: skip
    assert (big["devices"], big["results"]) == (50, 180)
    # Ten times the devices and results; PostgreSQL's 8 kB pages make it coarse over 6 runs.
    assert int(big["bytes_per_run"]) > 2 * per_run
    # The same history read back: its mean per run, the store's whole size shared out.
    held = _sizes("--db", small_db)
    assert held["runs"] == 6  # each copy's run.json differs from the file in its run id only
    assert abs(int(held["run_json_bytes"]) - int(small["run_json_bytes"])) < 100
    assert int(held["bytes_per_run"]) >= per_run


def test_a_history_that_holds_runs_is_not_measured_into(tmp_path: Path) -> None:
    run_json = tmp_path / "run.json"
    sample_run("sizes").write(run_json)
    _sizes(str(run_json), "--copies", "1", "--db", str(tmp_path / "h.sqlite"))
    done = subprocess.run([sys.executable, str(SCRIPT), str(run_json), "--db",
                           str(tmp_path / "h.sqlite")], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 2 and "exists; give a path for a new history" in done.stderr


def test_readme_says_how_its_sizes_are_measured() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "scripts/store_sizes.py" in text and "--devices 50" in text
