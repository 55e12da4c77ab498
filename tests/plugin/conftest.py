"""Fixtures for the pytest plugin's own tests (pytester; the pytester plugin is loaded by addopts).

Most tests run the plugin with `--probe-run` on a run.json made once per session: `fake_run_json`
(hand-made, tests/plugin/runs.py; no root, no bench) or `lab_run_json` (the session's one full
scan of the lab bench, `lab_run` of tests/checks/conftest.py, while that bench is still up; in a
full-suite run the check tests' own scan is reused).
Options are passed as `--opt=value`: pytest finds its rootdir before plugins load, and would take
a separate path value for a test path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lanprobe.model import ScanRun

from tests.checks.conftest import lab_run  # noqa: F401  (one full scan of the session bench)
from tests.plugin.runs import fake_run

REPO = Path(__file__).resolve().parents[2]
# The lab models' profiles, given as a user's directory (layered over the built-in set): the
# hand-made runs are not lab runs, so the lab's profiles are not loaded for them otherwise.
PROFILES = REPO / "lab" / "profiles"
EXAMPLES = REPO / "examples"


@pytest.fixture
def pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    """Inner runs get an ini of their own, strict about warnings like the repository's. (In-process
    runs meet `probe` already imported: that assertion rewrite warning is noise.)"""
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings =\n    error\n    ignore::pytest.PytestAssertRewriteWarning\n"
    )
    return pytester


@pytest.fixture(scope="session")
def fake_run_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fake_run") / "run.json"
    fake_run().write(path)
    return path


@pytest.fixture(scope="session")
def lab_run_json(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """run.json of the session's one full scan of the test bench.

    tests/checks/conftest.py's `lab_run` writes its run to <basetemp>/lab_run0/run.json: when the
    check tests ran earlier in this session, that file is reused (one scan, not two); otherwise
    `lab_run` (imported above, so visible here) scans now.
    """
    shared = tmp_path_factory.getbasetemp() / "lab_run0" / "run.json"
    if shared.is_file():
        request.getfixturevalue("lab_bench")  # the bench it describes is still up
        return shared
    run: ScanRun = request.getfixturevalue("lab_run")
    path = tmp_path_factory.mktemp("plugin_lab_run") / "run.json"
    run.write(path)
    return path


@pytest.fixture(scope="session")
def lab_scan(lab_run_json: Path) -> ScanRun:
    return ScanRun.read(lab_run_json)


@pytest.fixture
def probe_args(fake_run_json: Path) -> list[str]:
    """Options for an inner run on the hand-made run."""
    return [f"--probe-run={fake_run_json}", f"--probe-profiles={PROFILES}", "-pno:cacheprovider"]
