"""A finding read as a transcript (probe/report/transcript.py), on evidence recorded from lab
scans, and the run report laid out as a test report: grouped by severity, remediation first,
then the transcript, the raw evidence folded away, and each unit's history linked."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from lanprobe.model import Severity, Verdict
from lanprobe.report.html import render_html
from lanprobe.report.transcript import MAX_CHARS, MAX_LINES, transcript
from lanprobe.store import DeviceRow

from tests.report.runs import T0, device, make_run, result, sample_run
from tests.report.test_html import parse

CAM = device(10, "acme-ipcam300")

# Recorded from a lab scan (plugco-sp1, acme-ipcam300; 2026-12-02).
ANON_MQTT = {
    "request": "CONNECT without username and password, then SUBSCRIBE '#'",
    "answer": "CONNACK accepted",
    "reason_code": 0,
    "subscribed": True,
    "messages": 2,
    "topics": ["plugco/SP1-0001/state"],
    "wait_s": 3.0,
}
SSH_DEFAULT = {
    "interface": "ssh login on port 22",
    "attempts": 2,
    "candidates": 30,
    "tried": ["admin:***** (profile default (IPCAM-300 maintenance guide))"],
    "guard": {"attempts": 2, "failures": 1, "budget": 6, "lockout_signs": [], "stopped": None},
    "accepted": {"user": "admin", "password": "*****", "request": "SSH userauth password"},
}
NO_LOCKOUT_UNDECIDED = {
    "threshold": 5,
    "threshold_from": "generic default",
    "guard": {"attempts": 2, "failures": 1, "budget": 6, "lockout_signs": [], "stopped": None},
    "reason": "1 failure(s) within the attempt budget, 6 needed to judge",
}


def _lines(evidence: dict, verdict: Verdict = Verdict.fail, title: str = "t") -> list:
    r = result(CAM, "access.anonymous-mqtt", verdict, evidence=evidence, title=title)
    return [(ln.direction, ln.label, ln.text) for ln in transcript(r)]


def test_sent_came_back_and_why() -> None:
    lines = _lines(ANON_MQTT, title="The broker takes anonymous clients and '#'")
    assert lines[0] == (
        "sent",
        "request",
        "CONNECT without username and password, then SUBSCRIBE '#'",
    )
    received = [(label, text) for d, label, text in lines if d == "received"]
    assert ("answer", "CONNACK accepted") in received
    assert ("subscribed", "yes") in received and ("topics", "plugco/SP1-0001/state") in received
    assert "wait s" not in [label for _, label, _ in lines]  # bookkeeping is not the device's
    assert lines[-1] == ("why", "fail", "The broker takes anonymous clients and '#'")


def test_nested_evidence_and_bookkeeping() -> None:
    lines = _lines(SSH_DEFAULT, title="admin logs in over SSH")
    sent = [label for d, label, _ in lines if d == "sent"]
    assert sent == [
        "interface",
        "tried",
        "accepted.user",
        "accepted.password",
        "accepted.request",
    ]
    assert ("sent", "accepted.password", "*****") in lines  # redacted in, redacted out
    assert not any(label.startswith("guard") for _, label, _ in lines)


def test_inconclusive_says_why_it_could_not_decide() -> None:
    lines = _lines(NO_LOCKOUT_UNDECIDED, Verdict.inconclusive, "lockout not judged")
    why = [(label, text) for d, label, text in lines if d == "why"]
    assert why[0] == ("threshold", "5")
    assert ("reason", "1 failure(s) within the attempt budget, 6 needed to judge") in why
    assert why[-1] == ("inconclusive", "lockout not judged")
    # Nothing the device said was recorded: the transcript says so rather than show nothing.
    assert ("received", "answer", "nothing recorded") in lines


def test_long_and_many_values_are_cut() -> None:
    evidence = {f"k{i}": "x" * 500 for i in range(20)}
    lines = _lines(evidence)
    received = [t for d, _, t in lines if d == "received"]
    assert len(received) == MAX_LINES
    assert all(len(t) <= MAX_CHARS and t.endswith("…") for t in received)


# --- the run report as a test report ------------------------------------------------------------


def test_findings_grouped_by_severity_remediation_first_evidence_folded() -> None:
    run = sample_run()
    html = render_html(run)
    doc = parse(html)
    cam = run.devices[0]  # critical default login, high telnet, medium currency and support
    groups = [n.attrs["id"] for n in doc.nodes if n.attrs.get("class") == "sev-group"]
    mine = [g for g in groups if g.startswith("dev-0-")]
    assert mine == ["dev-0-critical", "dev-0-high", "dev-0-medium"]
    assert cam.key in html
    # In each finding: remediation, then the transcript, then the raw JSON inside <details>.
    block = html.split('id="dev-0-critical"', 1)[1].split('class="sev-group"', 1)[0]
    assert block.index('class="fix"') < block.index('class="transcript"')
    assert block.index('class="transcript"') < block.index('<details class="raw">')
    assert block.index('<details class="raw">') < block.index('<pre class="evidence">')
    assert "sent →" in block or "← came back" in block
    for n in doc.nodes:
        if n.tag == "pre" and "evidence" in n.attrs.get("class", ""):
            assert any(p.startswith("details.raw") for p in n.parents)


def test_device_page_links_its_history() -> None:
    run = sample_run("tonight", started=T0 + timedelta(days=3))
    run.bench, run.host.hostname = "lab-a", "probe-7"
    cam = run.devices[0]
    rows = [
        DeviceRow(f"night-{i}", T0 + timedelta(days=i), "lab-a", cam.key, "acme-ipcam200",
                  "ACME-IPCAM200", "1.0", "3", v, 40.0, 60.0)
        for i, v in enumerate(["conforms", "does_not_conform", "does_not_conform"])
    ]  # fmt: skip
    html = render_html(run, history=rows, report_url="../{bench}/{run_id}/report.html")
    assert "bench <strong>lab-a</strong> (host probe-7)" in html  # in the header
    doc = parse(html)
    links = [
        n.attrs["href"]
        for n in doc.nodes
        if n.tag == "a" and "h-run" in n.attrs.get("class", "")
        and any(p.startswith("article.device#dev-0") for p in n.parents)
    ]  # fmt: skip
    assert links == [f"../lab-a/night-{i}/report.html" for i in range(3)] + ["report.html"]
    # A run that recorded where its report was published (a CI job's artifacts) links there.
    rows[1] = replace(rows[1], report_url="https://ci.example/jobs/41/report.html")
    html = render_html(run, history=rows, report_url="../{bench}/{run_id}/report.html")
    assert 'href="https://ci.example/jobs/41/report.html"' in html
    # Another unit without stored runs says how to get its history.
    other = html.split('id="dev-1"', 1)[1].split("</article>", 1)[0]
    assert "probe history --bench lab-a --model hubco-h1" in other


def test_a_passing_device_has_no_findings_block() -> None:
    hub = device(13, "hubco-h1")
    run = make_run("ok", [hub], [result(hub, "data.tls-protocol", Verdict.passed, Severity.high)])
    html = render_html(run)
    assert "No failing, inconclusive or broken check." in html and 'class="sev-group"' not in html
