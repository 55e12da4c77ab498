"""The device API on its own: results arithmetic, and live HTTP and logins against a real local
server on 127.0.0.1 (scope, no redirects, body cap, timeouts, redaction)."""

from __future__ import annotations

import base64
import contextlib
import http.server
import socket
import time
from collections.abc import Iterator

import pytest
from lanprobe.checks.context import RunOptions, Timeouts
from lanprobe.device_api import (
    MAX_HTTP_BODY_BYTES,
    DeviceUnderTest,
    Results,
    UnknownCheck,
    run_sync,
    worst_verdict,
)
from lanprobe.errors import ProbeTimeout, ScopeError
from lanprobe.model import Device, ScanRun, Service, Verdict
from lanprobe.profile_schema import HttpLogin, Interfaces, Profile
from lanprobe.scope import Scope

from tests.clients.localhttp import serving
from tests.plugin.runs import CAM_KEY, fake_run

USER, PASSWORD = "qa", "s3cret-Pass"


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/redirect":
            self._send(302, b"", {"Location": "http://198.18.251.99/elsewhere"})
        elif self.path == "/big":
            self._send(200, b"x" * (MAX_HTTP_BODY_BYTES + 500_000))
        elif self.path == "/drip":  # an endless body, one byte at a time
            self.send_response(200)
            self.end_headers()
            with contextlib.suppress(OSError):
                for _ in range(200):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
        elif self.path == "/slow":
            time.sleep(3)
            self._send(200, b"late")
        elif (
            self.headers.get("Authorization")
            == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        ):
            self._send(200, b'{"ok": true}')
        else:
            self._send(401, b"login", {"WWW-Authenticate": 'Basic realm="local"'})

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client stopped reading (body cap)
            self.wfile.write(body)


@pytest.fixture
def server_port() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    with serving(httpd) as port:
        yield port


def _local_device(port: int, ip: str = "127.0.0.1") -> DeviceUnderTest:
    dev = Device(key="local", ips=[ip], profile="local", services=[Service(port=port, name="http")])
    run = ScanRun(run_id="local", devices=[dev])
    profile = Profile(
        id="local", interfaces=Interfaces(http_login=HttpLogin(kind="basic", port=port, path="/"))
    )
    options = RunOptions(timeouts=Timeouts(connect_s=1.0, read_s=1.0))
    return DeviceUnderTest(
        dev, run, profile=profile, scope=Scope.build(["127.0.0.1/32"]), options=options
    )


# --- results -------------------------------------------------------------------------------------


def test_worst_verdict_order() -> None:
    v = Verdict
    assert worst_verdict([v.passed, v.not_applicable]) == v.passed
    assert worst_verdict([v.passed, v.inconclusive]) == v.inconclusive
    assert worst_verdict([v.inconclusive, v.error]) == v.error
    assert worst_verdict([v.error, v.fail, v.passed]) == v.fail
    with pytest.raises(ValueError):
        worst_verdict([])


def test_results_of_several_targets() -> None:
    run = fake_run()
    results = [r for r in run.results_for(CAM_KEY) if r.check_id == "configuration.default-login"]
    res = Results("configuration.default-login", "cam", results)
    assert res.failed and not res.passed and res.ports == [23, 80]
    assert res.evidence["23/tcp telnet"]["user"] == "root"
    assert res.on(80).evidence["user"] == "admin"
    assert res.severity == "critical"
    assert "\n" not in repr(res) and "23/tcp telnet fail" in repr(res)
    with pytest.raises(UnknownCheck, match="targets: 23/tcp telnet, 80/tcp http"):
        res.on(8080)
    with pytest.raises(UnknownCheck):
        Results("x", "cam", [])


# --- live access ---------------------------------------------------------------------------------


def test_http_get_with_auth_and_no_redirects(server_port: int) -> None:
    dev = _local_device(server_port)
    assert dev.http.get("/").status_code == 401
    resp = dev.http.get("/", auth=(USER, PASSWORD))
    assert resp.status_code == 200 and resp.json() == {"ok": True}
    moved = dev.http.get("/redirect")  # answered as is: following could leave the device
    assert moved.status_code == 302 and moved.headers["location"].endswith("/elsewhere")


def test_http_body_is_capped(server_port: int) -> None:
    resp = _local_device(server_port).http.get("/big")
    assert len(resp.content) == MAX_HTTP_BODY_BYTES


def test_http_times_out(server_port: int) -> None:
    start = time.monotonic()
    with pytest.raises(ProbeTimeout, match="no answer in time"):
        _local_device(server_port).http.get("/slow")
    assert time.monotonic() - start < 2.5


def test_http_endless_drip_ends_in_a_timeout(server_port: int) -> None:
    start = time.monotonic()
    with pytest.raises(ProbeTimeout, match="did not end in time"):
        _local_device(server_port).http.get("/drip", timeout_s=0.5)  # a byte every 0.1 s
    assert time.monotonic() - start < 3.5  # connect 0.5 s + 3 x read 0.5 s, and a margin


def test_http_stays_on_the_device_and_in_scope(server_port: int) -> None:
    dev = _local_device(server_port)
    with pytest.raises(ScopeError, match="path on the device"):
        dev.http.get("http://127.0.0.2/")
    outside = _local_device(server_port, ip="198.18.251.10")
    with pytest.raises(ScopeError, match="outside the scan scope"):
        outside.http.get("/")
    with pytest.raises(ScopeError):
        outside.port(server_port).connects()


def test_port_connects(server_port: int) -> None:
    dev = _local_device(server_port)
    assert dev.port(server_port).connects()
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert not dev.port(free).connects(timeout_s=1.0)


def test_login_through_the_checks_clients(server_port: int) -> None:
    dev = _local_device(server_port)
    ok = dev.assert_login_accepted("http", USER, PASSWORD)
    assert ok.method == "basic" and ok.port == server_port
    refused = dev.assert_login_refused("http", USER, "wrong")
    assert PASSWORD not in repr(ok) and "wrong" not in repr(refused)
    assert ok.evidence["password"] == "********"  # redacted as in a run's evidence
    with pytest.raises(LookupError, match="has no ssh service"):
        dev.login("ssh", USER, PASSWORD)


def test_login_assertion_failure_shows_the_attempt(server_port: int) -> None:
    dev = _local_device(server_port)
    with pytest.raises(AssertionError, match=r"expected accepted, got <Login basic 'qa'.*refused"):
        dev.assert_login_accepted("http", USER, "wrong")


async def test_live_calls_work_inside_an_async_test(server_port: int) -> None:
    dev = _local_device(server_port)
    assert (await dev.alogin("http", USER, PASSWORD)).accepted is True
    assert dev.login("http", USER, PASSWORD).accepted is True  # sync form from a running loop
    assert run_sync(dev.alogin("http", USER, "x")).accepted is False
