"""Regression diff on hand-made runs: new fail, fixed, flap, device gone/appeared, waivers."""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from lanprobe.cli import app
from lanprobe.diff import (
    Waiver,
    compare,
    compare_to_baseline,
    load_baseline,
    load_waivers,
    match_devices,
    render_text,
)
from lanprobe.errors import ProbeError
from lanprobe.model import DeviceVerdict, ScanRun, ScopeInfo, Verdict
from lanprobe.store import open_store
from typer.testing import CliRunner

from tests.report.runs import (
    PROFILES,
    T0,
    device,
    make_run,
    result,
    sample_devices,
    sample_results,
)
from tests.report.runs import sample_run as run_of

TODAY = date(2026, 5, 2)


def test_same_run_is_no_regression() -> None:
    d = compare(run_of("a"), run_of("b"), today=TODAY)
    assert not d.regression
    assert d.reasons() == []
    assert not (d.new_failures or d.fixed or d.changed or d.appeared or d.vanished or d.devices)
    assert not (d.lost_coverage or d.expectation_changes or d.expectations or d.warnings)
    assert "no regression" in render_text(d)


def test_new_failure_is_a_regression_and_named() -> None:
    old = run_of("a")
    new = run_of("b", flaws={"hub_telnet": True})  # the hub opens telnet
    d = compare(old, new, today=TODAY)
    assert d.regression
    [nf] = d.new_failures
    assert (nf.device.label, nf.check_id, nf.target) == (
        "hubco-h1@198.18.0.13",
        "access.cleartext-admin",
        "23/tcp telnet",
    )
    assert (nf.old, nf.new) == (None, Verdict.fail)  # a new target: it did not exist before
    [dc] = d.devices
    assert (dc.old, dc.new, dc.regression) == (
        DeviceVerdict.conforms,
        DeviceVerdict.does_not_conform,
        True,
    )
    text = render_text(d)
    assert "REGRESSIONS" in text
    assert "new failure: hubco-h1@198.18.0.13 access.cleartext-admin [23/tcp telnet]" in text
    assert text.rstrip().endswith("REGRESSION")


def test_pass_to_fail_on_the_same_target() -> None:
    d = compare(
        run_of("a", flaws={"plug_anon": False}), run_of("b", flaws={"plug_anon": True}), today=TODAY
    )
    [nf] = d.new_failures
    assert (nf.check_id, nf.old, nf.new) == ("access.anonymous-mqtt", Verdict.passed, Verdict.fail)


def test_fixed_is_reported_and_not_a_regression() -> None:
    d = compare(run_of("a"), run_of("b", flaws={"cam_telnet": False}), today=TODAY)
    assert not d.regression
    [fx] = d.fixed
    assert (fx.check_id, fx.old, fx.new) == ("access.cleartext-admin", Verdict.fail, Verdict.passed)
    assert "Fixed (1)" in render_text(d)


def test_failure_whose_target_disappeared_counts_as_fixed() -> None:
    d = compare(run_of("a", flaws={"hub_telnet": True}), run_of("b"), today=TODAY)
    [fx] = d.fixed
    assert (fx.target, fx.old, fx.new) == ("23/tcp telnet", Verdict.fail, None)


def test_device_gone_and_appeared() -> None:
    devs = sample_devices()
    old = make_run("a", devs, sample_results(devs))
    plug = devs[2]
    new_devs = [d for d in devs if d is not plug]
    newcomer = device(30, "gizmo-g1")
    new_devs.append(newcomer)
    results = [r for r in sample_results(devs) if r.device != plug.key]
    results.append(result(newcomer, "configuration.default-login", Verdict.fail))
    new = make_run("b", new_devs, results)
    d = compare(old, new, today=TODAY)
    assert [v.label for v in d.vanished] == ["plugco-sp1@198.18.0.11"]
    assert [a.label for a in d.appeared] == ["gizmo-g1@198.18.0.30"]
    assert d.new_failures == []  # a newcomer's failures have nothing to regress from
    assert d.regression
    assert d.reasons() == ["device vanished: plugco-sp1@198.18.0.11"]


def test_devices_matched_by_mac_then_serial() -> None:
    old_devs = sample_devices()
    new_devs = sample_devices()
    # The hub got a new NIC (new MAC) and a new address: same serial, so the same unit.
    hub = new_devs[1]
    hub.mac = "02:00:00:00:00:99"
    hub.key = hub.mac
    hub.ips = ["198.18.0.50"]
    # One twin camera lost its MAC (seen without ARP): the other twin is matched by MAC first,
    # so the serial they share is unique among the devices left, and matches.
    twin = new_devs[4]
    twin.mac = None
    twin.key = "198.18.0.15"
    old = make_run("a", old_devs, sample_results(old_devs))
    new = make_run("b", new_devs, sample_results(new_devs))
    pairs = {(o.key if o else None, n.key if n else None) for o, n in match_devices(old, new)}
    assert ("02:00:00:00:00:0d", "02:00:00:00:00:99") in pairs
    assert ("02:00:00:00:00:0f", "198.18.0.15") in pairs
    d = compare(old, new, today=TODAY)
    assert d.vanished == [] and d.appeared == []
    # Both twins without MAC: one serial, two units; never matched at random.
    other = new_devs[3]
    other.mac = None
    other.key = "198.18.0.14"
    new = make_run("b", new_devs, sample_results(new_devs))
    pairs = {(o.key if o else None, n.key if n else None) for o, n in match_devices(old, new)}
    assert {("02:00:00:00:00:0e", None), ("02:00:00:00:00:0f", None)} <= pairs
    assert {(None, "198.18.0.14"), (None, "198.18.0.15")} <= pairs
    d = compare(old, new, today=TODAY)
    assert sorted(v.label for v in d.vanished) == [
        "acme-ipcam300@198.18.0.14",
        "acme-ipcam300@198.18.0.15",
    ]
    assert not [c for c in d.new_failures if c.device.profile == "hubco-h1"]


def _history(n: int, flaws: list[dict[str, bool]]) -> list:
    return [
        run_of(f"h{i}", started=T0 + timedelta(days=i), flaws=f) for i, f in enumerate(flaws[:n])
    ]


def test_flapping_check_from_history() -> None:
    on, off = {"plug_anon": True}, {"plug_anon": False}
    hist = _history(3, [on, off, on])
    old = run_of("old", started=T0 + timedelta(days=3), flaws=off)
    new = run_of("new", started=T0 + timedelta(days=4), flaws=on)
    d = compare(old, new, history=hist, today=TODAY)
    [flap] = d.flapping
    assert flap.check_id == "access.anonymous-mqtt"
    fail, ok = Verdict.fail, Verdict.passed
    assert flap.sequence == [fail, ok, fail, ok, fail]
    [nf] = d.new_failures
    assert nf.flapping  # flagged, and still counted: only a waiver silences it
    assert d.regression
    assert "(flapping)" in render_text(d)
    # A steady history makes the same change a plain new failure.
    steady = compare(old, new, history=_history(3, [off, off, off]), today=TODAY)
    assert steady.flapping == []
    assert not steady.new_failures[0].flapping


def _waiver(expires: date, **kw: object) -> Waiver:
    base = {
        "model": "hubco-h1",
        "check": "access.cleartext-admin",
        "reason": "telnet left on in the beta firmware, fix in 1.4 (QA-123)",
        "expires": expires,
    }
    return Waiver.model_validate({**base, **kw})


def test_live_waiver_accepts_a_new_failure() -> None:
    old, new = run_of("a"), run_of("b", flaws={"hub_telnet": True})
    d = compare(old, new, waivers=[_waiver(TODAY)], today=TODAY)  # expires today: still live
    assert not d.regression
    assert d.new_failures == []
    [w] = d.waived
    assert w.check_id == "access.cleartext-admin"
    assert "QA-123" in (w.waiver or "")
    assert not d.devices[0].regression  # the verdict change is explained by a waived failure


def test_expired_waiver_counts_again_and_is_reported() -> None:
    old, new = run_of("a"), run_of("b", flaws={"hub_telnet": True})
    d = compare(old, new, waivers=[_waiver(TODAY - timedelta(days=1))], today=TODAY)
    assert d.regression
    [e] = d.expired
    assert e.check_id == "access.cleartext-admin"
    assert any(r.startswith("waiver expired: hubco-h1") for r in d.reasons())
    assert "Expired waivers (1)" in render_text(d)


def test_expired_waiver_on_a_failure_that_persists_is_a_regression() -> None:
    """A known failure stops being accepted on its expiry date, even if it is not new."""
    w = _waiver(TODAY - timedelta(days=1), model="acme-ipcam200", port=23)
    assert compare(run_of("a"), run_of("b"), waivers=[w], today=TODAY).regression
    live = _waiver(TODAY + timedelta(days=30), model="acme-ipcam200", port=23)
    d = compare(run_of("a"), run_of("b"), waivers=[live], today=TODAY)
    assert not d.regression
    assert len(d.waived) == 1


def test_waiver_scope_model_port_device() -> None:
    old, new = run_of("a"), run_of("b", flaws={"hub_telnet": True})
    wrong_model = _waiver(TODAY, model="acme-ipcam200")
    wrong_port = _waiver(TODAY, port=2323)
    other_unit = _waiver(TODAY, device="02:00:00:00:00:ff")
    d = compare(old, new, waivers=[wrong_model, wrong_port, other_unit], today=TODAY)
    assert d.regression and len(d.new_failures) == 1
    assert len(d.unused_waivers) == 2  # the camera waiver matched nothing that failed
    by_serial = _waiver(TODAY, device="SN-0013")
    assert not compare(old, new, waivers=[by_serial], today=TODAY).regression


def test_live_waiver_wins_over_an_expired_one() -> None:
    old, new = run_of("a"), run_of("b", flaws={"hub_telnet": True})
    ws = [_waiver(TODAY - timedelta(days=5)), _waiver(TODAY + timedelta(days=5))]
    assert not compare(old, new, waivers=ws, today=TODAY).regression


def test_worse_verdict_without_a_failure_is_a_regression() -> None:
    """pass -> inconclusive on a high check makes a conforming device inconclusive."""
    devs = sample_devices()
    old_results = sample_results(devs)
    new_results = sample_results(devs)
    for r in new_results:
        if r.device == devs[1].key and r.check_id == "data.tls-protocol":
            r.verdict = Verdict.inconclusive
    d = compare(make_run("a", devs, old_results), make_run("b", devs, new_results), today=TODAY)
    [ch] = d.changed
    assert (ch.old, ch.new) == (Verdict.passed, Verdict.inconclusive)
    assert d.regression
    assert d.reasons() == ["device verdict worse: hubco-h1@198.18.0.13 conforms -> inconclusive"]


def test_load_waivers_file(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text(
        "waivers:\n"
        "  - model: hubco-h1\n"
        "    check: access.cleartext-admin\n"
        "    port: 23\n"
        "    reason: beta firmware\n"
        "    expires: 2026-06-30\n"
    )
    [w] = load_waivers(path)
    assert (w.port, w.expires) == (23, date(2026, 6, 30))
    path.write_text("waivers:\n  - model: x\n    check: y\n    reason: z\n")
    with pytest.raises(ProbeError, match=r"waivers\.0\.expires"):
        load_waivers(path)
    path.write_text(
        "waivers:\n  - model: x\n    check: y\n    reason: z\n    expires: 2026-01-01\n"
        "    colour: red\n"
    )
    with pytest.raises(ProbeError, match="colour"):
        load_waivers(path)


def test_load_baseline_file_and_last(tmp_path: Path) -> None:
    a, b = run_of("a", started=T0), run_of("b", started=T0 + timedelta(days=1))
    a.write(tmp_path / "a.json")
    assert load_baseline(str(tmp_path / "a.json")).run_id == "a"
    db = str(tmp_path / "h.sqlite")
    with pytest.raises(ProbeError, match="no complete run"):
        load_baseline("last", db=db)
    with open_store(db) as st:
        st.save(a)
        st.save(b)
        st.save(run_of("c", started=T0 + timedelta(days=2), interrupted=True))
    assert load_baseline("last", db=db).run_id == "b"  # interrupted runs are no baseline
    assert load_baseline("last", db=db, exclude="b").run_id == "a"
    with pytest.raises(ProbeError, match="no such baseline"):
        load_baseline(str(tmp_path / "missing.json"))


# --- probe diff ---------------------------------------------------------------------------------


def test_cli_diff_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    old, same, worse = tmp_path / "old.json", tmp_path / "same.json", tmp_path / "worse.json"
    run_of("a").write(old)
    run_of("b").write(same)
    run_of("c", flaws={"hub_telnet": True}).write(worse)

    res = runner.invoke(app, ["diff", str(old), str(same)])
    assert res.exit_code == 0, res.output
    assert "no regression" in res.output

    res = runner.invoke(app, ["diff", str(old), str(worse)])
    assert res.exit_code == 1, res.output
    assert "new failure: hubco-h1@198.18.0.13 access.cleartext-admin [23/tcp telnet]" in res.output

    waivers = tmp_path / "w.yaml"
    far = (date.today() + timedelta(days=30)).isoformat()
    waivers.write_text(
        "waivers:\n  - {model: hubco-h1, check: access.cleartext-admin, reason: beta, "
        f"expires: {far}}}\n"
    )
    res = runner.invoke(app, ["diff", str(old), str(worse), "--waivers", str(waivers)])
    assert res.exit_code == 0, res.output
    assert "Waived (1)" in res.output

    res = runner.invoke(app, ["diff", str(old), str(worse), "--json"])
    assert res.exit_code == 1
    data = json.loads(res.output)
    assert data["regression"] is True
    assert data["new_failures"][0]["check_id"] == "access.cleartext-admin"

    res = runner.invoke(app, ["diff", str(old), str(tmp_path / "nope.json")])
    assert res.exit_code == 2


def test_cli_diff_reads_flapping_from_the_history(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    on, off = {"plug_anon": True}, {"plug_anon": False}
    with open_store(db) as st:
        for r in _history(3, [on, off, on]):
            st.save(r)
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    run_of("old", started=T0 + timedelta(days=3), flaws=off).write(old)
    run_of("new", started=T0 + timedelta(days=4), flaws=on).write(new)
    res = CliRunner().invoke(app, ["diff", str(old), str(new), "--db", str(db)])
    assert res.exit_code == 1, res.output
    assert "Flapping (1)" in res.output
    assert "fail pass fail pass fail" in res.output


def test_compare_to_baseline_for_the_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The call `probe scan --baseline last --waivers F` makes, after storing its own run."""
    monkeypatch.setenv("LANPROBE_DB", str(tmp_path / "default.sqlite"))
    on, off = {"plug_anon": True}, {"plug_anon": False}
    new = run_of("new", started=T0 + timedelta(days=4), flaws=on)
    with open_store(None) as st:
        for r in _history(4, [on, off, on, off]):
            st.save(r)
        st.save(new)  # the scan stored itself first: `last` must not be itself
    d = compare_to_baseline(new, "last", today=TODAY)
    assert (d.old_run, d.history_runs) == ("h3", 3)
    assert d.regression and d.new_failures[0].flapping
    waivers = tmp_path / "w.yaml"
    waivers.write_text(
        "waivers:\n  - {model: plugco-sp1, check: access.anonymous-mqtt, reason: flaky broker, "
        "expires: 2026-06-01}\n"
    )
    assert not compare_to_baseline(new, "last", waivers=waivers, today=TODAY).regression


# --- the device changed, or our expectations did (issue 17) -------------------------------------


def _profiles(**changes: dict[str, object]) -> dict[str, dict[str, object]]:
    """The sample runs' profile records with some profiles' fields replaced."""
    out = copy.deepcopy(PROFILES)
    for pid, fields in changes.items():
        out[pid] = {**out[pid], **fields}
    return out


def _with_verdict(run: ScanRun, check_id: str, verdict: Verdict, *, profile: str) -> ScanRun:
    for r in run.results:
        dev = run.device(r.device)
        if r.check_id == check_id and dev is not None and dev.profile == profile:
            r.verdict = verdict
    return run


def test_fixed_only_because_the_profile_changed_is_not_fixed() -> None:
    """Declarations added to the camera's profile (same version): its support-period verdict
    changes, but the device did not; a diff says so and lists nothing as fixed."""
    devs = sample_devices()
    old = make_run("a", devs, sample_results(devs), profiles=_profiles())
    devs2 = sample_devices()
    declared = {"acme-ipcam200": {"declarations": {"support_end": "2031-12-31"}}}
    new = make_run("b", devs2, sample_results(devs2), profiles=_profiles(**declared))
    _with_verdict(new, "declarations.support-period", Verdict.passed, profile="acme-ipcam200")
    d = compare(old, new, today=TODAY)
    assert d.fixed == []
    [ch] = d.expectation_changes
    assert (ch.check_id, ch.old, ch.new) == (
        "declarations.support-period",
        Verdict.fail,
        Verdict.passed,
    )
    assert ch.expectations == "profile acme-ipcam200 edited (version 3 unchanged)"
    assert d.expectations == ["profile acme-ipcam200 edited (version 3 unchanged)"]
    text = render_text(d)
    assert "Fixed" not in text
    assert "expectations changed between the runs: profile acme-ipcam200 edited" in text
    assert "Changed with the expectations (not counted as fixed) (1):" in text


def test_profile_version_and_baseline_version_are_named() -> None:
    old = run_of("a")
    devs = sample_devices()
    new = make_run(
        "b", devs, sample_results(devs), profiles=_profiles(**{"hubco-h1": {"version": "2"}})
    )
    new.baseline = {"id": "nistir-8259a", "version": "2026-01"}
    d = compare(old, new, today=TODAY)
    assert d.expectations == [
        "baseline nistir-8259a 2020-05 -> nistir-8259a 2026-01",
        "profile hubco-h1 version 1 -> 2",
    ]
    # Edited content under the same version is told apart by the digest the runner records.
    a, b = run_of("c"), run_of("d")
    a.baseline["digest"], b.baseline["digest"] = "1111", "2222"
    assert compare(a, b, today=TODAY).expectations == [
        "baseline nistir-8259a 2020-05 edited (same version)"
    ]


def test_a_device_held_to_another_profile_is_named_first() -> None:
    """A profile made with `probe profile init` takes a device that was generic: the diff says
    so before its verdict changes, not only beside each of them."""
    old, new = run_of("a"), run_of("b")
    cam = next(d for d in old.devices if d.profile == "acme-ipcam200")
    cam.profile = "generic"
    d = compare(old, new, today=TODAY)
    moved = f"acme-ipcam200@{cam.ip} is held to another profile (generic -> acme-ipcam200)"
    assert d.expectations == [moved]
    text = render_text(d)
    assert text.splitlines()[1] == f"expectations changed between the runs: {moved}"


def test_a_fix_on_a_closed_port_is_fixed_even_when_the_profile_changed() -> None:
    """The camera closed telnet: a device change, though its profile changed too."""
    devs = sample_devices()
    old = make_run("a", devs, sample_results(devs))
    devs2 = sample_devices()
    devs2[0].services = [s for s in devs2[0].services if s.port != 23]
    new = make_run(
        "b",
        devs2,
        sample_results(devs2, flaws={"cam_telnet": False}),
        profiles=_profiles(**{"acme-ipcam200": {"version": "4"}}),
    )
    d = compare(old, new, today=TODAY)
    [fx] = d.fixed
    assert (fx.check_id, fx.target) == ("access.cleartext-admin", "23/tcp telnet")
    assert fx.expectations == "profile acme-ipcam200 version 3 -> 4"


def test_new_failure_under_a_new_profile_still_counts_and_says_why() -> None:
    old = run_of("a", flaws={"plug_anon": False})
    devs = sample_devices()
    new = make_run(
        "b",
        devs,
        sample_results(devs, flaws={"plug_anon": True}),
        profiles={**PROFILES, "plugco-sp1": {"version": "2"}},
    )
    old.profiles = {**PROFILES, "plugco-sp1": {"version": "1"}}
    d = compare(old, new, today=TODAY)
    [nf] = d.new_failures
    assert nf.expectations == "profile plugco-sp1 version 1 -> 2"
    assert d.regression
    assert "[expectations changed: profile plugco-sp1 version 1 -> 2]" in render_text(d)


def test_pass_to_not_applicable_is_lost_coverage() -> None:
    old = run_of("a")
    new = _with_verdict(
        run_of("b"), "data.tls-protocol", Verdict.not_applicable, profile="hubco-h1"
    )
    d = compare(old, new, today=TODAY)
    [lost] = d.lost_coverage
    assert (lost.check_id, lost.target, lost.old, lost.new) == (
        "data.tls-protocol",
        "443/tcp https",
        Verdict.passed,
        Verdict.not_applicable,
    )
    assert d.changed == [] and d.fixed == []
    assert "Lost coverage (1):" in render_text(d)
    # A device-wide check that passed and is no longer reported at all: lost too.
    gone = run_of("c")
    gone.results = [r for r in gone.results if r.check_id != "update.signature"]
    assert [c.check_id for c in compare(old, gone, today=TODAY).lost_coverage] == [
        "update.signature"
    ]
    # A device-wide pass that became a verdict on a port is no loss: the check still verifies.
    moved = compare(old, run_of("d", flaws={"hub_telnet": True}), today=TODAY)
    assert moved.lost_coverage == []


def test_runs_of_different_scopes_warn() -> None:
    old, new = run_of("a"), run_of("b")
    new.scope = ScopeInfo(interfaces=["eth1"], cidrs=["10.9.0.0/24"])
    d = compare(old, new, today=TODAY)
    [w] = d.warnings
    assert "different scopes (lab plab0 198.18.0.0/24 -> eth1 10.9.0.0/24)" in w
    assert render_text(d).splitlines()[1].startswith("warning: the runs scanned different scopes")
    assert compare(old, run_of("c"), today=TODAY).warnings == []


def test_baseline_last_is_the_last_run_of_the_same_scope(tmp_path: Path) -> None:
    db = str(tmp_path / "h.sqlite")
    mine = run_of("mine", started=T0)
    other = run_of("other", started=T0 + timedelta(hours=1))
    other.scope = ScopeInfo(interfaces=["eth1"], cidrs=["10.9.0.0/24"])
    with open_store(db) as st:
        st.save(mine)
        st.save(other)
    now = run_of("now", started=T0 + timedelta(hours=2))
    assert load_baseline("last", db=db, exclude="now", scope=now.scope).run_id == "mine"
    assert load_baseline("last", db=db, exclude="now").run_id == "other"
    d = compare_to_baseline(now, "last", db=db, today=TODAY)
    assert d.old_run == "mine" and d.vanished == [] and d.warnings == []
    lone = run_of("lone", started=T0 + timedelta(hours=3))
    lone.scope = ScopeInfo(interfaces=["eth9"], cidrs=["10.99.0.0/24"])
    with pytest.raises(ProbeError, match=r"no complete run of scope eth9 10\.99\.0\.0/24"):
        load_baseline("last", db=db, exclude="lone", scope=lone.scope)
    # With bench names: the same bench too (two benches may scan the same lab subnet).
    night = run_of("night", started=T0 + timedelta(hours=4))
    night.bench = "bench-b"
    with open_store(db) as st:
        st.save(night)
    mine_b = run_of("mine-b", started=T0 + timedelta(hours=5))
    mine_b.bench = "bench-a"
    assert load_baseline("last", db=db, scope=mine_b.scope).run_id == "night"
    with pytest.raises(ProbeError, match="no complete run of bench bench-a"):
        load_baseline("last", db=db, scope=mine_b.scope, bench="bench-a")
    d = compare(night, mine_b, today=TODAY)
    assert "the runs are of different benches (bench-b -> bench-a)" in d.warnings
