"""The HTML report: one self-contained file (inline CSS and SVG, no script, no fetch of any kind).

A Content-Security-Policy of ``default-src 'none'`` in the page makes a browser refuse any fetch,
so a stray URL in evidence can never make the report call out. Chart geometry is computed here
(plain numbers), the template only draws it; jinja2 autoescapes everything the devices sent.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from lanprobe.baseline import default_baseline
from lanprobe.diff import Diff, device_label
from lanprobe.labels import report_link_or, target_label
from lanprobe.model import (
    Capability,
    Device,
    DeviceScore,
    DeviceVerdict,
    Result,
    ScanRun,
    Severity,
    Verdict,
)
from lanprobe.report.transcript import Line, transcript
from lanprobe.store import DeviceRow, RunSummary
from lanprobe.verdicts import report_position
from markupsafe import Markup

CAPABILITY_LABELS = {
    Capability.device_identification: "Device identification",
    Capability.device_configuration: "Device configuration",
    Capability.data_protection: "Data protection",
    Capability.logical_access: "Logical access to interfaces",
    Capability.software_update: "Software update",
    Capability.cybersecurity_state_awareness: "Cybersecurity state awareness",
    Capability.declarations: "Maker's declarations",
}
FOUNDATIONAL_LABELS = {
    "use_cases": "Intended use",
    "customers": "Intended customers",
    "environment": "Expected environment",
    "dependencies": "Dependencies",
    "misuse": "Foreseeable misuse",
    "data": "Data collected",
    "support": "Support",
    "end_of_life": "End of life",
    "problem_reporting": "How to report problems",
}
# `probe scan --out reports/<run_id>` puts each run's report beside the others'.
REPORT_URL = "../{run_id}/report.html"
HISTORY_POINTS = 12  # the unit's last runs shown on its page
_C0 = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def remediation(r: Result) -> str:
    """What to do about a finding: its check's remediation in the baseline (`CheckMeta`)."""
    return default_baseline().meta(r.check_id, r.capability).remediation


# --- charts -------------------------------------------------------------------------------------


@dataclass
class Bar:
    label: str
    y: float
    score: float | None
    width: float  # px of the score bar
    coverage: float
    cov_width: float
    tone: str  # good / warn / bad / none


@dataclass
class CapabilityChart:
    width: int
    height: int
    track_x: int
    track_w: int
    bars: list[Bar]
    ticks: list[tuple[float, int]]  # (x, value)


def tone(score: float | None) -> str:
    if score is None:
        return "none"
    return "good" if score >= 80 else "warn" if score >= 50 else "bad"


def capability_chart(score: DeviceScore | None) -> CapabilityChart:
    track_x, track_w, row = 250, 300, 36
    bars = []
    for i, cap in enumerate(Capability):
        detail = score.details.get(cap.value) if score else None
        value = detail.score if detail else (score.capabilities.get(cap.value) if score else None)
        cov = detail.coverage if detail else 0.0
        bars.append(
            Bar(
                label=CAPABILITY_LABELS[cap],
                y=10 + i * row,
                score=value,
                width=track_w * (value or 0) / 100,
                coverage=cov,
                cov_width=track_w * cov / 100,  # coverage is a percentage, like scores
                tone=tone(value),
            )
        )
    ticks = [(track_x + track_w * v / 100, v) for v in (0, 50, 100)]
    height = 10 + len(bars) * row + 18
    # Right of the track: the score at +8 (up to "100", ~24 px) and the coverage label, which
    # ends 4 px inside the edge (right-aligned, "cov 100%" ~50 px), so it is never clipped.
    return CapabilityChart(track_x + track_w + 110, height, track_x, track_w, bars, ticks)


@dataclass
class Segment:
    x: float
    width: float
    count: int
    label: str
    tone: str


def stacked_bar(counts: list[tuple[str, int, str]], width: float = 600) -> list[Segment]:
    total = sum(c for _, c, _ in counts) or 1
    out, x = [], 0.0
    for label, count, t in counts:
        w = width * count / total
        if count:
            out.append(Segment(x=x, width=w, count=count, label=label, tone=t))
        x += w
    return out


@dataclass
class TrendPoint:
    x: float
    y: float | None  # mean score, None when nothing scored
    bar_y: float
    bar_h: float
    fails: int
    label: str
    title: str
    current: bool
    day: str = ""  # the date under a time-of-day label, at the first of its day


@dataclass
class TrendChart:
    width: int
    height: int
    plot_x: int
    plot_y: int
    plot_w: int
    plot_h: int
    bar_w: float
    points: list[TrendPoint]
    line: str  # SVG polyline points of the score
    grid: list[tuple[float, int]]
    max_fails: int


def _trend_labels(summaries: Sequence[RunSummary], every: int) -> list[tuple[str, str]]:
    """(label, day) per run, every `every`-th and the last labelled: the date, or where two
    labelled runs share a date, the time of day (UTC) with the date under the day's first."""
    n = len(summaries)
    shown = [i for i in range(n) if i % every == 0 or i == n - 1]
    per_day: dict[str, list[int]] = {}
    for i in shown:
        per_day.setdefault(f"{summaries[i].started:%m-%d}", []).append(i)
    out = [("", "")] * n
    for day, idx in per_day.items():
        if len(idx) == 1:
            out[idx[0]] = (day, "")
            continue
        minutes = [f"{summaries[i].started:%H:%M}" for i in idx]
        fmt = "%H:%M" if len(set(minutes)) == len(minutes) else "%H:%M:%S"
        for j, i in enumerate(idx):
            out[i] = (f"{summaries[i].started:{fmt}}", day if j == 0 else "")
    return out


def trend_chart(summaries: Sequence[RunSummary], current_id: str) -> TrendChart | None:
    """Mean score (line) and failing results (bars) per run, oldest first; None if < 2 runs."""
    if len(summaries) < 2:
        return None
    plot_x, plot_y, plot_w, plot_h = 48, 16, 560, 170
    n = len(summaries)
    step = plot_w / n
    max_fails = max(max(s.verdicts.get("fail", 0) for s in summaries), 1)
    points = []
    label_every = max(1, n // 8)
    labels = _trend_labels(summaries, label_every)
    for i, s in enumerate(summaries):
        cx = plot_x + step * (i + 0.5)
        fails = s.verdicts.get("fail", 0)
        bar_h = plot_h * fails / max_fails * 0.9
        y = None if s.mean_score is None else plot_y + plot_h * (1 - s.mean_score / 100)
        points.append(
            TrendPoint(
                x=cx,
                y=y,
                bar_y=plot_y + plot_h - bar_h,
                bar_h=bar_h,
                fails=fails,
                label=labels[i][0],
                day=labels[i][1],
                title=(
                    f"{s.run_id} {s.started:%Y-%m-%d %H:%M} UTC: "
                    f"score {'-' if s.mean_score is None else f'{s.mean_score:.1f}'}, "
                    f"{fails} failing, {s.device_verdicts.get('does_not_conform', 0)} of "
                    f"{s.devices} devices not conforming"
                ),
                current=s.run_id == current_id,
            )
        )
    line = " ".join(f"{p.x:.1f},{p.y:.1f}" for p in points if p.y is not None)
    grid = [(plot_y + plot_h * (1 - v / 100), v) for v in (0, 25, 50, 75, 100)]
    return TrendChart(
        width=plot_x + plot_w + 48,
        height=plot_y + plot_h + 48,  # room for a date under time-of-day labels
        plot_x=plot_x,
        plot_y=plot_y,
        plot_w=plot_w,
        plot_h=plot_h,
        bar_w=min(step * 0.5, 28),
        points=points,
        line=line,
        grid=grid,
        max_fails=max_fails,
    )


# --- page model ---------------------------------------------------------------------------------


@dataclass
class Finding:
    result: Result
    target: str
    evidence: str  # the raw JSON, folded away in the page
    remediation: str
    transcript: list[Line] = field(default_factory=list)


@dataclass
class HistoryPoint:
    """This unit in one stored run of the same bench (the device's history, linked)."""

    run_id: str
    started: datetime
    verdict: str
    score: float | None
    firmware: str
    link: str
    current: bool


@dataclass
class DeviceView:
    anchor: str
    label: str
    device: Device | None
    score: DeviceScore | None
    chart: CapabilityChart
    findings: list[Finding]  # fail, error, inconclusive
    others: list[Finding]  # pass, not_applicable
    counts: dict[str, int]
    declared: list[tuple[str, str]]  # (capability or element, statement)
    history: list[HistoryPoint] = field(default_factory=list)

    @property
    def by_severity(self) -> list[tuple[str, list[Finding]]]:
        """The findings grouped by severity, the most severe group first."""
        groups: dict[Severity, list[Finding]] = {}
        for f in self.findings:
            groups.setdefault(f.result.severity, []).append(f)
        return [(sev.value, groups[sev]) for sev in sorted(groups, key=lambda s: -s.rank)]


@dataclass
class ModelView:
    profile_id: str
    vendor: str
    model: str
    version: str
    devices: list[str]
    support_end: str
    support_over: bool
    end_of_life: str
    contact: str
    foundational: list[tuple[str, str]]
    declared: list[tuple[str, str]]
    known: bool = True
    missing: list[str] = field(default_factory=list)


def _target(r: Result) -> str:
    return target_label(r.target)


def _finding(r: Result) -> Finding:
    return Finding(
        result=r,
        target=_target(r),
        evidence=json.dumps(r.evidence, indent=2, sort_keys=True, default=str, ensure_ascii=False)
        if r.evidence
        else "",
        remediation=remediation(r)
        if r.verdict in (Verdict.fail, Verdict.inconclusive, Verdict.error)
        else "",
        transcript=transcript(r),
    )


def _sort_key(r: Result) -> tuple[int, int, str]:
    return (report_position(r.verdict), -r.severity.rank, r.check_id)


def _declarations(run: ScanRun, profile_id: str | None) -> dict[str, Any]:
    prof = run.profiles.get(profile_id or "", {}) if profile_id else {}
    decl = prof.get("declarations", {})
    return decl if isinstance(decl, dict) else {}


def _history(
    run: ScanRun, key: str, rows: Sequence[DeviceRow], report_url: str
) -> list[HistoryPoint]:
    points = [
        HistoryPoint(
            run_id=r.run_id,
            started=r.started,
            verdict=r.verdict,
            score=r.score,
            firmware=r.firmware,
            link=report_link_or(r.report_url, report_url.format(run_id=r.run_id, bench=r.bench)),
            current=r.run_id == run.run_id,
        )
        for r in rows
        if r.device == key
    ]
    if not any(p.current for p in points):  # the run being reported is not stored yet
        score = run.scores.get(key)
        dev = run.device(key)
        points.append(
            HistoryPoint(
                run_id=run.run_id,
                started=run.started,
                verdict=score.verdict.value if score else "",
                score=score.score if score else None,
                firmware=dev.firmware if dev else "",
                link="report.html",
                current=True,
            )
        )
    points.sort(key=lambda p: p.started)
    return points[-HISTORY_POINTS:]


def _device_view(
    run: ScanRun,
    idx: int,
    dev: Device | None,
    key: str,
    history: Sequence[DeviceRow] = (),
    report_url: str = "",
) -> DeviceView:
    results = sorted(run.results_for(key), key=_sort_key)
    score = run.scores.get(key)
    declared: list[tuple[str, str]] = []
    if score:
        for cap, detail in score.details.items():
            label = next((v for k, v in CAPABILITY_LABELS.items() if k.value == cap), cap)
            declared.extend((label, item) for item in detail.declared)
    for element, statement in (
        _declarations(run, dev.profile if dev else None).get("declared") or {}
    ).items():
        declared.append((str(element), str(statement)))
    return DeviceView(
        anchor=f"dev-{idx}",
        label=device_label(dev) if dev else key,
        device=dev,
        score=score,
        chart=capability_chart(score),
        findings=[
            _finding(r)
            for r in results
            if r.verdict in (Verdict.fail, Verdict.error, Verdict.inconclusive)
        ],
        others=[
            _finding(r) for r in results if r.verdict in (Verdict.passed, Verdict.not_applicable)
        ],
        counts={v.value: sum(r.verdict is v for r in results) for v in Verdict},
        declared=declared,
        history=_history(run, key, history, report_url) if dev else [],
    )


def _run_day(run: ScanRun) -> date:
    return run.started.astimezone(UTC).date()


def _model_views(run: ScanRun) -> list[ModelView]:
    by_profile: dict[str, list[str]] = {}
    for dev in run.devices:
        if dev.profile:
            by_profile.setdefault(dev.profile, []).append(device_label(dev))
    views = []
    for pid in sorted(set(by_profile) | set(run.profiles)):
        prof = run.profiles.get(pid)
        decl = _declarations(run, pid)
        found = decl.get("foundational") or {}
        support_end = str(decl.get("support_end") or "")
        try:
            over = bool(support_end) and date.fromisoformat(support_end[:10]) < _run_day(run)
        except ValueError:
            over = False
        foundational = [
            (label, str(found.get(k) or "")) for k, label in FOUNDATIONAL_LABELS.items()
        ]
        views.append(
            ModelView(
                profile_id=pid,
                vendor=str((prof or {}).get("vendor", "")),
                model=str((prof or {}).get("model", "")),
                version=str((prof or {}).get("version", "")),
                devices=by_profile.get(pid, []),
                support_end=support_end,
                support_over=over,
                end_of_life=str(decl.get("end_of_life") or ""),
                contact=str(decl.get("vulnerability_contact") or ""),
                foundational=[(k, v) for k, v in foundational if v],
                declared=[(str(k), str(v)) for k, v in (decl.get("declared") or {}).items()],
                known=prof is not None,
                missing=[k for k, v in foundational if not v],
            )
        )
    return views


def _clean(value: object) -> object:
    """Every {{ }} output: control characters from devices shown as \\uXXXX, not raw."""
    if isinstance(value, Markup):  # macro output: built from values already cleaned
        return value
    if isinstance(value, str):
        return _C0.sub(lambda m: f"\\u{ord(m.group()):04x}", value)
    return value


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("lanprobe.report", "templates"),
        autoescape=True,  # every template, whatever its extension: device data is hostile
        undefined=jinja2.StrictUndefined,
        finalize=_clean,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v: "-" if v is None else f"{v:.0f}%"  # values are 0-100
    env.filters["num"] = lambda v: "-" if v is None else f"{v:.0f}"
    env.filters["px"] = lambda v: f"{v:.1f}"
    return env


def render_html(
    run: ScanRun,
    *,
    trend: Sequence[RunSummary] = (),
    diff: Diff | None = None,
    history: Sequence[DeviceRow] = (),
    report_url: str = REPORT_URL,
) -> str:
    """The report of one run. `trend`: earlier stored runs (oldest first); `diff`: vs a baseline;
    `history`: stored device rows of this bench (oldest first), each unit's past verdicts, linked
    with `report_url` (``{run_id}``, ``{bench}``) to their runs' reports."""
    keys = [d.key for d in run.devices]
    orphans = list(dict.fromkeys(r.device for r in run.results if r.device not in keys))
    devices = [
        _device_view(run, i, d, d.key, history, report_url) for i, d in enumerate(run.devices)
    ]
    devices += [_device_view(run, len(devices) + i, None, k) for i, k in enumerate(orphans)]
    dverdicts = Counter(s.verdict for s in run.scores.values())
    rverdicts = Counter(r.verdict for r in run.results)
    points = [s for s in trend if s.run_id != run.run_id] + [RunSummary.of(run)]
    points.sort(key=lambda s: s.started)
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            run=run,
            devices=devices,
            models=_model_views(run),
            diff=diff,
            trend=trend_chart(points, run.run_id),
            trend_runs=len(points),
            device_bar=stacked_bar(
                [
                    ("conforms", dverdicts[DeviceVerdict.conforms], "good"),
                    ("inconclusive", dverdicts[DeviceVerdict.inconclusive], "warn"),
                    ("does not conform", dverdicts[DeviceVerdict.does_not_conform], "bad"),
                ]
            ),
            result_bar=stacked_bar(
                [
                    ("pass", rverdicts[Verdict.passed], "good"),
                    ("fail", rverdicts[Verdict.fail], "bad"),
                    ("inconclusive", rverdicts[Verdict.inconclusive], "warn"),
                    ("error", rverdicts[Verdict.error], "err"),
                    ("not applicable", rverdicts[Verdict.not_applicable], "none"),
                ]
            ),
            dverdicts={v.value: dverdicts[v] for v in DeviceVerdict},
            rverdicts={v.value: rverdicts[v] for v in Verdict},
            error_checks=sorted({r.check_id for r in run.results if r.verdict == Verdict.error}),
            generated=datetime.now(UTC),
            capability_labels=CAPABILITY_LABELS,
        )
    )


def write_html(
    run: ScanRun,
    path: Path,
    *,
    trend: Sequence[RunSummary] = (),
    diff: Diff | None = None,
    history: Sequence[DeviceRow] = (),
    report_url: str = REPORT_URL,
) -> Path:
    """Write atomically: a browser never opens half a report."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    page = render_html(run, trend=trend, diff=diff, history=history, report_url=report_url)
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
