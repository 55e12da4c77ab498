"""SSDP answers and UPnP descriptions: parsing, safety caps, scope of LOCATION."""

from __future__ import annotations

from typing import Any

import pytest
from lanprobe.discovery.ssdp import (
    MAX_DESCRIPTION_BYTES,
    SsdpAnswer,
    SsdpOptions,
    describe_all,
    description_identifiers,
    location_target,
    msearch,
    parse_answer,
    parse_description,
)
from lanprobe.errors import ProtocolError, ScopeError
from lanprobe.scope import Scope

from tests.clients.localhttp import http_server

DESC = b"""<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
  <specVersion><major>1</major><minor>0</minor></specVersion>
  <device>
    <deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType>
    <friendlyName>Camera 1</friendlyName>
    <manufacturer>Acme</manufacturer>
    <modelName>IPCAM-200</modelName>
    <modelNumber>200</modelNumber>
    <serialNumber>ACM200-0001</serialNumber>
    <UDN>uuid:0b1c2d3e-0000-0000-0000-000000000001</UDN>
    <deviceList>
      <device><serialNumber>EMBEDDED</serialNumber><UDN>uuid:embedded</UDN></device>
    </deviceList>
  </device>
</root>"""


def test_msearch_is_a_well_formed_request() -> None:
    text = msearch(2).decode()
    assert text.startswith("M-SEARCH * HTTP/1.1\r\n")
    assert "HOST: 239.255.255.250:1900\r\n" in text
    assert 'MAN: "ssdp:discover"' in text and "MX: 2\r\n" in text
    assert text.endswith("\r\n\r\n")


def test_parse_answer_headers() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\n"
        b"Location: http://198.18.0.10:80/upnp/desc.xml\r\nSERVER: Linux UPnP/1.0 X/1\r\n"
        b"ST: upnp:rootdevice\r\nUSN: uuid:1::upnp:rootdevice\r\n\r\n"
    )
    headers = parse_answer(raw)
    assert headers is not None
    assert headers["location"] == "http://198.18.0.10:80/upnp/desc.xml"
    assert headers["st"] == "upnp:rootdevice"
    assert parse_answer(b"NOTIFY * HTTP/1.1\r\n\r\n") is None
    assert parse_answer(b"\xff\xfe garbage") is None


def test_parse_description_takes_the_root_device() -> None:
    desc = parse_description(DESC)
    assert desc["UDN"] == "uuid:0b1c2d3e-0000-0000-0000-000000000001"
    assert desc["serialNumber"] == "ACM200-0001"
    assert desc["manufacturer"] == "Acme"
    ids = description_identifiers(desc, "ssdp:http://198.18.0.10/desc.xml")
    assert {k: v.value for k, v in ids.items()} == {
        "udn": "uuid:0b1c2d3e-0000-0000-0000-000000000001",
        "serial": "ACM200-0001",
        "model": "IPCAM-200",
        "manufacturer": "Acme",
    }


def test_description_without_namespace() -> None:
    desc = parse_description(b"<root><device><modelName>X</modelName></device></root>")
    assert desc == {"modelName": "X"}


@pytest.mark.parametrize(
    "body",
    [
        # billion laughs: entity expansion
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        b"<root><device><modelName>&b;</modelName></device></root>",
        # external entity
        b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><root><device>'
        b"<modelName>&x;</modelName></device></root>",
        b"<root><nodevice/></root>",
        b"<root><device>",
        b"not xml at all",
    ],
)
def test_unsafe_or_broken_descriptions_are_refused(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_description(body)


def test_oversized_description_is_refused() -> None:
    with pytest.raises(ProtocolError, match="larger"):
        parse_description(b"<root>" + b" " * MAX_DESCRIPTION_BYTES + b"</root>")


def test_location_must_be_an_in_scope_address() -> None:
    scope = Scope.build(["198.18.0.0/24"], ["plab0"], exclude=["198.18.0.1"])
    url = "http://198.18.0.10:49152/desc.xml"
    assert location_target(url, scope) == url
    for bad in (
        "http://camera.local/desc.xml",  # a name: never resolved
        "http://198.18.1.10/desc.xml",  # outside the scope
        "http://198.18.0.1/desc.xml",  # the host itself (excluded)
        "ftp://198.18.0.10/desc.xml",
        "file:///etc/passwd",
    ):
        with pytest.raises(ScopeError):
            location_target(bad, scope)


async def test_descriptions_are_fetched_in_scope_with_the_checks_client() -> None:
    """describe_all against a real HTTP server on 127.0.0.1: the description is read (the checks'
    client: lanprobe's User-Agent, no compression), a LOCATION outside the scope is not."""
    seen: list[dict[str, str]] = []

    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        seen.append(headers)
        return (200, DESC, {}) if path == "/desc.xml" else (404, b"", {})

    async with http_server(handler) as port:
        answers = [
            SsdpAnswer("127.0.0.1", {"location": f"http://127.0.0.1:{port}/desc.xml"}),
            SsdpAnswer("127.0.0.1", {"location": "http://198.18.0.99/desc.xml"}),
        ]
        notes: list[str] = []
        scope = Scope.build(["127.0.0.1/32"])
        got = await describe_all(answers, scope, SsdpOptions(fetch_timeout_s=2), notes)
    fetched = [s for s in got if s.identifiers]
    assert len(fetched) == 1 and fetched[0].identifiers["serial"].value == "ACM200-0001"
    assert len(seen) == 1 and seen[0]["user-agent"] == "lanprobe"
    assert seen[0]["accept-encoding"] == "identity"
    assert any("description not fetched" in n for n in notes), notes
