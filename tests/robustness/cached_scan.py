"""`probe scan` with discovery replaced by the devices of an earlier run (tests only).

    python -m tests.robustness.cached_scan EARLIER_RUN.json -- scan --lab --bridge ... --out ...

Everything else is the real command: signal handling, run.json, the history store, exit codes.
Discovery (nmap -sV) takes half a minute on the bench; a test that interrupts the checks phase
or repeats the checks needs the checks, not another discovery.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from probe.model import Device, ScanRun


class Inventory:
    """What discovery returns, made from the devices of an earlier run."""

    def __init__(self, devices: list[Device]) -> None:
        self.devices = [d.model_copy(deep=True) for d in devices]
        self.partial = False
        self.notes: list[str] = ["inventory from an earlier run (discovery not repeated)"]


def cached_discovery(devices: list[Device]) -> Callable[..., Any]:
    """A stand-in for `probe.discovery.discover` (and the runner's discover_fn)."""

    async def discover(scope: Any, *, ports: Any = (), **_ignored: Any) -> Inventory:
        return Inventory(devices)

    return discover


def main(argv: list[str]) -> None:
    if "--" not in argv or argv.index("--") != 1:
        raise SystemExit("usage: cached_scan EARLIER_RUN.json -- scan ARGS...")
    import probe.discovery

    devices = ScanRun.read(Path(argv[0])).devices
    probe.discovery.discover = cached_discovery(devices)  # type: ignore[assignment]
    from probe.cli import app

    app(args=argv[2:], prog_name="probe")


if __name__ == "__main__":
    main(sys.argv[1:])
