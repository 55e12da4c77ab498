"""Profile-driven collection: `--probe-baseline` items, their outcomes, markers, -k and JUnit."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.plugin.conftest import PROFILES
from tests.plugin.runs import CAM, HUB


def test_every_check_and_target_is_an_item_with_a_readable_id(
    pytester: pytest.Pytester, probe_args: list[str]
) -> None:
    result = pytester.runpytest(*probe_args, "--probe-baseline", "--collect-only", "-q")
    ids = [line for line in result.stdout.lines if "@198.18.250." in line and "::" in line]
    assert ids == [
        f"{HUB}::access.no-lockout[443]",
        f"{HUB}::access.unauthenticated-interface[443]",
        f"{HUB}::configuration.default-login[443]",
        f"{HUB}::data.tls-protocol[443]",
        f"{HUB}::data.tls-protocol[8883]",
        f"{HUB}::identification.identifier",
        f"{HUB}::update.signature[443]",
        f"{HUB}::update.transport",
        f"{CAM}::access.no-lockout[21]",
        f"{CAM}::access.unauthenticated-interface[80]",
        f"{CAM}::configuration.default-login[23]",
        f"{CAM}::configuration.default-login[80]",
        f"{CAM}::data.tls-protocol",
        f"{CAM}::identification.identifier",
        f"{CAM}::update.signature[80]",
        f"{CAM}::update.transport[80]",
    ]


def test_verdicts_map_to_outcomes(pytester: pytest.Pytester, probe_args: list[str]) -> None:
    pytester.makepyfile("def test_own(): pass")
    result = pytester.runpytest(*probe_args, "--probe-baseline", "-rA")
    # 1 own test + 7 hub passes + 1 cam pass; cam: 4 fails, 2 undecided (errors), NA skipped
    result.assert_outcomes(passed=9, failed=4, errors=2, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED [[]1[]] *hubco-h1.yaml: update.transport not applicable: profile hubco-h1: *",
            "SKIPPED [[]1[]] *acme-ipcam200.yaml: data.tls-protocol not applicable: no TLS*",
            f"ERROR {CAM}::access.no-lockout[[]21[]]*",
            f"ERROR {CAM}::update.signature[[]80[]]*",
            f"FAILED {CAM}::configuration.default-login[[]23[]]*",
        ],
        consecutive=False,
    )
    out = result.stdout.str()
    # A failure carries the titles and evidence, without a Python traceback.
    assert "fail (critical) 23/tcp telnet: default login root:****** accepted" in out
    assert '"source": "mirai-telnet"' in out
    assert "inconclusive (medium) 21/tcp ftp: not enough failed logins" in out
    assert "pytest_items.py" not in out
    # pass + fail on one port: a failure showing both
    assert "pass (high) 80/tcp http: / asks for a login" in out


def test_dash_k_selects_checks(pytester: pytest.Pytester, probe_args: list[str]) -> None:
    result = pytester.runpytest(*probe_args, "--probe-baseline", "-k", "default-login", "-v")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([f"*{HUB}::configuration.default-login?443? PASSED*"])
    by_device = pytester.runpytest(*probe_args, "--probe-baseline", "-k", "hubco-h1 and tls")
    by_device.assert_outcomes(passed=2)


def test_dash_m_selects_capabilities(pytester: pytest.Pytester, probe_args: list[str]) -> None:
    result = pytester.runpytest(*probe_args, "--probe-baseline", "-m", "data_protection", "-v")
    result.assert_outcomes(passed=2, skipped=1)
    result = pytester.runpytest(
        *probe_args, "--probe-baseline", "-m", "software_update and not lanprobe"
    )
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_junit_xml(pytester: pytest.Pytester, probe_args: list[str], tmp_path: Path) -> None:
    xml = tmp_path / "junit.xml"
    pytester.runpytest(*probe_args, "--probe-baseline", f"--junitxml={xml}")
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("16", "4", "2")
    assert suite.get("skipped") == "2"
    cases = {f"{c.get('classname')}::{c.get('name')}": c for c in suite.iter("testcase")}
    fail = cases[f"{CAM}::configuration.default-login[23]"]
    failure = fail.find("failure")
    assert failure is not None and "root:******" in (failure.text or "")
    props = {p.get("name"): p.get("value") for p in fail.iter("property")}
    assert props["check_id"] == "configuration.default-login"
    assert props["severity"] == "critical" and props["verdict"] == "fail"
    assert props["capability"] == "device_configuration" and props["ip"] == "198.18.250.11"
    # A weak profile match is said where the CI reads results (issue 11).
    assert props["profile_match"] == "weak"
    assert props["profile_match_doubt"] == "weak; HTTP Server header contains 'AcmeCam-httpd/1.'"
    hub = cases[f"{HUB}::identification.identifier"]
    assert "profile_match" not in {p.get("name") for p in hub.iter("property")}  # not recorded
    undecided = cases[f"{CAM}::access.no-lockout[21]"]
    assert undecided.find("error") is not None and undecided.find("failure") is None
    skipped = cases[f"{CAM}::data.tls-protocol"].find("skipped")
    assert skipped is not None and "no TLS service" in (skipped.get("message") or "")


def test_a_profile_yaml_on_the_command_line_collects_its_devices(
    pytester: pytest.Pytester, probe_args: list[str]
) -> None:
    # Copies: a path under the repository would make its pyproject the inner run's ini.
    for name in ("acme-ipcam200", "therma-t1"):
        shutil.copy(PROFILES / f"{name}.yaml", pytester.path)
    result = pytester.runpytest(*probe_args, "acme-ipcam200.yaml", "-v")
    result.assert_outcomes(passed=1, failed=4, errors=2, skipped=1)
    result.stdout.fnmatch_lines(
        [f"*acme-ipcam200.yaml::{CAM}::configuration.default-login?23? FAILED*"]
    )
    absent = pytester.runpytest(*probe_args, "therma-t1.yaml", "-rs")
    absent.assert_outcomes(skipped=1)
    absent.stdout.fnmatch_lines(["*no device of model therma-t1 on the bench*"])


def test_yaml_files_are_not_collected_unless_named(
    pytester: pytest.Pytester, probe_args: list[str]
) -> None:
    pytester.makefile(".yaml", profile="id: acme-ipcam200\n")
    pytester.makepyfile("def test_x(): pass")
    pytester.runpytest(*probe_args).assert_outcomes(passed=1)


def test_baseline_without_a_run_errors_once(pytester: pytest.Pytester, tmp_path: Path) -> None:
    bad = tmp_path / "run.json"
    bad.write_text("not json")
    result = pytester.runpytest(f"--probe-run={bad}", "--probe-baseline")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*lanprobe could not read the run*"])
