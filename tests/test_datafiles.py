"""Every data file is validated before any traffic, with `file:line: message`
(probe/datafiles.py): a broken file of each kind, in a user's profiles directory over the
built-in set, is a ProfileError naming it; `probe scan` exits 2 before touching the network."""

from __future__ import annotations

from pathlib import Path

import pytest
from lanprobe.cli import app
from lanprobe.datafiles import data_file_errors, validate_data_files
from lanprobe.errors import ProfileError
from lanprobe.paths import profile_layers
from typer.testing import CliRunner

BROKEN = {
    "data/login-prompts.txt": ("login ok\nnot-a-kind x\n", ":2:"),
    "data/admin-paths.txt": ("admin /a\nadmin no-slash\n", ":2:"),
    "data/rtsp-paths.txt": ("/ok\nno slash\n", ":2:"),
    "data/snmp-communities.txt": ("public\n edge\n", ":2:"),
    "data/update-paths.txt": ("word firmware\nbogus /x\n", ":2:"),
    "data/ssh-algorithms.yaml": ("kex: [\n", "not valid YAML"),
    "data/fingerprints.yaml": ("rules: 3\n", "version: 1"),
    "data/iot-ports.yaml": ("- port: 1\n", "version: 1"),
    "credentials/broken.txt": ("admin:admin\nno-colon\n", ":2:"),
}


def test_the_built_in_data_files_are_valid() -> None:
    assert data_file_errors(profile_layers(None)) == []
    assert data_file_errors(profile_layers(None, lab=True)) == []


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_data_file_is_named_with_its_line(tmp_path: Path, name: str) -> None:
    text, where = BROKEN[name]
    path = tmp_path / name
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    errors = data_file_errors(profile_layers(tmp_path))
    assert len(errors) == 1, errors
    assert str(path) in errors[0] and where in errors[0], errors[0]
    with pytest.raises(ProfileError, match="broken data file"):
        validate_data_files(profile_layers(tmp_path))


def test_probe_scan_refuses_a_broken_data_file_before_any_traffic(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rtsp-paths.txt").write_text("no slash\n", encoding="utf-8")
    # 127.0.0.1/32 would be scanned if validation passed; it must stop first (exit 2).
    res = CliRunner().invoke(
        app, ["scan", "--cidr", "127.0.0.1/32", "--profiles", str(tmp_path), "--format", "json",
              "--out", str(tmp_path / "out")],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "rtsp-paths.txt:1:" in res.output
    assert not (tmp_path / "out").exists()
