"""The console summary: the per-device listing matches the table's counts, errors lead."""

from __future__ import annotations

import io
import re

from lanprobe.model import Severity, Verdict
from lanprobe.report.console import print_summary

from tests.report.runs import device, make_run, result, sample_devices, sample_results


def _text(run) -> str:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    print_summary(run, out)
    return out.getvalue()


def _bench_with_undecided():  # type: ignore[no-untyped-def]
    devs = sample_devices()
    plug = devs[2]
    results = sample_results(devs)
    # Low and medium inconclusives too: the table counts them, so the listing shows them.
    results += [
        result(
            plug,
            "declarations.vulnerability-contact",
            Verdict.inconclusive,
            Severity.medium,
            title="no security.txt could be read",
            evidence={"reason": "HTTP GET /.well-known/security.txt timed out after 5 s"},
        ),
        result(
            plug,
            "identification.identifier",
            Verdict.inconclusive,
            Severity.low,
            title="check ran out of time (60 s)",
            evidence={"reason": "check ran out of time (60 s)"},
        ),
    ]
    return make_run("r1", devs, results), plug


def test_listing_shows_every_inconclusive_and_error_with_its_reason() -> None:
    run, plug = _bench_with_undecided()
    text = _text(run)
    row = next(line for line in text.splitlines() if line.lstrip("│|").startswith(plug.ip))
    fail, inc, err = (int(c) for c in row.strip("│| ").split("│")[-3:])
    block = text[text.index(f"\n{plug.ip} ") :].split("\n\n")[0]
    listed = block.splitlines()[1:]
    assert sum(1 for line in listed if line.split()[0] == "inconclusive") == inc == 3
    assert sum(1 for line in listed if line.split()[0] == "error") == err == 1
    assert sum(1 for line in listed if line.split()[0] == "fail") == fail
    assert (
        "declarations.vulnerability-contact: no security.txt could be read (reason: HTTP GET "
        "/.well-known/security.txt timed out after 5 s)" in block
    )
    # A reason the title already says is not repeated.
    assert "check ran out of time (60 s) (reason" not in block
    assert "(reason: handshake timed out after 5.0 s)" in block


def test_errors_lead_the_summary() -> None:
    run, _ = _bench_with_undecided()
    text = _text(run)
    lines = text.splitlines()
    err = "ERROR: 1 result(s) are lanprobe's own failures, not the devices' (state.reporting)"
    assert lines[1].startswith(err)  # right under the run's header line
    totals = next(line for line in lines if " device(s): " in line)
    assert re.search(r"results: 1 error, \d+ fail, ", totals)
    assert lines[lines.index(totals) - 1].startswith(err)


def test_no_error_line_without_errors() -> None:
    devs = [device(10, "hubco-h1")]
    run = make_run("ok", devs, [result(devs[0], "identification.identifier", Verdict.passed)])
    assert "ERROR" not in _text(run)


def test_device_text_is_not_rich_markup() -> None:
    devs = [device(10, "hubco-h1")]
    title = "banner says [bold]root[/bold] [red]"
    run = make_run(
        "m", devs, [result(devs[0], "access.cleartext-admin", Verdict.fail, title=title)]
    )
    assert title in _text(run)
