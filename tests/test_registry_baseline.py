"""The check registry is checked against the baseline file at load, before any traffic."""

from __future__ import annotations

from pathlib import Path

import pytest
from lanprobe import baseline
from lanprobe.baseline import DEFAULT_BASELINE, load_baseline
from lanprobe.checks import registry
from lanprobe.cli import app
from lanprobe.errors import ProfileError
from lanprobe.model import Capability
from lanprobe.runner import checked_catalogue, load_catalogue
from typer.testing import CliRunner

from tests.test_baseline import without_remediation


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


def test_every_registered_check_has_its_remediation_in_its_metadata() -> None:
    """The metadata the runner gives each registered check (`Baseline.meta`) carries the advice
    the reports show: no other file holds it."""
    base = load_baseline()
    catalogue, _ = checked_catalogue(base)
    for cid, spec in catalogue.items():
        assert base.meta(cid, spec.capability).remediation == base.checks[cid].remediation, cid


def test_probe_scan_refuses_a_baseline_entry_without_remediation_before_any_traffic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, line = without_remediation(DEFAULT_BASELINE.read_text(), "data.tls-cipher", empty=False)
    bad = tmp_path / "nistir-8259a.yaml"
    bad.write_text(text)
    monkeypatch.setattr(baseline, "DEFAULT_BASELINE", bad)
    # 127.0.0.1/32 would be scanned if the baseline loaded; it must stop first (exit 2).
    res = CliRunner().invoke(
        app, ["scan", "--cidr", "127.0.0.1/32", "--format", "json", "--out", str(tmp_path / "out")]
    )
    assert res.exit_code == 2, res.output
    assert f"{bad}:{line}: checks.data.tls-cipher.remediation: Field required" in res.output
    assert not (tmp_path / "out").exists()
