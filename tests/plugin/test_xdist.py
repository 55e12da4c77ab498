"""pytest-xdist: `-n 2` gives the same outcomes; workers read the controller's run."""

from __future__ import annotations

from pathlib import Path

import pytest
import xdist  # noqa: F401  (a dev dependency: pip install -e .[dev])

pytestmark = pytest.mark.realsw  # pytest-xdist's worker processes

DEVICE_TESTS = """
import os
from pathlib import Path

def test_device(device, bench):
    out = Path(os.environ["PROBE_SEEN"])
    (out / f"{os.getpid()}-{device.key.replace(':', '')}").write_text(bench.run_id)
"""


def test_two_workers_same_outcomes_as_one(
    pytester: pytest.Pytester,
    probe_args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = tmp_path / "seen"
    seen.mkdir()
    monkeypatch.setenv("PROBE_SEEN", str(seen))
    pytester.makepyfile(DEVICE_TESTS)
    result = pytester.runpytest(*probe_args, "--probe-baseline", "-n", "2")
    # 2 device tests + the baseline items (see test_baseline.py)
    result.assert_outcomes(passed=10, failed=4, errors=2, skipped=2)
    result.stdout.fnmatch_lines(["*2 workers*", "run fakerun00001: 2 device(s), read from*"])
    ids = {p.read_text() for p in seen.iterdir()}
    assert ids == {"fakerun00001"}
    assert len(list(seen.iterdir())) == 2


def test_model_marker_and_ids_agree_across_workers(
    pytester: pytest.Pytester, probe_args: list[str]
) -> None:
    # xdist fails the session when workers collect different ids: parametrization is stable.
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.model("acme-ipcam200")
        def test_cam(device):
            device.assert_passes("configuration.default-login")

        @pytest.mark.model("therma-t1")
        def test_absent(device):
            pass
        """
    )
    result = pytester.runpytest(*probe_args, "-n", "2", "-rs")
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*no device of model therma-t1 on the bench*"])


def test_a_controller_error_reaches_every_worker(pytester: pytest.Pytester, tmp_path: Path) -> None:
    bad = tmp_path / "run.json"
    bad.write_text("{}")
    pytester.makepyfile("def test_d(device): pass\ndef test_b(bench): pass\ndef test_x(): pass")
    result = pytester.runpytest(f"--probe-run={bad}", "-n", "2")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(["*lanprobe could not read the run*", "no run: lanprobe could*"])
