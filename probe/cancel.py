"""Prompt cancellation of work that runs outside the event loop (threads, child processes).

nmap runs in worker threads (python-nmap blocks until nmap exits), and a thread cannot be
cancelled: a cancelled scan would wait for nmap's host timeout (a minute) before it could write
its partial run. `reap_children` is the way out: while a cancelled discovery unwinds, a helper
thread kills the child processes of this process that carry one of the given names, by their
pid, so that the worker threads return at once.

Only direct children of this process are touched (their parent pid is ours), never anything
found by name elsewhere on the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

POLL_S = 0.05


def children(names: tuple[str, ...], parent: int | None = None) -> list[int]:
    """Pids of the live direct children of `parent` (default: us) whose command is in `names`."""
    me = os.getpid() if parent is None else parent
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses; split at the last ")".
        head, _, rest = stat.rpartition(")")
        comm = head.partition("(")[2]
        fields = rest.split()
        if len(fields) < 2 or fields[0] == "Z":
            continue
        if int(fields[1]) == me and comm in names:
            found.append(int(entry.name))
    return found


def kill_children(names: tuple[str, ...]) -> list[int]:
    """SIGKILL our direct children named `names`; the pids signalled."""
    killed = []
    for pid in children(names):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


@contextlib.contextmanager
def reap_children(names: tuple[str, ...], *, limit_s: float = 30.0) -> Iterator[list[int]]:
    """While the block runs (at most `limit_s`), keep killing our children named `names`.

    Polling rather than one kill: a worker thread may start the next nmap between two looks.
    Yields the list of pids killed so far.
    """
    stop = threading.Event()
    killed: list[int] = []

    def loop() -> None:
        end = time.monotonic() + limit_s
        while not stop.is_set() and time.monotonic() < end:
            killed.extend(kill_children(names))
            stop.wait(POLL_S)

    worker = threading.Thread(target=loop, name="lanprobe-reaper", daemon=True)
    worker.start()
    try:
        yield killed
    finally:
        stop.set()
        worker.join(timeout=1.0)
        # Once more: the block may end before the helper's first look (a cancelled to_thread
        # job leaves its nmap running after the task is done).
        killed.extend(kill_children(names))


async def spawn(*args: str, **kwargs: Any) -> asyncio.subprocess.Process:
    """`asyncio.create_subprocess_exec` that cancellation cannot hang.

    CPython 3.11: a task cancelled while its child process starts waits forever in
    create_subprocess_exec (it closes the half-made transport and awaits pipes that never
    connected; measured here: a scan cancelled mid-checks while an sslyze worker started never
    exited). The start is shielded instead; cancelled, the new child is killed and reaped, then
    the cancellation goes on.
    """
    start = asyncio.ensure_future(asyncio.create_subprocess_exec(*args, **kwargs))
    try:
        return await asyncio.shield(start)
    except asyncio.CancelledError:
        proc = await start  # the start itself takes milliseconds
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        raise


def raise_if_cancelled() -> None:
    """Raise the cancellation this task was asked for but did not see.

    Python 3.11's asyncio.wait_for (ours, asyncssh's, other libraries') can swallow a
    cancellation that arrives just as the awaited call finishes: the call's result or exception
    comes back and the cancellation is lost, but the request stays counted on the task. Loops
    that go on to more network work (a login campaign) call this between steps, so a cancelled
    scan does not leave them running (CPython gh-86296, fixed in 3.12)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
