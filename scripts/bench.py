#!/usr/bin/env python3
"""Benchmark a full lanprobe scan on a 10- and a 50-device lab bench, against nmap on the same.

    sudo .venv/bin/python scripts/bench.py [--bridge plab9 --subnet 198.18.9.0/24]
        [--big-bridge plab9x --big-subnet 198.18.90.0/24] [--sizes 10,50] [--repeat 3]
        [--cooldown-s 20] [--no-nmap] [--nmap-host-timeout-s 300] [--nmap-wall-s 900]
        [--no-ipv6] [--depths quick,standard,deep] [--depth-cooldown-s 35]

Login depths first (--depths, '' for none): the default lab bench (one unit of every model) is
scanned at each depth with `probe scan --lab --depth D`; the report prints each scan's wall and
checks-phase time, and per device its default-login attempts, the check's time, attempts per
second and verdicts (issue 12: "standard depth, whole lab bench, under 5 minutes").

The benches are dual-stack (bench.up(ipv6=True)) unless --no-ipv6, so discovery runs its IPv6
neighbour discovery and IPv6 port scan, and its UDP requests, as on a real dual-stack LAN; the
report prints each of those phases' time.

For each size it builds a bench (the small sizes on --bridge, 50 and more on --big-bridge), then:
  * `probe discover --lab --json`: wall time of the whole command (median of --repeat);
  * `probe scan --lab` (median of --repeat, --cooldown-s apart so that one run's failed logins
    leave the devices' lockout window before the next): wall time, its discovery and check
    phases (from run.json), the peak RSS of the probe process itself (its VmHWM, sampled) and
    of the process tree (probe + nmap + sslyze workers, RSS and PSS summed, sampled), and
    ru_maxrss from wait4 (the largest single process of the tree);
  * the nmap baseline last (its logins must not disturb our runs; a model may ban the source):
    `nmap -n -sS -sV --script http-default-accounts,ssl-enum-ciphers,ssl-cert,mqtt-subscribe,
    telnet-brute -p <the ports the scan covers>` over the bench's addresses, bounded by
    --host-timeout and a wall-clock limit; scripts missing from this nmap are left out and said.
and takes the bench down. Every run is bounded in time; the bench comes down on any error.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lanprobe.discovery.services import parse_xml, top_ports  # noqa: E402
from lanprobe.lab import bench  # noqa: E402
from lanprobe.profiles import load_profiles  # noqa: E402

NSE_SCRIPTS = ("http-default-accounts", "ssl-enum-ciphers", "ssl-cert", "mqtt-subscribe",
               "telnet-brute")  # fmt: skip
NSE_DIR = Path("/usr/share/nmap/scripts")
SAMPLE_S = 0.1
PROBE_WALL_S = 300.0  # one probe command, at most


@dataclass
class Measured:
    wall_s: float
    rc: int
    own_hwm_kb: int = 0  # VmHWM of the probe process itself
    tree_peak_kb: int = 0  # sampled peak of the summed RSS of the process tree
    tree_pss_kb: int = 0  # sampled peak of its summed PSS (shared pages counted once)
    maxrss_kb: int = 0  # wait4: the largest single process of the tree
    out: str = ""
    err: str = ""


@dataclass
class Row:
    size: int
    discover_s: list[float] = field(default_factory=list)
    scans: list[Measured] = field(default_factory=list)
    timings: list[dict[str, float]] = field(default_factory=list)
    devices_found: int = 0
    discover_timings: dict[str, float] = field(default_factory=dict)
    verdicts: list[dict[str, int]] = field(default_factory=list)  # device verdicts, per scan
    nmap_s: float | None = None
    nmap_note: str = ""
    nmap_nobrute_s: float | None = None  # the same without telnet-brute (brute force dominates)
    nmap_nobrute_note: str = ""


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    nmap = subprocess.run(["nmap", "--version"], capture_output=True, text=True, timeout=30)
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {mem_kb / 1024 / 1024:.1f} GiB RAM, "
        f"{platform.platform()}, Python {platform.python_version()}, "
        f"{nmap.stdout.splitlines()[0] if nmap.stdout else 'nmap ?'}"
    )


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 1:
            kids.setdefault(int(fields[1]), []).append(int(entry.name))
    return kids


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _pss_kb(pid: int) -> int:
    """Proportional set size: shared pages (Python, libraries) split between their users."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _tree_kb(root: int) -> tuple[int, int]:
    """(summed RSS, summed PSS) of a process and its descendants."""
    kids = _children()
    rss = pss = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        rss += _status_kb(pid, "VmRSS")
        pss += _pss_kb(pid)
        todo.extend(kids.get(pid, []))
    return rss, pss


def run_measured(argv: list[str], wall_s: float = PROBE_WALL_S) -> Measured:
    """Run a command; wall time, its own peak RSS, the tree's peak RSS, wait4's ru_maxrss.
    `out` is its stdout (stderr goes to `err`)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=ROOT)
        own = tree = pss = 0
        tick = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            own = max(own, _status_kb(proc.pid, "VmHWM"))
            if tick % 3 == 0:  # the tree walk reads all of /proc: not every tick
                rss_kb, pss_kb = _tree_kb(proc.pid)
                tree, pss = max(tree, rss_kb), max(pss, pss_kb)
            tick += 1
            if time.perf_counter() - start > wall_s:
                proc.send_signal(signal.SIGTERM)  # the probe writes its partial run and exits
                wall_s = float("inf")
            time.sleep(SAMPLE_S)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(
            wall,
            proc.returncode,
            own,
            tree,
            pss,
            usage.ru_maxrss,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def probe_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "lanprobe.cli", *args]


def scan_ports(state: bench.BenchState) -> list[int]:
    """What `probe scan` covers: the profiles' TCP ports and nmap's top 100."""
    ports = set(load_profiles(lab=True).all_ports()) | set(top_ports(100))
    return sorted(ports | {p for d in state.devices for p in d.ports})


def nmap_baseline(
    state: bench.BenchState, host_timeout_s: int, wall_s: float, scripts: tuple[str, ...]
) -> tuple[float | None, str]:
    present = [s for s in scripts if (NSE_DIR / f"{s}.nse").is_file()]
    missing = [s for s in scripts if s not in present]
    ports = ",".join(str(p) for p in scan_ports(state))
    argv = ["nmap", "-n", "-sS", "-sV", "-T4", "-oX", "-", "-p", ports,
            "--host-timeout", f"{host_timeout_s}s", "--script", ",".join(present),
            *[d.ip for d in state.devices]]  # fmt: skip
    start = time.perf_counter()
    try:
        done = subprocess.run(argv, capture_output=True, timeout=wall_s, check=False)
    except subprocess.TimeoutExpired:
        return None, f"nmap ran past the {wall_s:g} s wall limit (killed)"
    secs = time.perf_counter() - start
    notes = []
    if missing:
        notes.append(f"scripts missing from this nmap: {', '.join(missing)}")
    try:
        hosts = parse_xml(done.stdout)
        timed_out = sum(1 for h in hosts if h.timed_out)
        ran: dict[str, int] = {}
        for el in ET.fromstring(done.stdout).iter("script"):
            ran[el.get("id", "?")] = ran.get(el.get("id", "?"), 0) + 1
        notes.append(f"{sum(h.state == 'up' for h in hosts)} hosts up")
        if timed_out:
            notes.append(f"{timed_out} hit --host-timeout {host_timeout_s}s")
        notes.append("script outputs: " + ", ".join(f"{k} {v}" for k, v in sorted(ran.items())))
    except Exception as exc:  # a report, not a judgement: say what happened
        notes.append(f"nmap output unreadable (exit {done.returncode}): {exc}")
    return secs, "; ".join(notes)


def measure(bridge: str, subnet: str, size: int, args: argparse.Namespace) -> Row:
    row = Row(size=size)
    bench.down(bridge)
    state = bench.up(bridge, subnet, devices=size, ipv6=args.ipv6)
    try:
        time.sleep(2.0)  # let every mDNS responder finish probing and announcing
        for _ in range(args.repeat):
            m = run_measured(probe_cmd("discover", "--lab", "--bridge", bridge, "--json"))
            row.discover_s.append(m.wall_s)
            if m.rc == 0:
                found = json.loads(m.out)
                row.devices_found = len(found["devices"])
                row.discover_timings = found.get("timings_s", {})
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.repeat):
                if i:
                    # Failed logins of the last run must fall out of the devices' lockout window
                    # (lab: 15 s, fail2ban's findtime); a 13 s scan right after another would
                    # lock hubco-h1's tried accounts and read as inconclusive (measured).
                    time.sleep(args.cooldown_s)
                out = Path(tmp) / f"run{i}"
                argv = ["scan", "--lab", "--bridge", bridge, "--out", str(out),
                        "--format", "json", "--fail-on", "never"]  # fmt: skip
                m = run_measured(probe_cmd(*argv))
                row.scans.append(m)
                if m.rc != 0:
                    print(m.err[-2000:], file=sys.stderr)
                    continue
                run = json.loads((out / "run.json").read_text())
                row.timings.append(run.get("timings_s", {}))
                verdicts: dict[str, int] = {}
                for score in run["scores"].values():
                    verdicts[score["verdict"]] = verdicts.get(score["verdict"], 0) + 1
                row.verdicts.append(verdicts)
        if args.nmap:
            row.nmap_s, row.nmap_note = nmap_baseline(
                state, args.nmap_host_timeout_s, args.nmap_wall_s, NSE_SCRIPTS
            )
            lighter = tuple(s for s in NSE_SCRIPTS if s != "telnet-brute")
            row.nmap_nobrute_s, row.nmap_nobrute_note = nmap_baseline(
                state, args.nmap_host_timeout_s, args.nmap_wall_s, lighter
            )
    finally:
        bench.down(bridge)
    return row


@dataclass
class DepthRow:
    """One `probe scan --depth D` of the default lab bench."""

    depth: str
    wall_s: float
    rc: int
    checks_s: float = float("nan")
    # per device (name by its profile and address): login attempts, default-login check s,
    # its verdicts
    devices: list[tuple[str, int, float, str]] = field(default_factory=list)


def measure_depths(bridge: str, subnet: str, args: argparse.Namespace) -> list[DepthRow]:
    """The default lab bench (one unit of every model) scanned at each of --depths, the devices'
    ban windows waited out between scans; per device the login attempts per second."""
    rows: list[DepthRow] = []
    bench.down(bridge)
    bench.up(bridge, subnet)
    try:
        time.sleep(2.0)
        with tempfile.TemporaryDirectory() as tmp:
            for i, depth in enumerate(args.depths):
                if i:
                    time.sleep(args.depth_cooldown_s)  # out of every model's ban window
                out = Path(tmp) / depth
                argv = ["scan", "--lab", "--bridge", bridge, "--depth", depth, "--out", str(out),
                        "--format", "json", "--fail-on", "never"]  # fmt: skip
                m = run_measured(probe_cmd(*argv), wall_s=args.depth_wall_s)
                row = DepthRow(depth, m.wall_s, m.rc)
                rows.append(row)
                if not (out / "run.json").exists():
                    print(m.err[-2000:], file=sys.stderr)
                    continue
                run = json.loads((out / "run.json").read_text())
                row.checks_s = run.get("timings_s", {}).get("checks", float("nan"))
                row.devices = _login_rates(run)
                print(report_depths(rows), file=sys.stderr, flush=True)
    finally:
        bench.down(bridge)
    return rows


def _login_rates(run: dict) -> list[tuple[str, int, float, str]]:  # type: ignore[type-arg]
    out = []
    for dev in run["devices"]:
        mine = [r for r in run["results"] if r["device"] == dev["key"]
                and r["check_id"] == "configuration.default-login"]  # fmt: skip
        attempts = sum(int(r["evidence"].get("attempts", 0)) for r in mine)
        secs = max((float(r.get("duration_s", 0.0)) for r in mine), default=0.0)
        verdicts = ",".join(sorted({r["verdict"] for r in mine}))
        out.append((f"{dev.get('profile') or '?'} {dev['ips'][0]}", attempts, secs, verdicts))
    return sorted(out)


def report_depths(rows: list[DepthRow]) -> str:
    lines = [
        "| depth | `probe scan` s | checks phase s |",
        "|---|---:|---:|",
        *[
            f"| {r.depth} | {r.wall_s:.1f}{'' if r.rc == 0 else f' (rc {r.rc})'} | "
            f"{r.checks_s:.1f} |"
            for r in rows
        ],
        "",
        "| device | " + " | ".join(f"{r.depth}: attempts, s, per s, verdicts" for r in rows) + " |",
        "|---|" + "---|" * len(rows),
    ]
    names = sorted({d[0] for r in rows for d in r.devices})
    for name in names:
        cells = []
        for r in rows:
            d = next((d for d in r.devices if d[0] == name), None)
            if d is None:
                cells.append("-")
                continue
            rate = f"{d[1] / d[2]:.1f}" if d[2] > 0 else "-"
            cells.append(f"{d[1]}, {d[2]:.0f}, {rate}, {d[3]}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def _secs(x: float | None) -> str:
    return f"{x:.1f}" if x is not None else "-"


def _ratio(a: float | None, b: float) -> str:
    return f"{a / b:.1f}x" if a is not None and b == b and b > 0 else "-"


def report(rows: list[Row], repeat: int) -> str:
    lines = [
        f"machine: {machine()}",
        "",
        f"| devices | `probe discover` s | `probe scan` s (median of {repeat}) | discovery phase s "
        "| checks phase s | probe RSS MB | tree PSS / RSS MB | nmap + 5 NSE s | nmap / scan "
        "| nmap, no telnet-brute s | nmap / scan |",
        "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        scan_s = _median([m.wall_s for m in r.scans if m.rc == 0])
        disc = _median([t.get("discovery", float("nan")) for t in r.timings])
        checks = _median([t.get("checks", float("nan")) for t in r.timings])
        own = max((m.own_hwm_kb for m in r.scans), default=0) / 1024
        tree = max((m.tree_peak_kb for m in r.scans), default=0) / 1024
        pss = max((m.tree_pss_kb for m in r.scans), default=0) / 1024
        lines.append(
            f"| {r.size} | {_median(r.discover_s):.1f} | {scan_s:.1f} "
            f"(runs: {', '.join(f'{m.wall_s:.1f}' for m in r.scans)}) | {disc:.1f} | "
            f"{checks:.1f} | {own:.0f} | {pss:.0f} / {tree:.0f} | {_secs(r.nmap_s)} | "
            f"{_ratio(r.nmap_s, scan_s)} | {_secs(r.nmap_nobrute_s)} | "
            f"{_ratio(r.nmap_nobrute_s, scan_s)} |"
        )
    lines.append("")
    for r in rows:
        maxrss = max((m.maxrss_kb for m in r.scans), default=0) / 1024
        lines.append(
            f"- {r.size} devices: {r.devices_found} found by `probe discover` "
            f"(phases: {r.discover_timings}); device verdicts per scan {r.verdicts}; "
            "wait4 ru_maxrss "
            f"(largest single process) {maxrss:.0f} MB"
        )
        t = r.discover_timings
        lines.append(
            f"  - discovery with UDP and IPv6: whole {t.get('discovery', float('nan')):.1f} s "
            f"(IPv6 neighbour discovery {t.get('ndp', float('nan')):.1f} s, alongside ARP/mDNS/"
            f"SSDP); TCP port scan {t.get('nmap', float('nan')):.1f} s, UDP requests "
            f"{t.get('udp', float('nan')):.1f} s (alongside it), fingerprinting "
            f"{t.get('fingerprint', float('nan')):.1f} s"
        )
        lines.append(f"  - nmap + NSE: {r.nmap_note or 'not run'}")
        lines.append(f"  - nmap without telnet-brute: {r.nmap_nobrute_note or 'not run'}")
    sizes = {r.size: _median([m.wall_s for m in r.scans if m.rc == 0]) for r in rows}
    if 10 in sizes and 50 in sizes:
        lines.append(f"- 50 / 10 devices: {sizes[50] / sizes[10]:.2f}x the scan time")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bridge", default="plab9")
    ap.add_argument("--subnet", default="198.18.9.0/24")
    ap.add_argument("--big-bridge", default="plab9x", help="bench bridge for 50 devices and more")
    ap.add_argument("--big-subnet", default="198.18.90.0/24")
    ap.add_argument("--sizes", default="10,50")
    ap.add_argument("--repeat", type=int, default=3, help="scans per size (median), 1-5")
    ap.add_argument("--cooldown-s", type=float, default=20.0, help="pause between scans")
    ap.add_argument("--no-nmap", dest="nmap", action="store_false")
    ap.add_argument(
        "--no-ipv6",
        dest="ipv6",
        action="store_false",
        help="IPv4-only benches (default: dual-stack, so discovery runs IPv6 too)",
    )
    ap.add_argument("--nmap-host-timeout-s", type=int, default=300)
    ap.add_argument("--nmap-wall-s", type=float, default=900.0, help="per nmap run")
    ap.add_argument("--depths", default="quick,standard,deep",
                    help="login depths scanned on the default bench ('' = none)")  # fmt: skip
    ap.add_argument(
        "--depth-cooldown-s",
        type=float,
        default=35.0,
        help="pause between depth scans (the lab's ban windows: 30 s at most)",
    )
    ap.add_argument("--depth-wall-s", type=float, default=1200.0, help="per depth scan")
    args = ap.parse_args()
    args.depths = [d.strip() for d in args.depths.split(",") if d.strip()]
    if any(d not in ("quick", "standard", "deep") for d in args.depths):
        print("--depths: quick, standard, deep", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("the lab bench needs root", file=sys.stderr)
        return 2

    def stop(_signum: int, _frame: object) -> None:
        raise SystemExit(143)  # unwinds: the bench comes down in measure()'s finally

    signal.signal(signal.SIGTERM, stop)
    args.repeat = max(1, min(5, args.repeat))
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if any(not 1 <= s <= 100 for s in sizes):
        print("--sizes: 1 to 100 devices", file=sys.stderr)
        return 2
    depth_rows = measure_depths(args.bridge, args.subnet, args) if args.depths else []
    if depth_rows:
        print(report_depths(depth_rows), flush=True)
    rows = []
    for size in sizes:
        bridge, subnet = (
            (args.big_bridge, args.big_subnet) if size >= 50 else (args.bridge, args.subnet)
        )
        print(f"== {size} devices on {bridge} ({subnet})", file=sys.stderr, flush=True)
        rows.append(measure(bridge, subnet, size, args))
        print(report(rows, args.repeat), file=sys.stderr, flush=True)
    if rows:
        print(report(rows, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
