"""Lockout: after a full scan every lab device still takes its right credentials on every login
service (the scan stays below each model's lockout and ban thresholds, lab/README.md)."""

from __future__ import annotations

import pytest
from lanprobe.lab.models import BY_ID

from tests.robustness.conftest import FullRun
from tests.robustness.credentials import refused_right_logins

pytestmark = pytest.mark.lab


def test_every_device_accepts_its_credentials_after_a_scan(full_run: FullRun) -> None:
    bench = full_run.bench
    outcomes, refused = refused_right_logins(bench)
    assert not refused, "locked out after the scan:\n" + "\n".join(map(str, refused))
    # Every model with a login service was tried (the helper misses none).
    tried = {o.device for o in outcomes}
    with_logins = {
        d.name
        for d in bench.devices
        if any(
            (BY_ID[d.model].http, BY_ID[d.model].telnet, BY_ID[d.model].ftp,
             BY_ID[d.model].ssh, BY_ID[d.model].mqtt)
        )
    }  # fmt: skip
    assert with_logins <= tried
    # Not vacuous: the scan did fail logins on the models that ban or lock, and stayed below.
    lockers = [d for d in bench.devices if BY_ID[d.model].ban or BY_ID[d.model].lockout]
    assert lockers
    for lab_dev in lockers:
        dev = next(d for d in full_run.run.devices if lab_dev.ip in d.ips)
        failures = sum(
            int(r.evidence.get("guard", {}).get("failures", 0))
            for r in full_run.run.results
            if r.device == dev.key and r.check_id == "configuration.default-login"
        )
        assert failures > 0, f"{lab_dev.name}: the scan made no failed login to test this on"
