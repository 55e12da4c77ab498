"""The fleet page (probe/report/fleet_html.py): what it shows, that it stays self-contained
and escapes what devices and bench hosts sent, and that headless Chromium renders it."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from lanprobe.fleet import Fleet, build_fleet
from lanprobe.report.fleet_html import age_text, render_fleet, sparkline, write_fleet
from lanprobe.store import open_store

from tests.report.fleet_runs import BENCHES, NOW, fill, fleet_run
from tests.report.png import read_png
from tests.report.test_html import _browse, parse

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    db = tmp_path_factory.mktemp("fleet") / "h.sqlite"
    with open_store(db) as st:
        fill(st)
        return build_fleet(st, now=NOW)


def _classes(html: str, cls: str) -> list[dict[str, str]]:
    return [n.attrs for n in parse(html).nodes if cls in n.attrs.get("class", "").split()]


def test_page_shows_benches_regression_models_flapping_and_trends(fleet: Fleet) -> None:
    html = render_fleet(fleet, source="postgresql://qa:***@db/lanprobe")
    assert CSP in html
    assert [a["id"] for a in _classes(html, "bench")] == [f"bench-{b}" for b in BENCHES]
    assert [a["id"] for a in _classes(html, "regression")] == ["regression-lab-b"]
    doc = parse(html)
    links = [n.attrs["href"] for n in doc.nodes if n.tag == "a"]
    # The regression links both runs' reports; the bench table links each latest run.
    assert "reports/lab-b-n3/report.html" in links and "reports/lab-b-n2/report.html" in links
    assert {f"reports/{b}-n3/report.html" for b in BENCHES} <= set(links)
    text = " ".join(doc.text)
    assert "access.cleartext-admin" in text and "5 h" in text
    assert len(_classes(html, "model")) == 4  # four models, one row each
    assert len(_classes(html, "flap")) == 1
    assert len(_classes(html, "build")) == 8  # four models x two firmware builds
    assert len(_classes(html, "spark")) == 8
    assert "postgresql://qa:***@db/lanprobe" in text


def test_page_escapes_what_benches_and_devices_sent(tmp_path: Path) -> None:
    hostile = fleet_run("lab-a", 0)
    hostile.bench = '<img src="http://198.51.100.7/x.png">'
    hostile.host.hostname = "<script>alert(1)</script>"
    hostile.devices[0].model = "\x1b[31mCAM<b>"
    with open_store(tmp_path / "h.sqlite") as st:
        st.save(hostile)
        html = render_fleet(build_fleet(st, now=NOW))
    assert "<script>alert" not in html and "<img src" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html and "\\u001b" in html
    urls = re.findall(r"""(?:src|href|action)\s*=\s*["']?([a-z]+:)""", html, flags=re.I)
    assert urls == []  # no scheme anywhere: relative links to run reports only


def test_empty_history_renders() -> None:
    fleet = Fleet(generated=NOW, benches=[], models=[])
    html = render_fleet(fleet)
    assert "No complete run in this history yet." in html
    assert "No regression on any bench" in html


def test_stale_bench_and_age() -> None:
    assert age_text(timedelta(minutes=5)) == "5 min"
    assert age_text(timedelta(hours=30)) == "30 h"
    assert age_text(timedelta(days=9)) == "9 days"


def test_sparkline_geometry(fleet: Fleet) -> None:
    hub = next(m for m in fleet.models if m.model == "hubco-h1")
    spark = sparkline(hub.trend[1])  # build 1.1: one point per run, lab-b's night 3 low
    ys = [y for _, y, _, _ in spark.dots]
    assert len(spark.dots) == 6
    assert all(4 <= y <= spark.height - 4 for y in ys)
    assert max(ys) > min(ys)  # the regressed run sits lower (higher y)
    assert [x for x, _, _, _ in spark.dots] == sorted(x for x, _, _, _ in spark.dots)


# --- in a real browser --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield write_fleet(fleet, tmp_path_factory.mktemp("page") / "fleet.html")


@pytest.mark.realsw  # Debian's chromium
def test_chromium_renders_the_fleet_page(page: Path, tmp_path: Path) -> None:
    dom = _browse(page.as_uri(), tmp_path / "profile", "--dump-dom").stdout.decode("utf-8")
    assert "<title>lanprobe fleet</title>" in dom
    doc = parse(dom)
    svgs = Counter(n.attrs.get("class", "") for n in doc.nodes if n.tag == "svg")
    assert svgs["chart spark"] == 8
    assert [n.attrs["id"] for n in doc.nodes if "regression" in n.attrs.get("class", "")] == [
        "regression-lab-b"
    ]
    assert len([n for n in doc.nodes if n.tag == "circle"]) == 8 * 6


@pytest.mark.realsw  # Debian's chromium
def test_chromium_screenshot_of_the_fleet_page(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "fleet.png"
    _browse(page.as_uri(), tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,1400")
    img = read_png(shot.read_bytes())
    assert (img.width, img.height) == (1280, 1400)
    colours = Counter(img.pixels(step=2))
    assert len(colours) > 150

    def near(rgb: tuple[int, int, int]) -> int:
        return sum(
            n
            for c, n in colours.items()
            if all(abs(a - b) < 12 for a, b in zip(c, rgb, strict=True))
        )

    assert near((0x24, 0x29, 0x2F)) > 2000  # header
    assert near((0xFF, 0xF0, 0xF0)) > 2000  # the regression box of lab-b
    assert near((0xC6, 0x28, 0x28)) > 150  # its border and the red badges
    assert near((0x1A, 0x7F, 0x37)) > 150  # "no regression" and "conforms" badges
    # The regression box is near the top: the first thing a reader sees.
    box_rows = [y for y in range(0, 400, 4) if img.pixel(400, y)[:3] == (0xFF, 0xF0, 0xF0)]
    assert box_rows, "no regression box in the first 400 px"
