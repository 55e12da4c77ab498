"""The HTML report: content and safety on the rendered text, then the page in headless Chromium
(Debian's chromium, from `make sysdeps`): it renders, the SVG charts are in the DOM, and a
screenshot is not blank."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from lanprobe.baseline import load_baseline
from lanprobe.cli import app
from lanprobe.diff import compare
from lanprobe.model import Capability, ScanRun, Verdict
from lanprobe.report.html import render_html, write_html
from lanprobe.store import RunSummary, open_store
from typer.testing import CliRunner

from tests.report.png import read_png
from tests.report.runs import T0, device, make_run, result, sample_run
from tests.requires import require


def _nightly() -> tuple[ScanRun, list[RunSummary], ScanRun]:
    """Six nightly runs: the plug's anonymous MQTT flaps, the hub opens telnet on the last."""
    runs = [
        sample_run(
            f"night-{i}",
            started=T0 + timedelta(days=i),
            flaws={"plug_anon": i % 2 == 0, "hub_telnet": i == 5},
        )
        for i in range(6)
    ]
    return runs[-1], [RunSummary.of(r) for r in runs[:-1]], runs[-2]


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    parents: list[str]


class _Collect(HTMLParser):
    """Every element with its attributes and its ancestors' tags (and classes)."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[Node] = []
        self._stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.nodes.append(Node(tag, a, list(self._stack)))
        if tag not in {"rect", "circle", "line", "polyline", "meta", "br", "i", "path"}:
            self._stack.append(f"{tag}.{a.get('class', '')}#{a.get('id', '')}")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.nodes.append(Node(tag, {k: v or "" for k, v in attrs}, list(self._stack)))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i].split(".", 1)[0] == tag:
                del self._stack[i:]
                break

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> _Collect:
    p = _Collect()
    p.feed(html)
    p.close()
    return p


# --- the rendered text --------------------------------------------------------------------------


def test_remediation_comes_from_the_baseline_entry_of_the_check() -> None:
    """The finding's advice is its check's `remediation` in the baseline file (one registry of
    check metadata); a result of a check the baseline lacks renders, without advice."""
    base = load_baseline()
    dev = device(9, "hubco-h1")
    run = make_run(
        "fixes",
        [dev],
        [
            result(dev, "access.anonymous-mqtt", Verdict.fail, title="anon"),
            result(dev, "access.cleartext-admin", Verdict.passed, title="closed"),
            result(dev, "access.not-in-baseline", Verdict.fail, title="stray"),
        ],
    )
    html = render_html(run)
    assert html.count("<strong>Remediation:</strong>") == 1
    fix = base.checks["access.anonymous-mqtt"].remediation
    assert "allow_anonymous false" in fix and fix.replace("'", "&#39;") in html
    assert base.checks["access.cleartext-admin"].remediation not in html  # a pass needs no fix


def test_report_sections_and_content() -> None:
    run, trend, prev = _nightly()
    html = render_html(run, trend=trend, diff=compare(prev, run))
    for section in ("summary", "changes", "trend", "devices", "declarations"):
        assert f'<section id="{section}">' in html
    # Findings with their evidence and remediation.
    assert "Default credentials admin:admin log in over HTTP Basic" in html
    assert (
        "&#34;user&#34;: &#34;admin&#34;" in html or "&quot;user&quot;" in html or '"user"' in html
    )
    assert load_baseline().checks["configuration.default-login"].remediation[:40] in html
    # What the network could not verify.
    assert "SU-5 roll-back protection" in html
    assert "Firmware roll-back is blocked by an anti-rollback counter" in html
    # Declarations per model: the camera's support ended before the run, the hub's has not.
    cam = html[html.index('id="model-acme-ipcam200"') :]
    cam = cam[: cam.index("</article>")]
    assert "2025-12-31" in cam and "ended" in cam
    assert "mailto:psirt@acme.example" in cam
    assert "Intended use" in cam
    hub = html[html.index('id="model-hubco-h1"') :]
    hub = hub[: hub.index("</article>")]
    assert "in support" in hub and "Home and office automation hub" in hub
    # Models with devices but no profile data are still listed.
    assert 'id="model-plugco-sp1"' in html and "carries no profile data" in html
    # What got worse since the previous run.
    assert "Regression." in html
    assert "new failure: hubco-h1@198.18.0.13 access.cleartext-admin [23/tcp telnet]" in html


def test_report_shows_expectation_changes_lost_coverage_and_scope_warning() -> None:
    prev = sample_run("prev")
    run = sample_run("now", started=T0 + timedelta(days=1))
    run.profiles = {**run.profiles, "hubco-h1": {**run.profiles["hubco-h1"], "version": "2"}}
    for r in run.results:
        if r.check_id == "data.tls-protocol" and r.device == run.devices[1].key:
            r.verdict = Verdict.not_applicable
    run.scope.cidrs = ["198.18.9.0/24"]
    html = render_html(run, diff=compare(prev, run))
    assert "Expectations changed between the runs: profile hubco-h1 version 1 -&gt; 2" in html
    assert "<h3>Lost coverage</h3>" in html
    assert "the runs scanned different scopes" in html


def test_errors_lead_the_report() -> None:
    """The sample run has one `error` (state.reporting): said first, before the summary."""
    html = render_html(sample_run())
    box = html.index('id="errors"')
    assert box < html.index('<section id="summary">')
    assert "1 result(s) are errors</strong>: lanprobe's own failures" in html
    assert "(state.reporting)" in html[box : box + 400]
    clean = sample_run()
    clean.results = [r for r in clean.results if r.verdict is not Verdict.error]
    assert 'id="errors"' not in render_html(clean)


def test_report_is_self_contained_and_escapes_device_data() -> None:
    run, trend, _ = _nightly()
    dev = run.devices[0]
    run.results.append(
        result(
            dev,
            "access.unexpected-port",
            Verdict.fail,
            port=9999,
            title='<img src="http://198.51.100.7/x.png"> debug shell \x1b[0m',
            evidence={"banner": "<script>alert('x')</script>\x00"},
        )
    )
    html = render_html(run, trend=trend)
    doc = parse(html)
    assert not [n for n in doc.nodes if n.tag in ("script", "img", "iframe", "object", "link")]
    assert not [n for n in doc.nodes if "src" in n.attrs]
    hrefs = [n.attrs["href"] for n in doc.nodes if "href" in n.attrs]
    assert hrefs and all(h.startswith("#") for h in hrefs)  # in-page anchors only
    assert "url(" not in html and "@import" not in html
    csp = [n for n in doc.nodes if n.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0].attrs["content"]
    assert "&lt;script&gt;alert(" in html  # the profile's and the banner's script, as text
    assert "\x00" not in html and "\x1b" not in html
    assert "\\u001b[0m" in html


def test_trend_needs_history() -> None:
    run = sample_run()
    html = render_html(run)
    assert 'id="trend-chart"' not in html
    assert "No history yet" in html
    run, trend, _ = _nightly()
    doc = parse(render_html(run, trend=trend))
    trend_nodes = [n for n in doc.nodes if any("#trend-chart" in p for p in n.parents)]
    assert len([n for n in trend_nodes if n.tag == "circle"]) == 6
    assert len([n for n in trend_nodes if n.tag == "polyline"]) == 1
    assert [n.attrs["class"] for n in trend_nodes if n.tag == "circle"][-1] == "dot-now"


def test_capability_chart_geometry() -> None:
    run = sample_run()
    doc = parse(render_html(run))
    charts = [n for n in doc.nodes if n.tag == "svg" and "capabilities" in n.attrs.get("class", "")]
    assert len(charts) == len(run.devices)
    cam_score = run.scores[run.devices[0].key]
    bars = [
        n
        for n in doc.nodes
        if n.tag == "rect" and "score-bar" in n.attrs.get("class", "") and "dev-0" in str(n.parents)
    ]
    decided = [c for c in Capability if cam_score.capabilities.get(c.value) is not None]
    assert len(bars) == len(decided)
    widths = {float(b.attrs["width"]) for b in bars}
    assert widths == {300 * cam_score.capabilities[c.value] / 100 for c in decided}  # type: ignore[operator]
    # coverage is a percentage (0-100) like the score: its bar never outgrows the track
    covs = [
        float(n.attrs["width"])
        for n in doc.nodes
        if n.tag == "rect"
        and "cov" in n.attrs.get("class", "").split()
        and "dev-0" in str(n.parents)
    ]
    assert covs and all(0 <= w <= 300 for w in covs) and max(covs) == 150.0
    assert re.search(r"\b\d{4,}%", render_html(run)) is None  # no "4800%"


def test_device_without_profile_or_scores_still_renders() -> None:
    dev = device(50, None, serial=None, mac=None)
    ghost = device(51, None)  # results for a key with no discovered device
    run = make_run(
        "bare", [dev], [result(ghost, "identification.shared-key", Verdict.fail)], profiles={}
    )
    run.scores = {}
    html = render_html(run)
    assert "unmatched@198.18.0.50" in html
    assert ghost.key in html and "bench-wide results" in html
    assert "No device matched a model profile." in html


def test_cli_report_writes_html_and_junit_with_trend(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    run, _, _ = _nightly()
    with open_store(db) as st:
        for i in range(5):
            st.save(
                sample_run(
                    f"night-{i}",
                    started=T0 + timedelta(days=i),
                    flaws={"plug_anon": i % 2 == 0},
                )
            )
    path = tmp_path / "run.json"
    run.write(path)
    res = CliRunner().invoke(
        app,
        ["report", str(path), "--db", str(db), "--baseline", "last", "--out", str(tmp_path / "o")],
    )
    assert res.exit_code == 0, res.output
    html = (tmp_path / "o" / "report.html").read_text()
    assert 'id="trend-chart"' in html
    assert "Since night-4" in html and "Regression." in html
    assert (tmp_path / "o" / "junit.xml").read_text().startswith("<?xml")
    res = CliRunner().invoke(app, ["report", str(path), "--format", "pdf"])
    assert res.exit_code == 2


# --- in a real browser --------------------------------------------------------------------------


CHROMIUM = ("chromium", "/usr/bin/chromium")


def _chromium() -> str:
    """The browser; skips without it, fails under make test (tests/requires.py)."""
    found = next((p for p in map(shutil.which, CHROMIUM) if p), None)
    require(found is not None, "Debian's chromium (`make sysdeps` installs it)")
    assert found is not None
    return found


def _browse(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    assert url.startswith("file://")  # the browser never gets a network URL
    args = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        # no name lookups at all (it still asked the machine's resolver for its Google update
        # and account hosts: DNS off the machine, which the scope capture test caught)
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *extra,
        url,
    ]
    return subprocess.run(args, capture_output=True, timeout=120, check=True)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ScanRun]]:
    tmp = tmp_path_factory.mktemp("html")
    run, trend, prev = _nightly()
    path = write_html(run, tmp / "report.html", trend=trend, diff=compare(prev, run))
    yield path, run


@pytest.mark.realsw  # Debian's chromium
def test_chromium_renders_the_charts(rendered: tuple[Path, ScanRun], tmp_path: Path) -> None:
    path, run = rendered
    out = _browse(path.as_uri(), tmp_path / "profile", "--dump-dom")
    dom = out.stdout.decode("utf-8")
    assert "<title>lanprobe report night-5</title>" in dom
    doc = parse(dom)
    svgs = [n for n in doc.nodes if n.tag == "svg"]
    classes = Counter(n.attrs.get("class", "") for n in svgs)
    assert classes["chart capabilities"] == len(run.devices)
    assert classes["chart stacked"] == 2
    assert classes["chart trend"] == 1
    groups = [n for n in doc.nodes if n.tag == "g" and n.attrs.get("class") == "capability"]
    assert len(groups) == len(run.devices) * len(Capability)
    assert (
        len([n for n in doc.nodes if n.tag == "rect" and "score-bar" in n.attrs.get("class", "")])
        > 10
    )
    text = " ".join(doc.text)
    assert "Bench summary" in text and "Regression." in text


@pytest.mark.realsw  # Debian's chromium
def test_chromium_screenshot_is_not_blank(rendered: tuple[Path, ScanRun], tmp_path: Path) -> None:
    path, _ = rendered
    shot = tmp_path / "shot.png"
    _browse(path.as_uri(), tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,1600")
    img = read_png(shot.read_bytes())
    assert (img.width, img.height) == (1280, 1600)
    pixels = img.pixels(step=3)
    colours = Counter(pixels)
    assert len(colours) > 200  # text, charts, badges: far from a blank page
    white = sum(n for c, n in colours.items() if min(c) > 245)
    assert white / len(pixels) < 0.9

    def near(rgb: tuple[int, int, int]) -> int:
        return sum(
            n
            for c, n in colours.items()
            if all(abs(a - b) < 12 for a, b in zip(c, rgb, strict=True))
        )

    # The chart colours are painted: fail red (#c62828), pass green (#1a7f37), header (#24292f).
    assert near((0xC6, 0x28, 0x28)) > 200
    assert near((0x1A, 0x7F, 0x37)) > 200
    assert near((0x24, 0x29, 0x2F)) > 2000
    top = img.pixel(5, 5)
    assert all(abs(a - b) < 12 for a, b in zip(top, (0x24, 0x29, 0x2F), strict=True))


def test_no_network_url_in_the_report(rendered: tuple[Path, ScanRun]) -> None:
    html = rendered[0].read_text()
    urls = re.findall(r"""(?:src|href|action)\s*=\s*["']?([a-z]+:)""", html, flags=re.I)
    assert urls == []


# --- labels (issue 17) --------------------------------------------------------------------------


def test_trend_labels_use_the_time_of_day_where_dates_repeat() -> None:
    """Two runs on one day were both labelled "05-01": the time tells them apart."""
    runs = [
        sample_run("morning", started=T0.replace(hour=9, minute=5)),
        sample_run("evening", started=T0.replace(hour=21, minute=40)),
        sample_run("next-day", started=T0 + timedelta(days=1)),
    ]
    html = render_html(runs[-1], trend=[RunSummary.of(r) for r in runs[:-1]])
    assert _svg_texts(html, "trend-label") == ["09:05", "21:40", "05-02"]
    assert _svg_texts(html, "trend-day") == ["05-01"]  # once, under the day's first run
    # Runs of distinct days keep plain dates.
    run, trend, _ = _nightly()
    assert _svg_texts(render_html(run, trend=trend), "trend-label") == [
        "05-01",
        "05-02",
        "05-03",
        "05-04",
        "05-05",
        "05-06",
    ]


def _svg_texts(html: str, cls: str) -> list[str]:
    """The text of every SVG <text class=cls>, in document order."""
    return re.findall(rf'<text class="{cls}"[^>]*>([^<]*)</text>', html)


_BBOX_SCRIPT = """
const svg = document.querySelector('svg');
const width = svg.viewBox.baseVal.width;
const clipped = [];
const texts = svg.querySelectorAll('text');
for (const t of texts) {
  const b = t.getBBox();
  if (b.x < 0 || b.x + b.width > width) clipped.push(t.textContent + ' ends at ' + (b.x + b.width));
}
document.body.setAttribute('data-texts', String(texts.length));
document.body.setAttribute('data-clipped', clipped.join(' | '));
"""


def _chart_page(tmp_path: Path, *, script: bool) -> tuple[Path, int]:
    """The first capability chart of a report, alone at the page's top left (no CSP, so the
    bounding-box script may run), with the report's own styles; and the chart's width."""
    run = sample_run()
    for score in run.scores.values():  # the widest labels: "cov 100%"
        for detail in score.details.values():
            detail.coverage = 100.0
    html = render_html(run)
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    svg = re.search(r'<svg class="chart capabilities".*?</svg>', html, re.S)
    assert style and svg
    width = int(re.search(r'width="(\d+)"', svg.group(0)).group(1))  # type: ignore[union-attr]
    js = f"<script>{_BBOX_SCRIPT}</script>" if script else ""
    page = tmp_path / "chart.html"
    page.write_text(
        f'<!doctype html><html><head><meta charset="utf-8"><style>{style.group(1)}</style>'
        f'</head><body style="margin:0">{svg.group(0)}{js}</body></html>',
        encoding="utf-8",
    )
    return page, width


@pytest.mark.realsw  # Debian's chromium
def test_chromium_capability_labels_are_not_clipped(tmp_path: Path) -> None:
    """Every label of the capability chart lies inside the SVG, as the browser lays it out."""
    page, _ = _chart_page(tmp_path, script=True)
    dom = _browse(page.as_uri(), tmp_path / "profile", "--dump-dom").stdout.decode()
    body = re.search(r"<body[^>]*>", dom)
    assert body is not None
    attrs = dict(re.findall(r'(data-[a-z]+)="([^"]*)"', body.group(0)))
    assert int(attrs["data-texts"]) >= 3 * len(Capability)  # the script ran
    assert attrs["data-clipped"] == ""


@pytest.mark.realsw  # Debian's chromium
def test_chromium_screenshot_shows_whole_coverage_labels(tmp_path: Path) -> None:
    page, width = _chart_page(tmp_path, script=False)
    shot = tmp_path / "chart.png"
    _browse(page.as_uri(), tmp_path / "profile", f"--screenshot={shot}", "--window-size=900,320")
    img = read_png(shot.read_bytes())
    cov = (0x4C, 0x6E, 0xF5)
    # Right of the track and the score (track ends at 550): only the coverage labels are blue.
    blue_x = [
        x
        for y in range(img.height)
        for x in range(560, img.width)
        if all(abs(a - b) < 40 for a, b in zip(img.pixel(x, y), cov, strict=True))
    ]
    assert len(blue_x) > 100  # the labels are painted
    assert max(blue_x) < width - 2  # and end inside the chart, not cut at its edge


def test_report_says_why_a_device_does_not_conform() -> None:
    run = sample_run()
    key = next(iter(run.scores))
    why = "software_update: coverage 0% below the minimum 15% (no check verified SU-2, SU-4)"
    run.scores[key].reasons = [why]
    run.scores[key].lacking_evidence = ["software_update"]
    html = render_html(run)
    assert "<h4>Why not conforms</h4>" in html and why in html
