"""A weak or conflicting profile match, and an OUI hint nothing confirmed, are shown in every
report (console, JUnit properties, HTML); a strong match is not flagged."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

from lanprobe.model import ProfileMatch, ScanRun, Verdict
from lanprobe.report.console import print_summary
from lanprobe.report.html import render_html
from lanprobe.report.junit import render_junit

from tests.report.runs import device, make_run, result


def _run() -> ScanRun:
    strong = device(10, "hubco-h1")
    strong.profile_reason = "mDNS _hubco._tcp.local. TXT model=H1"
    strong.profile_match = ProfileMatch(strength="strong", identifiers=[strong.profile_reason])
    weak = device(11, "sentry-s3")
    weak.profile_reason = "HTTP Server header contains 'Sentry-S3'"
    weak.profile_match = ProfileMatch(strength="weak", identifiers=[weak.profile_reason])
    torn = device(12, "acme-ipcam200")
    torn.profile_reason = "mDNS _http._tcp.local. TXT model=IPCAM-200"
    torn.profile_match = ProfileMatch(
        strength="strong",
        identifiers=[torn.profile_reason],
        conflicts=["acme-ipcam300: HTTP Server header contains 'AcmeCam-httpd/2.'"],
    )
    hinted = device(13, "generic")
    hinted.profile_reason = "no profile matched (hint, not enough alone: therma-t1: OUI 00:12:4b)"
    hinted.profile_match = ProfileMatch(strength="none", hints=["therma-t1: OUI 00:12:4b"])
    devs = [strong, weak, torn, hinted]
    return make_run(
        "m1", devs, [result(d, "identification.identifier", Verdict.passed) for d in devs]
    )


def test_console_flags_weak_and_conflicting_matches_and_oui_hints() -> None:
    out = io.StringIO()
    print_summary(_run(), out)
    text = out.getvalue()
    assert "sentry-s3 (weak)" in text and "acme-ipcam200 (conflicting)" in text
    assert "hubco-h1 (" not in text
    assert "profile matches to check" in text
    assert "conflicting: acme-ipcam300: HTTP Server header contains 'AcmeCam-httpd/2.'" in text
    assert "hint only (OUI, banner), not acted on: therma-t1: OUI 00:12:4b" in text


def test_junit_properties_carry_the_match_strength_and_doubts() -> None:
    root = ET.fromstring(render_junit(_run()))
    props = {
        s.get("name"): {p.get("name"): p.get("value") for p in s.iter("property")}
        for s in root.findall("testsuite")
    }
    hub, sentry, cam, other = (props[k] for k in sorted(props, key=lambda k: k[-2:]))
    assert hub["profile_match"] == "strong" and "profile_match_doubt" not in hub
    assert sentry["profile_match"] == "weak" and sentry["profile_match_doubt"] == "weak"
    assert cam["profile_match_doubt"] == "conflicting"
    assert cam["profile_conflicts"].startswith("acme-ipcam300: HTTP Server header")
    assert other["profile_match"] == "none" and other["profile_hints"] == "therma-t1: OUI 00:12:4b"


def test_html_shows_weak_and_conflicting_matches() -> None:
    page = render_html(_run())
    assert page.count('<span class="match-doubt">weak match</span>') == 1
    assert page.count('<span class="match-doubt">conflicting match</span>') == 1
    assert "Weak match: one lesser identifier and nothing else agrees." in page
    assert "Conflicting: acme-ipcam300: HTTP Server header contains" in page
    assert "hint (OUI, banner), not acted on: therma-t1: OUI 00:12:4b" in page
