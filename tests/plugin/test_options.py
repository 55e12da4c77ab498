"""Options, usage errors, and staying out of the way of pytest runs that do not use lanprobe."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from lanprobe.model import Capability
from lanprobe.pytest_plugin import CAPABILITY_MARKERS


def test_options_are_in_a_lanprobe_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["lanprobe: IoT device check suites:"])
    for opt in (
        "--probe-lab",
        "--probe-bridge=*",
        "--probe-subnet=*",
        "--probe-iface=*",
        "--probe-cidr=*",
        "--probe-profiles=*",
        "--probe-out=*",
        "--probe-run=RUN.json",
        "--probe-baseline",
    ):
        result.stdout.fnmatch_lines([f"*{opt}*"])


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        ["@pytest.mark.model(*profile_ids)*", "@pytest.mark.data_protection*"]
    )


def test_capability_markers_follow_the_model() -> None:
    assert set(CAPABILITY_MARKERS) == {c.value for c in Capability}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--probe-lab", "--probe-cidr=198.18.9.0/24"], "either --probe-lab or"),
        (["--probe-iface=plab9"], "--probe-iface needs --probe-cidr"),
        (["--probe-lab-models=h1"], "only applies with --probe-lab"),
        (["--probe-run=/nonexistent/run.json"], "no such file"),
        (["--probe-baseline"], "--probe-baseline: no bench to test"),
    ],
)
def test_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])


def test_run_and_scope_together_is_a_usage_error(
    pytester: pytest.Pytester, fake_run_json: Path
) -> None:
    result = pytester.runpytest(f"--probe-run={fake_run_json}", "--probe-lab")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--probe-run uses an earlier scan*"])


def test_without_a_bench_bench_and_device_tests_skip_with_the_reason(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_bench(bench):
            raise AssertionError("must not run")

        def test_device(device):
            raise AssertionError("must not run")

        @pytest.mark.model("hubco-h1")
        def test_model(device):
            raise AssertionError("must not run")

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=3)
    result.stdout.fnmatch_lines(["*no bench to test: give --probe-lab*--probe-run RUN.json*"])
    assert re.search(r"=+ lanprobe =+", result.stdout.str()) is None  # nothing to report


def test_a_project_with_its_own_device_fixture_is_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def device():
            return "my own device"
        """
    )
    pytester.makepyfile(
        """
        import pytest

        def test_own(device):
            assert device == "my own device"

        @pytest.mark.parametrize("device", ["a", "b"])
        def test_param(device):
            assert device in "ab"
        """
    )
    pytester.makepyfile(test_other="def test_bench_name(): pass")
    result = pytester.runpytest()
    result.assert_outcomes(passed=4)


def test_own_device_fixture_left_alone_also_with_a_run(
    pytester: pytest.Pytester, probe_args: list[str]
) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def device():
            return "my own device"
        """
    )
    pytester.makepyfile("def test_own(device): assert device == 'my own device'")
    pytester.runpytest(*probe_args).assert_outcomes(passed=1)


def test_plugin_load_imports_no_engine() -> None:
    # The plugin is loaded in every pytest run where lanprobe is installed: it must stay light.
    code = (
        "import sys, lanprobe.pytest_plugin\n"
        "heavy = [m for m in ('lanprobe.model', 'lanprobe.runner', 'lanprobe.checks.context', "
        "'httpx', 'pydantic', 'scapy', 'lanprobe.lab.bench') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_plain_pytest_run_loads_no_engine(pytester: pytest.Pytester) -> None:
    # A run that uses no lanprobe option or fixture pays only for the plugin module: no engine,
    # network or report library is imported (what the run sees is checked, not how long it took).
    pytester.makepyfile(
        """
        import sys

        HEAVY = ("lanprobe.runner", "lanprobe.checks", "lanprobe.discovery", "httpx", "scapy",
                 "asyncssh", "jinja2", "zeroconf")

        def test_x():
            loaded = [m for m in HEAVY if m in sys.modules]
            assert loaded == [], loaded
            assert "lanprobe.pytest_plugin" in sys.modules
        """
    )
    pytester.runpytest_subprocess("-q", "-pno:cacheprovider").assert_outcomes(passed=1)


def test_a_users_project_sees_no_warning_it_did_not_cause(
    pytester: pytest.Pytester, fake_run_json: Path
) -> None:
    """An empty project (no ini settings at all) with lanprobe and pytest-asyncio installed:
    neither the plugin nor the packages it brings print a warning."""
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(
        """
        def test_plain():
            import lanprobe  # the user's own test imports the package: no warning from that

            assert lanprobe.__version__

        def test_device(device):
            got = device.result("configuration.default-login")
            assert got.check_id == "configuration.default-login" and len(got) >= 1
        """
    )
    result = pytester.runpytest_subprocess(f"--probe-run={fake_run_json}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    text = result.stdout.str() + result.stderr.str()
    assert "Warning" not in text, text
    assert "warnings summary" not in text
