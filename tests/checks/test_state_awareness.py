"""State awareness checks against the lab bench, and status paths against local servers."""

from __future__ import annotations

from typing import Any

import pytest
from lanprobe.model import ScanRun, Service, Verdict
from lanprobe.profile_schema import Interfaces, Profile

from tests.checks.conftest import device_of, results_of, verdicts_of
from tests.checks.recorded import APP_SHELL, LOGIN, device, run, session
from tests.clients.localhttp import http_server

lab = pytest.mark.lab


@lab
def test_exposed_status(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = device_of(lab_run, lab_bench, "acme-ipcam200")
    results = results_of(lab_run, cam, "state.exposed-status")
    assert {r.verdict for r in results} == {Verdict.fail}
    assert {r.evidence["path"] for r in results} == {"/api/status", "/logs"}
    status = next(r for r in results if r.evidence["path"] == "/api/status")
    assert "serial" in status.evidence["preview"]
    hub = device_of(lab_run, lab_bench, "hubco-h1")
    [res] = results_of(lab_run, hub, "state.exposed-status")
    assert res.verdict == Verdict.passed
    assert {p["path"] for p in res.evidence["protected"]} == {
        "/api/status",
        "/logs",
        "/api/security",
    }


@lab
def test_reporting(lab_run: ScanRun, lab_bench: Any) -> None:
    hub = device_of(lab_run, lab_bench, "hubco-h1")
    [res] = results_of(lab_run, hub, "state.reporting")
    assert res.verdict == Verdict.passed
    assert res.evidence["auth"] == "form login at /login"
    assert "operating_as_expected" in res.evidence["preview"]
    assert res.evidence["password"] != "Hub-Lab-x8Vq2mT!"  # redacted
    therma = device_of(lab_run, lab_bench, "therma-t1")
    [res] = results_of(lab_run, therma, "state.reporting")
    assert res.verdict == Verdict.fail  # the declared /api/security answers 404
    assert res.evidence["status"] == 404
    cam = device_of(lab_run, lab_bench, "acme-ipcam200")
    assert verdicts_of(lab_run, cam, "state.reporting") == {Verdict.not_applicable}


# --- recorded: status paths against the port's controls (local servers) ------------------------


async def _exposed(handler: Any) -> list[Any]:
    async with http_server(handler) as port:
        profile = Profile(id="m", interfaces=Interfaces(status_paths=["/api/status", "/logs"]))
        sess = session(device(services=[Service(port=port, name="http")]), profile)
        return await run("state.exposed-status", sess)


async def test_the_login_page_at_a_status_path_is_protected() -> None:
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if path == "/":
            return 302, b"", {"Location": "/signin"}
        if path in ("/signin", "/api/status", "/logs"):
            return 200, LOGIN, {}
        return 404, b"", {}

    [res] = await _exposed(handler)
    assert res.verdict == Verdict.passed, res.title
    assert {p["note"] for p in res.evidence["protected"]} == {"answers the login page"}


async def test_a_catch_all_status_path_is_inconclusive() -> None:
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        return 200, APP_SHELL, {}

    [res] = await _exposed(handler)
    assert res.verdict == Verdict.inconclusive, res.title
    assert "nothing can be told apart" in res.title


async def test_status_content_of_its_own_fails() -> None:
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if path == "/api/status":
            return 200, b'{"state": "ok", "failed_logins": 3}', {}
        return 200, APP_SHELL, {}

    results = await _exposed(handler)
    assert [r.verdict for r in results] == [Verdict.fail]
    assert results[0].evidence["path"] == "/api/status"


# A 3xx is no login (issue 11): the page a redirect leads to is judged.


def _routes(table: dict[str, tuple[int, bytes, dict[str, str]]]) -> Any:
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        return table.get(path, (404, b"", {}))

    return handler


async def test_a_redirect_to_readable_logs_is_exposed() -> None:
    logs = b"<pre>12:00 login failed for admin from 198.18.0.9</pre>"
    table = {"/logs": (301, b"", {"Location": "/logs/"}), "/logs/": (200, logs, {})}
    [res] = await _exposed(_routes(table))
    assert res.verdict == Verdict.fail, res.title
    assert res.evidence["path"] == "/logs"


async def test_a_redirect_to_tls_or_another_page_is_not_protected() -> None:
    table = {
        "/api/status": (302, b"", {"Location": "https://198.18.0.1/api/status"}),
        "/logs": (302, b"", {"Location": "/home"}),
        "/home": (200, b"<h1>Welcome</h1><p>Device home</p>", {}),
    }
    [res] = await _exposed(_routes(table))
    assert res.verdict == Verdict.inconclusive, res.title
    assert "2 redirect elsewhere" in res.title
    assert len(res.evidence["redirected"]) == 2


async def test_a_redirect_to_the_login_page_is_protected() -> None:
    to_login = (302, b"", {"Location": "/signin?next=/x"})
    table = {"/api/status": to_login, "/logs": to_login, "/signin": (200, LOGIN, {})}
    [res] = await _exposed(_routes(table))
    assert res.verdict == Verdict.passed, res.title
    assert res.evidence["protected"][0]["redirects"] == "/api/status -> /signin"
