"""Sentry S3 (no mDNS, no identifier): a unit that bans a source address after 3 failed logins.

Known flaws QA tracks: no logical identifier on any interface, and FTP (cleartext admin) open.
Beyond the generic baseline: only FTP 21, SSH 22 and HTTP 80; the ban must work (the scan stays
below it); the lab account logs in everywhere. Mind the ban when adding tests: 3 failed logins
from this host, on any service, cut the host off for 20 s.
"""

from __future__ import annotations

import time

import pytest

from lanprobe.device_api import DeviceUnderTest, Login

pytestmark = pytest.mark.model("sentry-s3")

BAN_S = 20.0


def lab_login(device: DeviceUnderTest, service: str) -> Login:
    """The lab account's login; waits out a ban left by earlier failed logins (at most 25 s)."""
    creds = device.lab_credentials
    assert creds is not None, "the sentry-s3 profile names the bench's lab account"
    deadline = time.monotonic() + BAN_S + 5
    while True:
        out = device.login(service, *creds)
        if out.accepted is not None or time.monotonic() > deadline:
            return out
        time.sleep(2.0)


def test_only_documented_ports(device: DeviceUnderTest) -> None:
    device.assert_only_ports(21, 22, 80)


def test_exposes_no_identifier(device: DeviceUnderTest) -> None:
    device.assert_fails("identification.identifier")
    assert device.identifier("serial") is None


@pytest.mark.parametrize("service", ["http", "ftp", "ssh"])
def test_lab_account_logs_in(device: DeviceUnderTest, service: str) -> None:
    # A successful login also resets the unit's count of failures from this host.
    out = lab_login(device, service)
    assert out.accepted is True, out


def test_status_carries_no_identifier_even_with_a_login(device: DeviceUnderTest) -> None:
    creds = device.lab_credentials
    assert creds is not None
    status = device.http.get("/api/status", auth=creds).json()
    assert not {"serial", "model", "fw"} & {k for k, v in status.items() if v}


def test_ftp_is_a_cleartext_admin_service(device: DeviceUnderTest) -> None:
    device.assert_fails("access.cleartext-admin", port=21)
    device.assert_fails("data.tls-required", port=21)


def test_scan_stayed_below_the_ban(device: DeviceUnderTest) -> None:
    # The profile declares the ban (threshold 3, per source): the scan spends at most 2 attempts
    # on the whole unit, so no default-login result can be a fail from a banned connection.
    logins = device.result("configuration.default-login")
    attempts = sum(r.evidence.get("guard", {}).get("attempts", 0) for r in logins)
    assert attempts <= 2, logins
