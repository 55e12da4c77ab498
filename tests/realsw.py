"""Keeps the `realsw` marker honest. The unit set (`pytest -m "not lab and not realsw"`) must stay
fast and need nothing from the machine, so a test that runs real software in a process of its own
carries `realsw` (or `lab`). This guard fails an unmarked test that, during its set-up or call,
starts one of the real programs this suite runs, or any child that is still running when its call
ends (a daemon: Django's runserver, a GStreamer server under the system Python...). Short helper
runs (`openssl`, `ssh-keygen`, `python -c`) that end inside the test are no daemon and stay unit.

tests/conftest.py imports the two hooks below, so they apply to every test of the suite."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

# Servers, browsers and tools of the real-software tests (and of the lab), by program name.
REAL_PROGRAMS = frozenset({
    "chromium", "chronyd", "dnsmasq", "in.tftpd", "initdb", "miniupnpd", "mosquitto", "nmap",
    "node", "npm", "pg_ctl", "postgres", "snmpd", "sshd", "tcpdump", "vsftpd",
})  # fmt: skip
MARKERS = ("lab", "realsw")


def _program(args: Any) -> str:
    first = args if isinstance(args, str | bytes | os.PathLike) else next(iter(args), "")
    return os.path.basename(os.fsdecode(first)).split()[0] if first else ""


Children = list[tuple[str, "subprocess.Popen[Any]"]]
_WATCHING: list[Children] = []  # nested watches (a pytester run inside a test): innermost records


@contextmanager
def _children() -> Iterator[Children]:
    """Every child the test starts through subprocess (asyncio's subprocesses included)."""
    seen: Children = []
    original = subprocess.Popen._execute_child  # type: ignore[attr-defined]

    def recording(self: subprocess.Popen[Any], args: Any, *rest: Any, **kw: Any) -> Any:
        if _WATCHING and _WATCHING[-1] is seen:
            seen.append((_program(args), self))
        return original(self, args, *rest, **kw)

    _WATCHING.append(seen)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(subprocess.Popen, "_execute_child", recording)
            yield seen
    finally:
        _WATCHING.remove(seen)


def _unmarked(item: pytest.Item) -> bool:
    return not any(item.get_closest_marker(m) for m in MARKERS)


def _problems(children: Children, end: bool) -> list[str]:
    out = [f"it runs {name}" for name, _ in children if name in REAL_PROGRAMS]
    if end:
        out += [f"{name} is still running" for name, p in children if p.poll() is None]
    return out


def _refuse(item: pytest.Item, problems: list[str]) -> None:
    why = "; ".join(sorted(set(problems)))
    pytest.fail(f"{item.nodeid} is a unit test but {why}: mark it realsw", pytrace=False)


_STARTED = pytest.StashKey[Children]()


def _watch(item: pytest.Item, end: bool) -> Iterator[None]:
    """Records the children of one phase; after the call (`end`) also those still running."""
    if not _unmarked(item):
        return (yield)
    with _children() as seen:
        result = yield
    started = item.stash.setdefault(_STARTED, [])
    started += seen
    if problems := _problems(started, end=end):
        _refuse(item, problems)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    return (yield from _watch(item, end=False))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    return (yield from _watch(item, end=True))
