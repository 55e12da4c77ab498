"""Keeps the tests that use the machine's resolver apart from the captures that forbid it.

The scope tests capture port 53 on every interface while a scan runs (nothing the scan does may
resolve a name); the tests that fetch from the package registries (pip, npm) do resolve names.
Under pytest-xdist they run in different workers at once, so both sides take this file lock: a
capture never sees another test's lookups, and no test waits longer than one capture.
"""

from __future__ import annotations

import fcntl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_PATH = Path(tempfile.gettempdir()) / "lanprobe-tests-resolver.lock"


@contextmanager
def resolver_lock() -> Iterator[None]:
    """Exclusive, across processes, until the block ends (the kernel drops it if we die)."""
    with LOCK_PATH.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
