"""Therma T1 thermostat (firmware 3.1.0): HTTPS admin with weak TLS and documented defaults.

Known flaws QA tracks: TLS 1.0/1.1 and static-RSA CBC suites accepted on 443, an RSA-1024/SHA-1
certificate, the manual's default logins (web admin:1234, MQTT therma:therma), a manifest signed
with the wrong key, and a declared security-state endpoint that answers 404. Beyond the generic
baseline: HTTP 80 may only redirect to HTTPS, and MQTT must refuse anonymous clients.
"""

from __future__ import annotations

import pytest

from lanprobe.device_api import DeviceUnderTest

pytestmark = pytest.mark.model("therma-t1")


def test_only_documented_ports(device: DeviceUnderTest) -> None:
    device.assert_only_ports(80, 443, 1883)


def test_plain_http_only_redirects_to_https(device: DeviceUnderTest) -> None:
    resp = device.http.get("/api/status", port=80)
    assert resp.status_code == 301
    assert resp.headers["location"] == f"https://{device.ip}/api/status"


def test_weak_tls_is_detected(device: DeviceUnderTest) -> None:
    protocol = device.assert_fails("data.tls-protocol", port=443)
    assert {"TLSv1.0", "TLSv1.1"} <= set(protocol.evidence["old_versions"])
    device.assert_fails("data.tls-cipher", port=443)
    cert = device.assert_fails("data.tls-certificate", port=443)
    assert "1024" in cert.titles[0] and "SHA1" in cert.titles[0]


def test_manual_default_web_login_still_works(device: DeviceUnderTest) -> None:
    device.assert_fails("configuration.default-login", port=443)
    device.assert_login_accepted("https", "admin", "1234")


def test_manual_default_mqtt_login_still_works(device: DeviceUnderTest) -> None:
    device.assert_fails("configuration.default-login", port=1883)
    device.assert_login_accepted("mqtt", "therma", "therma")


def test_mqtt_refuses_anonymous_clients(device: DeviceUnderTest) -> None:
    device.assert_passes("access.anonymous-mqtt", port=1883)


def test_update_manifest_signature_does_not_verify(device: DeviceUnderTest) -> None:
    device.assert_fails("update.signature", port=443)


def test_declared_security_state_endpoint_is_missing(device: DeviceUnderTest) -> None:
    device.assert_fails("state.reporting", port=443)
    assert device.http.get("/api/security").status_code == 404
