"""Hand-made ScanRuns for report, store and diff tests (the engine is not needed for these).

`sample_run()` is a small bench shaped like the lab's: an insecure camera, a hub that passes
everything, a smart plug with an inconclusive result, and twin cameras sharing one serial.
Scores are computed here with the design's weights so that reports have real numbers to show.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from lanprobe.model import (
    Capability,
    CapabilityScore,
    Device,
    DeviceScore,
    DeviceVerdict,
    Identifier,
    MdnsService,
    Result,
    ScanRun,
    ScopeInfo,
    Service,
    Severity,
    Target,
    ToolInfo,
    Verdict,
)

T0 = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)

_CAPS = {
    "identification": Capability.device_identification,
    "configuration": Capability.device_configuration,
    "access": Capability.logical_access,
    "data": Capability.data_protection,
    "update": Capability.software_update,
    "state": Capability.cybersecurity_state_awareness,
    "declarations": Capability.declarations,
}
_WEIGHT = {"critical": 10, "high": 5, "medium": 2, "low": 1, "info": 0}


def device(
    n: int,
    profile: str | None,
    *,
    serial: str | None = "auto",
    mac: str | None = "auto",
    services: Iterable[tuple[int, str]] = (),
) -> Device:
    mac = f"02:00:00:00:00:{n:02x}" if mac == "auto" else mac
    serial = f"SN-{n:04d}" if serial == "auto" else serial
    ids = {"serial": Identifier(value=serial, source="mdns")} if serial else {}
    if profile:
        ids["model"] = Identifier(value=profile.upper(), source="mdns")
    return Device(
        key=mac or f"198.18.0.{n}",
        mac=mac,
        ips=[f"198.18.0.{n}"],
        vendor="Locally administered",
        hostname=f"dev{n}",
        profile=profile,
        profile_reason="mDNS TXT model" if profile else "",
        identifiers=ids,
        services=[Service(port=p, name=s, tls=s in ("https", "mqtts")) for p, s in services],
        mdns=[MdnsService(type="_http._tcp.local.", name=f"dev{n}", port=80, txt={"sn": serial})]
        if serial
        else [],
    )


def result(
    dev: Device,
    check_id: str,
    verdict: Verdict,
    severity: Severity = Severity.high,
    *,
    port: int | None = None,
    service: str = "",
    title: str | None = None,
    evidence: dict[str, Any] | None = None,
    references: list[str] | None = None,
) -> Result:
    return Result(
        check_id=check_id,
        device=dev.key,
        capability=_CAPS[check_id.split(".", 1)[0]],
        verdict=verdict,
        severity=severity,
        title=title or f"{check_id} {verdict.value}",
        target=Target(port=port, service=service),
        evidence=evidence or {},
        references=references or ["NISTIR-8259A:LAI-1"],
        duration_s=0.25,
    )


def score(dev: Device, results: list[Result]) -> DeviceScore:
    """The design's scoring, enough for reports to show real numbers."""
    details: dict[str, CapabilityScore] = {}
    for cap in Capability:
        mine = [r for r in results if r.capability is cap]
        if not mine:
            continue
        w = {v: sum(_WEIGHT[r.severity.value] for r in mine if r.verdict is v) for v in Verdict}
        denom = w[Verdict.passed] + w[Verdict.fail] + w[Verdict.inconclusive]
        details[cap.value] = CapabilityScore(
            score=round(100 * w[Verdict.passed] / denom, 1) if denom else None,
            coverage=50.0 if cap is not Capability.declarations else 0.0,
            passed=sum(r.verdict is Verdict.passed for r in mine),
            failed=sum(r.verdict is Verdict.fail for r in mine),
            inconclusive=sum(r.verdict is Verdict.inconclusive for r in mine),
            not_applicable=sum(r.verdict is Verdict.not_applicable for r in mine),
            declared=["SU-5 roll-back protection"] if cap is Capability.software_update else [],
        )
    high = [r for r in results if r.severity.rank >= Severity.high.rank]
    if any(r.verdict is Verdict.fail for r in high):
        verdict = DeviceVerdict.does_not_conform
    elif any(r.verdict is Verdict.inconclusive for r in high):
        verdict = DeviceVerdict.inconclusive
    else:
        verdict = DeviceVerdict.conforms
    caps = {k: v.score for k, v in details.items()}
    decided = [s for s in caps.values() if s is not None]
    return DeviceScore(
        device=dev.key,
        verdict=verdict,
        score=round(sum(decided) / len(decided), 1) if decided else None,
        coverage=60.0,
        capabilities=caps,
        details=details,
        baseline_version="2020-05",
        profile=dev.profile,
        profile_version="1",
    )


def make_run(
    run_id: str,
    devices: list[Device],
    results: list[Result],
    *,
    started: datetime = T0,
    interrupted: bool = False,
    profiles: dict[str, dict[str, Any]] | None = None,
) -> ScanRun:
    return ScanRun(
        run_id=run_id,
        started=started,
        finished=started + timedelta(seconds=42),
        interrupted=interrupted,
        tool=ToolInfo(version="0.1.0"),
        scope=ScopeInfo(interfaces=["plab0"], cidrs=["198.18.0.0/24"], lab=True),
        baseline={"id": "nistir-8259a", "version": "2020-05"},
        profiles=profiles if profiles is not None else PROFILES,
        devices=devices,
        results=results,
        scores={d.key: score(d, [r for r in results if r.device == d.key]) for d in devices},
        notes=["lab bench"],
    )


PROFILES: dict[str, dict[str, Any]] = {
    "acme-ipcam200": {
        "version": "3",
        "vendor": "Acme",
        "model": "IPCAM-200",
        "declarations": {
            "support_end": "2025-12-31",
            "end_of_life": "Security updates end 2025-12-31; no replacement offered.",
            "vulnerability_contact": "mailto:psirt@acme.example",
            "foundational": {
                "customers": "Home users",
                "use_cases": "Indoor video surveillance of a home <script>alert(1)</script>",
                "problem_reporting": "Email psirt@acme.example",
            },
            "declared": {"SU-5": "Firmware roll-back is blocked by an anti-rollback counter"},
        },
    },
    "hubco-h1": {
        "version": "1",
        "vendor": "HubCo",
        "model": "H1",
        "declarations": {
            "support_end": "2031-06-30",
            "end_of_life": "Announced 12 months ahead on hubco.example",
            "vulnerability_contact": "https://hubco.example/.well-known/security.txt",
            "foundational": {
                "customers": "Small offices",
                "use_cases": "Home and office automation hub",
                "environment": "Indoor, behind a NAT router",
                "support": "Security updates for 7 years after sale",
                "problem_reporting": "security.txt on the device and the vendor site",
            },
            "declared": {"DP-3": "Factory reset wipes all user data"},
        },
    },
}


def sample_devices() -> list[Device]:
    return [
        device(10, "acme-ipcam200", services=[(80, "http"), (23, "telnet"), (21, "ftp")]),
        device(13, "hubco-h1", services=[(443, "https"), (22, "ssh")]),
        device(11, "plugco-sp1", services=[(1883, "mqtt"), (8883, "mqtts")]),
        device(14, "acme-ipcam300", serial="ACM300-0001", services=[(443, "https")]),
        device(15, "acme-ipcam300", serial="ACM300-0001", services=[(443, "https")]),
    ]


def sample_results(devs: list[Device], *, flaws: dict[str, bool] | None = None) -> list[Result]:
    """Results of the sample bench; `flaws` switches some verdicts for diff tests."""
    f = {"hub_telnet": False, "cam_telnet": True, "plug_anon": True, **(flaws or {})}
    cam, hub, plug, twin1, twin2 = devs
    fail, ok = Verdict.fail, Verdict.passed
    out = [
        result(
            cam,
            "configuration.default-login",
            fail,
            Severity.critical,
            port=80,
            service="http",
            title="Default credentials admin:admin log in over HTTP Basic",
            evidence={"user": "admin", "password": "***", "status": 200, "banner": "\x1b[0mok\x00"},
        ),
        result(
            cam,
            "access.cleartext-admin",
            fail if f["cam_telnet"] else ok,
            Severity.high,
            port=23,
            service="telnet",
            title="Telnet admin service is open",
            evidence={"prompt": "login:"},
        ),
        result(cam, "update.currency", fail, Severity.medium, title="fw 1.0.3 < 1.2.0"),
        result(cam, "identification.identifier", ok, Severity.medium),
        result(
            cam,
            "declarations.support-period",
            fail,
            Severity.medium,
            title="Support period ended 2025-12-31",
        ),
        result(hub, "configuration.default-login", ok, Severity.critical, port=443, service="web"),
        result(
            hub,
            "access.cleartext-admin",
            fail if f["hub_telnet"] else ok,
            Severity.high,
            port=23 if f["hub_telnet"] else None,
            service="telnet" if f["hub_telnet"] else "",
        ),
        result(hub, "data.tls-protocol", ok, Severity.high, port=443, service="https"),
        result(hub, "update.signature", ok, Severity.critical),
        result(hub, "identification.identifier", ok, Severity.medium),
        result(
            hub,
            "access.no-lockout",
            Verdict.not_applicable,
            Severity.medium,
            port=22,
            service="ssh",
            evidence={"reason": "profile: SSH keys only, no password auth"},
        ),
        result(
            plug,
            "access.anonymous-mqtt",
            fail if f["plug_anon"] else ok,
            Severity.high,
            port=1883,
            service="mqtt",
            evidence={"subscribed": "#", "messages": 3},
        ),
        result(
            plug,
            "data.tls-certificate",
            Verdict.inconclusive,
            Severity.high,
            port=8883,
            service="mqtts",
            evidence={"reason": "handshake timed out after 5.0 s"},
        ),
        result(
            plug,
            "state.reporting",
            Verdict.error,
            Severity.low,
            evidence={"reason": "KeyError: 'state' (check bug)"},
        ),
    ]
    for twin in (twin1, twin2):
        out.append(
            result(
                twin,
                "identification.duplicate-identifier",
                fail,
                Severity.medium,
                title="Serial ACM300-0001 is shared with another unit",
            )
        )
        out.append(result(twin, "data.tls-protocol", ok, Severity.high, port=443, service="https"))
    return out


def sample_run(
    run_id: str = "run-1",
    *,
    started: datetime = T0,
    flaws: dict[str, bool] | None = None,
    interrupted: bool = False,
) -> ScanRun:
    devs = sample_devices()
    return make_run(
        run_id,
        devs,
        sample_results(devs, flaws=flaws),
        started=started,
        interrupted=interrupted,
    )
