"""Profiles: loading, errors with file:line:field, extends, references, matching, schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from lanprobe.errors import ProfileError
from lanprobe.model import Device, MdnsService, Service
from lanprobe.profiles import (
    ProfileIndex,
    json_schema,
    load_profile,
    load_profiles,
    load_yaml,
    validate_files,
)

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "profiles"


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write(tmp_path, "generic.yaml", "id: generic\nstrict_ports: false\n")
    return tmp_path


# --- the shipped profiles -----------------------------------------------------------------------


def test_shipped_profiles_load_and_cover_every_lab_model() -> None:
    from lanprobe.lab.models import MODELS

    profiles = load_profiles(PROFILES)
    for model in MODELS:
        loaded = profiles.profiles.get(model.id)
        assert loaded is not None, f"no profile for lab model {model.id}"
        assert loaded.path.name == f"{model.id}.yaml"
    assert profiles.generic.strict_ports is False


def test_shipped_profiles_pass_the_published_json_schema() -> None:
    schema = json.loads((PROFILES / "profile.schema.json").read_text())
    for path in ProfileIndex(PROFILES).files():
        jsonschema.validate(json.loads(json.dumps(load_yaml(path).data, default=str)), schema)


def test_published_schema_is_current() -> None:
    published = (PROFILES / "profile.schema.json").read_text()
    assert published == json_schema(), (
        "profiles/profile.schema.json is stale: run "
        "`probe profile schema --out profiles/profile.schema.json`"
    )


def test_profiles_match_what_lab_models_expose() -> None:
    """Ports of each lab model are the profile's allowed ports (the maker's flaws aside)."""
    from lanprobe.lab.models import MODELS

    profiles = load_profiles(PROFILES)
    for model in MODELS:
        p = profiles.get(model.id)
        assert p is not None
        tcp = {x.port for x in p.ports if x.transport == "tcp"}
        exposed = {h.port for h in model.http}
        for login in (model.telnet, model.ssh, model.ftp):
            if login is not None:
                exposed.add(login.port)
        if model.mqtt is not None:
            exposed |= {x for x in (model.mqtt.port, model.mqtt.tls_port) if x}
        # A debug shell is a flaw, not something the maker documents.
        assert tcp == exposed, model.id
        assert model.model in p.match.mdns_txt.values() or p.match.http_server, model.id


# --- errors name file, line and field -----------------------------------------------------------


def test_unknown_key_is_refused_with_file_line_field(root: Path) -> None:
    path = write(
        root,
        "models/x.yaml",
        "id: x\nports:\n  - port: 80\n    sevice: http\n",
    )
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    err = info.value
    assert err.file == str(path)
    assert err.line == 4
    assert err.field == "ports.0.sevice"
    assert str(err).startswith(f"{path}:4: ports.0.sevice: unknown key")


def test_bad_value_points_at_its_line(root: Path) -> None:
    path = write(
        root,
        "models/x.yaml",
        "id: x\ncredentials:\n  max_attempts: 6\n  pacing_s: fast\n",
    )
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.line == 4
    assert info.value.field == "credentials.pacing_s"


def test_out_of_range_port_and_several_errors_listed(root: Path) -> None:
    path = write(
        root,
        "models/x.yaml",
        "id: x\nports:\n  - {port: 70000}\n  - {port: 22, transport: sctp}\n",
    )
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    text = str(info.value)
    assert f"{path}:3: ports.0.port:" in text
    assert f"{path}:4: ports.1.transport:" in text


def test_yaml_syntax_error_has_a_line(root: Path) -> None:
    path = write(root, "models/x.yaml", "id: x\nports: [\n  {port: 80\nmatch: {}\n")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.file == str(path)
    assert info.value.line is not None


def test_yaml_12_keeps_on_and_colons_as_strings(root: Path) -> None:
    path = write(
        root,
        "models/x.yaml",
        "id: x\nmatch:\n  mdns_txt: {model: on, fw: 10:20:30}\n",
    )
    p = load_profile(path).profile
    assert p.match.mdns_txt == {"model": "on", "fw": "10:20:30"}


def test_missing_id(root: Path) -> None:
    path = write(root, "models/x.yaml", "vendor: X\n")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.field == "id"


# --- extends ------------------------------------------------------------------------------------


def test_extends_merges_dicts_and_replaces_lists(root: Path) -> None:
    write(
        root,
        "models/base.yaml",
        "id: base\nvendor: Acme\nports:\n  - {port: 80}\n  - {port: 23}\n"
        "credentials:\n  max_attempts: 4\n  pacing_s: 1.0\n"
        "interfaces:\n  admin_paths: [/a, /b]\n",
    )
    path = write(
        root,
        "models/child.yaml",
        "id: child\nextends: base\nports:\n  - {port: 443, tls: true}\n"
        "credentials:\n  max_attempts: 9\n",
    )
    loaded = load_profile(path)
    p = loaded.profile
    assert p.id == "child" and p.vendor == "Acme"
    assert [x.port for x in p.ports] == [443]  # lists replace
    assert p.credentials.max_attempts == 9 and p.credentials.pacing_s == 1.0  # dicts merge
    assert p.interfaces.admin_paths == ["/a", "/b"]
    assert [c.name for c in loaded.chain] == ["child.yaml", "base.yaml"]


def test_extends_by_relative_path_and_error_blames_the_parent(root: Path) -> None:
    write(root, "models/base.yaml", "id: base\ncredentials:\n  max_attempts: many\n")
    path = write(root, "models/child.yaml", "id: child\nextends: base.yaml\n")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.file.endswith("base.yaml")
    assert info.value.line == 3
    assert info.value.field == "credentials.max_attempts"


def test_extends_errors(root: Path) -> None:
    path = write(root, "models/a.yaml", "id: a\nextends: nosuch\n")
    with pytest.raises(ProfileError, match=r"a\.yaml:2: extends: extends 'nosuch'"):
        load_profile(path)
    write(root, "models/b.yaml", "id: b\nextends: c\n")
    path = write(root, "models/c.yaml", "id: c\nextends: b\n")
    with pytest.raises(ProfileError, match="extends cycle"):
        load_profile(path)


# --- references ---------------------------------------------------------------------------------


def test_credential_lists_are_checked_by_name(root: Path) -> None:
    write(root, "credentials/common.txt", "admin:admin\n")
    ok = write(root, "models/ok.yaml", "id: ok\ncredentials:\n  lists: [common]\n")
    assert load_profile(ok).profile.credentials.lists == ["common"]
    bad = write(root, "models/bad.yaml", "id: bad\ncredentials:\n  lists: [common, nope]\n")
    with pytest.raises(ProfileError) as info:
        load_profile(bad)
    assert info.value.field == "credentials.lists.1"
    assert info.value.line == 3


def test_tls_ca_file_is_relative_to_the_profile(root: Path) -> None:
    write(root, "models/ca/acme.pem", "-----BEGIN CERTIFICATE-----\n")
    path = write(root, "models/x.yaml", "id: x\ntls_ca_file: ca/acme.pem\n")
    p = load_profile(path).profile
    assert p.tls_ca_file == str((root / "models/ca/acme.pem").resolve())
    bad = write(root, "models/y.yaml", "id: y\ntls_ca_file: ca/none.pem\n")
    with pytest.raises(ProfileError, match=r"y\.yaml:2: tls_ca_file"):
        load_profile(bad)


def test_duplicate_ids_and_validate_files(root: Path) -> None:
    write(root, "models/one.yaml", "id: same\n")
    write(root, "models/two.yaml", "id: same\n")
    with pytest.raises(ProfileError, match="also defined"):
        load_profiles(root)
    bad = write(root, "models/bad.yaml", "id: bad\nstrict_ports: maybe\n")
    errors = validate_files([root / "models/one.yaml", bad])
    assert len(errors) == 1 and errors[0].startswith(f"{bad}:2: strict_ports:")


# --- matching -----------------------------------------------------------------------------------


def _dev(**kw: object) -> Device:
    return Device(key="02:00:00:00:00:01", ips=["198.18.3.10"], **kw)  # type: ignore[arg-type]


def test_matching_on_each_source_with_reason() -> None:
    profiles = load_profiles(PROFILES)
    cam = _dev(
        mac="b8:27:eb:00:00:01",
        mdns=[MdnsService(type="_http._tcp.local.", name="cam", txt={"model": "IPCAM-200"})],
    )
    m = profiles.match(cam)
    assert m.profile.id == "acme-ipcam200" and "TXT model=IPCAM-200" in m.reason

    hub = _dev(ssdp={"modelName": "H1"})
    assert profiles.match(hub).profile.id == "hubco-h1"
    assert "SSDP modelName H1" in profiles.match(hub).reason

    sentry = _dev(services=[Service(port=80, name="http", product="Sentry-S3")])
    assert profiles.match(sentry).profile.id == "sentry-s3"
    assert "Server header" in profiles.match(sentry).reason

    by_oui = _dev(mac="00:12:4B:aa:bb:cc")
    assert profiles.match(by_oui).profile.id == "therma-t1"
    assert profiles.match(by_oui).reason == "OUI 00:12:4b"

    plain = _dev(mac="02:00:00:00:00:09")
    m = profiles.match(plain)
    assert m.profile.id == "generic" and m.reason == "no profile matched"


def test_most_specific_hit_wins() -> None:
    profiles = load_profiles(PROFILES)
    # The MAC says ipcam200's OUI, the TXT says IPCAM-300: the TXT model wins.
    dev = _dev(
        mac="b8:27:eb:00:00:02",
        mdns=[MdnsService(type="_http._tcp.local.", name="c", txt={"model": "IPCAM-300"})],
    )
    assert profiles.match(dev).profile.id == "acme-ipcam300"
    # A bare type with the wrong TXT model does not match the generic _http._tcp cameras.
    other = _dev(mdns=[MdnsService(type="_http._tcp.local.", name="x", txt={"model": "Z"})])
    assert profiles.match(other).profile.id == "generic"


def test_type_beats_oui(root: Path) -> None:
    write(root, "models/a.yaml", 'id: a\nmatch:\n  oui: ["02:00:00"]\n')
    write(root, "models/b.yaml", 'id: b\nmatch:\n  mdns_types: ["_b._tcp"]\n')
    profiles = load_profiles(root)
    dev = _dev(mac="02:00:00:00:00:01", mdns=[MdnsService(type="_b._tcp.local.", name="b")])
    assert profiles.apply(dev).id == "b"
    assert dev.profile == "b" and dev.profile_reason == "mDNS service type _b._tcp.local."


# --- the command line ---------------------------------------------------------------------------


def test_cli_profile_validate_exit_codes_and_messages(root: Path) -> None:
    from lanprobe.cli import app
    from typer.testing import CliRunner

    runner = CliRunner()
    ok = runner.invoke(app, ["profile", "validate", "--profiles", str(PROFILES)])
    assert ok.exit_code == 0, ok.output
    assert "8 valid, 0 invalid" in ok.output
    good = write(root, "models/good.yaml", "id: good\n")
    bad = write(root, "models/bad.yaml", "id: bad\nports:\n  - {port: 22, servce: ssh}\n")
    res = runner.invoke(app, ["profile", "validate", str(good), str(bad)])
    assert res.exit_code == 2
    assert f"{bad}:3: ports.0.servce: unknown key" in res.output
    assert "1 valid, 1 invalid" in res.output


def test_cli_profile_init_from_a_known_good_unit(tmp_path: Path) -> None:
    from lanprobe.cli import app
    from lanprobe.model import Identifier, ScanRun
    from typer.testing import CliRunner

    hub = Device(
        key="dc:a6:32:12:03:0d",
        mac="dc:a6:32:12:03:0d",
        ips=["198.18.3.13"],
        vendor="Raspberry Pi Trading Ltd",
        mdns=[
            MdnsService(
                type="_hubco._tcp.local.", name="hub", port=443, txt={"model": "H1", "fw": "2.4.1"}
            )
        ],
        ssdp={"modelName": "H1"},
        services=[
            Service(port=22, name="ssh", product="AsyncSSH sshd"),
            Service(port=443, name="https", tls=True),
            Service(port=8883, name="mqtt", tls=True),
        ],
        identifiers={
            "model": Identifier(value="H1", source="mdns"),
            "fw": Identifier(value="2.4.1", source="mdns"),
            "manufacturer": Identifier(value="HubCo", source="mdns"),
        },
    )
    run = ScanRun(run_id="r42", devices=[hub])
    run_json = tmp_path / "run.json"
    run.write(run_json)
    out = tmp_path / "profiles/models/new.yaml"
    (tmp_path / "profiles/generic.yaml").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "profiles/generic.yaml").write_text("id: generic\n")
    res = CliRunner().invoke(
        app,
        [
            "profile",
            "init",
            "--run",
            str(run_json),
            "--device",
            "DC-A6-32-12-03-0D",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    p = load_profile(out).profile
    assert p.id == "hubco-h1" and p.model == "H1" and p.vendor == "HubCo"
    assert [(x.port, x.service, x.tls) for x in p.ports] == [
        (22, "ssh", False),
        (443, "https", True),
        (8883, "mqtts", True),
    ]
    assert p.strict_ports
    assert p.match.mdns_types == ["_hubco._tcp.local."] and p.match.mdns_txt == {"model": "H1"}
    assert p.match.ssdp_models == ["H1"] and p.match.oui == ["dc:a6:32"]
    assert p.update.latest_firmware == "2.4.1"
    # The new profile recognises the unit it came from, by its TXT model.
    profiles = load_profiles(tmp_path / "profiles")
    assert profiles.match(hub).profile.id == "hubco-h1"
    assert "TXT model=H1" in profiles.match(hub).reason
    # To stdout, and an unknown device is a usage error.
    res = CliRunner().invoke(
        app, ["profile", "init", "--run", str(run_json), "--device", "198.18.3.13"]
    )
    assert res.exit_code == 0 and "id: hubco-h1" in res.output
    res = CliRunner().invoke(app, ["profile", "init", "--run", str(run_json), "--device", "02:00"])
    assert res.exit_code == 2 and "no device 02:00" in res.output
