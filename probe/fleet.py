"""Many benches, one history: the views across benches.

A fleet is every bench that writes to one history (PostgreSQL shared by the bench hosts). This
module reads a `Store` and builds what `probe report --fleet` draws and what `probe diff --bench
/--firmware` compares; it measures nothing and judges nothing itself: regressions and flapping
come from `probe.diff.compare`, verdicts and scores from the stored runs.

- `model_view(run, model)`: one run cut down to the units of one model, merged into one
  pseudo-device (each finding the worst over the units), so that the same model on two benches
  (different units, different MACs) or two firmware builds can be diffed like two nights.
- `compare_across(store, model, old, new)`: the diff of a model between two selections
  (two benches; firmware N-1 and N).
- `build_fleet(store)`: every bench's latest run with its age, what regressed since that bench's
  previous run, flapping checks, per-model conformance across benches, a trend per model and
  firmware build.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from lanprobe.diff import Change, Diff, Flap, compare
from lanprobe.errors import ProbeError
from lanprobe.labels import report_link_or
from lanprobe.model import Device, DeviceScore, DeviceVerdict, ScanRun
from lanprobe.store import DeviceRow, RunFilter, RunSummary, Store
from lanprobe.verdicts import device_rank

DEFAULT_REPORT_URL = "reports/{run_id}/report.html"  # where `probe scan` writes it by default


def report_link(template: str, run_id: str, bench: str) -> str:
    """`template` with ``{run_id}`` and ``{bench}`` filled in; ValueError naming any other
    placeholder (a CI variable written as {NAME} instead of $NAME)."""
    try:
        return template.format(run_id=run_id, bench=bench)
    except (KeyError, IndexError) as exc:
        raise ValueError(f"{template!r}: only {{run_id}} and {{bench}} are filled in") from exc
    except ValueError as exc:
        raise ValueError(f"{template!r}: {exc}") from exc


def _is_model(dev: Device, model: str) -> bool:
    return model in (dev.profile, dev.model)


def model_view(run: ScanRun, model: str, firmware: str | None = None) -> ScanRun | None:
    """`run` reduced to the units of `model` (profile id or observed model name), and of
    `firmware` if given, merged into one device keyed ``model:<model>``; None without such a
    unit. The merged device's score is the worst unit's."""
    units = [
        d
        for d in run.devices
        if _is_model(d, model) and (firmware is None or d.firmware == firmware)
    ]
    if not units:
        return None
    key = f"model:{model}"
    first = units[0]
    merged = Device(
        key=key,
        profile=first.profile,
        model=first.model,
        firmware=", ".join(sorted({d.firmware for d in units if d.firmware})),
        hostname=f"{len(units)} unit(s) on {run.bench or 'an unnamed bench'}",
    )
    keys = {d.key for d in units}
    results = [r.model_copy(update={"device": key}) for r in run.results if r.device in keys]
    scores = [run.scores[d.key] for d in units if d.key in run.scores]
    worst: list[DeviceScore] = sorted(
        scores, key=lambda s: (-device_rank(s.verdict), s.score if s.score is not None else 0)
    )
    view = run.model_copy(
        update={
            "devices": [merged],
            "results": results,
            "scores": {key: worst[0].model_copy(update={"device": key})} if worst else {},
        }
    )
    return view


def _latest_view(store: Store, model: str, where: RunFilter) -> ScanRun:
    run = store.latest(replace(where, model=model))
    view = model_view(run, model, where.firmware) if run else None
    if run is None or view is None:
        raise ProbeError(f"no complete run of {model} with {_describe(where)} in the history")
    return view


def _describe(where: RunFilter) -> str:
    parts = [f"bench {where.bench}" if where.bench else "", f"firmware {where.firmware or ''}"]
    return ", ".join(p for p in parts if p and not p.endswith(" ")) or "any bench"


def previous_firmware(store: Store, model: str, firmware: str, bench: str | None = None) -> str:
    """The build of `model` seen before `firmware` first appeared (N-1 of N), by first sighting."""
    first_seen: dict[str, datetime] = {}
    for row in store.device_history(RunFilter(model=model, bench=bench)):
        if row.firmware:
            first_seen.setdefault(row.firmware, row.started)
    if firmware not in first_seen:
        raise ProbeError(f"{model} with firmware {firmware} is not in the history")
    older = [fw for fw, t in first_seen.items() if t < first_seen[firmware]]
    if not older:
        raise ProbeError(f"no {model} firmware before {firmware} in the history")
    return max(older, key=lambda fw: first_seen[fw])


def compare_across(store: Store, model: str, old: RunFilter, new: RunFilter) -> Diff:
    """The diff of one model between two selections of the history (the newest matching run
    of each): the same model on two benches, or one model's firmware N-1 against N."""
    return compare(_latest_view(store, model, old), _latest_view(store, model, new))


# --- the fleet view -----------------------------------------------------------------------------


@dataclass
class BenchStatus:
    """One bench: its newest complete run and what changed since the run before."""

    bench: str
    latest: RunSummary
    age: timedelta
    report: str  # link to the run's HTML report
    previous: RunSummary | None = None
    previous_report: str = ""
    diff: Diff | None = None  # previous -> latest, flapping over the bench's history
    # The bench's newest run when it was interrupted (after `latest`, or its only run): the
    # night did not finish, so "no regression" is not news from tonight.
    unfinished: RunSummary | None = None
    unfinished_report: str = ""

    @property
    def regressions(self) -> list[str]:
        return self.diff.reasons() if self.diff else []

    @property
    def flapping(self) -> list[Flap]:
        return self.diff.flapping if self.diff else []

    @property
    def lost_coverage(self) -> list[Change]:
        """Passes of the previous run no longer verified: "no regression" alone would hide a
        night that checked less (fewer checks selected, a service not reached)."""
        return self.diff.lost_coverage if self.diff else []

    @property
    def warnings(self) -> list[str]:
        return self.diff.warnings if self.diff else []


@dataclass
class ModelCell:
    """One model on one bench in that bench's latest run."""

    units: int
    verdicts: dict[str, int]
    worst: str  # the worst unit's device verdict
    score: float | None  # the lowest unit score
    firmware: list[str]


@dataclass
class FirmwareTrend:
    """One firmware build of one model: how it scored, run by run, on every bench."""

    firmware: str
    first_seen: datetime
    last_seen: datetime
    benches: list[str]
    runs: int
    conforming: int  # unit-runs that conformed
    unit_runs: int
    scores: list[tuple[datetime, float | None, str]]  # (started, score, bench), oldest first

    @property
    def mean_score(self) -> float | None:
        vals = [s for _, s, _ in self.scores if s is not None]
        return round(sum(vals) / len(vals), 1) if vals else None


@dataclass
class ModelRow:
    model: str  # profile id (else the observed model name)
    name: str  # what the units call themselves
    cells: dict[str, ModelCell]  # bench -> cell
    trend: list[FirmwareTrend] = field(default_factory=list)  # oldest build first


@dataclass
class Fleet:
    generated: datetime
    benches: list[BenchStatus]
    models: list[ModelRow]

    @property
    def regressed(self) -> list[BenchStatus]:
        return [b for b in self.benches if b.regressions]

    @property
    def unfinished(self) -> list[BenchStatus]:
        return [b for b in self.benches if b.unfinished]


def build_fleet(
    store: Store,
    *,
    now: datetime | None = None,
    report_url: str = DEFAULT_REPORT_URL,
    history_runs: int = 10,
    trend_rows: int = 5000,
) -> Fleet:
    """The fleet as the history holds it now. A run links to its HTML report where the scan
    recorded it was published (`ScanRun.report_url`), else by `report_url`: a template with
    ``{run_id}`` and ``{bench}`` (CI artifact URLs, or paths beside the page)."""
    now = now or datetime.now(UTC)

    def link(run: ScanRun) -> str:
        return report_link_or(run.report_url, report_link(report_url, run.run_id, run.bench))

    benches = []
    latest_runs: dict[str, ScanRun] = {}
    complete = {s.bench: s for s in store.benches()}
    for newest in store.benches(complete_only=False):
        summary = complete.get(newest.bench)
        unfinished = newest if newest.interrupted else None
        if summary is None:  # not one complete run yet: listed, but nothing to judge
            assert unfinished is not None
            ran = store.load(newest.run_id)
            benches.append(
                BenchStatus(
                    bench=newest.bench,
                    latest=newest,
                    age=now - newest.started,
                    report=link(ran),
                    unfinished=unfinished,
                    unfinished_report=link(ran),
                )
            )
            continue
        run = store.load(summary.run_id)
        latest_runs[summary.bench] = run
        # The bench's earlier nights of the same scope: a one-device scan in between is no
        # "previous night", and would crowd out the nights flapping is read from.
        earlier = store.recent(history_runs + 1, before=run, where=Store.same_series(run))
        status = BenchStatus(
            bench=summary.bench,
            latest=summary,
            age=now - summary.started,
            report=link(run),
        )
        if unfinished is not None:
            status.unfinished = unfinished
            status.unfinished_report = link(store.load(unfinished.run_id))
        if earlier:
            prev = earlier[-1]
            status.previous = RunSummary.of(prev)
            status.previous_report = link(prev)
            status.diff = compare(prev, run, history=earlier[:-1])
        benches.append(status)
    return Fleet(
        generated=now,
        benches=benches,
        models=_model_rows(latest_runs, store.device_history(limit=trend_rows)),
    )


def _model_key(dev: Device | DeviceRow) -> str:
    return dev.profile or dev.model or "unmatched"


def _model_rows(latest: dict[str, ScanRun], history: Sequence[DeviceRow]) -> list[ModelRow]:
    rows: dict[str, ModelRow] = {}
    for bench, run in latest.items():
        for dev in run.devices:
            key = _model_key(dev)
            row = rows.setdefault(key, ModelRow(model=key, name=dev.model, cells={}))
            row.name = row.name or dev.model
            score = run.scores.get(dev.key)
            verdict = score.verdict.value if score else "inconclusive"
            cell = row.cells.setdefault(bench, ModelCell(0, {}, verdict, None, []))
            cell.units += 1
            cell.verdicts[verdict] = cell.verdicts.get(verdict, 0) + 1
            if device_rank(DeviceVerdict(verdict)) > device_rank(DeviceVerdict(cell.worst)):
                cell.worst = verdict
            if score and score.score is not None:
                cell.score = score.score if cell.score is None else min(cell.score, score.score)
            if dev.firmware and dev.firmware not in cell.firmware:
                cell.firmware.append(dev.firmware)
    trends: dict[str, dict[str, FirmwareTrend]] = {}
    per_run: dict[tuple[str, str, str], tuple[datetime, float | None, str]] = {}
    for h in history:  # oldest first
        key = _model_key(h)
        if key not in rows:
            rows[key] = ModelRow(model=key, name=h.model, cells={})
        fw = h.firmware or "(not observed)"
        t = trends.setdefault(key, {}).get(fw)
        if t is None:
            t = FirmwareTrend(fw, h.started, h.started, [], 0, 0, 0, [])
            trends[key][fw] = t
        t.last_seen = h.started
        if h.bench not in t.benches:
            t.benches.append(h.bench)
        t.unit_runs += 1
        t.conforming += h.verdict == DeviceVerdict.conforms.value
        # One point per run: the lowest score of the build's units in it.
        slot = (key, fw, h.run_id)
        prev = per_run.get(slot)
        low = h.score if prev is None or prev[1] is None else _lowest(prev[1], h.score)
        per_run[slot] = (h.started, low, h.bench)
    for (key, fw, _), point in per_run.items():
        trends[key][fw].scores.append(point)
    for key, row in rows.items():
        row.trend = sorted(trends.get(key, {}).values(), key=lambda t: t.first_seen)
        for t in row.trend:
            t.runs = len(t.scores)
    return [rows[k] for k in sorted(rows)]


def _lowest(a: float, b: float | None) -> float:
    return a if b is None else min(a, b)
