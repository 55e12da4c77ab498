"""Run history: SQLite (default) and PostgreSQL (a real server this module starts), concurrent
writers in several processes, and a writer killed in the middle of a save."""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from lanprobe.cli import app
from lanprobe.errors import ProbeError
from lanprobe.model import Verdict
from lanprobe.store import default_db_path, open_store
from typer.testing import CliRunner

from tests.report.runs import T0, sample_run

ROOT = Path(__file__).resolve().parents[1]

# --- PostgreSQL server for this module ----------------------------------------------------------


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(d) / name).exists():
            return str(Path(d) / name)
    return None


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a unix socket in a temp dir (no TCP at all)."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed: `make sysdeps`")
    base = Path(tempfile.mkdtemp(prefix="lanprobe-pg-"))
    user = None
    if os.geteuid() == 0:  # initdb refuses to run as root: Debian's postgres user, else nobody
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pw = pwd.getpwnam("nobody")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        user = pw.pw_name
    data = base / "data"
    env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "LANG": "C"}

    def run(*args: str) -> None:
        subprocess.run(
            args, user=user, cwd=base, env=env, check=True, capture_output=True, timeout=120
        )

    try:
        run(initdb, "-D", str(data), "-U", "lanprobe", "--auth=trust", "--no-sync", "-E", "UTF8")
        opts = f"-k {base} -c listen_addresses='' -p 5433 -c fsync=off"
        run(pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "-t", "60", "start")
    except subprocess.CalledProcessError as exc:
        log = (base / "log").read_text() if (base / "log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"postgres did not start: {exc.stderr!r} {log}") from exc
    try:
        yield f"postgresql://lanprobe@/postgres?host={base}&port=5433"
    finally:
        subprocess.run(
            [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
            user=user,
            cwd=base,
            env=env,
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgres"])
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

        host = db.split("host=")[1].split("&")[0]
        with psycopg.connect(host=host, port=5433, user="lanprobe", dbname="postgres") as conn:
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
    res = runner.invoke(app, ["history", "--db", db, "--json", "--limit", "2"])
    data = json.loads(res.output)
    assert [r["run_id"] for r in data] == ["run-1", "run-2"]
    assert data[0]["verdicts"]["fail"] == 7


def test_cli_history_postgres(pg_url: str, tmp_path: Path) -> None:
    p = tmp_path / "r.json"
    sample_run("pg-cli").write(p)
    res = CliRunner().invoke(app, ["history", "--db", pg_url, "--add", str(p), "--json"])
    assert res.exit_code == 0, res.output
    assert "pg-cli" in [r["run_id"] for r in json.loads(res.output)]
