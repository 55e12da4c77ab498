"""The shipped per-vendor default-credential lists (profiles/credentials/vendor-*.txt): each one
validates (source, licence, services, evidence words), a device whose evidence names the vendor
gets its pairs first, and an unrelated device (the lab's included) never does."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from lanprobe import paths
from lanprobe.checks.credentials import (
    candidates,
    evidence_words,
    load_credential_list,
    names_vendor,
    parse_credential_list,
)
from lanprobe.checks.logins import login_kinds
from lanprobe.discovery.oui import vendor as oui_vendor
from lanprobe.lab import models as lab_models
from lanprobe.model import Device, MdnsService, Service, Verdict
from lanprobe.profile_schema import Credentials, Profile

from tests.checks import recorded
from tests.clients.localhttp import basic_user, http_server

VENDOR_LISTS = sorted(p.stem for p in paths.CREDENTIALS_DIR.glob("vendor-*.txt"))
LAYERS = [paths.BUILTIN_PROFILES]


def _load(name: str) -> Any:
    return load_credential_list(LAYERS, name)


def _first(dev: Device, kind: str, realm: str = "") -> tuple[str, str, str]:
    pairs, _ = candidates(recorded.session(dev), kind, realm)
    return pairs[0].user, pairs[0].password, pairs[0].source


def _vendor_sources(dev: Device, kind: str, realm: str = "") -> set[str]:
    pairs, _ = candidates(recorded.session(dev), kind, realm)
    return {p.source for p in pairs if p.source.startswith("vendor-")}


def test_the_vendor_lists_ship() -> None:
    assert len(VENDOR_LISTS) >= 30
    for name in ("hikvision", "axis", "foscam", "mobotix", "dlink", "netgear", "zyxel", "cisco"):
        assert f"vendor-{name}" in VENDOR_LISTS


@pytest.mark.parametrize("name", VENDOR_LISTS)
def test_every_vendor_list_validates(name: str) -> None:
    clist = _load(name)  # file:line errors, source and licence checked at load
    head = "\n".join(clist.header)
    assert "Source: SecLists Passwords/Default-Credentials/default-passwords.csv" in head
    assert "https://github.com/danielmiessler/SecLists, commit 02cdfa5f2ddd" in head
    assert "MIT licence" in head
    assert clist.pairs, "a list without pairs"
    assert clist.depth == "standard"
    assert clist.services and set(clist.services) <= set(login_kinds()) | {"http", "https"}
    # Evidence words that are distinctive: no generic word, nothing a lab device says.
    assert clist.vendors
    for word in clist.vendors:
        assert len(word.rstrip("*")) >= 3 and word == word.lower(), word
        assert word not in {"admin", "camera", "router", "linux", "http", "webs", "printer"}
    for user, password in clist.pairs:
        for side in (user, password):
            assert "<" not in side and side == side.strip(), (user, password)


def test_evidence_words_are_whole_words_or_prefixes() -> None:
    assert names_vendor("axis communications ab", ("axis",))
    assert names_vendor('digest realm="axis_accc8e012345"', ("axis",))
    assert not names_vendor("stereotaxis", ("axis",))
    assert not names_vendor("galaxis technology ag", ("axis",))
    assert not names_vendor("aztech electronics pte", ("zte",))
    assert names_vendor("zte corporation", ("zte",))
    assert not names_vendor("navtech pte", ("avtech",))
    assert not names_vendor("zhuhai raysharp technology", ("sharp",))
    assert not names_vendor("asustek computer", ("asus",))  # each spelling is listed
    assert names_vendor("tp-link technologies", ("tplink", "tp-link"))
    assert names_vendor("bosch security systems, inc.", ("bosch security",))  # a phrase
    assert names_vendor("bosch  security", ("bosch security",))
    assert not names_vendor("robert bosch smart home gmbh", ("bosch security",))
    assert names_vendor("ds-2cd2032-i", ("ds-2cd*",))
    assert not names_vendor("ads-2cd2032", ("ds-2cd*",))
    assert not names_vendor("anything", ())
    assert not names_vendor("anything", ("*",))


# One device per kind of evidence a scan records: each names its vendor in one place only.
EVIDENCE = [
    ("OUI vendor", Device(key="k", vendor="Hangzhou Hikvision Digital Technology"), "http", ""),
    ("HTTP Server header",
     Device(key="k", services=[Service(port=80, name="http", banner="DNVRS-Webs")]), "http", ""),
    ("HTTP realm", Device(key="k"), "http", "AXIS_ACCC8E012345"),
    ("HTTP realm (model prefix)", Device(key="k"), "http", "DS-2CD2032-I"),
    ("SSH banner",
     Device(key="k", services=[Service(port=22, name="ssh", product="ROSSSH")]), "ssh", ""),
    ("mDNS name",
     Device(key="k", mdns=[MdnsService(type="_http._tcp.local.", name="Synology DS218")]),
     "http", ""),
    ("SSDP header",
     Device(key="k", ssdp={"server": "Linux/3.4 UPnP/1.0 ZyXEL-RomPager/4.51"}), "telnet", ""),
    ("hostname", Device(key="k", hostname="Netgear-R7000"), "https", ""),
    ("OUI vendor phrase", Device(key="k", vendor="Bosch Security Systems, Inc."), "rtsp", ""),
]  # fmt: skip
EXPECTED = {
    "OUI vendor": ("admin", "12345", "vendor-hikvision"),
    "HTTP Server header": ("admin", "12345", "vendor-hikvision"),
    "HTTP realm": ("root", "pass", "vendor-axis"),
    "HTTP realm (model prefix)": ("admin", "12345", "vendor-hikvision"),
    "SSH banner": ("admin", "", "vendor-mikrotik"),
    "mDNS name": ("admin", "", "vendor-synology"),
    "SSDP header": ("1234", "1234", "vendor-zyxel"),
    "hostname": ("", "1234", "vendor-netgear"),
    "OUI vendor phrase": ("live", "live", "vendor-bosch"),
}


@pytest.mark.parametrize(("what", "dev", "kind", "realm"), EVIDENCE, ids=[e[0] for e in EVIDENCE])
def test_evidence_puts_the_vendors_pairs_first(
    what: str, dev: Device, kind: str, realm: str
) -> None:
    assert _first(dev, kind, realm) == EXPECTED[what]
    # Only the named vendor's list moves; the generic lists follow it.
    assert _vendor_sources(dev, kind, realm) == {EXPECTED[what][2]}


def test_the_whole_vendor_list_comes_before_the_generic_ones() -> None:
    dev = Device(key="k", vendor="D-Link International")
    pairs, _ = candidates(recorded.session(dev), "http")
    dlink = _load("vendor-dlink").pairs
    assert [(p.user, p.password) for p in pairs[: len(dlink)]] == dlink
    assert pairs[len(dlink)].source == "generic"


def test_two_vendors_named_the_shorter_list_first() -> None:
    dev = Device(key="k", vendor="Cisco-Linksys, LLC")
    pairs, _ = candidates(recorded.session(dev), "http")
    linksys, cisco = _load("vendor-linksys").pairs, _load("vendor-cisco").pairs
    assert len(linksys) < len(cisco)
    assert [p.source for p in pairs[: len(linksys)]] == ["vendor-linksys"] * len(linksys)
    assert _vendor_sources(dev, "http") == {"vendor-linksys", "vendor-cisco"}


def test_a_list_for_other_services_stays_out() -> None:
    # A camera list fits RTSP; a router list does not.
    cam = Device(key="k", vendor="Axis Communications AB")
    assert _first(cam, "rtsp")[2] == "vendor-axis"
    router = Device(key="k", vendor="Netgear")
    assert _vendor_sources(router, "rtsp") == set()
    assert _vendor_sources(router, "mqtt") == set()


UNRELATED = [
    Device(key="k", vendor="Espressif Inc.", hostname="esp32-5a1b2c"),
    Device(key="k", vendor="Raspberry Pi Trading Ltd", hostname="raspberrypi"),
    Device(key="k", vendor="Texas Instruments"),
    Device(key="k", vendor="Stereotaxis"),  # "axis" inside a word
    Device(key="k", vendor="Aztech Electronics Pte"),  # "zte" inside a word
    Device(key="k", vendor="Navtech PTE"),
    Device(key="k", vendor="Zhuhai Raysharp Technology"),
    Device(key="k", vendor="Robert Bosch Smart Home GmbH"),  # not Bosch Security's cameras
    Device(key="k", services=[Service(port=22, name="ssh", product="OpenSSH", version="9.2p1")]),
    Device(key="k", services=[Service(port=80, name="http", banner="lighttpd/1.4.69")]),
]


@pytest.mark.parametrize("dev", UNRELATED, ids=[d.vendor or d.services[0].name for d in UNRELATED])
def test_an_unrelated_device_gets_no_vendor_list(dev: Device) -> None:
    for kind in ("http", "telnet", "ssh", "rtsp"):
        assert _vendor_sources(dev, kind) == set()
        pairs, _ = candidates(recorded.session(dev), kind)
        assert not pairs[0].source.startswith("vendor-")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


# Lab models that carry a real vendor's OUI on purpose (they stand for that vendor's product):
# they get that vendor's list first, as a real unit would, and nothing else.
REAL_VENDOR_MODELS = {"netgo-r1": ["vendor-netgear"]}  # OUI 00:14:6C, Netgear's; an IGD router


def test_no_lab_model_names_a_shipped_vendor() -> None:
    """Every string a lab model holds (vendor, model, Server header, realms, banners, mDNS,
    paths) and its OUI's registered vendor: none names a shipped vendor list by accident, so the
    lab's verdicts (tests/fixtures/lab_verdicts.json) cannot change."""
    models = [m for m in vars(lab_models).values() if isinstance(m, lab_models.Model)]
    assert len(models) >= 7
    lists = [_load(n) for n in VENDOR_LISTS]
    for model in models:
        said = " ".join([*_strings(dataclasses.asdict(model)), oui_vendor(model.oui + ":00:00:01")])
        assert oui_vendor(model.oui + ":00:00:01")  # the table knows it: the check means something
        named = [c.name for c in lists if names_vendor(said.lower(), c.vendors)]
        assert named == REAL_VENDOR_MODELS.get(model.id, []), f"{model.id} names {named}"
        if named:  # only through its OUI: its own strings name no vendor
            own = " ".join(_strings(dataclasses.asdict(model))).lower()
            assert not [c.name for c in lists if names_vendor(own, c.vendors)], model.id


def test_vendor_phrases_are_quoted_and_an_unclosed_quote_is_an_error(tmp_path: Path) -> None:
    clist = parse_credential_list('# vendors: acme "Acme  Vision" acme-*\n', "x")
    assert clist.vendors == ("acme", "acme vision", "acme-*")
    with pytest.raises(ValueError, match=r"mine.txt:2: vendors: No closing quotation"):
        parse_credential_list('# Source: x, licence y\n# vendors: "acme\n', "mine", "mine.txt")


def test_evidence_words_read_identifiers_and_ssdp() -> None:
    dev = recorded.device(ids={"manufacturer": "Mobotix AG", "model": "M16"})
    dev.ssdp = {"manufacturer": "Example"}
    said = evidence_words(recorded.session(dev), "Realm-X")
    assert "mobotix ag" in said and "m16" in said and "example" in said and "realm-x" in said


async def test_a_campaign_tries_the_vendor_default_named_by_the_realm_first() -> None:
    """A real campaign against a local Basic login whose realm names Axis: the Axis default is
    the first guess (the generic list would have taken four), then the proof."""
    tries: list[tuple[str, str]] = []

    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        pair = basic_user(headers)
        if pair is not None:
            tries.append(pair)
            if pair == ("root", "pass"):
                return 200, b"welcome", {}
        return 401, b"no", {"WWW-Authenticate": 'Basic realm="AXIS_ACCC8E012345"'}

    async with http_server(handler) as port:
        dev = recorded.device(services=[Service(port=port, name="http")])
        profile = Profile(id="generic", credentials=Credentials(pacing_s=0))
        [res] = await recorded.run("configuration.default-login", recorded.session(dev, profile))
    assert res.verdict is Verdict.fail
    assert tries[0] == ("root", "pass")
    assert len(tries) == 2 and tries[1][0] == "root" and tries[1][1] != "pass"  # the proof
    assert res.evidence["accepted"]["user"] == "root"


def test_a_user_vendor_list_joins_the_built_in_ones(tmp_path: Path) -> None:
    """The example of docs/adding-credentials.md: a file in a profile layer, no profile names it."""
    (tmp_path / "credentials").mkdir()
    (tmp_path / "credentials" / "vendor-acmevision.txt").write_text(
        "# Default logins of AcmeVision DVRs.\n"
        "# Source: AcmeVision DVR installation guide v2 (2024), section 3.1\n"
        "# Licence: facts from the maker's manual\n"
        '# services: http https rtsp\n# vendors: acmevision "acme vision" acme-dvr*\n'
        "admin:acme1234\nviewer:\n",
        encoding="utf-8",
    )

    def first(dev: Device, kind: str, realm: str = "") -> tuple[str, str, str]:
        sess = recorded.session(dev)
        sess.options = dataclasses.replace(sess.options, profiles_dir=tmp_path)
        pair = candidates(sess, kind, realm)[0][0]
        return pair.user, pair.password, pair.source

    mine = ("admin", "acme1234", "vendor-acmevision")
    assert first(Device(key="k", hostname="ACME-DVR8"), "rtsp") == mine
    assert first(Device(key="k"), "http", realm="AcmeVision") == mine
    assert first(Device(key="k", vendor="Acme Vision Co"), "https") == mine
    assert first(Device(key="k"), "http", realm="Acme") != mine
    assert first(Device(key="k", vendor="AcmeVision"), "telnet") != mine  # not its service
