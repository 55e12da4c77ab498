"""A hand-made ScanRun for the plugin tests: two devices, every verdict, several targets.

    hubco-h1@198.18.250.10       conforms: pass everywhere, one not_applicable
    acme-ipcam200@198.18.250.11  does not conform: default logins on 23 and 80 (fail), an
                                 inconclusive lockout check, a check that broke (error), a
                                 not_applicable TLS check, and pass + fail on one port

Nothing listens on 198.18.250.0/24: these runs are for tests that read results only.
"""

from __future__ import annotations

from typing import Any

from lanprobe.model import (
    Capability,
    Device,
    DeviceScore,
    DeviceVerdict,
    Identifier,
    ProfileMatch,
    Result,
    ScanRun,
    ScopeInfo,
    Service,
    Severity,
    Target,
    Verdict,
)

HUB_KEY = "dc:a6:32:fa:00:0a"
CAM_KEY = "b8:27:eb:fa:00:0b"
HUB = "hubco-h1@198.18.250.10"
CAM = "acme-ipcam200@198.18.250.11"

_CAPS = {
    "configuration": Capability.device_configuration,
    "access": Capability.logical_access,
    "data": Capability.data_protection,
    "update": Capability.software_update,
    "identification": Capability.device_identification,
}


def _res(
    key: str,
    check_id: str,
    verdict: Verdict,
    title: str,
    port: int | None = None,
    service: str = "",
    severity: Severity = Severity.high,
    **evidence: Any,
) -> Result:
    return Result(
        check_id=check_id,
        device=key,
        capability=_CAPS[check_id.split(".")[0]],
        verdict=verdict,
        severity=severity,
        title=title,
        target=Target(port=port, service=service),
        evidence=evidence,
        references=["NISTIR-8259A:CFG-2"],
    )


def fake_run() -> ScanRun:
    hub = Device(
        key=HUB_KEY,
        mac=HUB_KEY,
        ips=["198.18.250.10"],
        vendor="Raspberry Pi Trading",
        profile="hubco-h1",
        identifiers={"serial": Identifier(value="H1-0001", source="mdns")},
        services=[
            Service(port=22, name="ssh"),
            Service(port=443, name="https", tls=True),
            Service(port=8883, name="mqtt", tls=True),
        ],
    )
    cam = Device(
        key=CAM_KEY,
        mac=CAM_KEY,
        ips=["198.18.250.11"],
        vendor="Raspberry Pi Foundation",
        profile="acme-ipcam200",
        profile_reason="HTTP Server header contains 'AcmeCam-httpd/1.'",
        profile_match=ProfileMatch(
            strength="weak", identifiers=["HTTP Server header contains 'AcmeCam-httpd/1.'"]
        ),
        identifiers={"serial": Identifier(value="ACM200-0001", source="mdns")},
        services=[
            Service(port=21, name="ftp"),
            Service(port=23, name="telnet"),
            Service(port=80, name="http"),
        ],
    )
    v = Verdict
    results = [
        _res(HUB_KEY, "configuration.default-login", v.passed, "no default login", 443, "https",
             Severity.critical),
        _res(HUB_KEY, "access.no-lockout", v.passed, "HTTP 429 after failures", 443, "https",
             Severity.medium),
        _res(HUB_KEY, "access.unauthenticated-interface", v.passed, "all paths ask", 443, "https"),
        _res(HUB_KEY, "data.tls-protocol", v.passed, "TLS 1.2+ only", 443, "https"),
        _res(HUB_KEY, "data.tls-protocol", v.passed, "TLS 1.2+ only", 8883, "mqtts"),
        _res(HUB_KEY, "update.signature", v.passed, "signature verifies", 443, "https"),
        _res(HUB_KEY, "update.transport", v.not_applicable, "profile hubco-h1: updates by app"),
        _res(HUB_KEY, "identification.identifier", v.passed, "serial exposed", None, "",
             Severity.medium),
        _res(CAM_KEY, "configuration.default-login", v.fail,
             "default login root:****** accepted on telnet login on port 23", 23, "telnet",
             Severity.critical, user="root", password="******", source="mirai-telnet"),
        _res(CAM_KEY, "configuration.default-login", v.fail,
             "default login admin:***** accepted on HTTP basic login", 80, "http",
             Severity.critical, user="admin", password="*****"),
        _res(CAM_KEY, "access.no-lockout", v.inconclusive,
             "not enough failed logins on port 21 to judge a lockout", 21, "ftp", Severity.medium,
             reason="attempt budget spent"),
        _res(CAM_KEY, "access.unauthenticated-interface", v.passed, "/ asks for a login", 80,
             "http"),
        _res(CAM_KEY, "access.unauthenticated-interface", v.fail,
             "admin path /api/config answers 200 without authentication", 80, "http",
             path="/api/config", status=200),
        _res(CAM_KEY, "data.tls-protocol", v.not_applicable, "no TLS service on the device"),
        _res(CAM_KEY, "update.signature", v.error, "check failed: KeyError: 'sig'", 80, "http",
             exception="KeyError: 'sig'"),
        _res(CAM_KEY, "update.transport", v.fail, "manifest over plain HTTP", 80, "http"),
        _res(CAM_KEY, "identification.identifier", v.passed, "serial exposed", None, "",
             Severity.medium),
    ]  # fmt: skip
    return ScanRun(
        run_id="fakerun00001",
        scope=ScopeInfo(cidrs=["198.18.250.0/24"], interfaces=[]),
        devices=[hub, cam],
        results=results,
        scores={
            HUB_KEY: DeviceScore(
                device=HUB_KEY, verdict=DeviceVerdict.conforms, score=100.0, profile="hubco-h1"
            ),
            CAM_KEY: DeviceScore(
                device=CAM_KEY,
                verdict=DeviceVerdict.does_not_conform,
                score=12.5,
                profile="acme-ipcam200",
            ),
        },
    )
