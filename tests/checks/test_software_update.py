"""Software update checks against the lab bench."""

from __future__ import annotations

from typing import Any

import pytest
from lanprobe.model import ScanRun, Service, Verdict
from lanprobe.profile_schema import Interfaces, Profile, Update

from tests.checks.conftest import device_of, results_of, verdicts_of
from tests.checks.recorded import APP_SHELL, LOGIN, device, run, session
from tests.clients.localhttp import http_server

lab = pytest.mark.lab


def one(run: ScanRun, bench: Any, model: str, check_id: str) -> Any:
    results = results_of(run, device_of(run, bench, model), check_id)
    assert len(results) == 1, results
    return results[0]


@lab
def test_update_transport(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = one(lab_run, lab_bench, "acme-ipcam200", "update.transport")
    assert cam.verdict == Verdict.fail
    assert cam.target.port == 80
    assert any("plain HTTP" in p for p in cam.evidence["problems"])
    therma = one(lab_run, lab_bench, "therma-t1", "update.transport")
    assert therma.verdict == Verdict.fail  # HTTPS, but TLS 1.0 and a 1024-bit SHA-1 certificate
    assert any("TLSv1.0" in p for p in therma.evidence["problems"])
    hub = one(lab_run, lab_bench, "hubco-h1", "update.transport")
    assert hub.verdict == Verdict.passed
    assert hub.evidence["manifest"]["version"] == "2.4.1"


@lab
def test_update_signature(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = one(lab_run, lab_bench, "acme-ipcam200", "update.signature")
    assert (cam.verdict, cam.title) == (Verdict.fail, "the update manifest is unsigned")
    assert cam.evidence["signature_status"] == 404
    therma = one(lab_run, lab_bench, "therma-t1", "update.signature")
    assert therma.verdict == Verdict.fail  # signed, with the wrong key
    assert therma.evidence["signature"] == "detached"
    assert "does not verify" in therma.title
    hub = one(lab_run, lab_bench, "hubco-h1", "update.signature")
    assert hub.verdict == Verdict.passed
    assert hub.evidence["algorithm"] == "Ed25519"


@lab
def test_update_currency(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = one(lab_run, lab_bench, "acme-ipcam200", "update.currency")
    assert cam.verdict == Verdict.fail
    assert (cam.evidence["reported"], cam.evidence["latest"]) == ("1.0.3", "1.2.0")
    assert cam.evidence["source"].startswith("mdns")
    hub = one(lab_run, lab_bench, "hubco-h1", "update.currency")
    assert hub.verdict == Verdict.passed
    assert hub.evidence["reported"] == "2.4.1"


@lab
def test_unauthenticated_upload(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = one(lab_run, lab_bench, "acme-ipcam200", "update.unauthenticated-upload")
    assert cam.verdict == Verdict.fail
    assert (cam.evidence["path"], cam.evidence["status"]) == ("/firmware/upload", 200)
    hub = one(lab_run, lab_bench, "hubco-h1", "update.unauthenticated-upload")
    assert hub.verdict == Verdict.passed
    assert hub.evidence["status"] == 401
    plug = device_of(lab_run, lab_bench, "plugco-sp1")
    assert verdicts_of(lab_run, plug, "update.unauthenticated-upload") == {Verdict.not_applicable}


# --- recorded: the upload endpoint against the port's controls (local servers) ------------------


async def _upload(handler: Any) -> list[Any]:
    async with http_server(handler) as port:
        profile = Profile(id="m", interfaces=Interfaces(upload_paths=["/fw/upload"]))
        sess = session(device(services=[Service(port=port, name="http")]), profile)
        return await run("update.unauthenticated-upload", sess)


async def test_an_upload_path_that_answers_like_any_path_is_inconclusive() -> None:
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        return 200, APP_SHELL, {}

    [res] = await _upload(handler)
    assert res.verdict == Verdict.inconclusive, res.title
    assert "cannot be told apart" in res.title


async def test_an_upload_that_answers_the_login_page_needs_a_login() -> None:
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if method == "POST" and path == "/fw/upload":
            return 200, LOGIN, {}
        return 404, b"not found", {}

    [res] = await _upload(handler)
    assert res.verdict == Verdict.passed and "login page" in res.title


async def test_an_upload_accepted_without_credentials_fails() -> None:
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if method == "POST" and path == "/fw/upload":
            return 200, b'{"status": "accepted", "bytes": 120}', {}
        return 200, APP_SHELL, {}

    [res] = await _upload(handler)
    assert res.verdict == Verdict.fail, res.title
    assert res.evidence["random_path_post"]["status"] == 200


# --- recorded: a manifest that cannot be parsed is not "unsigned" --------------------------------


async def _signature(manifest: bytes, signature: bytes | None = None) -> Any:
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if path == "/fw/manifest.json":
            return 200, manifest, {"Content-Type": "application/json"}
        if path == "/fw/manifest.json.sig" and signature is not None:
            return 200, signature, {}
        return 404, b"not found", {}

    async with http_server(handler) as port:
        update = Update(manifest_url="/fw/manifest.json", port=port, scheme="http")
        sess = session(
            device(services=[Service(port=port, name="http")]), Profile(id="m", update=update)
        )
        [res] = await run("update.signature", sess)
    return res


async def test_an_unparseable_manifest_is_inconclusive() -> None:
    res = await _signature(b"\x1f\x8b\x08 binary, not JSON {{")
    assert res.verdict == Verdict.inconclusive, res.title
    assert "could not be parsed" in res.title
    res = await _signature(b'["a", "list"]')  # JSON, but no manifest object
    assert res.verdict == Verdict.inconclusive and "not a JSON object" in res.title


async def test_a_parsed_manifest_without_signature_is_unsigned() -> None:
    res = await _signature(b'{"model": "M1", "version": "1.0", "url": "/fw/m1.bin"}')
    assert (res.verdict, res.title) == (Verdict.fail, "the update manifest is unsigned")


async def test_an_unparseable_manifest_with_a_detached_signature_is_still_judged() -> None:
    res = await _signature(b"not json", signature=b"c2lnbmF0dXJl")  # no key to verify it with
    assert res.verdict == Verdict.inconclusive
    assert "no public key" in res.title and res.evidence["signature"] == "detached"


async def test_an_upload_refused_for_its_csrf_token_is_no_authentication() -> None:
    # Django's answer to a POST without a token: a refusal that says nothing of credentials.
    csrf = b"<h1>Forbidden (403)</h1><p>CSRF verification failed. Request aborted.</p>"

    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if method == "POST":
            return 403, csrf, {}
        return 404, b"not found", {}

    [res] = await _upload(handler)
    assert res.verdict == Verdict.inconclusive, res.title
    assert "anti-forgery token" in res.title


@pytest.mark.parametrize(
    ("upload_to", "any_to", "verdict"),
    [
        # POST-redirect-GET: an accepted upload may answer 302 to a result page, not "absent".
        ("/fw/done?ok=1", None, Verdict.inconclusive),
        # The port sends every request to TLS: nothing of an endpoint shows here.
        ("https://198.18.0.1/fw/upload", "https://198.18.0.1{path}", Verdict.not_applicable),
    ],
)
async def test_an_upload_redirect_is_judged_against_any_paths(
    upload_to: str, any_to: str | None, verdict: Verdict
) -> None:
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if path == "/fw/upload":
            return 302, b"", {"Location": upload_to}
        if any_to is not None:
            return 302, b"", {"Location": any_to.format(path=path)}
        return 404, b"not found", {}

    [res] = await _upload(handler)
    assert res.verdict == verdict, res.title
