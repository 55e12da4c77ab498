"""Profiles: loading, errors with file:line:field, extends, references, matching, schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
PROFILES = REPO / "profiles"  # the built-in set
LAB_PROFILES = REPO / "lab" / "profiles"  # the lab models' (lab/README.md)


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

    profiles = load_profiles(lab=True)
    for model in MODELS:
        loaded = profiles.profiles.get(model.id)
        assert loaded is not None, f"no profile for lab model {model.id}"
        assert loaded.path == LAB_PROFILES / f"{model.id}.yaml"
    assert profiles.generic.strict_ports is False


def test_the_lab_models_are_not_built_in() -> None:
    """A real bench is never matched against the lab's fictional models (their OUIs are real)."""
    from lanprobe import paths
    from lanprobe.lab.models import MODELS

    assert paths.BUILTIN_PROFILES == PROFILES and paths.LAB_PROFILES == LAB_PROFILES
    builtin = load_profiles()
    assert set(builtin.profiles) == {"generic"}
    assert not any(m.id in builtin.profiles for m in MODELS)
    assert not (PROFILES / "models").exists()


def test_shipped_profiles_pass_the_published_json_schema() -> None:
    schema = json.loads((PROFILES / "profile.schema.json").read_text())
    for path in ProfileIndex(PROFILES).files() + ProfileIndex(LAB_PROFILES).files():
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

    profiles = load_profiles(lab=True)
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
        if model.rtsp is not None:
            exposed.add(model.rtsp.port)
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
    profiles = load_profiles(lab=True)
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

    plain = _dev(mac="02:00:00:00:00:09")
    m = profiles.match(plain)
    assert m.profile.id == "generic" and m.reason == "no profile matched"
    assert m.record.strength == "none" and not m.record.hints


def test_most_specific_hit_wins() -> None:
    profiles = load_profiles(lab=True)
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


def test_an_oui_alone_is_a_hint_never_a_match() -> None:
    profiles = load_profiles(lab=True)
    # therma-t1's OUI (Texas Instruments) and nothing else: any TI-radio device on a real bench.
    by_oui = _dev(mac="00:12:4B:aa:bb:cc")
    m = profiles.match(by_oui)
    assert m.profile.id == "generic"
    assert m.record.strength == "none"
    assert m.record.hints == ["therma-t1: OUI 00:12:4b"]
    assert "hint, not enough alone: therma-t1: OUI 00:12:4b" in m.reason
    # Another identifier agreeing selects it; the OUI is listed among the identifiers.
    agreed = _dev(
        mac="00:12:4B:aa:bb:cc",
        services=[Service(port=443, name="https", product="ThermaWeb", banner="ThermaWeb/3.1.0")],
    )
    m = profiles.match(agreed)
    assert m.profile.id == "therma-t1" and m.record.strength == "weak"
    assert m.record.identifiers == ["HTTP Server header contains 'ThermaWeb/'", "OUI 00:12:4b"]


def test_match_strength_and_conflicts_are_recorded(root: Path) -> None:
    write(
        root,
        "models/a.yaml",
        "id: a\nmatch:\n  mdns_txt: {model: A1}\n  http_server: [A-httpd]\n",
    )
    write(root, "models/b.yaml", "id: b\nmatch:\n  http_server: [B-httpd]\n")
    profiles = load_profiles(root)
    txt = MdnsService(type="_a._tcp.local.", name="a", txt={"model": "A1"})
    # One model identifier: strong.
    dev = _dev(mdns=[txt])
    assert profiles.apply(dev).id == "a"
    assert dev.profile_match is not None and dev.profile_match.strength == "strong"
    assert not dev.profile_match.doubtful
    # One lesser identifier: weak; two different ones agreeing: strong.
    weak = _dev(services=[Service(port=80, name="http", product="B-httpd")])
    assert profiles.apply(weak).id == "b" and weak.profile_match.strength == "weak"  # type: ignore[union-attr]
    assert weak.profile_match.doubtful  # type: ignore[union-attr]
    both = _dev(mdns=[txt], services=[Service(port=80, name="http", product="A-httpd")])
    assert profiles.match(both).record.strength == "strong"
    assert len(profiles.match(both).record.identifiers) == 2
    # TXT says a, the Server header says b: a wins (more specific), b is a conflict.
    torn = _dev(mdns=[txt], services=[Service(port=80, name="http", product="B-httpd")])
    m = profiles.match(torn)
    assert m.profile.id == "a"
    assert m.record.conflicts == ["b: HTTP Server header contains 'B-httpd'"]
    assert m.record.doubtful


def test_banner_mac_and_address_rules(root: Path) -> None:
    write(
        root,
        "models/cam.yaml",
        "id: cam\nmatch:\n  banners:\n    rtsp: [CamStream]\n    ssh: [SSH-2.0-CamOS]\n",
    )
    write(
        root,
        "models/bench.yaml",
        'id: bench\nmatch:\n  macs: ["AA:BB:CC:00:00:01"]\n  addresses: ["198.18.9.0/29"]\n',
    )
    write(
        root,
        "models/cam2.yaml",
        "id: cam2\nmatch:\n  http_server: [CamWeb]\n  banners:\n    rtsp: [CamStream]\n",
    )
    profiles = load_profiles(root)
    rtsp = _dev(services=[Service(port=554, name="rtsp", product="CamStream", version="1.2")])
    m = profiles.match(rtsp)
    # A banner alone is a hint (it names software), recorded; with another identifier it agrees.
    assert m.profile.id == "generic" and m.record.strength == "none"
    assert m.record.hints == ["cam: rtsp banner on 554 contains 'CamStream'",
                              "cam2: rtsp banner on 554 contains 'CamStream'"]  # fmt: skip
    web = Service(port=80, name="http", product="CamWeb")
    m = profiles.match(_dev(services=[web, rtsp.services[0]]))
    assert m.profile.id == "cam2" and m.record.strength == "weak"
    assert m.record.identifiers == ["HTTP Server header contains 'CamWeb'",
                                    "rtsp banner on 554 contains 'CamStream'"]  # fmt: skip
    # A banner rule names its service: the same text on another service is no hit.
    other = _dev(services=[Service(port=80, name="http", banner="CamStream")])
    m = profiles.match(other)
    assert m.profile.id == "generic" and m.record.hints == []
    ssh = _dev(services=[Service(port=22, name="ssh", banner="SSH-2.0-CamOS_4.1")])
    assert profiles.match(ssh).record.hints == ["cam: ssh banner on 22 contains 'SSH-2.0-CamOS'"]
    by_mac = Device(key="k", mac="aa:bb:cc:00:00:01", ips=["10.9.9.9"])
    m = profiles.match(by_mac)
    assert m.profile.id == "bench" and m.record.strength == "strong"
    assert m.reason == "MAC aa:bb:cc:00:00:01 listed"
    by_ip = Device(key="k", ips=["198.18.9.6"])
    assert profiles.match(by_ip).reason == "address 198.18.9.6 listed (198.18.9.0/29)"
    assert profiles.match(Device(key="k", ips=["198.18.9.8"])).profile.id == "generic"


def test_a_software_banner_alone_selects_no_model(root: Path) -> None:
    """A user profile whose only rule is a software banner (dropbear, an SSH library, SNMP's
    version list) took every device running that software, as a weak match at best. A banner is
    a hint, like an OUI: recorded and shown, never enough alone, and never what makes a match
    strong (a Server header and an SSH banner are both software)."""
    write(root, "models/drop.yaml", "id: drop\nmatch:\n  banners:\n    ssh: [dropbear]\n")
    write(root, "models/v3.yaml", 'id: v3\nmatch:\n  banners:\n    snmp: ["SNMP v3"]\n')
    web = "id: web\nmatch:\n  http_server: [lighttpd]\n  banners:\n    ssh: [dropbear]\n"
    write(root, "models/web.yaml", web)
    profiles = load_profiles(root)
    ssh = Service(port=22, name="ssh", product="dropbear", banner="SSH-2.0-dropbear_2022.83")
    snmp = Service(port=161, transport="udp", name="snmp", product="SNMP v3")
    router = _dev(mac="dc:a6:32:00:00:09", services=[ssh, snmp])
    m = profiles.match(router)
    assert m.profile.id == "generic" and m.record.strength == "none"
    assert m.record.hints == ["drop: ssh banner on 22 contains 'dropbear'",
                              "web: ssh banner on 22 contains 'dropbear'"]  # fmt: skip
    assert "hint, not enough alone" in m.reason
    # SNMP's answered versions are no banner at all: only a sysDescr is.
    assert not any(h.startswith("v3:") for h in m.record.hints)
    # A Server header agreeing selects, but weak (shown as such): both name software.
    router.services.append(Service(port=80, name="http", product="lighttpd"))
    m = profiles.match(router)
    assert (m.profile.id, m.record.strength) == ("web", "weak")


def test_bad_mac_and_address_rules_name_their_line(root: Path) -> None:
    path = write(root, "models/x.yaml", 'id: x\nmatch:\n  macs: ["02:00:00"]\n')
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.line == 3 and info.value.field == "match.macs"
    path = write(root, "models/y.yaml", 'id: y\nmatch:\n  addresses: ["198.18.300.1"]\n')
    with pytest.raises(ProfileError, match=r"y\.yaml:3: match\.addresses"):
        load_profile(path)


# --- layers: built-in, lab, the user's ----------------------------------------------------------


def test_a_users_directory_is_layered_over_the_built_in_set(tmp_path: Path) -> None:
    user = tmp_path / "mine"
    # A single model file, no generic.yaml: the built-in generic is used.
    write(
        user,
        "cam.yaml",
        "id: mycam\nmatch:\n  mdns_txt: {model: C9}\n"
        "credentials:\n  lists: [mirai-telnet, ours]\n",  # a built-in list and the user's
    )
    write(user, "credentials/ours.txt", "# source: our bench\nqa:qa\n")
    profiles = load_profiles(user)
    assert set(profiles.profiles) == {"generic", "mycam"}
    assert profiles.source("generic") == PROFILES / "generic.yaml"
    assert profiles.get("mycam").credentials.lists == ["mirai-telnet", "ours"]  # type: ignore[union-attr]
    # The user's generic overrides ours, and may extend it by id.
    write(user, "generic.yaml", "id: generic\nextends: generic\ncredentials:\n  max_attempts: 2\n")
    profiles = load_profiles(user)
    assert profiles.source("generic") == user / "generic.yaml"
    assert profiles.generic.credentials.max_attempts == 2
    assert profiles.generic.interfaces.admin_paths  # inherited from the built-in generic
    # A data file of the user's shadows ours; the others come from the built-in set.
    write(user, "data/admin-paths.txt", "admin /ours\n")
    assert profiles.data_file("admin-paths.txt") == user / "data/admin-paths.txt"
    assert profiles.data_file("login-prompts.txt") == PROFILES / "data/login-prompts.txt"
    # The lab's models only when asked for.
    assert "hubco-h1" not in profiles.profiles
    assert "hubco-h1" in load_profiles(user, lab=True).profiles


def test_a_missing_credential_list_names_every_layer(tmp_path: Path) -> None:
    user = tmp_path / "mine"
    path = write(user, "x.yaml", "id: x\ncredentials:\n  lists: [nope]\n")
    with pytest.raises(ProfileError) as info:
        load_profiles(user)
    assert info.value.file == str(path) and info.value.line == 3
    assert str(user / "credentials") in str(info.value)
    assert str(PROFILES / "credentials") in str(info.value)


def test_checks_read_data_and_lists_through_the_layers(tmp_path: Path) -> None:
    from lanprobe.checks.context import RunOptions
    from lanprobe.checks.credentials import load_credential_list
    from lanprobe.checks.logical_access import load_admin_paths

    user = tmp_path / "mine"
    write(user, "data/admin-paths.txt", "status /our/status\n")
    write(user, "credentials/generic.txt", "# source: ours, licence: internal\nqa:qa\n")
    opts = RunOptions(profiles_dir=user)
    assert load_admin_paths(opts.profile_layers) == {"/our/status": "status"}
    assert load_credential_list(opts.profile_layers, "generic").pairs == [("qa", "qa")]
    assert load_credential_list(opts.profile_layers, "mirai-telnet").pairs  # the built-in one
    assert opts.data_file("login-prompts.txt") == PROFILES / "data/login-prompts.txt"
    # No user directory: the built-in files, wherever the working directory is.
    assert RunOptions().data_file("admin-paths.txt") == PROFILES / "data/admin-paths.txt"


# --- the command line ---------------------------------------------------------------------------


def test_cli_profile_validate_exit_codes_and_messages(root: Path) -> None:
    from lanprobe.cli import app
    from typer.testing import CliRunner

    runner = CliRunner()
    ok = runner.invoke(app, ["profile", "validate", "--profiles", str(PROFILES)])
    assert ok.exit_code == 0, ok.output
    assert "1 valid, 0 invalid" in ok.output
    ok = runner.invoke(app, ["profile", "validate", "--profiles", str(LAB_PROFILES)])
    assert ok.exit_code == 0, ok.output
    assert "10 valid, 0 invalid" in ok.output
    # No --profiles, from a directory without any: the built-in set, not "no profiles".
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        (root / "generic.yaml").unlink()
        ok = runner.invoke(app, ["profile", "validate"])
    assert ok.exit_code == 0 and "1 valid, 0 invalid" in ok.output, ok.output
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
    # It says which identifiers it wrote, and how strongly they match the unit.
    assert "matched by (strong): mDNS _hubco._tcp.local. TXT model=H1; SSDP modelName H1" in (
        res.output
    )
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


def _camera(mac: str) -> Device:
    """A camera as a scan saw it: an RTSP server that streams without credentials, SSH, HTTP."""
    return Device(
        key=mac,
        mac=mac,
        ips=["198.18.3.20"],
        services=[
            Service(port=22, name="ssh", product="dropbear", banner="SSH-2.0-dropbear_2020.81"),
            Service(port=80, name="http", product="CamWeb", version="4.2", banner="CamWeb/4.2"),
            Service(port=554, name="rtsp", product="CamStream", version="1.0"),
        ],
    )


def _result(dev: Device, check_id: str, verdict: str, port: int, title: str) -> Any:
    from lanprobe.model import Result, Target

    return Result(
        check_id=check_id,
        device=dev.key,
        capability="logical_access",
        verdict=verdict,
        severity="high",
        title=title,
        target=Target(port=port),
    )


def test_init_never_takes_a_locally_administered_mac_for_an_oui() -> None:
    from lanprobe.profiles import globally_unique_mac, profile_from_device

    assert not globally_unique_mac("02:1a:2b:00:00:01")  # locally administered (bench, random)
    assert not globally_unique_mac("da:a1:19:00:00:01")  # a phone's randomised MAC
    assert not globally_unique_mac("01:00:5e:00:00:fb")  # multicast
    assert globally_unique_mac("dc:a6:32:00:00:01")
    draft = profile_from_device(_camera("02:1a:2b:00:00:07"))
    p = Profile_from(draft.text)
    assert p.match.oui == []
    assert any("locally administered" in n for n in draft.notes)
    espressif = _camera("24:0a:c4:00:00:07")
    espressif.vendor = "Espressif Inc."
    draft = profile_from_device(espressif)
    real = Profile_from(draft.text)
    assert real.match.oui == ["24:0a:c4"]
    # The OUI's owner is not taken for the maker: the device did not say who made it.
    assert real.vendor == "" and real.id == "24-0a-c4-00-00-07"
    assert any("Espressif Inc." in n and "vendor left empty" in n for n in draft.notes)


def test_init_writes_the_strongest_identifiers_and_says_which() -> None:
    from lanprobe.profiles import profile_from_device

    cam = _camera("02:1a:2b:00:00:07")
    draft = profile_from_device(cam)
    p = Profile_from(draft.text)
    assert p.match.http_server == ["CamWeb"]
    assert p.match.banners == {"ssh": ["SSH-2.0-dropbear_2020.81"], "rtsp": ["CamStream"]}
    assert draft.identifiers == [
        "HTTP Server header 'CamWeb'",
        "ssh banner 'SSH-2.0-dropbear_2020.81'",
        "rtsp banner 'CamStream'",
    ]
    # One lesser identifier; the banners are hints that agree, and name software (dropbear).
    assert draft.strength == "weak"
    assert "# Matched by (weak): HTTP Server header 'CamWeb'" in draft.text
    # A model identifier comes first; a bench may pin its own units by MAC.
    cam.mdns = [MdnsService(type="_cam._tcp.local.", name="c", txt={"md": "C-4"})]
    draft = profile_from_device(cam, pin=True)
    p = Profile_from(draft.text)
    assert p.match.macs == ["02:1a:2b:00:00:07"]
    assert p.match.mdns_txt == {"md": "C-4"} and p.match.mdns_types == ["_cam._tcp.local."]
    assert draft.identifiers[:2] == [
        "MAC 02:1a:2b:00:00:07 (this unit only)",
        "mDNS _cam._tcp.local. TXT md=C-4",
    ]
    # Nothing to match on: said, with what to do.
    bare = Device(key="02:00:00:00:00:05", mac="02:00:00:00:00:05", ips=["198.18.3.5"])
    draft = profile_from_device(bare)
    assert draft.strength == "none" and any("--pin" in n for n in draft.notes)


def test_init_never_takes_snmps_protocol_versions_for_a_banner() -> None:
    """An SNMPv3 agent tells no sysDescr before a login: discovery records "SNMP v3" as its
    product, which every SNMPv3 agent shares. Written as a banner rule, the new profile took
    every such device on the bench; only a sysDescr is a banner."""
    from lanprobe.profiles import LoadedProfile, ProfileSet, profile_from_device

    v3 = Service(port=161, transport="udp", name="snmp", product="SNMP v3")
    web = Service(port=443, name="https", product="HubCo-H1", tls=True)
    hub = Device(key="dc:a6:32:00:00:01", mac="dc:a6:32:00:00:01", ips=["198.18.3.11"],
                 services=[v3, web])  # fmt: skip
    draft = profile_from_device(hub)
    made = Profile_from(draft.text)
    assert made.match.banners == {} and not any("snmp" in s for s in draft.identifiers)
    other = Device(key="00:11:22:00:00:02", mac="00:11:22:00:00:02", ips=["198.18.3.12"],
                   services=[v3.model_copy()])  # fmt: skip
    profiles = ProfileSet(root=Path("."), profiles={made.id: LoadedProfile(made, Path("new"))})
    assert profiles.match(hub).profile.id == made.id
    assert profiles.match(other).profile.id == "generic"
    # A sysDescr is the agent's own words: a banner rule.
    hub.services[0].banner = "HubCo H1 hub firmware 2.4.1"
    draft = profile_from_device(hub)
    assert Profile_from(draft.text).match.banners == {"snmp": ["HubCo H1 hub firmware 2.4.1"]}


def test_init_writes_the_model_identifiers_alone_when_the_unit_shows_them() -> None:
    """Every rule selects a profile alone. A hub that names its model over mDNS also runs a
    common SSH library: written beside the TXT model, that banner made the new profile take
    every other model running it. Left out, and said; without a model identifier it is written,
    with a warning."""
    from lanprobe.profiles import LoadedProfile, ProfileSet, profile_from_device

    ssh = Service(port=22, name="ssh", product="AsyncSSH", banner="SSH-2.0-AsyncSSH_2.23.1")
    web = Service(port=443, name="https", product="lighttpd", tls=True)
    hub = Device(key="dc:a6:32:00:00:01", mac="dc:a6:32:00:00:01", ips=["198.18.3.11"],
                 mdns=[MdnsService(type="_hubco._tcp.local.", name="h", txt={"model": "H1"})],
                 services=[ssh, web])  # fmt: skip
    draft = profile_from_device(hub)
    made = Profile_from(draft.text)
    assert made.match.mdns_txt == {"model": "H1"}
    assert (made.match.banners, made.match.http_server) == ({}, [])
    assert any(n.startswith("left out") and "SSH-2.0-AsyncSSH_2.23.1" in n for n in draft.notes)
    profiles = ProfileSet(root=Path("."), profiles={made.id: LoadedProfile(made, Path("new"))})
    camera = Device(key="00:11:22:00:00:02", mac="00:11:22:00:00:02", ips=["198.18.3.12"],
                    services=[ssh.model_copy()])  # fmt: skip
    assert profiles.match(hub).profile.id == made.id
    assert profiles.match(camera).profile.id == "generic"
    hub.mdns = []
    draft = profile_from_device(hub)
    assert Profile_from(draft.text).match.banners == {"ssh": ["SSH-2.0-AsyncSSH_2.23.1"]}
    assert any("no model identifier" in n and "--pin" in n for n in draft.notes)


def test_init_writes_only_what_the_run_observed_of_auth() -> None:
    from lanprobe.profiles import profile_from_device

    cam = _camera("02:1a:2b:00:00:07")
    results = [
        _result(cam, "access.unauthenticated-interface", "fail", 554, "RTSP stream without login"),
        _result(cam, "configuration.default-login", "pass", 80, "no default login accepted"),
        _result(cam, "access.unauthenticated-interface", "pass", 22, "nothing open"),
    ]
    draft = profile_from_device(cam, results=results)
    auth = {x.port: x.auth for x in Profile_from(draft.text).ports}
    assert auth == {22: None, 80: True, 554: False}
    # A login interface found without any attempt (budget spent, lockout avoided) still shows
    # that the port asks for credentials; the wording of a title does not.
    budget = _result(cam, "configuration.default-login", "inconclusive", 22, "budget spent")
    budget.evidence = {"interface": "ssh login on port 22", "attempts": 0}
    vague = _result(cam, "access.unauthenticated-interface", "inconclusive", 80, "login?")
    auth = {
        x.port: x.auth
        for x in Profile_from(profile_from_device(cam, results=[budget, vague]).text).ports
    }
    assert auth == {22: True, 80: None, 554: None}
    assert "auth: false  # observed: RTSP stream without login" in draft.text
    assert "auth: null  # unknown:" in draft.text
    # Another device's results say nothing about this one.
    other = [r.model_copy(update={"device": "someone-else"}) for r in results]
    auth = {
        x.port: x.auth for x in Profile_from(profile_from_device(cam, results=other).text).ports
    }
    assert auth == {22: None, 80: None, 554: None}


def test_init_never_writes_auth_false_on_a_port_with_a_login() -> None:
    """Basic login at `/`, an open `/api/config` beside it (the acme camera's port 80): init
    wrote `auth: false` from the open path. A port where a login was seen asks for credentials;
    its open path is said beside, as the finding it is."""
    from lanprobe.profiles import profile_from_device

    cam = _camera("02:1a:2b:00:00:07")
    title = "admin path /api/config answers 200 without authentication on port 80"
    opened = _result(cam, "access.unauthenticated-interface", "fail", 80, title)
    basic = _result(cam, "configuration.default-login", "inconclusive", 80, "budget spent")
    basic.evidence = {"interface": "HTTP basic login at / on port 80", "attempts": 0}
    for login in (basic, _result(cam, "configuration.default-login", "pass", 80, "refused")):
        for results in ([opened, login], [login, opened]):
            draft = profile_from_device(cam, results=results)
            assert {x.port: x.auth for x in Profile_from(draft.text).ports}[80] is True
            assert "also answered without them: admin path /api/config" in draft.text
    # The path check's own evidence of a login page beside the open path counts too.
    opened.evidence = {"login_page_paths": ["/login"]}
    draft = profile_from_device(cam, results=[opened])
    assert {x.port: x.auth for x in Profile_from(draft.text).ports}[80] is True
    assert "login page at /login" in draft.text
    # Open and nothing else seen: false, as before; nothing seen: unknown.
    opened.evidence = {}
    draft = profile_from_device(cam, results=[opened])
    auth = {x.port: x.auth for x in Profile_from(draft.text).ports}
    assert auth == {22: None, 80: False, 554: None}


def Profile_from(text: str) -> Any:
    from lanprobe.profile_schema import Profile
    from ruamel.yaml import YAML

    return Profile.model_validate(YAML(typ="safe").load(text))
