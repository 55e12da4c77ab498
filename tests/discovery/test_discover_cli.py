"""`probe discover` as a user runs it: scope refusals, missing nmap, the unprivileged fallback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from lanprobe.cli import app
from lanprobe.lab.bench import BenchState
from typer.testing import CliRunner

from tests.requires import require

PROBE = [sys.executable, "-m", "lanprobe.cli"]


def probe(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PROBE, "discover", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "no scope"),
        (("--cidr", "8.8.8.0/24"), "public network"),
        (("--cidr", "198.18.0.0/15"), "too large"),
        (("--cidr", "camera.local"), "not a network"),
        (("--iface", "plabnosuch0", "--cidr", "198.18.250.0/24"), "does not exist"),
        (("--lab", "--bridge", "plabnone"), "no lab bench is running on plabnone"),
        (("--lab", "--bridge", "eth0"), "eth0"),  # not a bench bridge name
        (("--lab", "--cidr", "198.18.250.0/24"), "not both"),
        (("--cidr", "198.18.250.0/24", "--ports", "80,70000"), "outside 1-65535"),
    ],
)
def test_scope_refusals_exit_2(args: tuple[str, ...], message: str) -> None:
    # In-process (a second each as a child process); test_missing_nmap_exits_3 runs the real one.
    out = CliRunner().invoke(app, ["discover", *args])
    assert out.exit_code == 2, out.stderr
    assert message in out.stderr
    assert out.stdout == ""


def test_missing_nmap_exits_3() -> None:
    env = dict(os.environ, PATH="/nonexistent")
    out = probe("--cidr", "198.18.250.0/24", env=env)
    assert out.returncode == 3, out.stderr
    assert "nmap is not installed" in out.stderr


@pytest.mark.lab
def test_unprivileged_run_is_partial_and_says_so(lab_bench: BenchState) -> None:
    """As `nobody`: no ARP, no -sS; mDNS, SSDP and nmap -sn/-sT still find every device."""
    setpriv = shutil.which("setpriv")
    require(setpriv is not None, "setpriv (Debian util-linux)")
    assert setpriv is not None
    cmd = [
        setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--",
        *PROBE, "discover", "--iface", lab_bench.bridge, "--cidr", lab_bench.subnet,
        "--json", "--top-ports", "0", "--no-iot-ports", "--ports", "22",
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=os.getcwd(), HOME="/nonexistent")
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=180, env=env, cwd="/", check=False
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["partial"] is True
    assert out.stderr.count("not root and no CAP_NET_RAW") == 1  # said once
    found = {d["ips"][0]: d for d in data["devices"]}
    assert sorted(found) == sorted(d.ip for d in lab_bench.devices)
    for lab_dev in lab_bench.devices:
        dev = found[lab_dev.ip]
        assert "arp" not in dev["seen_by"]
        # The kernel's neighbour cache still tells the MAC after nmap's connects.
        assert dev["mac"] == lab_dev.mac.lower()
        ports = {s["port"] for s in dev["services"] if s["transport"] == "tcp"}
        assert ports == ({22} & set(lab_dev.ports)), lab_dev.name


def test_plain_output_has_a_header_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """Piped (not a terminal): tab-separated lines under a header naming the columns."""
    from lanprobe import discovery
    from lanprobe.cli import app
    from lanprobe.discovery.inventory import Inventory
    from lanprobe.model import Device, Service
    from typer.testing import CliRunner

    dev = Device(
        key="02:00:00:00:00:0a",
        mac="02:00:00:00:00:0a",
        ips=["198.18.170.10"],
        vendor="Acme",
        services=[Service(port=80, name="http")],
    )

    async def fake_discover(*_a: object, **_kw: object) -> Inventory:
        return Inventory(devices=[dev])

    monkeypatch.setattr(discovery, "discover", fake_discover)
    res = CliRunner().invoke(app, ["discover", "--cidr", "198.18.170.0/24"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].split("\t") == ["IP", "MAC", "vendor", "model", "services"]
    assert lines[1].split("\t") == ["198.18.170.10", "02:00:00:00:00:0a", "Acme", "-", "80/http"]
