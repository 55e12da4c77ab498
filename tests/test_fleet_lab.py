"""Four benches, one PostgreSQL: four `probe scan` processes on four lab benches at once write
to one real PostgreSQL (a private cluster the session starts, tests/pg.py), two nights running;
on the second night one unit on bench b gets a new firmware build with its config API open
(lab.bench.restart), and bench d's scanner is SIGKILLed in the middle of writing its run.
Then `probe report --fleet` builds the page, checked in headless Chromium: bench b's regression
and nothing on the others; every run stored once, none lost, none half-written.

Kept lean (small benches, four logical-access checks): it adds well under a
minute. Bridges and subnets come from $LANPROBE_FLEET_BRIDGES / $LANPROBE_FLEET_SUBNETS
(comma lists of four).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from lanprobe.lab import bench
from lanprobe.store import open_store

from tests.pg import PG_PORT, fresh_database, socket_dir
from tests.report.png import read_png
from tests.report.test_html import _browse, parse
from tests.requires import require_root

pytestmark = pytest.mark.lab

BRIDGES = os.environ.get("LANPROBE_FLEET_BRIDGES", "plab16a,plab16b,plab16c,plab16d").split(",")
SUBNETS = os.environ.get(
    "LANPROBE_FLEET_SUBNETS", "198.18.166.0/24,198.18.167.0/24,198.18.168.0/24,198.18.169.0/24"
).split(",")
NAMES = ["bench-a", "bench-b", "bench-c", "bench-d"]
MODELS = ["plugco-sp1", "acme-ipcam300"]  # 3 units: the plug and the twin cameras
REGRESSED, KILLED = "bench-b", "bench-d"
# Checks that read the unit's state without login pacing: quick, and stable on a loaded host
# (a login-counting check can go inconclusive -> fail there, which is a regression by design).
CHECK_IDS = (
    "access.unauthenticated-interface",
    "access.anonymous-mqtt",
    "access.cleartext-admin",
    "access.unexpected-port",
)
CHECKS = [arg for cid in CHECK_IDS for arg in ("--check", cid)]
ROOT = Path(__file__).resolve().parents[1]
PROBE = str(Path(sys.executable).with_name("probe"))

# Installed by this test only: bench d's save sleeps on its first result row, so that the test
# can kill the scanner while its transaction holds the run, its devices and part of its results.
_SLOW_SAVE = """
CREATE OR REPLACE FUNCTION lanprobe_test_slow() RETURNS trigger AS $$
BEGIN
  IF NEW.seq = 0 AND (SELECT bench FROM runs WHERE run_id = NEW.run_id) = :'bench' THEN
    PERFORM pg_sleep(3);
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER lanprobe_test_slow BEFORE INSERT ON results
  FOR EACH ROW EXECUTE FUNCTION lanprobe_test_slow();
"""


def _sql(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    import psycopg

    dbname = url.split("/")[3].split("?")[0]
    with psycopg.connect(
        host=socket_dir(url), port=PG_PORT, user="lanprobe", dbname=dbname, autocommit=True
    ) as conn:
        for key, value in params.items():  # psql-style :'name' for the DDL above
            sql = sql.replace(f":'{key}'", "'" + str(value).replace("'", "''") + "'")
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def _scan(i: int, night: Path, db: str) -> subprocess.Popen[str]:
    out = night / NAMES[i]
    return subprocess.Popen(
        [PROBE, "scan", "--lab", "--bridge", BRIDGES[i], "--bench", NAMES[i], "--db", db,
         "--out", str(out), "--format", "json,html", *CHECKS, "--fail-on", "never",
         "--report-url", f"../{night.name}/{NAMES[i]}/report.html"],  # from the fleet page
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _night(night: Path, db: str, kill: str | None = None) -> dict[str, tuple[int, str]]:
    procs = {NAMES[i]: _scan(i, night, db) for i in range(4)}
    killed_mid_write = False
    if kill is not None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and procs[kill].poll() is None:
            rows = _sql(
                db,
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
                "AND query LIKE 'INSERT INTO results%'",
            )
            if rows[0][0]:
                procs[kill].send_signal(signal.SIGKILL)  # no cleanup, no rollback sent
                killed_mid_write = True
                break
            time.sleep(0.05)
        if not killed_mid_write:
            procs[kill].kill()
            out, _ = procs[kill].communicate(timeout=60)
            raise AssertionError(f"never saw the scanner inside its save: {out[-2000:]}")
    outcome = {}
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=180)
        outcome[name] = (proc.returncode, out)
    return outcome


def _open_api_new_build(cfg: dict[str, Any]) -> None:
    """A new firmware build of the plug: version 2.0.2, its config API left without auth."""
    cfg["model"]["fw"] = "2.0.2"
    for http in cfg["model"]["http"]:
        if "/api/config" in http["routes"]:
            http["routes"]["/api/config"]["auth"] = False


@pytest.fixture(scope="module")
def benches() -> Any:
    require_root("the lab benches: network namespaces")
    for b in BRIDGES:
        bench.down(b)
    try:
        with ThreadPoolExecutor(4) as pool:
            pairs = zip(BRIDGES, SUBNETS, strict=True)
            states = list(pool.map(lambda bs: bench.up(*bs, models=MODELS), pairs))
        yield states
    finally:
        for b in BRIDGES:
            bench.down(b)


def test_four_benches_one_postgres_and_the_fleet_page(
    benches: Any, pg_url: str, tmp_path: Path
) -> None:
    db = fresh_database(pg_url, f"fleet_{uuid.uuid4().hex[:8]}")
    started = time.monotonic()

    first = _night(tmp_path / "night1", db)
    print(f"night 1: {time.monotonic() - started:.1f} s")
    assert {n: c for n, (c, _) in first.items()} == dict.fromkeys(NAMES, 0), first

    plug = next(d for d in benches[NAMES.index(REGRESSED)].devices if d.model == "plugco-sp1")
    bench.restart(BRIDGES[NAMES.index(REGRESSED)], plug.name, _open_api_new_build)
    _sql(db, _SLOW_SAVE, bench=KILLED)  # the tables exist since night 1

    second = _night(tmp_path / "night2", db, kill=KILLED)
    assert second[KILLED][0] == -signal.SIGKILL
    assert {n: c for n, (c, _) in second.items() if n != KILLED} == {
        n: 0 for n in NAMES if n != KILLED
    }, second
    _sql(db, "DROP TRIGGER lanprobe_test_slow ON results")

    # Every run stored once, the killed one not at all, every stored run whole.
    expected = {
        json.loads((tmp_path / night / name / "run.json").read_text())["run_id"]: name
        for night in ("night1", "night2")
        for name in NAMES
        if (night, name) != ("night2", KILLED)
    }
    with open_store(db) as st:
        stored = st.runs(100)
        assert sorted(s.run_id for s in stored) == sorted(expected)
        assert Counter(s.bench for s in stored) == {**dict.fromkeys(NAMES, 2), KILLED: 1}
        assert {s.run_id: s.bench for s in stored} == expected
        assert st.check_consistency() == []
        for s in stored:
            run = st.load(s.run_id)
            assert len(run.devices) == 3 and run.bench == s.bench
        orphans = _sql(
            db, "SELECT count(*) FROM device_runs WHERE run_id NOT IN (SELECT run_id FROM runs)"
        )
        assert orphans[0][0] == 0
        # The firmware each plug announced (mDNS; "" where a loaded host missed the answer).
        builds = {(r.run_id, r.firmware) for r in st.device_history() if r.profile == "plugco-sp1"}
        new_build = {fw for rid, fw in builds if expected[rid] == REGRESSED} - {""}
        assert new_build <= {"2.0.1", "2.0.2"} and {fw for _, fw in builds} & {"2.0.1", "2.0.2"}

    page = tmp_path / "fleet" / "index.html"
    report = subprocess.run(
        [PROBE, "report", "--fleet", "--db", db, "--out", str(page),
         "--report-url", "../{bench}/{run_id}/report.html"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert report.returncode == 0, report.stdout + report.stderr
    elapsed = time.monotonic() - started

    dom = _browse(page.as_uri(), tmp_path / "chromium", "--dump-dom").stdout.decode()
    doc = parse(dom)
    boxes = [n.attrs["id"] for n in doc.nodes if "regression" in n.attrs.get("class", "")]
    text = " ".join(doc.text)
    regression = text.split("Regressed since the previous night", 1)[1].split("Benches", 1)[0]
    assert boxes == [f"regression-{REGRESSED}"], regression  # bench b, nothing on the others
    assert "access.unauthenticated-interface" in regression and "plugco-sp1" in regression
    # The box links tonight's and last night's reports of bench b, each where its scan wrote it.
    in_box = f"#regression-{REGRESSED}"
    links = [
        n.attrs["href"]
        for n in doc.nodes
        if n.tag == "a" and any(p.endswith(in_box) for p in n.parents)
    ]
    assert links == [f"../night2/{REGRESSED}/report.html", f"../night1/{REGRESSED}/report.html"]
    assert all((page.parent / link).resolve().is_file() for link in links)
    rows = [n.attrs["id"] for n in doc.nodes if n.attrs.get("class") == "bench"]
    assert rows == [f"bench-{n}" for n in NAMES]
    shot = tmp_path / "fleet.png"
    _browse(page.as_uri(), tmp_path / "chromium", f"--screenshot={shot}", "--window-size=1280,900")
    img = read_png(shot.read_bytes())
    pink = sum(1 for c in img.pixels(step=4) if c[:3] == (0xFF, 0xF0, 0xF0))
    assert pink > 500  # the one regression box is painted near the top
    print(f"two nights on four benches and the fleet page: {elapsed:.1f} s")


# --- docs/ci: the GitLab CI file's commands, as written, against a lab bench --------------------

CI_FILE = ROOT / "docs" / "ci" / "gitlab-ci.yml"


def _gitlab_job(name: str) -> dict[str, Any]:
    """A job of docs/ci/gitlab-ci.yml with its `extends:` template merged in (GitLab's rule:
    the job's keys win, `variables` merge)."""
    from ruamel.yaml import YAML

    doc = YAML(typ="safe").load(CI_FILE.read_text())
    job = dict(doc[name])
    base = dict(doc[job.pop("extends")]) if "extends" in job else {}
    variables = {**base.get("variables", {}), **job.get("variables", {})}
    return {**base, **job, "variables": variables}


def _run_job(
    job: dict[str, Any], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """The job's script as GitLab's shell executor runs it: one bash, `set -eo pipefail`,
    the job's variables then ours (the runner's CI/CD variables) in the environment."""
    script = "set -eo pipefail\n" + "\n".join(job["script"]) + "\n"
    given = {**os.environ, **env}
    # GitLab expands $NAME in a variable's value from the job's other and predefined variables.
    variables = {k: str(v) for k, v in job["variables"].items()}
    expanded = {
        k: re.sub(r"\$\{?(\w+)\}?", lambda m: {**given, **variables}.get(m[1], ""), v)
        for k, v in variables.items()
    }
    full = {**os.environ, **expanded, **env}
    full["PATH"] = f"{Path(PROBE).parent}:{full.get('PATH', '')}"
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=full, capture_output=True, text=True, timeout=300
    )


def test_gitlab_ci_file_runs_as_written_on_a_lab_bench(
    benches: Any, pg_url: str, tmp_path: Path
) -> None:
    i = 2  # bench c: its plug is still the build the bench came up with
    db = fresh_database(pg_url, f"ci_{uuid.uuid4().hex[:8]}")
    job = _gitlab_job("nightly:bench-a")
    assert job["tags"] == ["lanprobe-bench-a"] and job["artifacts"]["reports"]["junit"]
    assert job["variables"]["BENCH"] == "bench-a"
    # What the runner on this bench would have: the bench's scope, the shared database.
    env = {
        "LANPROBE_SCOPE": f"--lab --bridge {BRIDGES[i]}",
        "LANPROBE_DB": db,
        "LANPROBE_ARGS": " ".join(CHECKS),  # the job's own knob for extra scan options
    }
    checkout = tmp_path / "checkout"
    checkout.mkdir()

    jobs = "https://gitlab.example/qa/benches/-/jobs"
    first = _run_job(job, checkout, {**env, "CI_JOB_URL": f"{jobs}/101"})
    # The first night has no baseline; devices that do not conform do not fail the job.
    assert first.returncode == 0, first.stdout + first.stderr
    out = checkout / "reports" / "bench-a"
    assert {"run.json", "junit.xml", "report.html"} <= {p.name for p in out.iterdir()}
    junit = ET.fromstring((out / "junit.xml").read_text())
    assert int(junit.get("failures", "0")) > 0  # the plug fails checks: a red report, green job

    plug = next(d for d in benches[i].devices if d.model == "plugco-sp1")
    bench.restart(BRIDGES[i], plug.name, _open_api_new_build)
    second = _run_job(job, checkout, {**env, "CI_JOB_URL": f"{jobs}/102"})
    assert second.returncode == 1, second.stdout + second.stderr  # a regression fails the job
    assert "access.unauthenticated-interface" in second.stdout.split("REGRESSIONS", 1)[1]

    fleet = _gitlab_job("fleet")
    gitlab = {"CI_PROJECT_URL": "https://gitlab.example/qa/benches", "CI_COMMIT_REF_NAME": "main"}
    page = _run_job(fleet, checkout, {"LANPROBE_DB": db, **gitlab})
    assert page.returncode == 0, page.stdout + page.stderr
    html = (checkout / "fleet" / "index.html").read_text()
    assert 'id="regression-bench-a"' in html
    # Each night links its own job's report: the regressed night and the one before it.
    box = html.split('id="regression-bench-a"', 1)[1].split("</div>", 1)[0]
    links = re.findall(r'href="([^"]+)"', box)
    assert links[:2] == [
        f"{jobs}/102/artifacts/file/reports/bench-a/report.html",
        f"{jobs}/101/artifacts/file/reports/bench-a/report.html",
    ], box
