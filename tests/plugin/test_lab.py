"""The plugin against the lab: the example suites, a failing device, and `--probe-lab` itself.

The example suites and the failing-device tests read the session's one scan of the test bench
(`lab_run_json`) and talk live to that bench. Only `test_probe_lab_*` bring up a bench of their
own, on $LANPROBE_TEST_PLUGIN_BRIDGE / $LANPROBE_TEST_PLUGIN_SUBNET (default: derived from the
test bench's: plab7t / 198.18.107.0/24 -> plab7p / 198.18.108.0/24).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lanprobe.lab import bench as lab_bench_api
from lanprobe.model import ScanRun

from tests.conftest import TEST_BRIDGE, TEST_SUBNET
from tests.plugin.conftest import EXAMPLES, PROFILES
from tests.requires import require_root

pytestmark = pytest.mark.lab


def _plugin_bench() -> tuple[str, str]:
    base = TEST_BRIDGE[:-1] if TEST_BRIDGE.endswith("t") else TEST_BRIDGE[:10]
    net = ipaddress.ip_network(TEST_SUBNET)
    nxt = ipaddress.ip_network(f"{net.network_address + net.num_addresses}/{net.prefixlen}")
    return (
        os.environ.get("LANPROBE_TEST_PLUGIN_BRIDGE", base + "p"),
        os.environ.get("LANPROBE_TEST_PLUGIN_SUBNET", str(nxt)),
    )


PLUGIN_BRIDGE, PLUGIN_SUBNET = _plugin_bench()


def _lab_args(run_json: Path) -> list[str]:
    return [f"--probe-run={run_json}", f"--probe-profiles={PROFILES}", "-pno:cacheprovider"]


def test_example_suites_pass_on_the_lab(
    pytester: pytest.Pytester, lab_run_json: Path, lab_scan: ScanRun
) -> None:
    shutil.copytree(EXAMPLES, pytester.path / "examples")
    result = pytester.runpytest("examples", *_lab_args(lab_run_json), "-v")
    outcomes = result.parseoutcomes()
    # (The hubco suite found a real lab bug this way: /api/security dropped the connection once
    # a lock had expired; fixed in lab/services/http.py.)
    assert set(outcomes) == {"passed"}, result.stdout.str()[-6000:]
    # Every suite ran on its model's devices (a model missing from the bench would skip).
    for suite in sorted(EXAMPLES.glob("test_*.py")):
        ran = [line for line in result.stdout.lines if line.startswith(f"examples/{suite.name}::")]
        assert ran and all(" PASSED" in line for line in ran), suite
    twins = [d for d in lab_scan.devices if d.profile == "acme-ipcam300"]
    for twin in twins:
        result.stdout.fnmatch_lines(
            [f"*test_only_documented_ports?acme-ipcam300@{twin.ip}? PASSED*"]
        )


def test_a_failing_device_produces_failing_tests(
    pytester: pytest.Pytester, lab_run_json: Path, lab_scan: ScanRun
) -> None:
    # A QA rule for every device on the bench: no default login, on any service.
    pytester.makepyfile(
        """
        def test_no_default_login(device):
            device.assert_passes("configuration.default-login")
        """
    )
    result = pytester.runpytest(*_lab_args(lab_run_json), "-v")
    labels = {d.key: f"{d.profile}@{d.ip}" for d in lab_scan.devices}
    by_model = {d.profile: labels[d.key] for d in lab_scan.devices}
    result.stdout.fnmatch_lines([f"*test_no_default_login?{by_model['hubco-h1']}? PASSED*"])
    result.stdout.fnmatch_lines([f"*test_no_default_login?{by_model['acme-ipcam200']}? FAILED*"])
    result.stdout.fnmatch_lines(
        [f"E * {by_model['acme-ipcam200']}: configuration.default-login is fail, expected pass"]
    )
    assert "root:******" in result.stdout.str()  # the evidence, redacted as in the run

    # The same from the baseline items: one failed test per port with a default login.
    base = pytester.runpytest(*_lab_args(lab_run_json), "--probe-baseline", "-k", "default-login")
    cam = by_model["acme-ipcam200"]
    base.stdout.fnmatch_lines(
        [f"FAILED {cam}::configuration.default-login[[]{p}[]]*" for p in (21, 23, 80)]
    )
    assert f"FAILED {by_model['hubco-h1']}" not in base.stdout.str()


def _bench_gone(bridge: str) -> bool:
    return lab_bench_api.status(bridge) is None and not Path(f"/sys/class/net/{bridge}").exists()


@pytest.fixture
def plugin_bridge() -> Iterator[str]:
    require_root("the lab bench uses network namespaces")
    lab_bench_api.down(PLUGIN_BRIDGE)  # leftovers of a crashed run
    yield PLUGIN_BRIDGE
    lab_bench_api.down(PLUGIN_BRIDGE)


def test_probe_lab_brings_the_bench_up_scans_once_and_takes_it_down(
    pytester: pytest.Pytester, plugin_bridge: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        """
        import os
        from pathlib import Path

        import pytest

        def test_device(device, bench):
            out = Path(os.environ["PROBE_SEEN"])
            (out / f"{os.getpid()}-{device.key.replace(':', '')}").write_text(bench.run_id)
            assert device.port(device.open_ports[0]).connects()  # the bench is up meanwhile

        @pytest.mark.model("gizmo-g1")
        def test_gizmo_fails_a_rule(device):
            device.assert_passes("identification.identifier")
            device.assert_only_ports(80)  # it also has FTP: a failing test, not a broken session
        """
    )
    seen = tmp_path / "seen"
    seen.mkdir()
    monkeypatch.setenv("PROBE_SEEN", str(seen))  # the workers inherit it
    result = pytester.runpytest(
        "--probe-lab",
        f"--probe-bridge={plugin_bridge}",
        f"--probe-subnet={PLUGIN_SUBNET}",
        "--probe-lab-models=gizmo-g1,hubco-h1",
        "--probe-check=identification",
        f"--probe-profiles={PROFILES}",
        f"--probe-out={tmp_path / 'out'}",
        "-n",
        "2",
    )
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    assert out.count("lanprobe: scanning") == 1, out
    result.stdout.fnmatch_lines(["*scanned 1x in * s by the xdist controller; workers read*"])
    run = ScanRun.read(tmp_path / "out" / "run.json")
    assert sorted(d.profile or "" for d in run.devices) == ["gizmo-g1", "hubco-h1"]
    assert {p.read_text() for p in seen.iterdir()} == {run.run_id}
    assert len({p.name.split("-")[0] for p in seen.iterdir()}) == 2  # both workers ran tests
    assert _bench_gone(plugin_bridge)


def test_probe_lab_that_cannot_come_up_errors_and_leaves_nothing(
    pytester: pytest.Pytester, plugin_bridge: str
) -> None:
    pytester.makepyfile("def test_d(device): pass\ndef test_plain(): pass")
    result = pytester.runpytest(
        "--probe-lab",
        f"--probe-bridge={plugin_bridge}",
        f"--probe-subnet={PLUGIN_SUBNET}",
        "--probe-lab-models=nosuch",
        f"--probe-profiles={PROFILES}",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*lanprobe could not scan the lab bench*unknown lab model 'nosuch'*"]
    )
    assert _bench_gone(plugin_bridge)


def test_probe_lab_sigterm_mid_scan_still_takes_the_bench_down(
    pytester: pytest.Pytester, plugin_bridge: str, tmp_path: Path
) -> None:
    # CI cancels a job with SIGTERM: the session ends as interrupted and the bench comes down.
    pytester.makepyfile("def test_d(device): pass")
    log = tmp_path / "pytest.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-pno:cacheprovider", "--probe-lab",
             f"--probe-bridge={plugin_bridge}", f"--probe-subnet={PLUGIN_SUBNET}",
             "--probe-lab-models=gizmo-g1", f"--probe-profiles={PROFILES}"],
            cwd=pytester.path, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while "lanprobe: scanning" not in log.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.2)
            assert lab_bench_api.status(plugin_bridge) is not None, "the bench is up"
            time.sleep(1.0)  # inside discovery
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text()
    assert code == pytest.ExitCode.INTERRUPTED, text
    assert "lab bench on" in text and "taken down" in text, text
    assert _bench_gone(plugin_bridge)
