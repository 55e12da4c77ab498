"""The fleet: a model's view of a run, diffs across benches and firmware builds, the fleet
view (latest run per bench, regressions since the previous night, flapping, per-model
conformance, trend per firmware build), and the CLI over it (history filters, prune, diff
--model, report --fleet)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from lanprobe.cli import app
from lanprobe.diff import compare_to_baseline
from lanprobe.errors import ProbeError
from lanprobe.fleet import (
    build_fleet,
    compare_across,
    model_view,
    previous_firmware,
    report_link,
)
from lanprobe.labels import report_link_or
from lanprobe.model import ScopeInfo, Verdict
from lanprobe.report.fleet_html import render_fleet
from lanprobe.store import RunFilter, open_store
from typer.testing import CliRunner

from tests.report.fleet_runs import BENCHES, NIGHTS, NOW, fill, fleet_run
from tests.report.runs import device, make_run, result, sample_run


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "fleet.sqlite")
    with open_store(path) as st:
        fill(st)
    return path


def test_model_view_merges_the_units_of_one_model() -> None:
    run = fleet_run("lab-a", 0)
    view = model_view(run, "acme-ipcam300")
    assert view is not None
    assert [d.key for d in view.devices] == ["model:acme-ipcam300"]
    units = [d.key for d in run.devices if d.profile == "acme-ipcam300"]
    assert len(units) == 2
    assert len(view.results) == len([r for r in run.results if r.device in units])
    assert {r.device for r in view.results} == {"model:acme-ipcam300"}
    assert view.scores["model:acme-ipcam300"].verdict.value == "conforms"
    assert model_view(run, "ACME-IPCAM300") is not None  # by observed model name too
    assert model_view(run, "acme-ipcam300", firmware="9.9") is None
    assert model_view(run, "nosuch") is None


def test_same_model_on_two_benches(db: str) -> None:
    with open_store(db) as st:
        diff = compare_across(st, "hubco-h1", RunFilter(bench="lab-a"), RunFilter(bench="lab-b"))
        assert diff.regression
        assert [c.check_id for c in diff.new_failures] == ["access.cleartext-admin"]
        same = compare_across(st, "hubco-h1", RunFilter(bench="lab-a"), RunFilter(bench="lab-c"))
        assert not same.regression and not same.new_failures
        with pytest.raises(ProbeError, match="no complete run of hubco-h1"):
            compare_across(st, "hubco-h1", RunFilter(bench="lab-a"), RunFilter(bench="lab-z"))


def test_firmware_n_against_n_minus_1(db: str) -> None:
    with open_store(db) as st:
        assert previous_firmware(st, "hubco-h1", "1.1") == "1.0"
        with pytest.raises(ProbeError, match=r"no hubco-h1 firmware before 1\.0"):
            previous_firmware(st, "hubco-h1", "1.0")
        with pytest.raises(ProbeError, match="not in the history"):
            previous_firmware(st, "hubco-h1", "7.7")
        # On lab-b, the hub's build 1.1 (night 3) opened telnet that 1.0 (night 1) kept shut.
        diff = compare_across(
            st,
            "hubco-h1",
            RunFilter(bench="lab-b", firmware="1.0"),
            RunFilter(bench="lab-b", firmware="1.1"),
        )
        assert diff.old_run == "lab-b-n1" and diff.new_run == "lab-b-n3"
        assert [c.check_id for c in diff.new_failures] == ["access.cleartext-admin"]


def test_fleet_view(db: str) -> None:
    with open_store(db) as st:
        fleet = build_fleet(st, now=NOW, report_url="https://ci.example/{bench}/{run_id}.html")
    assert [b.bench for b in fleet.benches] == list(BENCHES)
    assert {b.latest.run_id for b in fleet.benches} == {f"{b}-n3" for b in BENCHES}
    assert all(b.age.total_seconds() == 5 * 3600 for b in fleet.benches)
    assert [b.bench for b in fleet.regressed] == ["lab-b"]
    lab_b = fleet.regressed[0]
    assert lab_b.previous is not None and lab_b.previous.run_id == "lab-b-n2"
    assert lab_b.report == "https://ci.example/lab-b/lab-b-n3.html"
    assert any("access.cleartext-admin" in line for line in lab_b.regressions)
    flaps = {(b.bench, f.check_id) for b in fleet.benches for f in b.flapping}
    assert flaps == {("lab-c", "access.anonymous-mqtt")}
    hub = next(m for m in fleet.models if m.model == "hubco-h1")
    assert hub.cells["lab-b"].worst == "does_not_conform"
    assert hub.cells["lab-a"].worst == "conforms" and hub.cells["lab-a"].firmware == ["1.1"]
    twins = next(m for m in fleet.models if m.model == "acme-ipcam300")
    assert twins.cells["lab-a"].units == 2
    assert [t.firmware for t in hub.trend] == ["1.0", "1.1"]
    old_build, new_build = hub.trend
    assert old_build.runs == 6 and old_build.benches == list(BENCHES)
    assert (old_build.conforming, old_build.unit_runs) == (6, 6)
    assert (new_build.conforming, new_build.unit_runs) == (5, 6)  # lab-b night 3


def test_fleet_view_of_one_run_per_bench_has_no_regression(tmp_path: Path) -> None:
    with open_store(tmp_path / "one.sqlite") as st:
        st.save(fleet_run("lab-b", 3))  # the failing night, but nothing to compare with
        fleet = build_fleet(st, now=NOW)
    assert fleet.regressed == [] and fleet.benches[0].previous is None


# --- the command line ---------------------------------------------------------------------------


def _cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.output


def test_cli_history_filters(db: str) -> None:
    code, out = _cli("history", "--db", db, "--bench", "lab-b", "--json")
    assert code == 0, out
    assert [r["run_id"] for r in json.loads(out)] == [f"lab-b-n{i}" for i in range(4)]
    code, out = _cli(
        "history", "--db", db, "--model", "hubco-h1", "--firmware", "1.0", "--since",
        "2026-05-02", "--json",
    )  # fmt: skip
    assert [r["run_id"] for r in json.loads(out)] == ["lab-a-n1", "lab-b-n1", "lab-c-n1"]
    code, out = _cli("history", "--db", db, "--check", "access.cleartext-admin", "--model",
                     "hubco-h1", "--bench", "lab-b")  # fmt: skip
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 5
    assert lines[-1].split()[-1] == "fail" and lines[1].split()[-1] == "pass"
    assert "lab-b" in lines[-1] and "1.1" in lines[-1]
    code, out = _cli("history", "--db", db, "--bench", "nosuch")
    assert code == 0 and "no run matches" in out
    code, out = _cli("history", "--db", db, "--since", "yesterday")
    assert code == 2 and "--since" in out


def test_cli_prune(db: str) -> None:
    code, out = _cli("history", "prune", "--db", db, "--keep-days", "0")
    assert code == 0, out
    assert "pruned 9 run(s)" in out and "3 left" in out  # each bench's newest stays
    code, out = _cli("history", "prune", "--db", db, "--keep-days", "-1")
    assert code == 2


def test_cli_diff_across_benches_and_builds(db: str) -> None:
    code, out = _cli("diff", "--db", db, "--model", "hubco-h1", "--bench", "lab-a",
                     "--to-bench", "lab-b")  # fmt: skip
    assert code == 1 and "REGRESSIONS" in out and "access.cleartext-admin" in out
    code, out = _cli("diff", "--db", db, "--model", "hubco-h1", "--bench", "lab-a",
                     "--to-bench", "lab-c")  # fmt: skip
    assert code == 0 and "no regression" in out
    code, out = _cli("diff", "--db", db, "--model", "hubco-h1", "--bench", "lab-b",
                     "--firmware", "1.1", "--json")  # fmt: skip
    assert code == 1 and json.loads(out)["old_run"] == "lab-b-n1"
    code, out = _cli("diff", "--db", db, "--model", "hubco-h1")
    assert code == 2 and "--to-bench" in out
    code, out = _cli("diff")
    assert code == 2 and "OLD.json NEW.json" in out


def test_cli_report_fleet(db: str, tmp_path: Path) -> None:
    page = tmp_path / "out" / "fleet.html"
    code, out = _cli("report", "--fleet", "--db", db, "--out", str(page))
    assert code == 0, out
    html = page.read_text()
    assert 'id="regression-lab-b"' in html and 'href="reports/lab-b-n3/report.html"' in html
    assert "regression-lab-a" not in html and "regression-lab-c" not in html
    code, out = _cli("report", "--fleet", "--db", db)
    assert code == 2 and "--out FILE" in out
    code, out = _cli("report", "--fleet", "--db", db, "--out", str(page), "--report-url", "x")
    assert code == 2 and "{run_id} or {bench}" in out


def test_scan_bench_name_reaches_the_store(tmp_path: Path) -> None:
    """`--bench` is what `probe history --bench` and the fleet key on."""
    run = sample_run("named")
    run.bench = "bench-7"
    path = tmp_path / "run.json"
    run.write(path)
    db = str(tmp_path / "h.sqlite")
    code, out = _cli("history", "--db", db, "--add", str(path), "--bench", "bench-7", "--json")
    assert code == 0 and [r["bench"] for r in json.loads(out)] == ["bench-7"]
    assert Verdict.fail.value in json.loads(out)[0]["verdicts"]


def test_a_benchs_diff_reads_flapping_from_its_own_bench(tmp_path: Path) -> None:
    """In a shared history the last runs before a bench's baseline are mostly other benches':
    `--baseline last` still sees the plug on lab-c flap over lab-c's own nights."""
    db = str(tmp_path / "shared.sqlite")
    with open_store(db) as st:
        for night in range(NIGHTS):
            st.save(fleet_run("lab-c", night))  # the plug's anonymous MQTT: fail, pass, ...
            for hour in (1, 2, 3):  # a busier bench (other units) writes in between
                other = fleet_run("lab-z", night)
                other.run_id = f"lab-z-n{night}-{hour}"
                other.started += timedelta(hours=hour)
                for i, dev in enumerate(other.devices):
                    dev.mac = f"02:00:00:00:{night:02x}:{i:02x}"
                st.save(other)
    tonight = fleet_run("lab-c", NIGHTS)  # fails again
    diff = compare_to_baseline(tonight, "last", db=db, history_runs=3)
    assert diff.old_run == "lab-c-n3" and diff.history_runs == 3
    flaps = [(f.device.profile, f.check_id) for f in diff.flapping]
    assert ("plugco-sp1", "access.anonymous-mqtt") in flaps
    code, out = _cli("diff", "--db", db, "--history-runs", "3", *_files(tmp_path, db))
    assert code == 1 and "(flapping over 5 runs)" in out and "(flapping)" in out


def test_flapping_is_read_from_the_nights_of_the_same_scope(tmp_path: Path) -> None:
    """A bench's one-device scans (the hub alone, between nights) are of another scope: in the
    last runs before the baseline they crowded out the nights the plug flapped over, so the
    scan diff and the fleet page said nothing, and the fleet took a one-device scan for the
    previous night."""
    db = str(tmp_path / "shared.sqlite")
    with open_store(db) as st:
        for night in range(NIGHTS):
            st.save(fleet_run("lab-c", night))
            for hour in (1, 2, 3):
                hub = fleet_run("lab-c", night)
                hub.run_id = f"lab-c-n{night}-hub{hour}"
                hub.started += timedelta(hours=hour)
                hub.scope = ScopeInfo(interfaces=["plab0"], cidrs=["198.18.0.10/32"], lab=True)
                hub.devices = [d for d in hub.devices if d.profile == "hubco-h1"]
                hub.results = [r for r in hub.results if r.device == hub.devices[0].key]
                st.save(hub)
        tonight = fleet_run("lab-c", NIGHTS)
        st.save(tonight)
        fleet = build_fleet(st, now=NOW + timedelta(days=1), history_runs=3)
    diff = compare_to_baseline(tonight, "last", db=db, history_runs=3)
    assert diff.old_run == "lab-c-n3" and not diff.warnings
    assert ("plugco-sp1", "access.anonymous-mqtt") in [
        (f.device.profile, f.check_id) for f in diff.flapping
    ]
    lab_c = fleet.benches[0]
    assert lab_c.previous is not None and lab_c.previous.run_id == "lab-c-n3"
    assert "access.anonymous-mqtt" in [f.check_id for f in lab_c.flapping]


def _files(tmp_path: Path, db: str) -> list[str]:
    """lab-c's last stored night and tonight's run as run.json files."""
    with open_store(db) as st:
        old = st.load("lab-c-n3")
    paths = [tmp_path / "old.json", tmp_path / "new.json"]
    old.write(paths[0])
    fleet_run("lab-c", NIGHTS).write(paths[1])
    return [str(p) for p in paths]


def test_each_run_links_the_report_it_recorded(tmp_path: Path) -> None:
    """A run that recorded where its report went (probe scan --report-url, e.g. its CI job's
    artifacts) is linked there, the latest and the previous night each to its own; a run
    that did not falls back to the page's template."""
    with open_store(tmp_path / "h.sqlite") as st:
        for bench in BENCHES:
            for night in range(NIGHTS):
                run = fleet_run(bench, night)
                if bench == "lab-b":
                    run.report_url = f"https://ci.example/jobs/{night}/artifacts/report.html"
                st.save(run)
        fleet = build_fleet(st, now=NOW, report_url="../{bench}/{run_id}.html")
    lab_a, lab_b = fleet.benches[0], fleet.benches[1]
    assert lab_b.report == "https://ci.example/jobs/3/artifacts/report.html"
    assert lab_b.previous_report == "https://ci.example/jobs/2/artifacts/report.html"
    assert (lab_a.report, lab_a.previous_report) == (
        "../lab-a/lab-a-n3.html",
        "../lab-a/lab-a-n2.html",
    )
    with pytest.raises(ValueError, match=r"only \{run_id\} and \{bench\}"):
        report_link("$CI_JOB_URL/{job}/report.html", "r", "b")


def test_scan_refuses_a_report_url_it_cannot_fill_before_any_traffic() -> None:
    code, out = _cli("scan", "--iface", "lo", "--cidr", "127.0.0.1/32", "--report-url",
                     "https://ci.example/{CI_JOB_ID}/report.html")  # fmt: skip
    assert code == 2 and "--report-url" in out and "{CI_JOB_ID}" in out


def test_a_night_that_did_not_finish_is_named(db: str, tmp_path: Path) -> None:
    """An interrupted run is never judged (no regression from its partial results), but the
    page says the bench's last night did not finish, and lists a bench that never finished."""
    broken = fleet_run("lab-b", NIGHTS)  # tonight, killed half-way
    broken.interrupted = True
    never = fleet_run("lab-n", 0)
    never.interrupted = True
    with open_store(db) as st:
        st.save(broken)
        st.save(never)
        fleet = build_fleet(st, now=NOW + timedelta(days=1))
    assert [b.bench for b in fleet.unfinished] == ["lab-b", "lab-n"]
    lab_b = next(b for b in fleet.benches if b.bench == "lab-b")
    assert lab_b.latest.run_id == "lab-b-n3" and lab_b.unfinished is not None
    assert lab_b.unfinished.run_id == "lab-b-n4" and lab_b.previous is not None
    lab_n = next(b for b in fleet.benches if b.bench == "lab-n")
    assert lab_n.latest.run_id == "lab-n-n0" and lab_n.previous is None and not lab_n.regressions
    assert all(m.cells.get("lab-n") is None for m in fleet.models)  # nothing judged from it
    html = render_fleet(fleet)
    assert 'id="unfinished-lab-b"' in html and 'id="unfinished-lab-n"' in html
    assert 'id="bench-lab-n"' in html and "the bench has no complete run yet" in html
    assert 'href="reports/lab-b-n4/report.html"' in html


def test_a_recorded_report_url_is_linked_only_if_http_or_relative(tmp_path: Path) -> None:
    """run.json can come from anywhere (`probe history --add`): its report URL is shown only
    as an http(s) or relative link, never javascript: or file:."""
    assert report_link_or("https://ci.example/j/1/report.html", "x") == (
        "https://ci.example/j/1/report.html"
    )
    assert report_link_or("../lab-a/r1/report.html", "x") == "../lab-a/r1/report.html"
    for bad in ("javascript:alert(1)", " JavaScript:alert(1)", "file:///etc/passwd", "data:,x"):
        assert report_link_or(bad, "fallback") == "fallback"
    with open_store(tmp_path / "h.sqlite") as st:
        run = fleet_run("lab-a", 0)
        run.report_url = "javascript:alert(1)"
        st.save(run)
        html = render_fleet(build_fleet(st, now=NOW))
    assert "javascript:" not in html and 'href="reports/lab-a-n0/report.html"' in html
    code, out = _cli("scan", "--iface", "lo", "--cidr", "127.0.0.1/32", "--report-url",
                     "file:///tmp/{run_id}.html")  # fmt: skip
    assert code == 2 and "http(s) URL or a relative path" in out


def test_cli_history_check_tells_two_services_on_one_port_apart(tmp_path: Path) -> None:
    hub = device(13, "hubco-h1", services=[(443, "https")])
    check = "access.unauthenticated-interface"
    results = [
        result(hub, check, Verdict.passed, port=443, service="https"),
        result(hub, check, Verdict.fail, port=443, service="mqtt-ws"),
    ]
    run = make_run("two-services", [hub], results)
    run.bench = "lab-a"
    db = str(tmp_path / "h.sqlite")
    with open_store(db) as st:
        st.save(run)
    code, out = _cli("history", "--db", db, "--check", check)
    rows = out.strip().splitlines()[1:]
    assert code == 0 and len(rows) == 2
    assert "443/tcp https" in rows[0] and rows[0].endswith("pass")
    assert "443/tcp mqtt-ws" in rows[1] and rows[1].endswith("fail")


def test_a_night_that_checked_less_is_not_only_no_regression(db: str) -> None:
    """lab-a's newest night ran without data.tls-protocol (a narrower check selection): no
    regression, but its passes are no longer verified, and the bench row says how many."""
    tonight = fleet_run("lab-a", NIGHTS)
    dropped = [r for r in tonight.results if r.check_id == "data.tls-protocol"]
    assert dropped and all(r.verdict is Verdict.passed for r in dropped)
    tonight.results = [r for r in tonight.results if r.check_id != "data.tls-protocol"]
    with open_store(db) as st:
        st.save(tonight)
        fleet = build_fleet(st, now=NOW + timedelta(days=1))
    lab_a = fleet.benches[0]
    assert not lab_a.regressions and len(lab_a.lost_coverage) == len(dropped)
    html = render_fleet(fleet)
    row = html.split('id="bench-lab-a"', 1)[1].split("</tr>", 1)[0]
    assert f"{len(dropped)} no longer verified" in row and "data.tls-protocol" in row
    assert "no longer verified" not in html.split('id="bench-lab-b"', 1)[1]
