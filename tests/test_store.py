"""Run history: SQLite (default) and PostgreSQL (a real server the test session starts,
tests/pg.py), concurrent writers in several processes, a writer killed in the middle of a save."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from lanprobe.cli import app
from lanprobe.errors import ProbeError
from lanprobe.model import Verdict
from lanprobe.store import RunFilter, default_db_path, open_store
from typer.testing import CliRunner

from tests.pg import PG_PORT, socket_dir
from tests.report.runs import T0, sample_run

ROOT = Path(__file__).resolve().parents[1]


# PostgreSQL is real software run in processes of its own: its tests are `realsw`.
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.realsw)]


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty history on each backend."""
    if request.param == "sqlite":
        yield str(tmp_path / "history.sqlite")
        return
    url = request.getfixturevalue("pg_url")
    with open_store(url) as st:
        for s in st.runs(10_000):
            st.delete(s.run_id)
    yield url


# --- behaviour on both backends -----------------------------------------------------------------


def test_save_load_and_list(db: str) -> None:
    runs = [sample_run(f"r{i}", started=T0 + timedelta(days=i)) for i in range(3)]
    with open_store(db) as st:
        for r in reversed(runs):  # stored out of order: listing goes by start time
            st.save(r)
        assert st.count() == 3
        listed = st.runs(10)
        assert [s.run_id for s in listed] == ["r0", "r1", "r2"]
        s = listed[0]
        assert s.devices == 5
        assert s.verdicts[Verdict.fail.value] == sum(
            r.verdict is Verdict.fail for r in runs[0].results
        )
        assert s.device_verdicts == {"conforms": 3, "does_not_conform": 2, "inconclusive": 0}
        assert s.started == T0
        assert st.load("r1") == runs[1]  # the whole run.json comes back, equal
        assert [r.run_id for r in st.runs(2)] == ["r1", "r2"]
        assert st.check_consistency() == []


def test_save_same_run_twice_replaces_it(db: str) -> None:
    with open_store(db) as st:
        st.save(sample_run("r"))
        fixed = sample_run("r", flaws={"cam_telnet": False})
        st.save(fixed)
        assert st.count() == 1
        assert st.load("r") == fixed
        assert st.check_consistency() == []


def test_interrupted_run_is_stored_but_is_no_baseline(db: str) -> None:
    with open_store(db) as st:
        st.save(sample_run("done", started=T0))
        st.save(sample_run("cut", started=T0 + timedelta(hours=1), interrupted=True))
        assert [s.run_id for s in st.runs()] == ["done", "cut"]
        assert st.runs()[1].interrupted
        last = st.last()
        assert last is not None and last.run_id == "done"
        assert [r.run_id for r in st.recent(5)] == ["done"]
        assert [r.run_id for r in st.recent(5, complete_only=False)] == ["done", "cut"]


def test_recent_is_the_history_before_a_run(db: str) -> None:
    runs = [sample_run(f"r{i}", started=T0 + timedelta(days=i)) for i in range(5)]
    with open_store(db) as st:
        for r in runs:
            st.save(r)
        assert [r.run_id for r in st.recent(2, before=runs[3])] == ["r1", "r2"]
        last = st.last(exclude="r4")
        assert last is not None and last.run_id == "r3"


def test_missing_run_is_a_probe_error(db: str) -> None:
    with open_store(db) as st, pytest.raises(ProbeError, match="not in the history"):
        st.load("nope")


_WRITER = """
import sys
from datetime import timedelta
from lanprobe.store import open_store
from tests.pg import PG_PORT, socket_dir
from tests.report.runs import T0, sample_run
db, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
    with open_store(db) as st:
        st.save(sample_run(f"{prefix}-{i}", started=T0 + timedelta(minutes=i)))
        st.runs(5)  # read while others write
"""


def test_concurrent_writers_do_not_corrupt(db: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, db, f"w{k}", "8"],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(4)
    ]
    errors = []
    for p in procs:
        _, err = p.communicate(timeout=240)
        if p.returncode != 0:
            errors.append(err)
    assert errors == []
    with open_store(db) as st:
        assert st.count() == 32
        assert st.check_consistency() == []
        assert {s.run_id for s in st.runs(100)} == {f"w{k}-{i}" for k in range(4) for i in range(8)}
    if not db.startswith("postgres"):
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


_BIG_WRITER = """
import sys
from lanprobe.model import Result
from lanprobe.store import open_store
from tests.report.runs import sample_run
db = sys.argv[1]
with open_store(db) as st:
    for i in range(1000):
        run = sample_run(f"big-{i}")
        base = run.results[0]
        run.results += [base.model_copy(update={"title": f"r{j}"}) for j in range(20000)]
        print(f"saving {i}", flush=True)
        st.save(run)
"""


def _writer_in_transaction(db: str) -> bool:
    """True while another process holds an open write transaction on the store."""
    if db.startswith("postgres"):
        import psycopg

        with psycopg.connect(
            host=socket_dir(db), port=PG_PORT, user="lanprobe", dbname="postgres"
        ) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE relation = to_regclass('results') "
                "AND mode = 'RowExclusiveLock' AND pid <> pg_backend_pid()"
            ).fetchone()
            return bool(row and row[0])
    conn = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:  # "database is locked": the writer is inside a save
        return True
    finally:
        conn.close()


def test_writer_killed_mid_save_leaves_a_consistent_store(db: str) -> None:
    """SIGKILL (no cleanup at all) while a large run is being written."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _BIG_WRITER, db], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    caught = False
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not proc.stdout.readline().startswith("saving 2"):
            pass
        while time.monotonic() < deadline and proc.poll() is None:
            if _writer_in_transaction(db):
                proc.send_signal(signal.SIGKILL)
                caught = True
                break
            time.sleep(0.002)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
    assert caught, "never saw the writer inside its transaction"
    with open_store(db) as st:
        # Killed inside the third save: that run is absent, the two before are whole.
        assert {s.run_id for s in st.runs()} == {"big-0", "big-1"}
        assert st.check_consistency() == []
        assert len(st.load("big-1").results) == len(sample_run().results) + 20000
        st.save(sample_run("after"))  # and the store still takes writes
        assert "after" in {s.run_id for s in st.runs()}


# --- SQLite specifics ---------------------------------------------------------------------------


def test_default_path_is_in_the_user_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LANPROBE_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", "/nonexistent-xdg")
    assert default_db_path() == Path("/nonexistent-xdg/lanprobe/history.sqlite")
    monkeypatch.setenv("LANPROBE_DB", "/x/y.sqlite")
    assert default_db_path() == Path("/x/y.sqlite")


def test_open_by_path_url_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_store(f"sqlite:///{tmp_path}/a.sqlite") as st:
        st.save(sample_run("a"))
    assert (tmp_path / "a.sqlite").exists()
    monkeypatch.setenv("LANPROBE_DB", str(tmp_path / "sub" / "env.sqlite"))
    with open_store() as st:
        st.save(sample_run("e"))
    assert (tmp_path / "sub" / "env.sqlite").exists()
    with pytest.raises(ProbeError, match="unsupported"):
        open_store("mysql://u:secret@h/db")


def test_url_password_never_shows_in_errors() -> None:
    with pytest.raises(ProbeError) as info:
        open_store("postgresql://bob:s3cret@/nodb?host=/nonexistent-socket-dir&connect_timeout=2")
    assert "s3cret" not in str(info.value)
    assert "bob:***@" in str(info.value)


def test_a_reports_history_is_of_its_scope_and_from_before_it(tmp_path: Path) -> None:
    """The HTML trend of a run plotted later runs and a one-device scan of the same bench, and
    `probe report --baseline last` of an older run compared it with a newer one."""
    from lanprobe.diff import load_baseline
    from lanprobe.model import ScopeInfo

    db = str(tmp_path / "h.sqlite")
    runs = [sample_run(f"n{i}", started=T0 + timedelta(days=i)) for i in range(4)]
    runs[1].scope = ScopeInfo(interfaces=["plab0"], cidrs=["198.18.0.12/32"])  # one device
    with open_store(db) as st:
        for r in runs:
            st.save(r)
        trend, units = st.report_history(runs[2])
    assert [s.run_id for s in trend] == ["n0"]
    assert {u.run_id for u in units} == {"n0", "n1"}  # a unit's own past, whatever the scope
    old = load_baseline("last", db=db, exclude="n2", scope=runs[2].scope, before=runs[2].started)
    assert old.run_id == "n0"


# --- probe history ------------------------------------------------------------------------------


def test_cli_history(tmp_path: Path) -> None:
    db = str(tmp_path / "h.sqlite")
    runner = CliRunner()
    res = runner.invoke(app, ["history", "--db", db])
    assert res.exit_code == 0 and "no runs stored yet" in res.output
    paths = []
    for i in range(3):
        p = tmp_path / f"r{i}.json"
        sample_run(f"run-{i}", started=T0 + timedelta(days=i)).write(p)
        paths.append(p)
    args = ["history", "--db", db]
    for p in paths:
        args += ["--add", str(p)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[0].startswith("started (UTC)")
    assert [ln.split()[2] for ln in lines[1:]] == ["run-0", "run-1", "run-2"]
    assert lines[1].split()[3:7] == ["5", "3", "2", "0"]  # devices, conform, not, inconclusive
    head = lines[0].split()
    assert len(head) == len(set(head)), head  # one header per column (two were `inc`)
    assert head[-2:] == ["bench", "scope"]
    assert lines[1].endswith("-      lab plab0 198.18.0.0/24")  # no bench name, the scope
    res = runner.invoke(app, ["history", "--db", db, "--json", "--limit", "2"])
    data = json.loads(res.output)
    assert [r["run_id"] for r in data] == ["run-1", "run-2"]
    assert data[0]["verdicts"]["fail"] == 7


@pytest.mark.realsw  # PostgreSQL
def test_cli_history_postgres(pg_url: str, tmp_path: Path) -> None:
    p = tmp_path / "r.json"
    run = sample_run("pg-cli")
    run.bench = "pg-cli-bench"  # the session's database holds other tests' (newer) runs too
    run.write(p)
    args = ["history", "--db", pg_url, "--add", str(p), "--bench", "pg-cli-bench", "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "pg-cli" in [r["run_id"] for r in json.loads(res.output)]


# --- many benches: filters, latest per bench, retention -----------------------------------------


def _bench_run(run_id: str, bench: str, day: int, *, fw: str = "1.0", cam_telnet: bool = True):
    run = sample_run(run_id, started=T0 + timedelta(days=day), flaws={"cam_telnet": cam_telnet})
    run.bench = bench
    run.host.hostname = f"host-{bench}"
    for dev in run.devices:
        dev.firmware = fw if dev.profile == "acme-ipcam200" else "9.9"
    return run


def test_filters_by_bench_model_firmware_check_and_date(db: str) -> None:
    with open_store(db) as st:
        st.save(_bench_run("a0", "lab-a", 0, fw="1.0"))
        st.save(_bench_run("a1", "lab-a", 1, fw="1.1"))
        st.save(_bench_run("b0", "lab-b", 1, fw="1.0"))
        st.save(_bench_run("b1", "lab-b", 2, fw="1.1", cam_telnet=False))

        def ids(**kw: object) -> list[str]:
            return [s.run_id for s in st.runs(where=RunFilter(**kw))]  # type: ignore[arg-type]

        assert ids(bench="lab-a") == ["a0", "a1"]
        assert ids(model="acme-ipcam200", firmware="1.0") == ["a0", "b0"]
        assert ids(model="ACME-IPCAM200") == ["a0", "a1", "b0", "b1"]  # observed model name
        assert ids(model="nosuch") == []
        assert ids(check="access.anonymous-mqtt") == ["a0", "a1", "b0", "b1"]
        assert ids(check="nosuch.check") == []
        assert ids(since=T0 + timedelta(days=1), until=T0 + timedelta(days=2)) == ["a1", "b0"]
        assert st.runs()[0].bench == "lab-a" and st.runs()[0].probe_host == "host-lab-a"
        rows = st.check_history("access.cleartext-admin", RunFilter(model="acme-ipcam200"))
        assert [(r.run_id, r.bench, r.firmware, r.verdict) for r in rows] == [
            ("a0", "lab-a", "1.0", "fail"),
            ("a1", "lab-a", "1.1", "fail"),
            ("b0", "lab-b", "1.0", "fail"),
            ("b1", "lab-b", "1.1", "pass"),
        ]
        devs = st.device_history(RunFilter(bench="lab-b", model="acme-ipcam200"))
        assert [(d.run_id, d.firmware, d.verdict) for d in devs] == [
            ("b0", "1.0", "does_not_conform"),
            ("b1", "1.1", "does_not_conform"),
        ]
        assert [(s.bench, s.run_id) for s in st.benches()] == [("lab-a", "a1"), ("lab-b", "b1")]
        latest = st.latest(RunFilter(bench="lab-a"))
        assert latest is not None and latest.run_id == "a1"


def test_prune_keeps_recent_runs_and_each_benchs_newest(db: str) -> None:
    with open_store(db) as st:
        for i in range(5):
            st.save(_bench_run(f"a{i}", "lab-a", i))
        st.save(_bench_run("old-b", "lab-b", 0))  # a bench that stopped reporting
        now = T0 + timedelta(days=4)  # keeps a2 (exactly 2 days old) and newer
        assert sorted(st.prune(2, now=now)) == ["a0", "a1"]
        assert [s.run_id for s in st.runs()] == ["old-b", "a2", "a3", "a4"]
        assert st.check_consistency() == []
        assert st.prune(2, now=now) == []
        with pytest.raises(ProbeError, match="keep-days"):
            st.prune(-1)


def test_nightly_prune_keeps_a_sqlite_store_bounded(tmp_path: Path) -> None:
    """Two benches scanned nightly, `prune --keep-days 3` after each night: after the first
    nights the file stops growing (pruned pages are given back), and the runs kept are the
    last days' only."""
    path = tmp_path / "h.sqlite"
    sizes = []
    with open_store(path) as st:
        for night in range(12):
            for bench in ("lab-a", "lab-b"):
                st.save(_bench_run(f"{bench}-{night}", bench, night))
            st.prune(3, now=T0 + timedelta(days=night, hours=1))
            sizes.append(path.stat().st_size + _wal_size(path))
        assert st.count() == 6  # nights 9..11 of each bench (night 8 is 3 days and 1 h old)
        assert st.check_consistency() == []
    grown = sizes[-1] / sizes[5]
    assert 0.9 < grown < 1.1, sizes  # without pruning it doubles from night 5 to night 11


def _wal_size(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0
