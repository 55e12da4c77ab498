"""What a test needs from the machine: a skip that says what is missing and how to get it, or,
under `make test` / CI (LANPROBE_TESTS_STRICT=1, set by the Makefile after `make sysdeps`), a
failure: there everything is installed and run as root, so a missing piece is a broken set-up,
not a reason to pass quietly."""

from __future__ import annotations

import os

import pytest

STRICT = os.environ.get("LANPROBE_TESTS_STRICT") == "1"


def require(present: bool, what: str) -> None:
    """Skip (fail when strict) unless `present`; `what` names the need and how to meet it."""
    if present:
        return
    if STRICT:
        pytest.fail(f"missing under make test: {what}", pytrace=False)
    pytest.skip(f"needs {what}")


def require_root(why: str) -> None:
    require(os.geteuid() == 0, f"root ({why})")
