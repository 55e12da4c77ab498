"""One verdict order, one way to name devices and targets, one service kind (probe/verdicts.py,
labels.py, service_kind.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lanprobe.labels import device_label, target_label
from lanprobe.model import DeviceVerdict, Target, Verdict
from lanprobe.verdicts import (
    CONSOLE_LISTED,
    DEVICE_WORST_FIRST,
    WORST_FIRST,
    device_rank,
    rank,
    report_position,
    worst_verdict,
)


def test_worst_first() -> None:
    v = Verdict
    assert worst_verdict([v.passed, v.fail, v.error]) == v.fail
    assert worst_verdict([v.passed, v.inconclusive]) == v.inconclusive
    assert worst_verdict([v.not_applicable, v.passed]) == v.passed
    assert worst_verdict(iter([v.not_applicable])) == v.not_applicable
    with pytest.raises(ValueError):
        worst_verdict([])
    assert [rank(x) for x in WORST_FIRST] == sorted((rank(x) for x in WORST_FIRST), reverse=True)
    assert set(WORST_FIRST) == set(Verdict)


def test_reports_list_findings_first_passes_last() -> None:
    order = sorted(Verdict, key=report_position)
    assert order[0] == Verdict.fail and order[-1] == Verdict.passed


def test_device_verdicts_worst_first() -> None:
    assert set(DEVICE_WORST_FIRST) == set(DeviceVerdict)
    worst = max(DeviceVerdict, key=device_rank)
    assert worst == DeviceVerdict.does_not_conform
    assert min(DeviceVerdict, key=device_rank) == DeviceVerdict.conforms
    assert CONSOLE_LISTED[0] == Verdict.error  # the console lists the run's own errors first


# A verdict-to-number map or a list naming three or more verdicts: an order of its own.
OWN_ORDER = re.compile(r"(Device)?Verdict\.\w+: *\d|\[(\s*(Device)?Verdict\.\w+,){2,}")


def test_no_module_keeps_a_verdict_order_of_its_own() -> None:
    root = Path(__file__).resolve().parents[1]
    found = [
        f"{path.relative_to(root)}:{n}"
        for folder in ("probe", "checks")
        for path in sorted((root / folder).rglob("*.py"))
        if path.name != "verdicts.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OWN_ORDER.search(line)
    ]
    assert found == [], "use probe/verdicts.py"


def test_labels() -> None:
    assert device_label("acme", "198.18.0.2", "k") == "acme@198.18.0.2"
    assert device_label(None, "", "02:aa") == "unmatched@02:aa"
    assert device_label(None, "1.2.3.4", "k", unmatched="generic") == "generic@1.2.3.4"
    assert target_label(Target(port=23, service="telnet")) == "23/tcp telnet"
    assert target_label(Target(port=161, transport="udp")) == "161/udp"
    assert target_label(Target()) == ""
    assert target_label(Target(), no_port="device") == "device"
    assert target_label(Target(service="mdns"), no_port="device") == "mdns"


def test_a_service_kind_and_the_profiles_declared_one() -> None:
    from lanprobe.model import Service
    from lanprobe.profile_schema import Port, Profile
    from lanprobe.service_kind import profile_kind, service_kind

    web = Service(port=8443, name="http", tls=True)
    assert service_kind(web) == "https"
    assert service_kind(Service(port=1883, name="mqtt", tls=True)) == "mqtts"
    assert service_kind(Service(port=9, name="", tls=True)) == "tls"
    odd = Service(port=7000, name="afs3-fileserver")  # nmap's name for a camera's RTSP port
    profile = Profile(id="cam", ports=[Port(port=7000, service="rtsp")])
    assert profile_kind(profile, odd) == "rtsp"  # the profile's declared service first
    assert profile_kind(Profile(id="other"), odd) == "afs3-fileserver"
