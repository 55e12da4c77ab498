"""UPnP against real, unmodified software: Debian's miniupnpd (package miniupnpd-nftables) as the
IGD of lab model netgo-r1, in the device's namespace on a bench of its own
($LANPROBE_UPNP_BRIDGE / $LANPROBE_UPNP_SUBNET, default plabup / 198.18.148.0/24).

Discovery finds it by SSDP (its own responder, not ours), and access.unauthenticated-interface
calls its read-only control actions without credentials: they answer (UPnP has no
authentication), so the check fails high. No port mapping exists before or after the scan: the
check changed nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lanprobe.lab.bench import BenchState
from lanprobe.lab.models import UPNP_PORT

from tests.requires import require, require_root

BRIDGE = os.environ.get("LANPROBE_UPNP_BRIDGE", "plabup")
SUBNET = os.environ.get("LANPROBE_UPNP_SUBNET", "198.18.148.0/24")

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def router_bench() -> Iterator[BenchState]:
    require_root("the lab bench uses network namespaces")
    require(
        shutil.which("miniupnpd") is not None,
        "Debian's miniupnpd-nftables (`make sysdeps` installs it)",
    )
    from lanprobe.lab import bench

    bench.down(BRIDGE)
    try:
        yield bench.up(BRIDGE, SUBNET, models=["netgo-r1"])
    finally:
        bench.down(BRIDGE)


def _mappings(ip: str) -> list[int | None]:
    """GetGenericPortMappingEntry index 0 on every WAN connection service: its UPnP error
    (713: no such entry) or None when a mapping exists."""
    from lanprobe.checks.clients import upnp
    from lanprobe.options import Timeouts

    async def ask() -> list[int | None]:
        timeouts = Timeouts()
        services = await upnp.description_services(ip, UPNP_PORT, False, "/rootDesc.xml", timeouts)
        action = upnp.ReadAction("", "GetGenericPortMappingEntry", (("NewPortMappingIndex", "0"),))
        out = []
        for stype, control in services:
            if "WANIPConnection" in stype or "WANPPPConnection" in stype:
                path = upnp.control_path(ip, f"http://{ip}:{UPNP_PORT}/", control)
                assert path is not None
                call = await upnp.call(ip, path[0], False, path[2], stype, action, timeouts)
                out.append(call.upnp_error)
        return out

    return asyncio.run(ask())


def test_real_miniupnpd_control_answers_without_auth(
    router_bench: BenchState, tmp_path: Path
) -> None:
    [router] = router_bench.devices
    before = _mappings(router.ip)
    assert before and all(e == 713 for e in before), before  # no mapping at all
    out = tmp_path / "scan"
    cmd = [sys.executable, "-m", "lanprobe.cli", "scan", "--lab", "--bridge", BRIDGE,
           "--out", str(out), "--format", "json", "--top-ports", "0", "--no-iot-ports",
           "--check", "access.unauthenticated-interface"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert (out / "run.json").exists(), proc.stderr
    run = json.loads((out / "run.json").read_text())
    [dev] = run["devices"]
    # SSDP: miniupnpd's own answer and description
    assert "MiniUPnPd" in dev["ssdp"]["server"], dev["ssdp"]
    assert dev["ssdp"]["location"] == f"http://{router.ip}:{UPNP_PORT}/rootDesc.xml"
    assert dev["ssdp"]["serialNumber"] == router.serial
    [upnp] = [r for r in run["results"] if r["target"].get("service") == "upnp"]
    assert upnp["verdict"] == "fail" and upnp["severity"] == "high", upnp
    assert upnp["target"]["port"] == UPNP_PORT
    calls = {c["request"].split("SOAP ")[1].split(",")[0]: c for c in upnp["evidence"]["calls"]}
    assert calls["GetExternalIPAddress"]["status"] == 200
    assert "AddPortMapping" not in calls and "never called" in upnp["evidence"]["note"]
    assert _mappings(router.ip) == before  # the scan changed nothing
