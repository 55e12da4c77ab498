"""Regression between two runs: what got worse, what got fixed, what flaps.

`compare(old, new, history=None, waivers=None)` is the one entry point; `probe diff` and
`probe scan --baseline` both call it. Devices are matched by MAC, then by serial (only where the
serial is unique on both benches: twin units sharing one would be matched at random), then by
key. A finding is keyed by (check id, port, transport); several results under one key count as
the worst of them.

Two kinds of change are kept apart: the device changed, or our expectations did (the baseline or
the device's profile differs between the runs, by version or by content). A verdict change on a
device whose expectations changed, on a target the device still has, is listed as "changed with
the expectations", never as fixed; a new failure there still counts (a fail is a fail) and names
the change. A result that went from pass to not_applicable (or stopped being reported while its
port is still open) is lost coverage: listed, not silent. Runs of different scopes are compared
with a warning first (devices outside one of them show as vanished or appeared).

A regression is: a failure that is new (the check did not fail before, or did not run), unless a
live waiver accepts it; a failure whose waiver has expired (it counts again, new or not); a device
whose verdict got worse for a reason no waiver covers; a device that vanished (it can no longer be
verified). Flapping checks (verdict changed twice or more across the history) are flagged on the
changes they touch; they still count, so that a waiver is the only way to silence them.

A waivers file (`--waivers FILE`)::

    waivers:
      - model: hubco-h1              # profile id, or "*" for every model
        check: access.cleartext-admin
        port: 23                     # optional: only this target
        device: "02:00:00:00:00:0d"  # optional: only this unit (MAC, serial or key)
        reason: telnet left on in beta firmware 1.4b, fixed in 1.4 (QA-123)
        expires: 2026-06-30          # inclusive; from the day after, the failure counts again
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from lanprobe import labels
from lanprobe.errors import ProbeError
from lanprobe.labels import target_label
from lanprobe.model import Device, DeviceVerdict, Result, ScanRun, ScopeInfo, Severity, Verdict
from lanprobe.verdicts import device_rank
from lanprobe.verdicts import rank as verdict_rank
from pydantic import BaseModel, ConfigDict, Field, ValidationError

FLAP_MIN_CHANGES = 2


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- waivers ------------------------------------------------------------------------------------


class Waiver(_Model):
    """Accepts a known failure of a device model's check until `expires` (inclusive)."""

    model: str  # profile id; "*" for every model
    check: str  # check id
    reason: str = Field(min_length=1)
    expires: date
    port: int | None = None  # only this target
    device: str | None = None  # only this unit: MAC, serial or device key

    def active(self, today: date) -> bool:
        return today <= self.expires

    def covers(self, dev: Device | None, result_check: str, port: int | None) -> bool:
        if result_check != self.check:
            return False
        if self.port is not None and port != self.port:
            return False
        profile = dev.profile if dev else None
        if self.model != "*" and profile != self.model:
            return False
        if self.device is not None:
            if dev is None:
                return False
            ids = {dev.key.lower(), (dev.mac or "").lower(), (dev.identifier("serial") or "")}
            if self.device.lower() not in {i.lower() for i in ids if i}:
                return False
        return True

    def describe(self) -> str:
        where = self.model + (f"/{self.device}" if self.device else "")
        port = f":{self.port}" if self.port is not None else ""
        return f"{where} {self.check}{port} until {self.expires.isoformat()} ({self.reason})"


class _WaiverFile(_Model):
    waivers: list[Waiver] = Field(default_factory=list)


def load_waivers(path: Path) -> list[Waiver]:
    """Read a waivers YAML file: ``waivers: [{model, check, reason, expires, port?, device?}]``."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError) as exc:
        raise ProbeError(f"{path}: cannot read waivers: {exc}") from exc
    try:
        return _WaiverFile.model_validate(data or {}).waivers
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ProbeError(f"{path}: {where}: {err['msg']}") from exc


# --- the diff -----------------------------------------------------------------------------------


class DeviceRef(_Model):
    key: str
    label: str  # profile@ip
    mac: str | None = None
    serial: str | None = None
    profile: str | None = None


class Change(_Model):
    device: DeviceRef
    check_id: str
    target: str = ""  # "23/tcp telnet", or "" for a device-wide check
    severity: Severity
    title: str
    old: Verdict | None = None  # None: the check did not report this target
    new: Verdict | None = None
    flapping: bool = False
    waiver: str | None = None  # the waiver that accepts it (live or expired), described
    expectations: str = ""  # what changed in the expectations of this device, if anything


class DeviceChange(_Model):
    device: DeviceRef
    old: DeviceVerdict | None
    new: DeviceVerdict | None
    old_score: float | None = None
    new_score: float | None = None
    regression: bool = False


class Flap(_Model):
    device: DeviceRef
    check_id: str
    target: str = ""
    sequence: list[Verdict | None]  # oldest first, the new run last


class Diff(_Model):
    old_run: str
    new_run: str
    history_runs: int = 0
    warnings: list[str] = Field(default_factory=list)  # e.g. the runs' scopes differ
    expectations: list[str] = Field(default_factory=list)  # baseline/profile changes
    new_failures: list[Change] = Field(default_factory=list)  # not waived
    fixed: list[Change] = Field(default_factory=list)  # the device changed, not the profile
    expectation_changes: list[Change] = Field(default_factory=list)  # changed with the profile
    lost_coverage: list[Change] = Field(default_factory=list)  # pass -> not_applicable / absent
    changed: list[Change] = Field(default_factory=list)  # other verdict changes
    waived: list[Change] = Field(default_factory=list)  # failures a live waiver accepts
    expired: list[Change] = Field(default_factory=list)  # failures whose waiver expired
    devices: list[DeviceChange] = Field(default_factory=list)  # verdict or score changed
    appeared: list[DeviceRef] = Field(default_factory=list)
    vanished: list[DeviceRef] = Field(default_factory=list)
    flapping: list[Flap] = Field(default_factory=list)
    unused_waivers: list[str] = Field(default_factory=list)

    @property
    def regression(self) -> bool:
        return bool(
            self.new_failures
            or self.expired
            or self.vanished
            or any(d.regression for d in self.devices)
        )

    def reasons(self) -> list[str]:
        """One line per regression, for exit messages and CI logs."""
        out = [f"new failure: {_change_line(c)}" for c in self.new_failures]
        out += [f"waiver expired: {_change_line(c)}" for c in self.expired]
        out += [
            f"device verdict worse: {d.device.label} {_dv(d.old)} -> {_dv(d.new)}"
            for d in self.devices
            if d.regression
        ]
        out += [f"device vanished: {d.label}" for d in self.vanished]
        return out


_Key = tuple[str, int | None, str]  # check id, port, transport


def _key(r: Result) -> _Key:
    return (r.check_id, r.target.port, r.target.transport)


def _target(r: Result) -> str:
    return target_label(r.target)


def _worst(results: Iterable[Result]) -> dict[_Key, Result]:
    out: dict[_Key, Result] = {}
    for r in results:
        k = _key(r)
        if k not in out or verdict_rank(r.verdict) > verdict_rank(out[k].verdict):
            out[k] = r
    return out


def device_label(dev: Device) -> str:
    return labels.device_label(dev.profile, dev.ip, dev.key)


def _ref(dev: Device) -> DeviceRef:
    return DeviceRef(
        key=dev.key,
        label=device_label(dev),
        mac=dev.mac.lower() if dev.mac else None,
        serial=dev.identifier("serial"),
        profile=dev.profile,
    )


def _identity(dev: Device) -> str:
    """A stable name for a unit across runs (MAC, else serial, else key): history lookups."""
    if dev.mac:
        return "mac:" + dev.mac.lower()
    serial = dev.identifier("serial")
    return "serial:" + serial if serial else "key:" + dev.key


def match_devices(old: ScanRun, new: ScanRun) -> list[tuple[Device | None, Device | None]]:
    """Pairs (old, new); a None side means the device vanished or appeared."""
    pairs: list[tuple[Device | None, Device | None]] = []
    left = list(old.devices)
    right = list(new.devices)

    def take(keyf: Any) -> None:
        def index(devs: list[Device]) -> dict[str, list[Device]]:
            out: dict[str, list[Device]] = {}
            for d in devs:
                k = keyf(d)
                if k:
                    out.setdefault(k, []).append(d)
            return out

        lo, ro = index(left), index(right)
        for k, olds in lo.items():
            news = ro.get(k, [])
            if len(olds) == 1 and len(news) == 1:  # ambiguous keys are never matched
                pairs.append((olds[0], news[0]))
                left.remove(olds[0])
                right.remove(news[0])

    take(lambda d: d.mac.lower() if d.mac else None)
    take(lambda d: d.identifier("serial"))
    take(lambda d: d.key)
    pairs.extend((d, None) for d in left)
    pairs.extend((None, d) for d in right)
    return pairs


def compare(
    old: ScanRun,
    new: ScanRun,
    history: Sequence[ScanRun] | None = None,
    waivers: Sequence[Waiver] | None = None,
    *,
    today: date | None = None,
) -> Diff:
    """Diff two runs. `history`: earlier runs (oldest first, before `old`) for flapping."""
    today = today or date.today()
    waivers = list(waivers or [])
    history = [h for h in (history or []) if h.run_id not in (old.run_id, new.run_id)]
    diff = Diff(old_run=old.run_id, new_run=new.run_id, history_runs=len(history))
    used: set[int] = set()
    timeline = _timeline([*history, old, new])

    def waiver_for(dev: Device, r: Result) -> Waiver | None:
        """The waiver covering a failure: a live one before an expired one."""
        hits = [(i, w) for i, w in enumerate(waivers) if w.covers(dev, r.check_id, r.target.port)]
        used.update(i for i, _ in hits)
        live = [w for _, w in hits if w.active(today)]
        ordered = live or [w for _, w in hits]
        return ordered[0] if ordered else None

    if not old.scope.same_as(new.scope):
        diff.warnings.append(
            f"the runs scanned different scopes ({old.scope.label()} -> {new.scope.label()}): "
            "devices outside one of them show as vanished or appeared"
        )
    if old.bench and new.bench and old.bench != new.bench:
        diff.warnings.append(f"the runs are of different benches ({old.bench} -> {new.bench})")
    baseline_change = _baseline_change(old, new)
    diff.expectations = ([baseline_change] if baseline_change else []) + _profile_changes(old, new)

    for odev, ndev in match_devices(old, new):
        if ndev is None:
            assert odev is not None
            diff.vanished.append(_ref(odev))
            continue
        if odev is None:
            diff.appeared.append(_ref(ndev))
            _waive_only(diff, ndev, _worst(new.results_for(ndev.key)).values(), waiver_for, today)
            continue
        ref = _ref(ndev)
        why = _device_expectations(old, new, odev, ndev, baseline_change)
        if odev.profile != ndev.profile:  # a new profile took it (profile init), or lost it
            diff.expectations.append(
                f"{ref.label} is held to another profile ({odev.profile or 'none'} -> "
                f"{ndev.profile or 'none'})"
            )
        ores = _worst(old.results_for(odev.key))
        nres = _worst(new.results_for(ndev.key))
        worse_unwaived = False
        for k in sorted(set(ores) | set(nres), key=lambda k: (k[0], k[1] or 0, k[2])):
            o, n = ores.get(k), nres.get(k)
            r = n or o
            assert r is not None
            ov, nv = (o.verdict if o else None), (n.verdict if n else None)
            seq = timeline.get((_identity(ndev), k), [])
            flapping = _changes(seq) >= FLAP_MIN_CHANGES
            if flapping:
                diff.flapping.append(
                    Flap(device=ref, check_id=k[0], target=_target(r), sequence=seq)
                )
            # Still there on both sides: a change on it is not the port closing.
            kept = k[1] is None or (
                odev.service(k[1], k[2]) is not None and ndev.service(k[1], k[2]) is not None
            )
            change = Change(
                device=ref,
                check_id=k[0],
                target=_target(r),
                severity=r.severity,
                title=r.title,
                old=ov,
                new=nv,
                flapping=flapping,
                expectations=why,
            )
            if ov is Verdict.passed and kept and _lost(nv, k[0], nres):
                diff.lost_coverage.append(change)
                continue
            if nv is Verdict.fail:
                w = waiver_for(ndev, r)
                if w is not None:
                    change.waiver = w.describe()
                    if w.active(today):
                        diff.waived.append(change)
                    else:
                        diff.expired.append(change)
                        worse_unwaived = True
                    continue
                if ov is not Verdict.fail:
                    diff.new_failures.append(change)
                    worse_unwaived = True
            elif ov is Verdict.fail:
                if why and kept:
                    diff.expectation_changes.append(change)
                elif nv in (Verdict.passed, Verdict.not_applicable, None):
                    diff.fixed.append(change)
                else:
                    diff.changed.append(change)
            elif ov != nv and ov is not None and nv is not None:
                (diff.expectation_changes if why and kept else diff.changed).append(change)
                if verdict_rank(nv) > verdict_rank(ov):
                    worse_unwaived = True
        _device_change(diff, old, new, odev, ndev, worse_unwaived)
    diff.unused_waivers = [w.describe() for i, w in enumerate(waivers) if i not in used]
    return diff


def _lost(new: Verdict | None, check_id: str, results: dict[_Key, Result]) -> bool:
    """A target that passed is no longer verified: not_applicable now, or not reported while
    the check says nothing else about the device (a check that moved its verdict to a port,
    e.g. a device-wide pass becoming a fail on 23/tcp, still verifies)."""
    if new is Verdict.not_applicable:
        return True
    return new is None and not any(
        k[0] == check_id and r.verdict is not Verdict.not_applicable for k, r in results.items()
    )


def _baseline_change(old: ScanRun, new: ScanRun) -> str:
    """What differs between the runs' baselines; empty when they are the same."""
    ob, nb = old.baseline, new.baseline
    if ob.get("id") != nb.get("id") or ob.get("version") != nb.get("version"):
        return (
            f"baseline {ob.get('id', '?')} {ob.get('version', '?')} -> "
            f"{nb.get('id', '?')} {nb.get('version', '?')}"
        )
    if ob.get("digest") and nb.get("digest") and ob["digest"] != nb["digest"]:
        return f"baseline {nb.get('id', '?')} {nb.get('version', '?')} edited (same version)"
    return ""


def _profile_change(old: ScanRun, new: ScanRun, profile: str) -> str:
    """What differs in a profile between the runs; empty when it is the same."""
    o, n = old.profiles.get(profile) or {}, new.profiles.get(profile) or {}
    if o.get("version") != n.get("version"):
        return f"profile {profile} version {o.get('version', '?')} -> {n.get('version', '?')}"
    if o.get("digest") and n.get("digest"):
        edited = o["digest"] != n["digest"]
    else:  # runs from before profiles were fingerprinted: what the run kept of them
        edited = any(o.get(f) != n.get(f) for f in ("declarations", "not_applicable"))
    return f"profile {profile} edited (version {n.get('version', '?')} unchanged)" if edited else ""


def _profile_changes(old: ScanRun, new: ScanRun) -> list[str]:
    both = sorted(set(old.profiles) & set(new.profiles))
    return [c for c in (_profile_change(old, new, p) for p in both) if c]


def _device_expectations(
    old: ScanRun, new: ScanRun, odev: Device, ndev: Device, baseline_change: str
) -> str:
    """What changed in what this device is held to ("" when nothing did)."""
    why = [baseline_change] if baseline_change else []
    if odev.profile != ndev.profile:
        why.append(f"profile {odev.profile or 'none'} -> {ndev.profile or 'none'}")
    elif ndev.profile:
        why.append(_profile_change(old, new, ndev.profile))
    return "; ".join(w for w in why if w)


def _waive_only(
    diff: Diff, dev: Device, results: Iterable[Result], waiver_for: Any, today: date
) -> None:
    """A device with no past: its failures are not regressions, but waivers still apply."""
    for r in results:
        if r.verdict is not Verdict.fail:
            continue
        w = waiver_for(dev, r)
        if w is None:
            continue
        change = Change(
            device=_ref(dev),
            check_id=r.check_id,
            target=_target(r),
            severity=r.severity,
            title=r.title,
            new=r.verdict,
            waiver=w.describe(),
        )
        (diff.waived if w.active(today) else diff.expired).append(change)


def _device_change(
    diff: Diff, old: ScanRun, new: ScanRun, odev: Device, ndev: Device, worse_unwaived: bool
) -> None:
    os_, ns = old.scores.get(odev.key), new.scores.get(ndev.key)
    ov = os_.verdict if os_ else None
    nv = ns.verdict if ns else None
    oscore = os_.score if os_ else None
    nscore = ns.score if ns else None
    if ov == nv and oscore == nscore:
        return
    worse = ov is not None and nv is not None and device_rank(nv) > device_rank(ov)
    diff.devices.append(
        DeviceChange(
            device=_ref(ndev),
            old=ov,
            new=nv,
            old_score=oscore,
            new_score=nscore,
            regression=worse and worse_unwaived,
        )
    )


def _timeline(runs: Sequence[ScanRun]) -> dict[tuple[str, _Key], list[Verdict | None]]:
    """(unit identity, finding key) -> its verdict in each run (None: absent), oldest first."""
    out: dict[tuple[str, _Key], list[Verdict | None]] = {}
    for i, run in enumerate(runs):
        for dev in run.devices:
            ident = _identity(dev)
            for k, r in _worst(run.results_for(dev.key)).items():
                seq = out.setdefault((ident, k), [None] * len(runs))
                seq[i] = r.verdict
    return out


def _changes(seq: Sequence[Verdict | None]) -> int:
    """How often the verdict changed, skipping runs where the check did not report."""
    seen = [v for v in seq if v is not None]
    return sum(1 for a, b in pairwise(seen) if a != b)


# --- baseline and rendering ---------------------------------------------------------------------


class NoBaselineYet(ProbeError):
    """`--baseline last` before the first complete run of the scope and bench: nothing to
    compare (`probe scan` says so and its run starts the history; `probe report` refuses)."""


def load_baseline(
    spec: str,
    *,
    db: str | None = None,
    exclude: str | None = None,
    scope: ScopeInfo | None = None,
    bench: str | None = None,
    before: datetime | None = None,
) -> ScanRun:
    """`--baseline RUN.json` or `--baseline last`: the newest complete run in the history of
    the same `bench` and `scope` when given (another bench's run is no baseline for this one),
    and started before `before` (a report of an old run is compared with the run before it)."""
    if spec != "last":
        path = Path(spec)
        if not path.is_file():
            raise ProbeError("no such baseline run.json")
        return ScanRun.read(path)
    from lanprobe.store import open_store

    with open_store(db) as store:
        run = store.last(exclude=exclude, scope=scope, bench=bench, before=before)
    if run is None:
        where = f" of bench {bench}" if bench else ""
        where += f" of scope {scope.label()}" if scope is not None else ""
        raise NoBaselineYet(f"the history holds no complete run{where} yet")
    return run


def compare_to_baseline(
    run: ScanRun,
    baseline: str | ScanRun,
    *,
    db: str | None = None,
    waivers: Path | None = None,
    history_runs: int = 10,
    today: date | None = None,
) -> Diff:
    """What `probe scan --baseline RUN.json|last [--waivers F]` needs in one call.

    History (for flapping) comes from `db`, or from the default store when it exists; a scan
    without a history still gets its diff, just no flapping flags.
    """
    from lanprobe.store import default_db_path, open_store

    old = baseline
    if isinstance(old, str):
        old = load_baseline(old, db=db, exclude=run.run_id, scope=run.scope, bench=run.bench)
    history: list[ScanRun] = []
    if db or default_db_path().exists():
        with open_store(db) as store:
            history = store.history_before(old, history_runs)
    ws = load_waivers(waivers) if waivers else None
    return compare(old, run, history=history, waivers=ws, today=today)


def _dv(v: DeviceVerdict | None) -> str:
    return v.value if v else "-"


def _v(v: Verdict | None) -> str:
    return v.value if v else "absent"


def _change_line(c: Change) -> str:
    target = f" [{c.target}]" if c.target else ""
    flap = " (flapping)" if c.flapping else ""
    why = f" [expectations changed: {c.expectations}]" if c.expectations else ""
    return (
        f"{c.device.label} {c.check_id}{target} {_v(c.old)} -> {_v(c.new)} "
        f"({c.severity.value}): {c.title}{flap}{why}"
    )


def _lines(changes: list[Change]) -> list[str]:
    return [_change_line(c) for c in changes]


def render_text(diff: Diff) -> str:
    """Plain text for terminals and CI logs; the regressions come first."""
    lines = [f"diff {diff.old_run} -> {diff.new_run}"]
    if diff.history_runs:
        lines[0] += f" (flapping over {diff.history_runs + 2} runs)"

    def section(title: str, items: list[str]) -> None:
        if items:
            lines.append(f"\n{title} ({len(items)}):")
            lines.extend(f"  {i}" for i in items)

    lines.extend(f"warning: {w}" for w in diff.warnings)
    if diff.expectations:
        lines.append(
            "expectations changed between the runs: "
            + "; ".join(diff.expectations)
            + "\n  (verdict changes on those devices are listed apart: they may come from the new "
            "expectations, not from the device)"
        )
    section("REGRESSIONS", diff.reasons())
    section("Lost coverage", _lines(diff.lost_coverage))
    section("Fixed", _lines(diff.fixed))
    expected = _lines(diff.expectation_changes)
    section("Changed with the expectations (not counted as fixed)", expected)
    section("Other verdict changes", [_change_line(c) for c in diff.changed])
    section(
        "Device verdicts",
        [
            f"{d.device.label} {_dv(d.old)} -> {_dv(d.new)}, score "
            f"{_score(d.old_score)} -> {_score(d.new_score)}"
            for d in diff.devices
        ],
    )
    section("Appeared", [d.label for d in diff.appeared])
    section("Waived", [f"{_change_line(c)} -- {c.waiver}" for c in diff.waived])
    section("Expired waivers", [f"{c.waiver}" for c in diff.expired])
    section(
        "Flapping",
        [
            f"{f.device.label} {f.check_id}"
            + (f" [{f.target}]" if f.target else "")
            + ": "
            + " ".join(_v(v) for v in f.sequence)
            for f in diff.flapping
        ],
    )
    section("Waivers that matched nothing", diff.unused_waivers)
    lines.append("\n" + ("REGRESSION" if diff.regression else "no regression"))
    return "\n".join(lines) + "\n"


def _score(s: float | None) -> str:
    return "-" if s is None else f"{s:.0f}"
