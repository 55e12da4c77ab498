"""A hand-made fleet history: three benches, four nights each, for fleet tests.

Night 3 on lab-b brings a regression (telnet opened on the hub, firmware 1.1); the plug on
lab-c flaps (its anonymous MQTT verdict changes every night); firmware 1.1 arrives on night 2
everywhere.
"""

from __future__ import annotations

from datetime import timedelta

from lanprobe.model import ScanRun
from lanprobe.store import Store

from tests.report.runs import T0, sample_run

BENCHES = ("lab-a", "lab-b", "lab-c")
NIGHTS = 4


def fleet_run(bench: str, night: int) -> ScanRun:
    flaws = {
        "hub_telnet": bench == "lab-b" and night == NIGHTS - 1,
        "plug_anon": night % 2 == 0 if bench == "lab-c" else True,
    }
    run = sample_run(f"{bench}-n{night}", started=T0 + timedelta(days=night), flaws=flaws)
    run.bench = bench
    run.host.hostname = f"host-{bench}"
    for dev in run.devices:
        dev.model = (dev.profile or "").upper()
        dev.firmware = "1.0" if night < 2 else "1.1"
    return run


def fill(store: Store) -> None:
    for bench in BENCHES:
        for night in range(NIGHTS):
            store.save(fleet_run(bench, night))


NOW = T0 + timedelta(days=NIGHTS - 1, hours=5)
