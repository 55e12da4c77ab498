"""Gizmo G1 (firmware 0.9.0): HTTP and FTP that accept any user and any password.

Known flaw QA tracks: authentication is decorative. lanprobe must report it as an
unauthenticated interface, never as a default login (there is no default to change). Beyond the
generic baseline: only HTTP 80 and FTP 21.
"""

from __future__ import annotations

import secrets

import pytest

from lanprobe.device_api import DeviceUnderTest

pytestmark = pytest.mark.model("gizmo-g1")


def test_only_documented_ports(device: DeviceUnderTest) -> None:
    device.assert_only_ports(21, 80)


@pytest.mark.parametrize("port", [21, 80])
def test_any_password_is_an_unauthenticated_interface(device: DeviceUnderTest, port: int) -> None:
    device.assert_fails("access.unauthenticated-interface", port=port)


def test_any_password_is_not_a_default_login(device: DeviceUnderTest) -> None:
    device.assert_not_applicable("configuration.default-login")


@pytest.mark.parametrize("service", ["http", "ftp"])
def test_random_credentials_log_in(device: DeviceUnderTest, service: str) -> None:
    device.assert_login_accepted(service, "qa-" + secrets.token_hex(4), secrets.token_hex(8))


def test_cleartext_logins(device: DeviceUnderTest) -> None:
    device.assert_fails("access.cleartext-admin", port=21)
    device.assert_fails("data.tls-required", port=80)
