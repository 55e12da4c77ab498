"""The console summary of a run, and progress lines while it runs.

Errors (lanprobe's own failures) lead; then per device: verdict, score, coverage, capability
scores, and every error, fail and inconclusive with its reason (the listing matches the table's
counts); then the totals and the run's notes. Rich renders it on a terminal; the same text
without colour goes to CI logs.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from lanprobe.model import Capability, Device, DeviceScore, DeviceVerdict, Result, ScanRun, Verdict
from lanprobe.profiles import match_note
from lanprobe.runner import Progress
from lanprobe.verdicts import CONSOLE_LISTED
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

_VERDICT_STYLE = {
    DeviceVerdict.conforms: "bold green",
    DeviceVerdict.does_not_conform: "bold red",
    DeviceVerdict.inconclusive: "bold yellow",
}
_CAP_SHORT = {
    Capability.device_identification: "ID",
    Capability.device_configuration: "CFG",
    Capability.data_protection: "DP",
    Capability.logical_access: "LAI",
    Capability.software_update: "SU",
    Capability.cybersecurity_state_awareness: "CSA",
    Capability.declarations: "DEC",
}


# What the per-device listing shows, in this order.
_LISTED = {v: i for i, v in enumerate(CONSOLE_LISTED)}


def _reason(r: Result) -> str:
    """Why an undecided result is undecided, when the title does not already say it."""
    if r.verdict not in (Verdict.inconclusive, Verdict.error):
        return ""
    ev = r.evidence
    why = str(ev.get("reason") or ev.get("exception") or ev.get("error") or "").strip()
    if not why or why in r.title:
        return ""
    return f" (reason: {why})"


def errors_line(run: ScanRun) -> str:
    """The run's `error` results in one line: lanprobe's own failures, never the device's."""
    errors = [r for r in run.results if r.verdict == Verdict.error]
    checks = sorted({r.check_id for r in errors})
    return (
        f"ERROR: {len(errors)} result(s) are lanprobe's own failures, not the devices' "
        f"({', '.join(checks)}): the run is incomplete"
    )


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _profile_cell(dev: Device) -> Text | str:
    """The profile id, marked when the match is weak or conflicting."""
    m = dev.profile_match
    if m is None or not m.flags:
        return dev.profile or "-"
    return Text(f"{dev.profile or '-'} ({m.flags})", style="yellow")


def _print_match_doubts(run: ScanRun, console: Console) -> None:
    """Weak or conflicting profile matches, and hints (OUI, banners) nothing confirmed: say why."""
    lines = []
    for dev in run.devices:
        m = dev.profile_match
        if m is None:
            continue
        if m.doubtful:
            lines.append(f"  {dev.ip} {dev.profile} ({m.flags}): {match_note(dev)}")
        elif m.strength == "none" and m.hints:
            hints = "; ".join(m.hints)
            lines.append(f"  {dev.ip} generic: hint only (OUI, banner), not acted on: {hints}")
    if lines:
        console.print("\n[yellow]profile matches to check[/]")
        for line in lines:
            console.print(escape(line), highlight=False, soft_wrap=True)


def summary(run: ScanRun, console: Console) -> None:
    """Print the per-device summary table and each device's failed checks."""
    dur = ""
    if run.finished is not None:
        dur = f" in {(run.finished - run.started).total_seconds():.1f} s"
    head = f"lanprobe {run.tool.version}  run {run.run_id}{dur}  baseline "
    head += f"{run.baseline.get('id', '?')} {run.baseline.get('version', '')}"
    console.print(head)
    phases = [k for k in ("discovery", "checks", "bench") if k in run.timings_s]
    if phases:
        console.print(", ".join(f"{k} {run.timings_s[k]:.1f} s" for k in phases))
    if run.interrupted:
        console.print("[bold yellow]INTERRUPTED: partial results[/]")
    if any(r.verdict == Verdict.error for r in run.results):
        console.print(f"[bold magenta]{escape(errors_line(run))}[/]")
    if run.partial:
        console.print("[yellow]partial discovery: see the notes[/]")

    table = Table(show_lines=False, pad_edge=False)
    table.add_column("device")
    table.add_column("profile")
    table.add_column("verdict")
    table.add_column("score", justify="right")
    table.add_column("cov%", justify="right")
    for cap in Capability:
        table.add_column(_CAP_SHORT[cap], justify="right")
    table.add_column("fail", justify="right")
    table.add_column("inc", justify="right")
    table.add_column("err", justify="right")
    for dev in run.devices:
        score = run.scores.get(dev.key)
        results = run.results_for(dev.key)
        profile = _profile_cell(dev)
        counts = {v: sum(1 for r in results if r.verdict == v) for v in Verdict}
        name = dev.ip + (f" {dev.hostname}" if dev.hostname else "")
        if score is None:
            table.add_row(name, profile, "-", *["-"] * (len(Capability) + 5))
            continue
        table.add_row(
            name,
            profile,
            Text(score.verdict.value, style=_VERDICT_STYLE[score.verdict]),
            _num(score.score),
            _num(score.coverage),
            *[_num(score.capabilities.get(cap.value)) for cap in Capability],
            str(counts[Verdict.fail]),
            str(counts[Verdict.inconclusive]),
            str(counts[Verdict.error]),
        )
    console.print(table)
    _print_match_doubts(run, console)

    for dev in run.devices:
        # Every fail, error and inconclusive, so the listing matches the table's counts.
        bad = [r for r in run.results_for(dev.key) if r.verdict in _LISTED]
        lacking = _lacking(run.scores.get(dev.key))
        if not bad and not lacking:
            continue
        console.print(f"\n[bold]{dev.ip}[/] {dev.profile or ''} ({dev.key})")
        for why in lacking:  # capabilities below the baseline's minimum coverage
            line = f"  [yellow]{'lacking':<12}[/] {'':<8} " + escape(why)
            console.print(line, highlight=False, soft_wrap=True)
        if dev.traffic is not None:  # gateway mode: what it sent on its own
            for label, text in dev.traffic.summary_lines():
                console.print(f"  [cyan]{label:<12}[/] " + escape(text), soft_wrap=True)
        for r in sorted(bad, key=lambda r: (_LISTED[r.verdict], -r.severity.rank, r.check_id)):
            port = f":{r.target.port}" if r.target.port else ""
            svc = f" {r.target.service}{port}" if r.target.service or port else ""
            style = {"fail": "red", "error": "magenta", "inconclusive": "yellow"}[r.verdict.value]
            console.print(
                f"  [{style}]{r.verdict.value:<12}[/] {r.severity.value:<8} {r.check_id}{svc}: "
                + escape(f"{r.title}{_reason(r)}"),
                highlight=False,
                soft_wrap=True,
            )

    counts = {v: sum(1 for r in run.results if r.verdict == v) for v in Verdict}
    verdicts = {v: sum(1 for s in run.scores.values() if s.verdict == v) for v in DeviceVerdict}
    console.print()
    if counts[Verdict.error]:
        console.print(f"[bold magenta]{escape(errors_line(run))}[/]")
    order = [*CONSOLE_LISTED, Verdict.passed]
    console.print(
        f"{len(run.devices)} device(s): {verdicts[DeviceVerdict.conforms]} conform, "
        f"{verdicts[DeviceVerdict.does_not_conform]} do not conform, "
        f"{verdicts[DeviceVerdict.inconclusive]} inconclusive; results: "
        + ", ".join(f"{counts[v]} {v.value}" for v in [*order, Verdict.not_applicable])
    )
    for note in run.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)


def _lacking(score: DeviceScore | None) -> list[str]:
    """The reasons that name a capability below the baseline's minimum coverage."""
    if score is None:
        return []
    return [r for r in score.reasons if r.split(":", 1)[0] in score.lacking_evidence]


def print_summary(run: ScanRun, file: TextIO | None = None) -> None:
    out = file or sys.stdout
    console = Console(file=out, width=160 if not out.isatty() else None, highlight=False)
    summary(run, console)


class ProgressPrinter:
    """Plain progress lines on stderr: one per phase and per finished device (CI-friendly)."""

    def __init__(self, file: TextIO | None = None) -> None:
        self.file = file or sys.stderr
        self.t0 = time.monotonic()
        self.done: dict[str, int] = {}
        self.total: dict[str, int] = {}

    def _line(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f}s] {text}", file=self.file, flush=True)

    def __call__(self, ev: Progress) -> None:
        if ev.kind == "discovery":
            self._line(f"discovering {ev.message}")
        elif ev.kind == "discovered":
            self._line(f"{ev.total} device(s) found")
        elif ev.kind == "matched":
            self._line(f"{ev.device}: profile {ev.message}")
        elif ev.kind == "check_start" and ev.message:
            self._line(f"{ev.device}: {ev.check_id} ({ev.message})")
        elif ev.kind == "check_done":
            self.total[ev.device] = ev.total
            self.done[ev.device] = self.done.get(ev.device, 0) + 1
            if self.done[ev.device] == ev.total:
                self._line(f"{ev.device}: {ev.total} checks done")
        elif ev.kind == "bench":
            self._line(f"bench check {ev.check_id}")
        elif ev.kind == "scored":
            self._line(f"{ev.device}: {ev.message}")
