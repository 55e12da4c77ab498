"""PlugCo SP1 smart plug (firmware 2.0.1): web admin fine, MQTT known-bad.

Known flaws QA tracks until PlugCo ships 2.1: both MQTT listeners (1883 and 8883) take anonymous
clients, 1883 is cleartext, and the 8883 certificate has expired. Beyond the generic baseline the
web admin must stay Digest-only with no default password.
"""

from __future__ import annotations

import httpx
import pytest

from lanprobe.device_api import DeviceUnderTest

pytestmark = pytest.mark.model("plugco-sp1")


def test_only_documented_ports(device: DeviceUnderTest) -> None:
    device.assert_only_ports(80, 1883, 8883)


def serial_of(device: DeviceUnderTest) -> str:
    """The serial as the plug itself reports it (authorised, over its Digest-protected API)."""
    creds = device.lab_credentials
    assert creds is not None, "the plugco-sp1 profile names the bench's lab account"
    status = device.http.get("/api/status", auth=httpx.DigestAuth(*creds))
    assert status.status_code == 200, status
    serial: str = status.json()["serial"]
    return serial


@pytest.mark.parametrize("port", [1883, 8883])
def test_anonymous_mqtt_is_detected_on_both_listeners(device: DeviceUnderTest, port: int) -> None:
    found = device.assert_fails("access.anonymous-mqtt", port=port)
    # What an anonymous client can read: the plug's own state topic.
    assert f"plugco/{serial_of(device)}/state" in found.evidence["topics"]


def test_mqtt_in_cleartext_on_1883(device: DeviceUnderTest) -> None:
    device.assert_fails("data.tls-required", port=1883)


def test_mqtts_certificate_has_expired(device: DeviceUnderTest) -> None:
    cert = device.assert_fails("data.tls-certificate", port=8883)
    assert "expired" in cert.titles[0]
    device.assert_passes("data.tls-protocol", port=8883)


def test_web_admin_is_digest_only(device: DeviceUnderTest) -> None:
    creds = device.lab_credentials
    assert creds is not None
    challenge = device.http.get("/api/status")
    assert challenge.status_code == 401
    assert challenge.headers["www-authenticate"].startswith("Digest")
    assert device.http.get("/api/status", auth=creds).status_code == 401  # Basic is refused
    assert serial_of(device).startswith("SP1-")


def test_no_default_web_password(device: DeviceUnderTest) -> None:
    device.assert_passes("configuration.default-login", port=80)
    device.assert_passes("access.unauthenticated-interface", port=80)
