"""Thin wrappers over iproute2 and /proc for the bench: batches, listings, process cleanup."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from lanprobe.errors import LabError, ToolError

NETNS_DIR = Path("/run/netns")


def ip(*args: str, check: bool = True, timeout: float = 30) -> str:
    try:
        proc = subprocess.run(
            ["ip", *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise ToolError("iproute2 `ip` is not installed") from exc
    if check and proc.returncode != 0:
        raise LabError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def ip_batch(lines: list[str], *, netns: str | None = None, force: bool = False) -> None:
    """Run many `ip` commands in one process (`-force` goes on past errors, for cleanup)."""
    if not lines:
        return
    args = ["ip"]
    if netns:
        args += ["-n", netns]
    if force:
        args.append("-force")
    args += ["-batch", "-"]
    proc = subprocess.run(
        args, input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode != 0 and not force:
        raise LabError(f"ip batch failed: {proc.stderr.strip()[:500]}")


def links(prefix: str) -> list[str]:
    """Names of the host's links that start with `prefix`."""
    out = ip("-j", "link", "show")
    names = [entry["ifname"] for entry in json.loads(out or "[]")]
    return [n for n in names if n.startswith(prefix)]


def link_exists(name: str) -> bool:
    return bool(ip("link", "show", "dev", name, check=False).strip())


def namespaces(prefix: str) -> list[str]:
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))


def pids_in(netns_names: list[str]) -> dict[str, list[int]]:
    """What `ip netns pids` does, for many namespaces in one /proc walk."""
    wanted: dict[tuple[int, int], str] = {}
    for name in netns_names:
        try:
            st = (NETNS_DIR / name).stat()
        except OSError:
            continue
        wanted[(st.st_dev, st.st_ino)] = name
    found: dict[str, list[int]] = {n: [] for n in netns_names}
    if not wanted:
        return found
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry.name}/ns/net")
        except OSError:
            continue
        owner = wanted.get((st.st_dev, st.st_ino))
        if owner:
            found[owner].append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def kill_all(pids: list[int], grace_s: float = 3.0) -> None:
    """SIGTERM every pid, wait up to `grace_s` for them all, then SIGKILL what is left."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = [p for p in left if alive(p)]
