"""The suite's pytest-xdist groups (tests/conftest.py): a bench, or any other session-wide thing a
fixture makes, belongs to one group, so two workers never raise the same bench (same bridge, same
namespaces) and a session scan is made once."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import (
    REPEAT_BENCH_GROUP,
    SESSION_BENCH_GROUP,
    group_conflicts,
    xdist_group_of,
)


def _group(item: pytest.Item) -> str | None:
    mark = item.get_closest_marker("xdist_group")
    return str(mark.args[0]) if mark else None


def test_the_collected_suite_keeps_each_bench_in_one_group(request: pytest.FixtureRequest) -> None:
    items = request.session.items
    if not any(item.get_closest_marker("lab") for item in items):
        pytest.skip("no lab test collected in this run: nothing to check")
    assert group_conflicts(items) == []
    ungrouped = [i.nodeid for i in items if i.get_closest_marker("lab") and _group(i) is None]
    assert ungrouped == []
    for fixture, group in (
        ("lab_bench", SESSION_BENCH_GROUP),
        ("repeat_bench", REPEAT_BENCH_GROUP),
    ):
        users = [i for i in items if fixture in getattr(i, "fixturenames", ())]
        assert {_group(i) for i in users} <= {group}
        if getattr(request.config.option, "loadgroup", False):
            # What xdist's scheduler reads: the group as the node id's suffix (tests/conftest.py).
            assert all(i.nodeid.endswith(f"@{group}") for i in users)


def _item(module: str, fixtures: tuple[str, ...], *, lab: bool, shared: Any = None) -> Any:
    """A stand-in for a collected test: its module, fixtures and lab marker."""
    defs = {name: [SimpleNamespace(scope="session", func=shared or _item)] for name in fixtures}
    marks = {"lab": object()} if lab else {}
    return SimpleNamespace(
        nodeid=f"{module}::t",
        module=SimpleNamespace(),
        fixturenames=fixtures,
        _fixtureinfo=SimpleNamespace(name2fixturedefs=defs),
        get_closest_marker=lambda name, marks=marks: marks.get(name),
    )


def test_groups_of_modules() -> None:
    assert xdist_group_of([_item("tests/a.py", ("lab_bench",), lab=True)]) == SESSION_BENCH_GROUP
    # A unit test in a module with one lab test stays beside it (the module's bench).
    mixed = [_item("tests/b.py", (), lab=False), _item("tests/b.py", ("tmp_path",), lab=True)]
    assert xdist_group_of(mixed) == "tests/b.py"
    assert xdist_group_of([_item("tests/c.py", (), lab=False)]) is None


def test_a_session_fixture_used_by_two_groups_is_a_conflict() -> None:
    items = [_item("tests/x.py", ("some_bench",), lab=True),
             _item("tests/y.py", ("some_bench",), lab=True)]  # fmt: skip
    for item in items:
        item.xdist_group = xdist_group_of([item])
    conflicts = group_conflicts(items, group=lambda i: i.xdist_group)
    assert conflicts == ["some_bench: groups tests/x.py, tests/y.py"]
