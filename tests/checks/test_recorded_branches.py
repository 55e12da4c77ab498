"""Every verdict branch of every check, unit-tested from recorded observations (no lab, no network).

Each case of tests/fixtures/recorded/*.json (what a scan observed of a device: run.json's device,
its profile, the session observations the check reads; see tests/checks/branches.py) runs its
check and must give the verdict and title it records. The map test then says which `ctx.result`
call each case reached: a verdict branch no case reaches fails it, unless UNTESTED still counts
it for its function. UNTESTED only shrinks: a new branch needs a case (or, for now, a count here
with a reason), and a case that covers a listed branch makes the test ask to lower the count.

To add a case: record it from a lab bench (`python -m tests.checks.record_cases RUN.json --bridge
B`, after `probe scan --lab`) or from a real server on loopback (a local bench of
tests/checks/record_local.py); never write one by hand.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from functools import cache

import pytest

from tests.checks.branches import (
    Branch,
    Case,
    branches,
    covered,
    load_cases,
    no_network,
    run_case,
)

CASES = load_cases()
BRANCHES = list(branches())

# function -> verdict branches in it that no recorded case reaches yet. Empty: every branch has a
# case (lab benches, tests/checks/record_cases.py; real servers on loopback,
# tests/checks/record_local.py). A new branch needs a case; a count here only with a reason.
UNTESTED: dict[str, int] = {}


@cache
def outcome(i: int) -> tuple[list, frozenset[tuple[str, int]]]:  # type: ignore[type-arg]
    results, hits = asyncio.run(run_case(CASES[i]))
    return results, frozenset(hits)


def _id(case: Case) -> str:
    return f"{case.file}:{case.name}"


@pytest.mark.parametrize("i", range(len(CASES)), ids=[_id(c) for c in CASES])
def test_recorded_case_gives_its_verdict(i: int) -> None:
    case = CASES[i]
    results, _ = outcome(i)
    want_verdict, want_title = case.expect["verdict"], case.expect.get("title", "")
    got = [(r.verdict.value, r.title) for r in results]
    assert any(v == want_verdict and want_title in t for v, t in got), (
        f"{_id(case)}: expected {want_verdict} with {want_title!r}, got {got}"
    )


def _key(b: Branch) -> str:
    return f"{b.module}.{b.function}"


def test_every_verdict_branch_has_a_recorded_case() -> None:
    hits: set[tuple[str, int]] = set()
    for i in range(len(CASES)):
        hits |= outcome(i)[1]
    reached = covered(BRANCHES, hits)
    missing = Counter(_key(b) for b in BRANCHES if b not in reached)
    new = [
        b.where
        for b in BRANCHES
        if b not in reached and missing[_key(b)] > UNTESTED.get(_key(b), 0)
    ]
    assert not new, (
        "verdict branches without a recorded case (tests/fixtures/recorded/*.json):\n"
        + "\n".join(new)
    )
    fewer = {k: missing.get(k, 0) for k, n in UNTESTED.items() if missing.get(k, 0) < n}
    assert not fewer, f"now covered: lower UNTESTED in {__file__} to {fewer}"


def test_branch_map_sees_every_result_call() -> None:
    """The map itself: it finds the calls and places a hit on a multi-line call."""
    assert len(BRANCHES) > 100
    some = next(b for b in BRANCHES if b.end_line > b.line)
    assert covered(BRANCHES, {(f"/x/checks/{some.module}.py", some.end_line)}) == {some}
    assert covered(BRANCHES, {(f"/x/tests/{some.module}.py", some.line)}) == set()


def test_nothing_leaves_while_a_case_replays() -> None:
    """A replayed device keeps its recorded (lab) address, so the guard must hold: no TCP connect,
    no UDP datagram, no process, no tier-2 TLS scan."""
    import socket
    import subprocess

    from lanprobe import observations

    async def attempts() -> list[str]:
        out = []
        try:
            await asyncio.open_connection("198.18.224.10", 80)
        except OSError as exc:
            out.append(type(exc).__name__)
        deep = await observations.deep_scan("198.18.224.10", 443)
        out.append(deep.error)
        return out

    with no_network():
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with udp, pytest.raises(ConnectionRefusedError):
            udp.sendto(b"x", ("198.18.224.10", 161))
        with pytest.raises(ConnectionRefusedError):
            subprocess.run(["true"], check=False)
        assert asyncio.run(attempts()) == ["ConnectionRefusedError", "not in the recording"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:  # restored afterwards
        udp.sendto(b"x", ("127.0.0.1", 9))


def test_local_cases_name_their_local_bench() -> None:
    """A case recorded on loopback says which server answered (its `source`), and each local bench
    of tests/checks/record_local.py has given at least one case."""
    import json

    from tests.checks.branches import CASES_DIR
    from tests.checks.record_local import LOCALS

    sources = {local.source: local.name for local in LOCALS}
    seen = set()
    for path in CASES_DIR.glob("*.json"):
        for case in json.loads(path.read_text(encoding="utf-8"))["cases"]:
            if "(loopback," in case["name"]:
                assert case.get("source") in sources, f"{path.name}: {case['name']}"
                assert case["name"].startswith(sources[case["source"]] + " (loopback,")
                seen.add(sources[case["source"]])
    assert seen == set(sources.values()), (
        f"local benches without a case: {set(sources.values()) - seen}"
    )
