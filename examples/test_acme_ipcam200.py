"""Acme IPCAM-200 (firmware 1.0.3): a known-bad camera, kept on the bench as a reference unit.

Acme ended support at the end of 2023 and ships no fix, so QA tracks its flaws instead: each test
asserts that lanprobe still detects a known flaw. A test here fails the day a flaw is no longer
found, meaning the firmware changed or a check regressed; both need a human to look.

Beyond the generic baseline: the model documents FTP 21, telnet 23, HTTP 80 (Basic) and RTSP 554
(an open stream), and has
an undocumented debug shell on 9999 that QA knows about; nothing else may be open.
"""

from __future__ import annotations

import secrets

import pytest

from lanprobe.device_api import DeviceUnderTest

pytestmark = pytest.mark.model("acme-ipcam200")

LOGIN_PORTS = (21, 23, 80)  # FTP, telnet, HTTP Basic: each with a default login
DOCUMENTED_PORTS = (*LOGIN_PORTS, 554)  # and RTSP, which streams without any login
DEBUG_SHELL = 9999


def test_nothing_open_beyond_the_documented_ports_and_the_known_debug_shell(
    device: DeviceUnderTest,
) -> None:
    device.assert_only_ports(*DOCUMENTED_PORTS, DEBUG_SHELL)


def test_debug_shell_is_reported_as_an_unexpected_port(device: DeviceUnderTest) -> None:
    device.assert_fails("access.unexpected-port", port=DEBUG_SHELL)
    assert device.port(DEBUG_SHELL).connects()


@pytest.mark.parametrize("port", LOGIN_PORTS)
def test_default_login_found_on_every_login_service(device: DeviceUnderTest, port: int) -> None:
    device.assert_fails("configuration.default-login", port=port)


def test_mirai_telnet_pair_still_logs_in(device: DeviceUnderTest) -> None:
    # root:xc3511 is in the Mirai list: the reason this camera family was botnet fodder.
    device.assert_login_accepted("telnet", "root", "xc3511")
    device.assert_login_refused("telnet", "root", "qa-" + secrets.token_hex(6))


def test_admin_and_status_api_answer_without_login(device: DeviceUnderTest) -> None:
    device.assert_fails("access.unauthenticated-interface", port=80)
    config = device.http.get("/api/config")
    assert config.status_code == 200
    status = device.http.get("/api/status").json()
    assert status["model"] == "IPCAM-200" and status["serial"].startswith("ACM200-")


def test_status_and_logs_are_readable_by_anyone(device: DeviceUnderTest) -> None:
    device.assert_fails("state.exposed-status", port=80)


def test_update_is_unsigned_over_plain_http_and_behind(device: DeviceUnderTest) -> None:
    device.assert_fails("update.transport", port=80)
    device.assert_fails("update.signature", port=80)
    currency = device.assert_fails("update.currency")
    assert currency.evidence["reported"] == "1.0.3"


def test_firmware_upload_accepts_anonymous_posts(device: DeviceUnderTest) -> None:
    device.assert_fails("update.unauthenticated-upload", port=80)


def test_support_period_is_over(device: DeviceUnderTest) -> None:
    device.assert_fails("declarations.support-period")


def test_does_not_conform(device: DeviceUnderTest) -> None:
    assert device.verdict == "does_not_conform"
    assert device.score is not None and device.score < 50
