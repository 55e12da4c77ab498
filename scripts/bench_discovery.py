#!/usr/bin/env python3
"""Benchmark discovery on a 10- and a 50-device lab bench, against plain nmap on the same bench.

    sudo .venv/bin/python scripts/bench_discovery.py [--bridge plab0] [--subnet 198.18.0.0/24]
                                                     [--sizes 10,50] [--repeat 3] [--no-nmap-sv]

For each size it builds a bench, then measures:
  * lanprobe ARP + mDNS + SSDP (median of --repeat runs, services off), devices found;
  * lanprobe's service phase, the default (one nmap port scan, then our own fingerprinting)
    and --version-detection nmap (one -sV per host in the bounded pool), over the ports the
    lab's profiles name (top-ports 0), and with nmap's top 100 added (as `probe scan` does);
  * `nmap -n -sn <subnet>` and `nmap -n -sV -p <same ports> <device addresses>`, then the
    same with nmap's default intensity (7) as a naive user would run it.
The bench is taken down at the end of each size. It is a script, not a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lanprobe.discovery import DiscoveryOptions, discover
from lanprobe.discovery.services import parse_xml
from lanprobe.lab import bench
from lanprobe.lab.scope import lab_scope


def _nmap(args: list[str], timeout_s: float = 900) -> tuple[float, int]:
    """Run nmap with XML to stdout; (seconds, hosts up)."""
    t0 = time.perf_counter()
    out = subprocess.run(
        ["nmap", "-oX", "-", *args], capture_output=True, timeout=timeout_s, check=True
    )
    elapsed = time.perf_counter() - t0
    return elapsed, sum(1 for h in parse_xml(out.stdout) if h.state == "up")


def measure(bridge: str, subnet: str, size: int, repeat: int, nmap_sv: bool) -> list[str]:
    rows: list[str] = []
    bench.down(bridge)
    state = bench.up(bridge, subnet, devices=size)
    try:
        time.sleep(2.0)  # let every mDNS responder finish its probing and announcements
        scope = lab_scope(bridge)
        ports = sorted({p for d in state.devices for p in d.ports})
        ips = [d.ip for d in state.devices]

        l2: list[float] = []
        for _ in range(repeat):
            inv = asyncio.run(discover(scope, options=DiscoveryOptions(services=False)))
            l2.append(inv.timings_s["discovery"])
            found = len(inv.devices)
            parts = {k: inv.timings_s[k] for k in ("arp", "mdns", "ssdp") if k in inv.timings_s}
        rows.append(
            f"| {size} | lanprobe ARP + mDNS + SSDP (median of {repeat}) | "
            f"{statistics.median(l2):.2f} | {found}/{size} | last run: {parts} |"
        )

        for mode, top in (("ours", 0), ("ours", 100), ("nmap", 0), ("nmap", 100)):
            opts = DiscoveryOptions(version_detection=mode)
            opts.nmap.top_ports = top
            t0 = time.perf_counter()
            inv = asyncio.run(discover(scope, ports=ports, options=opts))
            total = time.perf_counter() - t0
            n_svc = sum(len(d.services) for d in inv.devices)
            nm = opts.nmap
            how = (
                "nmap port scan + our fingerprinting"
                if mode == "ours"
                else f"nmap -sV intensity {nm.version_intensity}, {nm.workers} workers"
            )
            fp = inv.timings_s.get("fingerprint")
            rows.append(
                f"| {size} | lanprobe full (profile ports{' + top 100' if top else ''}, {how}) | "
                f"{total:.2f} | {len(inv.devices)}/{size} | L2 {inv.timings_s['discovery']:.2f} s"
                f" + nmap {inv.timings_s['nmap']:.2f} s"
                f"{f' + fingerprint {fp:.2f} s' if fp is not None else ''}; {n_svc} open ports |"
            )

        excl = ["--exclude", state.host_ip]
        secs, up = _nmap(["-n", "-sn", subnet, *excl])
        rows.append(f"| {size} | `nmap -n -sn {subnet}` | {secs:.2f} | {up}/{size} | |")
        port_arg = ",".join(map(str, ports))
        secs, up = _nmap(["-n", "-sV", "--version-intensity", "0", "-p", port_arg, *ips])
        rows.append(
            f"| {size} | `nmap -n -sV --version-intensity 0 -p <profile ports>` (one run) | "
            f"{secs:.2f} | {up}/{size} | |"
        )
        if nmap_sv:
            secs, up = _nmap(["-n", "-sV", "-p", port_arg, *ips])
            rows.append(
                f"| {size} | `nmap -n -sV -p <profile ports>` (intensity 7, one run) | "
                f"{secs:.2f} | {up}/{size} | |"
            )
    finally:
        bench.down(bridge)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bridge", default="plab0")
    ap.add_argument("--subnet", default="198.18.0.0/24")
    ap.add_argument("--sizes", default="10,50")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-nmap-sv", action="store_true", help="skip nmap -sV at intensity 7")
    args = ap.parse_args()
    print("| devices | what | seconds | found | detail |\n|---:|---|---:|---:|---|", flush=True)
    for size in (int(s) for s in args.sizes.split(",")):
        for row in measure(args.bridge, args.subnet, size, args.repeat, not args.no_nmap_sv):
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
