"""The fleet page: one self-contained HTML file over every bench in a history.

Same head (Content-Security-Policy ``default-src 'none'``, one inline style sheet) and the same
jinja2 environment as the run report (probe/report/html.py): device data stays escaped and the
page fetches nothing. What it shows comes from `probe.fleet.build_fleet`; chart geometry is
computed here, the template only draws it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from lanprobe import __version__
from lanprobe.fleet import FirmwareTrend, Fleet
from lanprobe.report.html import _env, tone

STALE_AFTER = timedelta(hours=36)  # a nightly bench that missed a night


@dataclass
class Spark:
    """A small score line for one firmware build: x per run, y per score (0-100)."""

    width: int
    height: int
    line: str
    dots: list[tuple[float, float, str, str]]  # x, y, tone, title


def sparkline(trend: FirmwareTrend, width: int = 220, height: int = 36) -> Spark:
    points = [(t, s, b) for t, s, b in trend.scores if s is not None]
    n = max(len(points), 1)
    step = (width - 8) / max(n - 1, 1)
    dots = []
    for i, (t, s, bench) in enumerate(points):
        x = 4 + (step * i if n > 1 else (width - 8) / 2)
        y = 4 + (height - 8) * (1 - s / 100)
        dots.append((x, y, tone(s), f"{t:%Y-%m-%d %H:%M} {bench}: {s:.0f}"))
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in dots)
    return Spark(width, height, line, dots)


def age_text(age: timedelta) -> str:
    secs = max(int(age.total_seconds()), 0)
    if secs < 3600:
        return f"{secs // 60} min"
    if secs < 2 * 86400:
        return f"{secs // 3600} h"
    return f"{secs // 86400} days"


def render_fleet(fleet: Fleet, *, source: str = "") -> str:
    """The page. `source`: where the history is, shown in the header (no password)."""
    benches = [b.bench for b in fleet.benches]
    return (
        _env()
        .get_template("fleet.html.j2")
        .render(
            fleet=fleet,
            benches=benches,
            source=source,
            tool_version=__version__,
            page_title="lanprobe fleet",
            age_text=age_text,
            stale_after=STALE_AFTER,
            sparkline=sparkline,
            tone=tone,
        )
    )


def write_fleet(fleet: Fleet, path: Path, *, source: str = "") -> Path:
    """Write atomically: a browser (or a CI artifact upload) never sees half a page."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(render_fleet(fleet, source=source), encoding="utf-8")
    tmp.replace(path)
    return path
