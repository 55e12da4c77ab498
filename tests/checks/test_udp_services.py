"""The lab's UDP services in the session scan: TFTP on the camera (reads without a login), NTP
on the hub (discovered, no finding)."""

from __future__ import annotations

from typing import Any

import pytest
from lanprobe.model import ScanRun, Severity, Verdict

from tests.checks.conftest import device_of, results_of


@pytest.mark.lab
def test_lab_tftp_and_ntp(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = device_of(lab_run, lab_bench, "acme-ipcam200")
    tftp = cam.service(69, "udp")
    assert tftp is not None and tftp.name == "tftp" and "file not found" in tftp.banner
    [read] = [r for r in results_of(lab_run, cam, "access.unauthenticated-interface")
              if r.target.port == 69]  # fmt: skip
    assert read.verdict is Verdict.fail and read.severity is Severity.high
    hub = device_of(lab_run, lab_bench, "hubco-h1")
    ntp = hub.service(123, "udp")
    assert ntp is not None and ntp.name == "ntp" and ntp.banner == "stratum 8"
    assert hub.service(69, "udp") is None


@pytest.mark.lab
def test_lab_coap(lab_run: ScanRun, lab_bench: Any) -> None:
    plug = device_of(lab_run, lab_bench, "plugco-sp1")
    assert plug.service(5683, "udp") is not None and plug.service(5683, "tcp") is None
    [open_] = [r for r in results_of(lab_run, plug, "access.unauthenticated-interface")
               if r.target.service == "coap"]  # fmt: skip
    assert open_.verdict is Verdict.fail and open_.severity is Severity.high
    assert open_.evidence["declared_writable"] == ["/relay"]
    sentry = device_of(lab_run, lab_bench, "sentry-s3")
    [closed] = [r for r in results_of(lab_run, sentry, "access.unauthenticated-interface")
                if r.target.service == "coap"]  # fmt: skip
    assert closed.verdict is Verdict.passed
