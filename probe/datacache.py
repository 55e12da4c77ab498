"""One parse per data file per run: every loader of a data file goes through `load`.

Credential lists, login prompts, admin/stream/update paths, SNMP communities, UPnP read actions,
the SSH policy, fingerprint rules and the IoT port list are read by checks on every device and
every login attempt. probe/datafiles.py parses each once before any traffic (a broken one stops
the run there); the checks then get that same parsed value from here instead of reading the file
again. A file changed on disk (mtime or size) is parsed again, so an edited user file is never
judged from a stale copy; a file that does not parse is not cached (its error repeats).

Values are shared: callers never mutate what a loader returns (loaders return tuples, frozen
dataclasses or copies where a caller needs its own).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.RLock()  # a parser may load another file
_cache: dict[tuple[str, Path], tuple[tuple[int, int, int], Any]] = {}
# How often each (parser, file) was parsed, and reused, in this process: tests assert "once".
parses: Counter[tuple[str, Path]] = Counter()
hits: Counter[tuple[str, Path]] = Counter()


def load(path: Path, parse: Callable[[Path], T]) -> T:
    """`parse(path)`, parsed once while the file stays the same; OSError when it is missing."""
    path = Path(path).resolve()
    st = path.stat()
    stamp = (st.st_mtime_ns, st.st_ctime_ns, st.st_size)
    key = (f"{parse.__module__}.{parse.__qualname__}", path)
    with _lock:  # held while parsing: two threads asking at once still parse once
        hit = _cache.get(key)
        if hit is not None and hit[0] == stamp:
            hits[key] += 1
            return hit[1]  # type: ignore[no-any-return]
        value = parse(path)
        parses[key] += 1
        _cache[key] = (stamp, value)
        return value


def clear() -> None:
    """Forget every parsed file (tests)."""
    with _lock:
        _cache.clear()
        parses.clear()
        hits.clear()
