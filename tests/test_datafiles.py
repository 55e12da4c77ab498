"""Every data file is validated before any traffic, with `file:line: message`
(probe/datafiles.py): a broken file of each kind, in a user's profiles directory over the
built-in set, is a ProfileError naming it; `probe scan` exits 2 before touching the network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    "data/upnp-read-actions.txt": ("urn:x GetX\nnot-a-urn GetY\n", ":2:"),
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


async def test_each_data_file_is_parsed_once_and_shared_by_every_check_and_attempt() -> None:
    """validate_data_files parses every shipped data file once, before any traffic; the checks'
    loaders then reuse that parse: two devices' default-login campaigns (attempts against
    a local Basic login that refuses all) and the other check-time loaders parse nothing again."""
    from lanprobe import datacache
    from lanprobe.checks import snmp
    from lanprobe.checks.logical_access import load_admin_paths
    from lanprobe.checks.ssh_policy import load_policy
    from lanprobe.model import Service
    from lanprobe.paths import CREDENTIALS_DIR, DATA_DIR
    from lanprobe.profile_schema import Credentials, HttpLogin, Interfaces, Profile

    from tests.checks import recorded
    from tests.clients.localhttp import basic_user, http_server

    datacache.clear()
    layers = profile_layers(None)
    validate_data_files(layers)
    parsed = dict(datacache.parses)
    shipped = {
        p.resolve() for p in [*DATA_DIR.iterdir(), *CREDENTIALS_DIR.iterdir()] if p.is_file()
    }
    assert shipped <= {path for _, path in parsed}, "a shipped data file is not validated"
    assert set(parsed.values()) == {1}

    tries: list[tuple[str, str]] = []

    def refuse(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        pair = basic_user(headers)
        if pair is not None:
            tries.append(pair)
        return 401, b"no", {"WWW-Authenticate": 'Basic realm="t"'}

    creds = Credentials(max_attempts=6, pacing_s=0)
    profile = Profile(id="t", interfaces=Interfaces(http_login=HttpLogin(kind="basic")),
                      credentials=creds)  # fmt: skip
    async with http_server(refuse) as port:
        for n in (1, 2):
            dev = recorded.device(n, services=[Service(port=port, name="http")])
            sess = recorded.session(dev, profile)
            [res] = await recorded.run("configuration.default-login", sess)
            assert res.verdict.value in ("pass", "inconclusive"), res
            snmp.candidates(sess)
    load_admin_paths(layers)
    load_policy()
    validate_data_files(layers)
    assert len(tries) >= 6  # several attempts on each device
    assert dict(datacache.parses) == parsed, "a data file was parsed again at check time"
    reused = {path.name for (_, path), n in datacache.hits.items() if n}
    assert {"generic.txt", "snmp-communities.txt", "admin-paths.txt"} <= reused
