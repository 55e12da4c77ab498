from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from lanprobe.model import Verdict
from lanprobe.report.junit import render_junit, write_junit

from tests.report.runs import device, make_run, result, sample_run

XSD = Path(__file__).with_name("junit.xsd")


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(XSD)


def test_junit_validates_against_the_schema(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    path = write_junit(sample_run(), tmp_path / "junit.xml")
    schema.validate(str(path))  # raises with the offending element on any violation


def test_schema_rejects_what_jenkins_would(schema: xmlschema.XMLSchema) -> None:
    """The schema has teeth: a testsuite without its counts, or a bad count, is refused."""
    bad = '<testsuites><testsuite name="x" tests="1"><testcase name="a"/></testsuite></testsuites>'
    assert not schema.is_valid(bad)
    bad_count = (
        '<testsuites><testsuite name="x" tests="one" failures="0" errors="0">'
        '<testcase name="a"/></testsuite></testsuites>'
    )
    assert not schema.is_valid(bad_count)
    bad_child = (
        '<testsuites><testsuite name="x" tests="1" failures="0" errors="0">'
        '<testcase name="a"><oops/></testcase></testsuite></testsuites>'
    )
    assert not schema.is_valid(bad_child)


def test_one_suite_per_device_one_case_per_result() -> None:
    run = sample_run()
    root = ET.fromstring(render_junit(run))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [
        "acme-ipcam200@198.18.0.10",
        "hubco-h1@198.18.0.13",
        "plugco-sp1@198.18.0.11",
        "acme-ipcam300@198.18.0.14",
        "acme-ipcam300@198.18.0.15",
    ]
    for suite, dev in zip(suites, run.devices, strict=True):
        cases = suite.findall("testcase")
        assert len(cases) == len(run.results_for(dev.key)) == int(suite.get("tests", "-1"))
    assert int(root.get("tests", "0")) == len(run.results)
    cam = suites[0]
    props = {p.get("name"): p.get("value") for p in cam.iter("property")}
    assert props["mac"] == "02:00:00:00:00:0a"
    assert props["verdict"] == "does_not_conform"
    assert props["serial"] == "SN-0010"
    assert "bench" not in props  # an unnamed bench adds no empty property


def test_bench_host_model_and_firmware_are_suite_properties() -> None:
    run = sample_run()
    run.bench, run.host.hostname = "bench-7", "probe-host-7"
    run.devices[0].model, run.devices[0].firmware = "IPCAM-200", "1.0.3"
    cam = ET.fromstring(render_junit(run)).findall("testsuite")[0]
    props = {p.get("name"): p.get("value") for p in cam.iter("property")}
    assert (props["bench"], props["probe_host"]) == ("bench-7", "probe-host-7")
    assert (props["model"], props["firmware"]) == ("IPCAM-200", "1.0.3")
    assert props["lanprobe"] == run.tool.version


def test_verdicts_map_to_junit_outcomes() -> None:
    root = ET.fromstring(render_junit(sample_run()))
    cases = {
        (c.get("classname", "").split(".")[0], c.get("name")): c for c in root.iter("testcase")
    }
    login = cases[("acme-ipcam200@198_18_0_10", "configuration.default-login [80/tcp http]")]
    failure = login.find("failure")
    assert failure is not None
    assert failure.get("type") == "critical"
    assert "admin:admin" in (failure.get("message") or "")
    evidence = json.loads(failure.text or "")
    assert evidence["user"] == "admin"
    assert evidence["password"] == "***"

    inconc = cases[("plugco-sp1@198_18_0_11", "data.tls-certificate [8883/tcp mqtts]")]
    err = inconc.find("error")
    assert err is not None and err.get("type") == "inconclusive"
    assert err.get("message") == "handshake timed out after 5.0 s"

    broke = cases[("plugco-sp1@198_18_0_11", "state.reporting")]
    err = broke.find("error")
    assert err is not None and err.get("type") == "error"
    assert "KeyError" in (err.get("message") or "")

    na = cases[("hubco-h1@198_18_0_13", "access.no-lockout [22/tcp ssh]")]
    skipped = na.find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "profile: SSH keys only, no password auth"

    passed = cases[("hubco-h1@198_18_0_13", "data.tls-protocol [443/tcp https]")]
    assert [el.tag for el in passed] == ["system-out"]  # references only, no outcome


def test_counts_per_suite() -> None:
    root = ET.fromstring(render_junit(sample_run()))
    plug = root.findall("testsuite")[2]
    assert (plug.get("failures"), plug.get("errors"), plug.get("skipped")) == ("1", "2", "0")
    assert root.get("failures") == str(sum(r.verdict is Verdict.fail for r in sample_run().results))


def test_control_characters_in_evidence_stay_valid_xml(schema: xmlschema.XMLSchema) -> None:
    dev = device(20, None, serial=None)
    res = result(
        dev,
        "access.unexpected-port",
        Verdict.fail,
        port=9999,
        title="debug shell \x07 open",
        evidence={"banner": "\x00\x01root# \x1b[1m\ufffe"},
    )
    text = render_junit(make_run("r", [dev], [res]))
    schema.validate(text)
    failure = ET.fromstring(text).find(".//failure")
    assert failure is not None
    assert json.loads(failure.text or "")["banner"] == "\x00\x01root# \x1b[1m\ufffe"
    assert failure.get("message") == "[high] debug shell \\u0007 open"
    suite = ET.fromstring(text).find("testsuite")
    assert suite is not None and suite.get("name") == "unmatched@198.18.0.20"


def test_results_of_an_unknown_device_get_their_own_suite(schema: xmlschema.XMLSchema) -> None:
    dev = device(10, "acme-ipcam200")
    ghost = device(99, None)
    res = [
        result(dev, "identification.identifier", Verdict.passed),
        result(ghost, "identification.shared-key", Verdict.fail),
    ]
    text = render_junit(make_run("r", [dev], res))
    schema.validate(text)
    names = [s.get("name") for s in ET.fromstring(text).findall("testsuite")]
    assert names == ["acme-ipcam200@198.18.0.10", ghost.key]


def test_empty_run_is_valid(schema: xmlschema.XMLSchema) -> None:
    text = render_junit(make_run("empty", [], []))
    schema.validate(text)
    assert ET.fromstring(text).get("tests") == "0"


def test_why_a_device_does_not_conform_is_a_suite_property() -> None:
    run = sample_run()
    key = run.devices[0].key
    run.scores[key].reasons = ["software_update: coverage 0% below the minimum 15% (SU-2, SU-4)"]
    run.scores[key].lacking_evidence = ["software_update"]
    suite = ET.fromstring(render_junit(run)).findall("testsuite")[0]
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["verdict_reasons"].startswith("software_update: coverage 0%")
    assert props["lacking_evidence"] == "software_update"
