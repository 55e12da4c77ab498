"""Bench lifecycle: names and ranges refused, round-robin plan, up/down leave nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lanprobe.errors import ScopeError
from lanprobe.lab import bench
from lanprobe.lab.models import plan, select
from lanprobe.lab.netns import alive, links, namespaces

from tests.conftest import TEST_BRIDGE, TEST_SUBNET
from tests.requires import require_root

# A second bench beside the session one: bridge <test bridge>x, subnet the 12th /24 above the
# test subnet (the repeat bench takes the 11th; tests/conftest.py), inside 198.18.0.0/16.
SIDE_BRIDGE = TEST_BRIDGE[:10] + "x"
SIDE_SUBNET = os.environ.get(
    "LANPROBE_SIDE_SUBNET", f"198.18.{(int(TEST_SUBNET.split('.')[2]) + 12) % 256}.0/24"
)


@pytest.mark.parametrize("name", ["br0", "plab_1", "PLAB1", "plab12345678", "eth0", ""])
def test_refuses_bridge_names(name: str) -> None:
    with pytest.raises(ScopeError):
        bench.check_bridge(name)


@pytest.mark.parametrize(
    "net", ["10.0.0.0/24", "192.168.1.0/24", "198.19.0.0/24", "198.20.0.0/24", "198.16.0.0/14"]
)
def test_refuses_subnets_outside_the_lab_range(net: str) -> None:
    with pytest.raises(ScopeError):
        bench.check_subnet(net)


def test_accepts_lab_subnets() -> None:
    assert str(bench.check_subnet("198.18.7.0/24")) == "198.18.7.0/24"


def test_round_robin_plan_counts_twins_as_one_model() -> None:
    rows = plan(select(None), 13)
    ids = [m.id for m, _, _ in rows]
    assert ids[:11] == [
        "acme-ipcam200", "plugco-sp1", "therma-t1", "hubco-h1",
        "acme-ipcam300", "acme-ipcam300", "sentry-s3", "gizmo-g1",
        "camco-c2", "routa-r7", "webctl-w0",
    ]  # fmt: skip
    assert ids[11:] == ["acme-ipcam200", "plugco-sp1"]
    assert [(u, g) for m, u, g in rows if m.id == "acme-ipcam200"] == [(1, 1), (2, 2)]
    assert len(plan(select(["hubco-h1", "ipcam300"]), 5)) == 5


def _our_processes(state_dir: Path) -> list[int]:
    """Processes whose command line points into the bench's state directory."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmd = Path(f"/proc/{entry.name}/cmdline").read_bytes()
            except OSError:
                continue
            if str(state_dir).encode() in cmd and alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def _nothing_left(state_dir: Path) -> None:
    assert namespaces(f"{SIDE_BRIDGE}-") == []
    assert links(f"{SIDE_BRIDGE}-") == []
    assert not bench.link_exists(SIDE_BRIDGE)
    assert not state_dir.exists()
    deadline = time.monotonic() + 3
    while _our_processes(state_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _our_processes(state_dir) == []


@pytest.fixture
def side() -> Iterator[None]:
    require_root("the side bench uses network namespaces")
    bench.down(SIDE_BRIDGE)
    try:
        yield
    finally:
        bench.down(SIDE_BRIDGE)


@pytest.mark.lab
@pytest.mark.usefixtures("side")
def test_up_twice_then_down_after_kill9_leaves_nothing() -> None:
    state = bench.up(SIDE_BRIDGE, SIDE_SUBNET, models=["plugco-sp1", "gizmo-g1"])
    assert [d.model for d in state.devices] == ["plugco-sp1", "gizmo-g1"]
    assert all(d.alive for d in state.devices)
    plug = state.devices[0]
    assert plug.mqtt_pid is not None and alive(plug.mqtt_pid)
    with pytest.raises(bench.BenchExists):
        bench.up(SIDE_BRIDGE, SIDE_SUBNET)
    again = bench.status(SIDE_BRIDGE)
    assert again is not None and again.complete and all(d.alive for d in again.devices)
    # a device dies hard; `down` must still remove its namespace, link and broker
    assert plug.pid is not None
    os.kill(plug.pid, signal.SIGKILL)
    bench.down(SIDE_BRIDGE)
    _nothing_left(state.state_dir)
    assert bench.status(SIDE_BRIDGE) is None


@pytest.mark.lab
@pytest.mark.usefixtures("side")
def test_a_killed_device_takes_its_udp_daemons_along() -> None:
    """kill -9 of a device process: its snmpd, tftpd and chronyd (chronyd runs as _chrony, and
    a setuid clears the parent-death signal) are gone within seconds, and SNMP stops answering,
    while the bench's own mosquitto (not the device's child) stays."""
    import asyncio

    from lanprobe.lab.services import udpready

    state = bench.up(SIDE_BRIDGE, SIDE_SUBNET, models=["acme-ipcam200", "hubco-h1"])
    cam, hub = state.devices
    daemons = {d.name: [int(p) for p in _netns_pids(d.netns) if int(p) not in (d.pid, d.mqtt_pid)]
               for d in (cam, hub)}  # fmt: skip
    names = {Path(f"/proc/{p}/comm").read_text().strip() for ps in daemons.values() for p in ps}
    assert {"snmpd", "in.tftpd", "chronyd"} <= names, names
    ask = udpready.SNMP_V3_DISCOVERY
    assert asyncio.run(udpready.answers(cam.ip, 161, ask, timeout_s=1.0))
    for dev in (cam, hub):
        assert dev.pid is not None
        os.kill(dev.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    left = [p for ps in daemons.values() for p in ps]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    assert left == [], [Path(f"/proc/{p}/cmdline").read_bytes() for p in left]
    assert not asyncio.run(udpready.answers(cam.ip, 161, ask, timeout_s=1.0))
    assert hub.mqtt_pid is not None and alive(hub.mqtt_pid)


@pytest.mark.lab
@pytest.mark.usefixtures("side")
def _netns_pids(ns: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=5)
    return out.stdout.split()


def test_down_cleans_a_half_finished_up() -> None:
    # what a crash in the middle of `up` leaves: a bridge, a namespace with a veth, a process
    ns, veth = f"{SIDE_BRIDGE}-10", f"{SIDE_BRIDGE}-10"
    for cmd in (
        ["ip", "link", "add", SIDE_BRIDGE, "type", "bridge"],
        ["ip", "netns", "add", ns],
        ["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns],
    ):
        subprocess.run(cmd, check=True, timeout=5)
    sleeper = subprocess.Popen(["ip", "netns", "exec", ns, "sleep", "60"])
    # `ip netns exec` joins the namespace a moment after Popen returns: wait until it is in.
    deadline = time.monotonic() + 5
    while str(sleeper.pid) not in _netns_pids(ns) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        with pytest.raises(bench.BenchExists):
            bench.up(SIDE_BRIDGE, SIDE_SUBNET)
        removed = bench.down(SIDE_BRIDGE)
        assert sleeper.wait(timeout=5) != 0  # killed by `down`
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()
    assert ns in removed and SIDE_BRIDGE in removed
    _nothing_left(bench.state_dir(SIDE_BRIDGE))
