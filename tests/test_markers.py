"""The suite's own markers and skips stay honest: a unit test that runs a daemon or a real
program fails until it is marked `realsw` (tests/realsw.py), and a test skips for a missing
program, package or root only through tests/requires.py, which fails under `make test`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

GUARDED = """
import subprocess
import sys

import pytest


@pytest.fixture
def daemon():
    proc = subprocess.Popen(["sleep", "30"])
    yield proc
    proc.kill()
    proc.wait()


def test_unit_with_a_daemon(daemon):
    assert daemon.poll() is None


@pytest.mark.realsw
def test_marked_daemon(daemon):
    assert daemon.poll() is None


def test_unit_runs_a_real_program(tmp_path):
    fake = tmp_path / "snmpd"
    fake.write_text("#!/bin/sh\\nexit 0\\n")
    fake.chmod(0o755)
    subprocess.run([str(fake)], check=True)


def test_unit_with_a_short_helper():
    subprocess.run([sys.executable, "-c", "pass"], check=True)
"""


def test_the_realsw_guard_fails_unmarked_daemons_and_real_programs(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        "from tests.realsw import pytest_runtest_call, pytest_runtest_setup  # noqa: F401\n"
    )
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "markers =\n    realsw: real software\n"
    )
    pytester.makepyfile(test_guarded=GUARDED)
    # The inner run's guard owns its children: this test's own guard sees none of them.
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:lanprobe")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines([
        "*test_unit_with_a_daemon is a unit test but sleep is still running: mark it realsw*",
        "*test_unit_runs_a_real_program is a unit test but it runs snmpd: mark it realsw*",
    ])  # fmt: skip


# Skips that are no missing dependency, each saying why (file: words of its reason).
REASONED_SKIPS = {
    "gateway/test_gateway_lab.py": "no default route",
    "test_xdist_groups.py": "no lab test collected",
    # DESIGN.md is the project's, outside the repository (CI lays it beside the checkout); a
    # clone without it still runs `make test`.
    "test_baseline.py": "DESIGN.md is not on this machine",
}
SKIP = re.compile(r"pytest\.skip\(|importorskip\(|mark\.skip(if)?\b|skipif\(")


def test_a_missing_need_skips_only_through_requires() -> None:
    found: dict[str, str] = {}
    for path in sorted(TESTS.rglob("*.py")):
        rel = path.relative_to(TESTS).as_posix()
        if rel in ("requires.py", "test_markers.py"):
            continue
        text = path.read_text(encoding="utf-8")
        for match in SKIP.finditer(text):
            found[rel] = text[match.start() : match.start() + 200]
    assert set(found) == set(REASONED_SKIPS), "use tests/requires.py: require()/require_root()"
    for rel, words in REASONED_SKIPS.items():
        assert words in found[rel], rel
