"""History store migrations: a store written by release 0.1.0 (tests/store_v010.py, that
release's probe/store.py) opens in this release, on SQLite and on a real PostgreSQL, with its
runs whole and the new columns filled from each stored run.json; a migrated store has the same
schema as a new one; several processes opening an old store at once migrate it once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from lanprobe.errors import ProbeError
from lanprobe.model import Identifier
from lanprobe.store import STORE_VERSION, RunFilter, open_store

from tests import store_v010
from tests.pg import fresh_database
from tests.report.runs import T0, sample_run

ROOT = Path(__file__).resolve().parents[1]


# PostgreSQL is real software run in processes of its own: its tests are `realsw`.
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.realsw)]


@pytest.fixture(params=BACKENDS)
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all, on each backend."""
    if request.param == "sqlite":
        yield str(tmp_path / "history.sqlite")
        return
    yield fresh_database(request.getfixturevalue("pg_url"), f"mig_{uuid.uuid4().hex[:8]}")


def _old_runs() -> list:
    runs = []
    for i, fw in enumerate(["1.0.3", "1.0.3", "1.1.0"]):
        run = sample_run(f"old-{i}", started=T0 + timedelta(days=i))
        cam = run.devices[0]
        cam.identifiers["fw"] = Identifier(value=fw, source="mdns")
        if i == 2:  # a run.json that says where its report went (0.1.0 stored it whole)
            run.report_url = "https://ci.example/jobs/3/report.html"
        runs.append(run)
    return runs


def _write_with_010(db: str) -> list:
    runs = _old_runs()
    with store_v010.open_store(db) as st:
        for r in runs:
            st.save(r)
    return runs


def _schema(db: str) -> dict[str, list[str]]:
    """Table -> sorted column names (and index names), as the database reports them."""
    with open_store(db) as st:
        q = st._db.query
        if db.startswith("postgres"):
            cols = q(
                "SELECT table_name AS t, column_name AS c FROM information_schema.columns "
                "WHERE table_schema = 'public'"
            )
            idx = q(
                "SELECT tablename AS t, indexname AS c FROM pg_indexes WHERE schemaname='public'"
            )
        else:
            cols = []
            for t in ("meta", "runs", "device_runs", "results"):
                cols += [{"t": t, "c": r["name"]} for r in q(f"PRAGMA table_info({t})")]
            idx = q("SELECT tbl_name AS t, name AS c FROM sqlite_master WHERE type = 'index'")
    out: dict[str, list[str]] = {}
    for row in cols + [{"t": r["t"], "c": "index:" + r["c"]} for r in idx]:
        out.setdefault(row["t"], []).append(row["c"])
    return {t: sorted(c) for t, c in out.items()}


def test_store_of_release_010_opens_migrated(empty_db: str) -> None:
    runs = _write_with_010(empty_db)
    with open_store(empty_db) as st:
        assert st.version() == STORE_VERSION == 4
        assert [s.run_id for s in st.runs()] == ["old-0", "old-1", "old-2"]
        assert st.load("old-1") == runs[1]  # the whole run comes back, equal
        assert st.check_consistency() == []
        # Backfilled from the stored run.json: model and firmware the units showed.
        rows = st.device_history(RunFilter(model="acme-ipcam200"))
        assert [(r.run_id, r.model, r.firmware) for r in rows] == [
            ("old-0", "ACME-IPCAM200", "1.0.3"),
            ("old-1", "ACME-IPCAM200", "1.0.3"),
            ("old-2", "ACME-IPCAM200", "1.1.0"),
        ]
        assert {r.profile_version for r in rows} == {"3"}
        assert [s.run_id for s in st.runs(where=RunFilter(firmware="1.1.0"))] == ["old-2"]
        assert all(s.bench == "" and s.json_bytes > 1000 for s in st.runs())
        # v3: the scope of each run, from its run.json.
        assert {s.scope for s in st.runs()} == {"lab plab0 198.18.0.0/24"}
        # v4: the report URL a run recorded, for the fleet page and a unit's history links.
        assert [s.report_url for s in st.runs()] == [
            "",
            "",
            "https://ci.example/jobs/3/report.html",
        ]
        assert [r.report_url for r in rows][-1] == "https://ci.example/jobs/3/report.html"
        new = sample_run("new", started=T0 + timedelta(days=5))
        new.bench = "lab-a"
        st.save(new)
        assert [s.run_id for s in st.runs(where=RunFilter(bench="lab-a"))] == ["new"]
    with open_store(empty_db) as st:  # opening again changes nothing
        assert st.version() == STORE_VERSION and st.count() == 4


def test_the_migrations_ship_with_this_release() -> None:
    """Each migration names the release that first ships it: none may be newer than the
    package (pyproject said 0.1.0 while the migrations were 0.2.0's: a store written by a
    lanprobe calling itself 0.1.0 held a schema release 0.1.0 refuses), and pyproject and
    `lanprobe.__version__` agree."""
    import tomllib

    from lanprobe import __version__
    from lanprobe.store import MIGRATIONS

    def release(text: str) -> tuple[int, ...]:
        return tuple(int(x) for x in text.split("."))

    with open(ROOT / "pyproject.toml", "rb") as f:
        assert tomllib.load(f)["project"]["version"] == __version__
    assert all(release(m.release) <= release(__version__) for m in MIGRATIONS)
    assert [m.to for m in MIGRATIONS] == list(range(2, STORE_VERSION + 1))


def test_migrated_schema_is_the_new_schema(empty_db: str, tmp_path: Path) -> None:
    _write_with_010(empty_db)
    migrated = _schema(empty_db)
    if empty_db.startswith("postgres"):
        fresh = fresh_database(
            empty_db.split("/mig_")[0] + "/postgres?" + empty_db.split("?")[1],
            f"new_{uuid.uuid4().hex[:8]}",
        )
    else:
        fresh = str(tmp_path / "fresh.sqlite")
    assert _schema(fresh) == migrated
    assert "bench" in migrated["runs"] and "firmware" in migrated["device_runs"]
    assert "scope" in migrated["runs"] and "report_url" in migrated["runs"]


def test_a_newer_store_is_refused(empty_db: str) -> None:
    with open_store(empty_db) as st, st._db.transaction() as tx:
        tx.execute(
            "UPDATE meta SET value = :v WHERE key = 'store_version'", {"v": str(STORE_VERSION + 1)}
        )
    with pytest.raises(ProbeError, match="newer than this lanprobe knows"):
        open_store(empty_db)


_OPENER = """
import sys
from lanprobe.store import open_store
with open_store(sys.argv[1]) as st:
    print(st.version(), st.count())
"""


def test_concurrent_openers_migrate_once(empty_db: str) -> None:
    _write_with_010(empty_db)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPENER, empty_db],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [e for _, e in outs]
    assert {o.strip() for o, _ in outs} == {f"{STORE_VERSION} 3"}
    with open_store(empty_db) as st:
        assert st.check_consistency() == []
    if not empty_db.startswith("postgres"):
        with sqlite3.connect(empty_db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
