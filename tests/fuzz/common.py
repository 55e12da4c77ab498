"""Shared settings of the fuzz tests: modest example counts, no deadline, no example database
in the work tree (the suite must stay fast and leave nothing behind)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Tests that open a socket or a file per example get fewer.
FUZZ_IO = settings(FUZZ, max_examples=80)
