"""Shared fixtures. `lab_bench`: one virtual bench per test session (root + namespaces).

The bench uses $LANPROBE_TEST_BRIDGE / $LANPROBE_TEST_SUBNET (default plabt / 198.18.100.0/24) so
that parallel sessions on one machine each get their own; a stale bench on that bridge (from a
crashed session) is taken down first, and the bench is taken down at the end even on failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from lanprobe.lab.bench import BenchState

TEST_BRIDGE = os.environ.get("LANPROBE_TEST_BRIDGE", "plabt")
TEST_SUBNET = os.environ.get("LANPROBE_TEST_SUBNET", "198.18.100.0/24")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """One private PostgreSQL cluster for the session (tests/pg.py); skips without its binaries."""
    from tests.pg import pg_bin, private_postgres

    if not pg_bin("initdb") or not pg_bin("pg_ctl"):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed: `make sysdeps`")
    with private_postgres() as url:
        yield url


@pytest.fixture(scope="session")
def lab_bench() -> Iterator[BenchState]:
    if os.geteuid() != 0:
        pytest.skip("the lab bench needs root (network namespaces)")
    from lanprobe.lab import bench

    bench.down(TEST_BRIDGE)
    try:
        state = bench.up(TEST_BRIDGE, TEST_SUBNET)
        yield state
    finally:
        bench.down(TEST_BRIDGE)
