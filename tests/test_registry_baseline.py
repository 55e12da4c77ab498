"""The check registry is checked against the baseline file at load, before any traffic."""

from __future__ import annotations

import pytest
from lanprobe.baseline import load_baseline
from lanprobe.checks import registry
from lanprobe.errors import ProfileError
from lanprobe.model import Capability
from lanprobe.runner import checked_catalogue, load_catalogue


def test_the_shipped_registry_and_baseline_agree() -> None:
    catalogue, _ = checked_catalogue()
    assert "access.cleartext-admin" in catalogue


def test_a_check_without_entry_or_with_another_capability_is_refused() -> None:
    base = load_baseline()
    catalogue, _ = load_catalogue()
    stray = registry.CheckSpec(id="access.stray", capability=Capability.logical_access, fn=print)
    moved = registry.CheckSpec(
        id="access.cleartext-admin", capability=Capability.data_protection, fn=print
    )
    problems = registry.disagreements({"access.stray": stray, moved.id: moved}, base)
    assert problems == [
        "checks.access.cleartext-admin.capability: logical_access, but the check is "
        "registered as data_protection",
        "check access.stray is registered but has no entry under checks:",
    ]
    assert registry.disagreements(catalogue, base) == []


def test_checked_catalogue_raises_before_traffic() -> None:
    base = load_baseline()
    short = base.model_copy(update={"checks": {}})
    with pytest.raises(ProfileError, match="has no entry under checks"):
        checked_catalogue(short)
