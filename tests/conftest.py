"""Shared fixtures. `lab_bench`: one virtual bench per test session (root + namespaces).

The bench uses $LANPROBE_TEST_BRIDGE / $LANPROBE_TEST_SUBNET (default plabt / 198.18.100.0/24) so
that parallel sessions on one machine each get their own; a stale bench on that bridge (from a
crashed session) is taken down first, and the bench is taken down at the end even on failure.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterator

import pytest
from lanprobe.lab.bench import BenchState

from tests.realsw import pytest_runtest_call, pytest_runtest_setup  # noqa: F401 (its guard)
from tests.requires import require_root

TEST_BRIDGE = os.environ.get("LANPROBE_TEST_BRIDGE", "plabt")
TEST_SUBNET = os.environ.get("LANPROBE_TEST_SUBNET", "198.18.100.0/24")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """One private PostgreSQL cluster for the session (tests/pg.py); skips without its binaries
    (fails under make test: the fleet and migration tests must not pass by skipping in CI)."""
    from tests.pg import private_postgres, require_postgres

    require_postgres()
    with private_postgres() as url:
        yield url


@pytest.fixture(scope="session")
def lab_bench() -> Iterator[BenchState]:
    require_root("the lab bench uses network namespaces")
    from lanprobe.lab import bench

    bench.down(TEST_BRIDGE)
    try:
        state = bench.up(TEST_BRIDGE, TEST_SUBNET)
        yield state
    finally:
        bench.down(TEST_BRIDGE)


# --- the repeatability bench ---------------------------------------------------------------------


def _repeat_bench_names() -> tuple[str, str]:
    """$LANPROBE_REPEAT_BRIDGE / $LANPROBE_REPEAT_SUBNET, else named after the test bench:
    <test bridge>rp and the 11th /24 above the test subnet (the side benches take the next one)."""
    net = ipaddress.ip_network(TEST_SUBNET)
    above = ipaddress.ip_network((int(net.network_address) + 11 * 256, 24))
    return (
        os.environ.get("LANPROBE_REPEAT_BRIDGE", TEST_BRIDGE[:9] + "rp"),
        os.environ.get("LANPROBE_REPEAT_SUBNET", str(above)),
    )


REPEAT_BRIDGE, REPEAT_SUBNET = _repeat_bench_names()


@pytest.fixture(scope="session")
def repeat_bench() -> Iterator[BenchState]:
    """The default models on a bench of their own: the repeatability test's five full scans and the
    web login test's standard-depth scan (minutes of paced logins) run there, beside the session
    bench (under pytest-xdist on another worker)."""
    require_root("the lab bench uses network namespaces")
    from lanprobe.lab import bench

    bench.down(REPEAT_BRIDGE)
    try:
        yield bench.up(REPEAT_BRIDGE, REPEAT_SUBNET)
    finally:
        bench.down(REPEAT_BRIDGE)


# --- pytest-xdist: which tests must share a worker ------------------------------------------------
# `make test` runs `-n N --dist loadgroup`: a group's tests run on one worker, in file order. A
# bench is a set of named bridges, namespaces and processes: two workers raising the same bench
# would tear down each other's. So every module with a test that touches the session bench (or
# the hostile bench, whose tests compare with the session scan), or that names a bench after
# $LANPROBE_TEST_BRIDGE, runs in one group, where the session fixtures are made once. Any other
# module with a lab test is a group of its own (its bench is raised once, its tests keep their
# order). Modules without lab tests go to any worker, test by test.
SESSION_BENCH_FIXTURES = {"lab_bench", "hostile_bench", "lab_run_json", "lab_scan"}
SESSION_BENCH_GROUP = "session-bench"
REPEAT_BENCH_GROUP = "repeat-bench"  # every module using `repeat_bench`
# Session fixtures each worker may make for itself: nothing on the machine is named after them (a
# private PostgreSQL cluster in the worker's own temp dir, files).
PER_WORKER_FIXTURES = {"pg_url", "fake_run_json", "robust_profiles", "lab_clock"}


def xdist_group_of(module_items: list[pytest.Item]) -> str | None:
    """The group of one module's tests (None: any worker)."""
    module = getattr(module_items[0], "module", None)
    if hasattr(module, "TEST_BRIDGE") or any(
        SESSION_BENCH_FIXTURES & set(getattr(item, "fixturenames", ())) for item in module_items
    ):
        return SESSION_BENCH_GROUP
    if any("repeat_bench" in getattr(item, "fixturenames", ()) for item in module_items):
        return REPEAT_BENCH_GROUP
    if any(item.get_closest_marker("lab") for item in module_items):
        return module_items[0].nodeid.split("::", 1)[0]
    return None


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    by_module: dict[str, list[pytest.Item]] = {}
    for item in items:
        by_module.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    grouped: set[int] = set()
    for module_items in by_module.values():
        group = xdist_group_of(module_items)
        if group is not None:
            for item in module_items:
                item.add_marker(pytest.mark.xdist_group(group))
                grouped.add(id(item))
    if getattr(config.option, "loadgroup", False):  # an xdist worker of --dist loadgroup
        for item in items:
            if id(item) in grouped:
                _pin_to_group(item, _marked_group(item) or "")
        # xdist hands out the largest groups first, then the rest in collection order: the lab
        # groups (a bench and minutes of scans each) start before the unit tests, not after.
        items.sort(key=lambda item: id(item) not in grouped)


def _pin_to_group(item: pytest.Item, group: str) -> None:
    """The node id suffix `@group` by which xdist's scheduler groups tests. pytest-xdist 3.8 sets
    it in `item._nodeid`, which pytest 9.2 no longer reads (structured node ids, pytest-xdist
    issue #1386): without this, loadgroup silently spreads a bench's tests over all workers."""
    from _pytest.nodeid import NodeId

    nodeid = item.nodeid
    if not nodeid.endswith(f"@{group}") and hasattr(item, "_id"):
        item._id = NodeId.parse(f"{nodeid}@{group}")


def _marked_group(item: pytest.Item) -> str | None:
    mark = item.get_closest_marker("xdist_group")
    return str(mark.args[0]) if mark else None


def group_conflicts(
    items: list[pytest.Item], group: Callable[[pytest.Item], str | None] = _marked_group
) -> list[str]:
    """Session fixtures of this suite that tests of different groups use: under xdist each of
    those workers would make its own (two benches on one bridge, two session scans)."""
    groups: dict[str, set[str]] = {}
    for item in items:
        fixtureinfo = getattr(item, "_fixtureinfo", None)
        for name, defs in (fixtureinfo.name2fixturedefs if fixtureinfo else {}).items():
            fixturedef = defs[-1]
            ours = getattr(fixturedef.func, "__module__", "").startswith("tests.")
            if fixturedef.scope == "session" and ours and name not in PER_WORKER_FIXTURES:
                groups.setdefault(name, set()).add(group(item) or "(any worker)")
    return [
        f"{name}: groups {', '.join(sorted(g))}" for name, g in sorted(groups.items()) if len(g) > 1
    ]
