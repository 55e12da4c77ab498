"""UPnP control without credentials (access.unauthenticated-interface): description services,
read-only SOAP calls, every verdict branch; the lab camera's open IGD control and the hub's
refusing one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lanprobe.checks.clients import upnp
from lanprobe.checks.logical_access import UPNP_ACTIONS_FILE, judge_upnp
from lanprobe.discovery.ssdp import parse_services
from lanprobe.errors import ProtocolError
from lanprobe.model import ScanRun, Severity, Verdict

from tests.checks.conftest import device_of, results_of

DESCRIPTION = b"""<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><device>
<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<deviceList><device><deviceList><device><serviceList><service>
<serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
<controlURL>/ctl/IPConn</controlURL></service></serviceList></device></deviceList></device>
</deviceList></device></root>"""


def test_parse_services_in_embedded_devices() -> None:
    assert parse_services(DESCRIPTION) == [
        ("urn:schemas-upnp-org:service:WANIPConnection:1", "/ctl/IPConn")
    ]
    with pytest.raises(ProtocolError):
        parse_services(b'<!DOCTYPE x [<!ENTITY a "b">]><root/>')


def test_actions_file_only_reads() -> None:
    actions = upnp.load_actions(UPNP_ACTIONS_FILE)
    reads = {"GetExternalIPAddress", "GetGenericPortMappingEntry", "GetCommonLinkProperties"}
    assert {a.action for a in actions} <= reads
    assert all(a.action.startswith("Get") for a in actions)


def test_actions_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "a.txt"
    bad.write_text("urn:x: GetX\nnot-a-urn GetY\n")
    with pytest.raises(ValueError, match=r"a\.txt:2"):
        upnp.load_actions(bad)


def test_envelope_and_control_path() -> None:
    args = (("NewPortMappingIndex", "0"),)
    action = upnp.ReadAction("urn:x:", "GetGenericPortMappingEntry", args)
    body = upnp.envelope("urn:x:1", action).decode()
    assert '<u:GetGenericPortMappingEntry xmlns:u="urn:x:1">' in body
    assert "<NewPortMappingIndex>0</NewPortMappingIndex>" in body
    loc = "http://198.18.0.10:80/upnp/description.xml"
    assert upnp.control_path("198.18.0.10", loc, "/ctl") == (80, False, "/ctl")
    assert upnp.control_path("198.18.0.10", loc, "https://198.18.0.10:5000/c?x=1") == (
        5000, True, "/c?x=1")  # fmt: skip
    # a control URL on another host is never called
    assert upnp.control_path("198.18.0.10", loc, "http://198.18.0.99/ctl") is None


def _call(**kw: Any) -> upnp.CallOutcome:
    out = upnp.CallOutcome("urn:schemas-upnp-org:service:WANIPConnection:1", "/ctl", "GetX")
    for k, v in kw.items():
        setattr(out, k, v)
    return out


def test_judge_upnp_branches() -> None:
    verdict, title, ev = judge_upnp([_call(status=200, answered=True)])  # type: ignore[misc]
    assert verdict is Verdict.fail and "WANIPConnection" in title and "AddPortMapping" in ev["note"]
    # an index error only comes from an action that ran
    assert judge_upnp([_call(status=500, upnp_error=714)])[0] is Verdict.fail  # type: ignore[index]
    assert judge_upnp([_call(status=401)])[0] is Verdict.passed  # type: ignore[index]
    assert judge_upnp([_call(status=500, upnp_error=606)])[0] is Verdict.passed  # type: ignore[index]
    assert judge_upnp([_call(error="timeout")])[0] is Verdict.inconclusive  # type: ignore[index]
    assert judge_upnp([_call(status=500, upnp_error=401)]) is None  # not supported: no claim
    assert judge_upnp([]) is None


def test_response_fields() -> None:
    body = (b"<s:Envelope><s:Body><u:GetXResponse xmlns:u='x'><NewExternalIPAddress>203.0.113.7"
            b"</NewExternalIPAddress></u:GetXResponse></s:Body></s:Envelope>")  # fmt: skip
    assert upnp._response_fields(body, "GetX") == {"NewExternalIPAddress": "203.0.113.7"}


@pytest.mark.lab
def test_lab_upnp_control(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = device_of(lab_run, lab_bench, "acme-ipcam200")
    [open_] = [r for r in results_of(lab_run, cam, "access.unauthenticated-interface")
               if r.target.service == "upnp"]  # fmt: skip
    assert open_.verdict is Verdict.fail and open_.severity is Severity.high
    assert open_.evidence["response"] == {"NewExternalIPAddress": "203.0.113.7"}
    hub = device_of(lab_run, lab_bench, "hubco-h1")
    [closed] = [r for r in results_of(lab_run, hub, "access.unauthenticated-interface")
                if r.target.service == "upnp"]  # fmt: skip
    assert closed.verdict is Verdict.passed
    assert {c["status"] for c in closed.evidence["calls"]} == {401}
