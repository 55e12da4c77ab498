"""Acme IPCAM-300 twin cameras: two units cloned from one image.

Known flaws QA tracks: both units carry the same serial, the same self-signed TLS key and the
same SSH host key, and SSH still takes the maintenance guide's admin:admin. Beyond the generic
baseline: only SSH 22 and HTTPS 443, TLS 1.2+ with forward-secret suites, and no default web login.
"""

from __future__ import annotations

import pytest

from lanprobe.device_api import DeviceUnderTest
from lanprobe.model import ScanRun

pytestmark = pytest.mark.model("acme-ipcam300")


def test_only_documented_ports(device: DeviceUnderTest) -> None:
    device.assert_only_ports(22, 443, 8554)  # SSH, HTTPS, RTSP (Digest)


def test_maintenance_ssh_default_still_logs_in(device: DeviceUnderTest) -> None:
    device.assert_fails("configuration.default-login", port=22)
    device.assert_login_accepted("ssh", "admin", "admin")


def test_no_default_web_login(device: DeviceUnderTest) -> None:
    device.assert_passes("configuration.default-login", port=443)


def test_self_signed_certificate_is_flagged(device: DeviceUnderTest) -> None:
    # It names neither the unit's address nor its host (a fail); being self-signed, no CA given
    # covers it, so its trust is named and left unjudged.
    cert = device.assert_fails("data.tls-certificate", port=443)
    assert "match none of" in cert.titles[0] and "self-signed" in cert.titles[0]


def test_modern_tls(device: DeviceUnderTest) -> None:
    device.assert_passes("data.tls-protocol", port=443)
    device.assert_passes("data.tls-cipher", port=443)


def test_twin_shares_serial_and_keys(device: DeviceUnderTest, bench: ScanRun) -> None:
    twins = [d for d in bench.devices if d.profile == device.profile and d.key != device.key]
    assert twins, "the bench holds a pair of IPCAM-300"
    twin = twins[0]
    dup = device.assert_fails("identification.duplicate-identifier")
    assert twin.ip in dup.titles[0]
    for port in (22, 443):
        shared = device.assert_fails("identification.shared-key", port=port)
        assert twin.ip in shared.titles[0]
