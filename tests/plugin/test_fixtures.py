"""`bench`, `device` and the `model` marker on a hand-made run (no bench needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.plugin.conftest import PROFILES
from tests.plugin.runs import CAM, HUB, fake_run


def test_bench_is_the_run_and_device_is_parametrized_per_device(
    pytester: pytest.Pytester, probe_args: list[str]
) -> None:
    pytester.makepyfile(
        """
        def test_bench(bench):
            assert bench.run_id == "fakerun00001"
            assert len(bench.devices) == 2

        def test_device(device, bench):
            assert device.key in {d.key for d in bench.devices}
            assert device.label == f"{device.profile}@{device.ip}"
        """
    )
    result = pytester.runpytest(*probe_args, "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [f"*test_device?{HUB}? PASSED*", f"*test_device?{CAM}? PASSED*"], consecutive=False
    )
    result.stdout.fnmatch_lines(["*= lanprobe =*", "run fakerun00001: 2 device(s), read from*"])


def test_model_marker_keeps_a_test_to_its_model(
    pytester: pytest.Pytester, probe_args: list[str]
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.model("acme-ipcam200")
        def test_cam(device):
            assert device.profile == "acme-ipcam200"

        @pytest.mark.model("hubco-h1", "acme-ipcam200")
        def test_either(device):
            pass

        @pytest.mark.model("hubco-h1")
        class TestHub:
            def test_in_class(self, device):
                assert device.profile == "hubco-h1"

            @pytest.mark.model("acme-ipcam200")
            def test_closest_marker_wins(self, device):
                assert device.profile == "acme-ipcam200"
        """
    )
    result = pytester.runpytest(*probe_args, "-v")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines([f"*test_cam?{CAM}? PASSED*"])
    assert f"test_cam[{HUB}]" not in result.stdout.str()


def test_model_absent_from_the_bench_is_skipped_with_the_reason(
    pytester: pytest.Pytester, probe_args: list[str]
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.model("therma-t1")
        def test_thermostat(device):
            raise AssertionError("must not run")

        @pytest.mark.model("therma-t1")
        def test_thermostat_bench(bench):
            raise AssertionError("must not run")
        """
    )
    result = pytester.runpytest(*probe_args, "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        ["*no device of model therma-t1 on the bench (found: acme-ipcam200, hubco-h1)*"]
    )


def test_model_marker_needs_an_id(pytester: pytest.Pytester, probe_args: list[str]) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.model()
        def test_x(device):
            pass
        """
    )
    result = pytester.runpytest(*probe_args)
    assert result.ret != pytest.ExitCode.OK
    assert "@pytest.mark.model needs a profile id" in result.stdout.str() + result.stderr.str()


def test_probe_out_writes_run_json(
    pytester: pytest.Pytester, probe_args: list[str], tmp_path: Path
) -> None:
    pytester.makepyfile("def test_b(bench): pass")
    out = tmp_path / "out"
    result = pytester.runpytest(*probe_args, f"--probe-out={out}")
    result.assert_outcomes(passed=1)
    data = json.loads((out / "run.json").read_text())
    assert data["run_id"] == "fakerun00001"
    result.stdout.fnmatch_lines([f"run.json: {out / 'run.json'}"])


def test_an_unreadable_run_errors_the_tests_that_need_it(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    bad = tmp_path / "run.json"
    bad.write_text('{"schema_version": 99, "run_id": "x"}')
    pytester.makepyfile(
        """
        def test_bench(bench):
            pass

        def test_device(device):
            pass

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest(f"--probe-run={bad}")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(["*lanprobe could not read the run*schema_version 99*"])


def test_device_api_reads_the_run(pytester: pytest.Pytester, probe_args: list[str]) -> None:
    pytester.makepyfile(
        """
        import pytest
        from lanprobe.device_api import UnknownCheck

        @pytest.mark.model("acme-ipcam200")
        def test_cam(device):
            assert device.port(23).is_open and device.port(23).kind == "telnet"
            assert device.port(443).is_closed
            assert device.service("http").port == 80
            assert device.service("mqtt") is None
            assert device.identifier("serial") == "ACM200-0001"
            assert device.open_ports == [21, 23, 80]
            assert device.verdict == "does_not_conform" and device.score == 12.5

            logins = device.result("configuration.default-login")
            assert logins.verdict == "fail" and len(logins) == 2 and logins.ports == [23, 80]
            assert logins.on(23).evidence["user"] == "root"
            assert set(logins.evidence) == {"23/tcp telnet", "80/tcp http"}
            assert device.result("access.unauthenticated-interface").failed  # pass + fail
            assert device.result("access.no-lockout").inconclusive
            assert device.result("update.signature").verdict == "error"
            assert device.result("data.tls-protocol").not_applicable
            with pytest.raises(UnknownCheck, match="checks in this run"):
                device.result("configuration.default-logins")
            with pytest.raises(UnknownCheck, match="no result on 21/tcp"):
                logins.on(21)

        @pytest.mark.model("hubco-h1")
        def test_hub(device):
            assert device.result("data.tls-protocol").passed
            assert device.lab_credentials == ("labadmin", "Hub-Lab-x8Vq2mT!")
            assert device.service("mqtts").port == 8883
            device.assert_conforms()
            device.assert_passes("data.tls-protocol", port=8883)
            device.assert_only_ports(22, 443, 8883)
        """
    )
    pytester.runpytest(*probe_args).assert_outcomes(passed=2)


def test_assertion_failures_read_as_plain_failures_with_the_evidence(
    pytester: pytest.Pytester, probe_args: list[str]
) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.model("acme-ipcam200")

        def test_default_login(device):
            device.assert_passes("configuration.default-login", port=23)

        def test_ports(device):
            device.assert_only_ports(80)

        def test_plain_assert(device):
            assert device.result("configuration.default-login").passed
        """
    )
    result = pytester.runpytest(*probe_args)
    result.assert_outcomes(failed=3)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            f"E * {CAM}: configuration.default-login on port 23 is fail, expected pass",
            "E * fail 23/tcp telnet: default login root:****** accepted on telnet login on port 23",
            'E * evidence: {"password": "******", "source": "mirai-telnet", "user": "root"}',
        ]
    )
    result.stdout.fnmatch_lines([f"E * {CAM}: open TCP ports [[]21, 23, 80[]], expected [[]80[]]"])
    result.stdout.fnmatch_lines(["E *where False = <Results configuration.default-login on*"])
    # The helpers' own frames are hidden: the failure points at the test's line.
    assert "device_api.py" not in out
    assert "__tracebackhide__" not in out


def test_an_assertion_on_a_result_the_run_lacks_fails_at_the_tests_line(
    pytester: pytest.Pytester, probe_args: list[str]
) -> None:
    """`assert_passes` of a port or a check with no result is a plain assertion failure that
    lists the results the device does have, not UnknownCheck from inside the device API."""
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.model("acme-ipcam200")

        def test_no_such_port(device):
            device.assert_passes("configuration.default-login", port=554)

        def test_no_such_check(device):
            device.assert_fails("access.no-such-check")

        def test_decided_no_such_check(device):
            device.assert_decided("access.no-such-check")
        """
    )
    result = pytester.runpytest(*probe_args)
    result.assert_outcomes(failed=3)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            f"E * {CAM}: configuration.default-login has no result on port 554; its results:",
            "E * fail 23/tcp telnet: default login root:****** accepted on telnet login on port 23",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            f"E * {CAM}: no result of access.no-such-check; the results of this device in run *:",
            "E * configuration.default-login [[]23/tcp telnet[]] fail: default login root:*",
        ]
    )
    assert '>       device.assert_passes("configuration.default-login", port=554)' in out
    assert "UnknownCheck" not in out and "device_api.py" not in out


def test_a_run_with_error_results_fails_the_session(
    pytester: pytest.Pytester, probe_args: list[str], tmp_path: Path
) -> None:
    """The hand-made run has a check that broke (update.signature): every test passes, the
    session still fails and its lanprobe section leads with the error; without it, exit 0."""
    pytester.makepyfile("def test_b(bench): assert bench.devices")
    result = pytester.runpytest(*probe_args)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*= lanprobe =*",
            "ERROR: 1 result(s) of the run are lanprobe's own failures, not the devices' "
            "(update.signature): the run is incomplete and the session fails",
            "run fakerun00001: *",
        ]
    )
    clean = fake_run()
    clean.results = [r for r in clean.results if r.verdict.value != "error"]
    clean.write(tmp_path / "clean.json")
    args = [a for a in probe_args if not a.startswith("--probe-run=")]
    result = pytester.runpytest(*args, f"--probe-run={tmp_path / 'clean.json'}")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    assert "ERROR" not in result.stdout.str()


def test_a_missing_interface_is_refused_before_scanning(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_b(bench): pass")
    result = pytester.runpytest(
        "--probe-iface=nosuch0",
        "--probe-cidr=198.18.170.0/24",
        f"--probe-profiles={PROFILES}",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*lanprobe could not scan*interface 'nosuch0' does not exist*"])
    assert "lanprobe: scanning" not in result.stdout.str() + result.stderr.str()


def test_an_empty_bench_skips_device_tests(pytester: pytest.Pytester, tmp_path: Path) -> None:
    from lanprobe.model import ScanRun

    empty = tmp_path / "run.json"
    ScanRun(run_id="emptyrun0001").write(empty)
    pytester.makepyfile("def test_d(device): pass\ndef test_b(bench): assert not bench.devices")
    result = pytester.runpytest(f"--probe-run={empty}", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*the bench has no devices (run emptyrun0001 found none)*"])


def test_a_run_without_scope_allows_live_calls_only_to_its_devices(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    from tests.plugin.runs import fake_run

    run = fake_run()
    run.scope.cidrs = []
    path = tmp_path / "run.json"
    run.write(path)
    pytester.makepyfile(
        """
        import pytest
        from lanprobe.errors import ScopeError

        @pytest.mark.model("hubco-h1")
        def test_scope(device):
            assert device.scope.contains(device.ip)
            assert device.scope.contains("198.18.250.11")  # the run's other device
            assert not device.scope.contains("198.18.250.99")  # nothing else
        """
    )
    pytester.runpytest(f"--probe-run={path}").assert_outcomes(passed=1)


def test_an_invalid_profile_is_an_error_not_a_silent_gap(
    pytester: pytest.Pytester, fake_run_json: Path, tmp_path: Path
) -> None:
    profiles = tmp_path / "profiles"
    (profiles / "models").mkdir(parents=True)
    (profiles / "generic.yaml").write_text("id: generic\nstrict_ports: false\n")
    (profiles / "models" / "broken.yaml").write_text("vendor: Acme\n")
    pytester.makepyfile("def test_d(device): pass\ndef test_b(bench): pass")
    result = pytester.runpytest(f"--probe-run={fake_run_json}", f"--probe-profiles={profiles}")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(["*could not load the profiles: *broken.yaml:1: id: required*"])


def test_without_a_profiles_directory_results_still_read(
    pytester: pytest.Pytester, fake_run_json: Path, tmp_path: Path
) -> None:
    pytester.makepyfile(
        """
        def test_d(device):
            assert device.lab_credentials is None  # no profile to give them
            assert device.result("identification.identifier").passed
        """
    )
    result = pytester.runpytest(f"--probe-run={fake_run_json}", f"--probe-profiles={tmp_path}/none")
    result.assert_outcomes(passed=2)


def test_without_probe_profiles_the_built_in_set_is_used(
    pytester: pytest.Pytester, fake_run_json: Path
) -> None:
    """No --probe-profiles, no ini, no profiles/ folder: lanprobe's own profiles, not an error
    about a missing `<rootdir>/profiles` (issue 11). A lab model's profile is not among them."""
    pytester.makepyfile(
        """
        def test_profiles(bench, request):
            from lanprobe import paths
            from lanprobe.pytest_plugin import probe_session

            probe = probe_session(request.config)
            assert probe.opts.profiles is None
            assert probe.profile_source("generic") == paths.BUILTIN_PROFILES / "generic.yaml"
            assert probe.profile_source("hubco-h1") is None  # a lab model: not for this run
        """
    )
    result = pytester.runpytest(f"--probe-run={fake_run_json}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
