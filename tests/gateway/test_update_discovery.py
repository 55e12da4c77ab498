"""Update endpoints on devices no profile describes (checks/clients/update_discovery.py) and
manifests in several formats (checks/clients/manifest.py parse_any), from recorded input."""

from __future__ import annotations

import contextlib
import http.server
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from lanprobe.checks.clients import manifest as mf
from lanprobe.checks.clients import update_discovery as ud
from lanprobe.gateway.observe import load_update_words
from lanprobe.model import Device, MdnsService

from tests.clients.localhttp import serving
from tests.requires import require

WORDS, PATHS = load_update_words()

PAGE = """<!doctype html><html><head><script src="/js/app.js"></script>
<link rel="stylesheet" href="style.css"></head><body>
<a href="/settings">Settings</a> <a href='firmware/update.html'>Firmware</a>
<a href="http://198.18.9.10:8080/fw/latest.xml">mirror</a>
<a href="https://updates.vendor.example/ota/manifest.json">cloud (another origin)</a>
<form action="/cgi-bin/upgrade.cgi" method="post"><input type="file" name="image"></form>
<script>var cfg = {"otaUrl": "/api/ota/check", "logo": "/img/logo.png"};</script>
</body></html>"""


def test_links_in_page_same_origin_update_resources() -> None:
    links = ud.links_in_page(PAGE, "http://198.18.9.10/", WORDS)
    assert "http://198.18.9.10/firmware/update.html" in links  # relative link, resolved
    assert "http://198.18.9.10/cgi-bin/upgrade.cgi" in links  # a form action
    assert "http://198.18.9.10/api/ota/check" in links  # a string inside an inline script
    assert "http://198.18.9.10:8080/fw/latest.xml" in links
    assert not any("settings" in x or "logo" in x or "app.js" in x for x in links)
    on_device = [x for x in links if ud.same_origin(x, "198.18.9.10")]
    assert not any("vendor.example" in x for x in on_device)


def test_announced_in_upnp_and_mdns() -> None:
    dev = Device(
        key="k", ips=["198.18.9.10"],
        ssdp={"presentationURL": "http://198.18.9.10/", "modelURL": "/fw/manifest.json"},
        mdns=[MdnsService(type="_http._tcp.local.", name="x",
                          txt={"ota": "http://198.18.9.10:81/ota/version.txt", "id": "42"})],
    )  # fmt: skip
    found = {(c.url, c.source.split(" ")[0]) for c in ud.announced(dev, WORDS)}
    assert found == {
        ("/fw/manifest.json", "UPnP"),
        ("http://198.18.9.10:81/ota/version.txt", "mDNS"),
    }


def test_data_file_paths_and_words() -> None:
    assert "/firmware/manifest.json" in PATHS and all(p.startswith("/") for p in PATHS)
    assert {"firmware", "ota", "update"} <= WORDS


def test_parse_any_json_xml_text_unknown() -> None:
    js = mf.parse_any(b'{"version": "1.2.0", "signature": "abcd"}')
    assert (js.format, js.version, js.embedded_signature) == ("json", "1.2.0", "abcd")
    xml = mf.parse_any(
        b'<?xml version="1.0"?><firmware xmlns="urn:x"><model>W1</model>'
        b'<release version="2.3.4"/><signature>c2ln</signature></firmware>'
    )
    assert (xml.format, xml.version, xml.embedded_signature) == ("xml", "2.3.4", "c2ln")
    text = mf.parse_any(b"v1.4.2\n")
    assert (text.format, text.version, text.error) == ("text", "1.4.2", "")
    assert mf.parse_any(b"version=3.0.1").version == "3.0.1"
    unknown = mf.parse_any(b"\x89PNG binary junk")
    assert unknown.error.startswith("unknown manifest format") and not unknown.version
    # No DTDs or entities (billion laughs and external entities are never expanded).
    bomb = mf.parse_any(b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x><version>&a;</version></x>')
    assert bomb.error and not bomb.version
    assert mf.parse_any(b"<not xml").error.startswith("not XML")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    """A real mosquitto on loopback that lets anyone in, with one retained message."""
    require(bool(shutil.which("mosquitto")), "Debian's mosquitto (`make sysdeps` installs it)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "m.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        client.connect("127.0.0.1", port)
        client.loop_start()
        info = client.publish(
            "vendor/unit1/ota", '{"manifest": "http://127.0.0.1/fw/manifest.json"}', retain=True
        )
        info.wait_for_publish(5)
        client.disconnect()
        client.loop_stop()
        yield port
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.mark.realsw  # Debian's mosquitto
async def test_retained_mqtt_urls(broker: int) -> None:
    from lanprobe.checks.clients import mqtt
    from lanprobe.checks.context import Timeouts

    out = await mqtt.connect(
        "127.0.0.1", broker, tls=False, timeouts=Timeouts(), subscribe_wait_s=2.0
    )
    assert out.accepted and out.urls == ["http://127.0.0.1/fw/manifest.json"]


class _Handler(http.server.BaseHTTPRequestHandler):
    catch_all = False

    def do_GET(self) -> None:
        if self.path == "/":
            body, ctype = b'<html><a href="/fw/latest.txt">update</a></html>', "text/html"
        elif self.path == "/fw/latest.txt" or self.catch_all:
            body, ctype = b"2.0.1\n", "text/plain"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("catch_all", [False, True])
async def test_discover_against_a_web_server(catch_all: bool) -> None:
    """A real HTTP server on loopback: the link on its front page leads to a version text; a
    server that answers every path so is a catch-all, and nothing there counts."""
    from lanprobe.checks.context import Timeouts
    from lanprobe.model import Service

    handler = type("H", (_Handler,), {"catch_all": catch_all})
    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)) as port:
        dev = Device(key="k", ips=["127.0.0.1"], services=[Service(port=port, name="http")])
        found = await ud.discover(dev, {port: "http"}, Timeouts())
    if catch_all:
        assert found.endpoint is None and found.why_none().startswith("no update endpoint")
    else:
        assert found.endpoint is not None and found.endpoint.path == "/fw/latest.txt"
        assert found.source.startswith("web UI") and found.manifest_format == "text"


async def test_discover_follows_a_url_from_a_retained_mqtt_message() -> None:
    """A URL on the device from a retained MQTT message is a candidate of its own (no web page
    points at it, no guessed path is tried: the web port is not among the device's services);
    one to another host is never fetched."""
    from lanprobe.checks.context import Timeouts

    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)) as port:
        dev = Device(key="k", ips=["127.0.0.1"])
        urls = [
            f"http://198.18.9.99:{port}/fw/latest.txt",
            f"http://127.0.0.1:{port}/fw/latest.txt",
        ]
        found = await ud.discover(dev, {}, Timeouts(), mqtt_urls=urls)
    assert found.endpoint is not None and found.endpoint.path == "/fw/latest.txt"
    assert found.source == "retained MQTT message" and found.manifest_format == "text"
    assert found.tried == [urls[1]]
