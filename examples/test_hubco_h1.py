"""HubCo H1 hub: the bench's control unit. It must pass the baseline and keep its hardening.

What QA expects beyond the generic baseline: only SSH 22, HTTPS 443 and MQTTS 8883; no cleartext
service; every API behind a login; an account locked after five failed logins (HTTP 429); a
security.txt with a contact; updates signed with HubCo's Ed25519 key; the security state readable
by the authorised account only.
"""

from __future__ import annotations

import secrets

import pytest

from lanprobe.device_api import DeviceUnderTest

pytestmark = pytest.mark.model("hubco-h1")

MUST_PASS = (
    "configuration.default-login",
    "access.anonymous-mqtt",
    "access.unauthenticated-interface",
    "access.cleartext-admin",
    "access.unexpected-port",
    "access.no-lockout",
    "data.tls-required",
    "data.tls-protocol",
    "data.tls-certificate",
    "update.transport",
    "update.signature",
    "update.unauthenticated-upload",
    "state.exposed-status",
    "state.reporting",
    "identification.identifier",
    "identification.shared-key",
    "declarations.vulnerability-contact",
    "declarations.support-period",
    "declarations.foundational",
)


def test_conforms(device: DeviceUnderTest) -> None:
    device.assert_conforms()
    assert device.score is not None and device.score >= 90


@pytest.mark.parametrize("check_id", MUST_PASS)
def test_passes(device: DeviceUnderTest, check_id: str) -> None:
    device.assert_passes(check_id)


def test_only_documented_ports_and_no_cleartext_service(device: DeviceUnderTest) -> None:
    device.assert_only_ports(22, 443, 8883)
    device.assert_port_closed(21, 23, 80, 1883)


def test_web_tls_offers_only_forward_secret_suites(device: DeviceUnderTest) -> None:
    device.assert_passes("data.tls-cipher", port=443)


def test_api_needs_a_login(device: DeviceUnderTest) -> None:
    for path in ("/api/status", "/api/config", "/api/security"):
        assert device.http.get(path).status_code == 401, path


def test_security_txt_names_a_contact(device: DeviceUnderTest) -> None:
    resp = device.http.get("/.well-known/security.txt")
    assert resp.status_code == 200
    assert "Contact: mailto:" in resp.text
    assert "Expires:" in resp.text


def test_authorised_account_reads_the_security_state(device: DeviceUnderTest) -> None:
    creds = device.lab_credentials
    assert creds is not None, "the hubco-h1 profile names the bench's lab account"
    device.assert_login_accepted("https", *creds)
    state = device.http.get("/api/security", auth=creds).json()
    assert state["state"] == "operating_as_expected"
    assert state["tls_only"] is True


def test_firmware_is_the_latest(device: DeviceUnderTest) -> None:
    creds = device.lab_credentials
    assert creds is not None
    state = device.http.get("/api/security", auth=creds).json()
    assert state["fw"] == device.profile_data.update.latest_firmware
    # The scan reads the version from mDNS: it may be undecided, never behind.
    assert not device.result("update.currency").failed


def test_account_locks_after_five_failed_logins(device: DeviceUnderTest) -> None:
    # A throwaway account: the lock is per username, so the lab account stays usable.
    user = "qa-" + secrets.token_hex(4)
    for _ in range(5):
        device.assert_login_refused("https", user, "wrong-" + secrets.token_hex(4))
    locked = device.login("https", user, "wrong")
    assert locked.accepted is None and locked.sign == "HTTP 429", locked
