"""HTTP(S) services of each model, over real connections from the host."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from lanprobe.lab.bench import BenchState
from lanprobe.lab.keys import SIGNING_PUBLIC_PEM, WRONG_PUBLIC_PEM
from lanprobe.lab.models import LAB_PASSWORDS, LAB_USER

from tests.lab.conftest import device

pytestmark = pytest.mark.lab
T = httpx.Timeout(5.0)


def _client(bench: BenchState, **kw: object) -> httpx.Client:
    return httpx.Client(timeout=T, verify=False, follow_redirects=False, **kw)  # type: ignore[arg-type]


def test_basic_login_right_and_wrong(bench: BenchState) -> None:
    cam = device(bench, "acme-ipcam200")
    with _client(bench) as c:
        r = c.get(f"http://{cam.ip}/")
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Basic realm=")
        assert r.headers["server"] == "AcmeCam-httpd/1.0.3"
        assert c.get(f"http://{cam.ip}/", auth=("admin", "admin")).status_code == 200
        assert c.get(f"http://{cam.ip}/", auth=("admin", "wrong")).status_code == 401
        # the camera's flaws: API, config and logs answer without any login
        for path in ("/api/status", "/api/config", "/logs"):
            assert c.get(f"http://{cam.ip}{path}").status_code == 200, path
        assert c.get(f"http://{cam.ip}/api/status").json()["serial"] == cam.serial
        assert c.get(f"http://{cam.ip}/.well-known/security.txt").status_code == 404


def test_digest_login(bench: BenchState) -> None:
    plug = device(bench, "plugco-sp1")
    url = f"http://{plug.ip}/api/status"
    with _client(bench) as c:
        r = c.get(url)
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Digest ")
        ok = c.get(url, auth=httpx.DigestAuth(LAB_USER, LAB_PASSWORDS["plugco-sp1"]))
        assert ok.status_code == 200
        assert ok.json()["model"] == "SP1"
        bad = c.get(url, auth=httpx.DigestAuth(LAB_USER, "wrong"))
        assert bad.status_code == 401
        # Basic is not accepted by a Digest device
        basic = c.get(url, auth=(LAB_USER, LAB_PASSWORDS["plugco-sp1"]))
        assert basic.status_code == 401


def test_form_login_and_redirect(bench: BenchState) -> None:
    therma = device(bench, "therma-t1")
    with _client(bench) as c:
        r = c.get(f"http://{therma.ip}/api/status")
        assert r.status_code == 301
        assert r.headers["location"] == f"https://{therma.ip}/api/status"
        base = f"https://{therma.ip}"
        assert c.get(f"{base}/").headers["location"] == "/login"
        assert c.get(f"{base}/api/status").status_code == 401
        assert 'name="password"' in c.get(f"{base}/login").text
        bad = c.post(f"{base}/login", data={"username": "admin", "password": "nope"})
        assert bad.status_code == 401
        assert "Login failed" in bad.text
        good = c.post(f"{base}/login", data={"username": "admin", "password": "1234"})
        assert good.status_code == 302
        assert "session" in good.cookies
        assert c.get(f"{base}/api/status").json()["serial"] == therma.serial
        # the profile declares /api/security; the device answers 404
        assert c.get(f"{base}/api/security").status_code == 404
        assert c.get(f"{base}/").headers["server"] == "ThermaWeb/3.1.0"


def test_hubco_auth_everywhere_and_lockout(bench: BenchState) -> None:
    hub = device(bench, "hubco-h1")
    base = f"https://{hub.ip}"
    pw = LAB_PASSWORDS["hubco-h1"]
    with _client(bench) as c:
        for path in ("/api/status", "/api/config", "/api/security", "/logs"):
            assert c.get(base + path).status_code == 401, path
        assert c.post(f"{base}/fw/upload", content=b"x").status_code == 401
        # a username other than the lab's, so the lab login stays usable for other tests
        codes = [
            c.post(
                f"{base}/login", data={"username": "locktest", "password": f"bad{i}"}
            ).status_code
            for i in range(5)
        ]
        assert codes == [401] * 5
        locked = c.post(f"{base}/login", data={"username": "locktest", "password": "bad"})
        assert locked.status_code == 429
        assert 25 <= int(locked.headers["retry-after"]) <= 31
        ok = c.post(f"{base}/login", data={"username": LAB_USER, "password": pw})
        assert ok.status_code == 302
        sec = c.get(f"{base}/api/security")
        assert sec.status_code == 200
        assert sec.json()["state"] == "operating_as_expected"
        assert "locktest" in sec.json()["locked_accounts"]
    with _client(bench) as c:  # Basic with the lab login works on the API too
        assert c.get(f"{base}/api/status", auth=(LAB_USER, pw)).json()["fw"] == "2.4.1"
        assert c.get(base + "/").headers["server"] == "HubCo-H1"


def test_security_txt(bench: BenchState) -> None:
    hub = device(bench, "hubco-h1")
    with _client(bench) as c:
        r = c.get(f"https://{hub.ip}/.well-known/security.txt")
    assert r.status_code == 200
    fields = dict(line.split(": ", 1) for line in r.text.strip().splitlines())
    assert fields["Contact"].startswith("mailto:")
    expires = datetime.strptime(fields["Expires"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert expires > datetime.now(UTC)


def _verify(pem: str, body: bytes, sig_b64: str) -> bool:
    key = load_pem_public_key(pem.encode())
    try:
        key.verify(base64.b64decode(sig_b64), body)  # type: ignore[union-attr, call-arg]
    except InvalidSignature:
        return False
    return True


@pytest.mark.parametrize(
    ("model", "prefix", "scheme", "good", "wrong"),
    [
        ("acme-ipcam200", "/firmware", "http", None, None),
        ("hubco-h1", "/fw", "https", True, False),
        ("therma-t1", "/fw", "https", False, True),
    ],
)
def test_update_manifests(
    bench: BenchState, model: str, prefix: str, scheme: str, good: bool | None, wrong: bool | None
) -> None:
    dev = device(bench, model)
    base = f"{scheme}://{dev.ip}{prefix}"
    with _client(bench) as c:
        man = c.get(f"{base}/manifest.json")
        assert man.status_code == 200
        data = json.loads(man.content)
        assert set(data) == {"model", "version", "url", "sha256"}
        assert data["url"].startswith(f"{scheme}://{dev.ip}{prefix}/")
        image = c.get(data["url"])
        assert image.status_code == 200
        assert hashlib.sha256(image.content).hexdigest() == data["sha256"]
        sig = c.get(f"{base}/manifest.json.sig")
    if good is None:
        assert sig.status_code == 404
        assert data["version"] == "1.2.0"
        return
    assert sig.status_code == 200
    assert _verify(SIGNING_PUBLIC_PEM, man.content, sig.text) is good
    assert _verify(WRONG_PUBLIC_PEM, man.content, sig.text) is wrong


def test_unauthenticated_upload(bench: BenchState) -> None:
    cam = device(bench, "acme-ipcam200")
    with _client(bench) as c:
        r = c.post(f"http://{cam.ip}/firmware/upload", content=b"\0" * 1024)
        assert r.status_code == 200
        assert r.json() == {"status": "accepted", "bytes": 1024}
        assert c.get(f"http://{cam.ip}/firmware/upload").status_code == 405
        chunks = c.post(f"http://{cam.ip}/firmware/upload", content=iter([b"ab", b"cde"]))
        assert chunks.json()["bytes"] == 5  # chunked transfer encoding
        assert c.get(f"http://{cam.ip}/api/status").status_code == 200  # connection reused


def test_any_password_and_server_headers(bench: BenchState) -> None:
    giz = device(bench, "gizmo-g1")
    sentry = device(bench, "sentry-s3")
    with _client(bench) as c:
        assert c.get(f"http://{giz.ip}/api/config").status_code == 401
        r = c.get(f"http://{giz.ip}/api/config", auth=("nobody", "whatever"))
        assert r.status_code == 200
        s = c.get(f"http://{sentry.ip}/")
        assert s.status_code == 401
        assert s.headers["server"] == "Sentry-S3"
        pw = LAB_PASSWORDS["sentry-s3"]
        status = c.get(f"http://{sentry.ip}/api/status", auth=(LAB_USER, pw)).json()
        assert "serial" not in status and "model" not in status


def test_twins_https_basic(bench: BenchState) -> None:
    pw = LAB_PASSWORDS["acme-ipcam300"]
    with _client(bench) as c:
        for cam in bench.by_model("acme-ipcam300"):
            assert c.get(f"https://{cam.ip}/").status_code == 401
            r = c.get(f"https://{cam.ip}/api/status", auth=(LAB_USER, pw))
            assert r.json()["serial"] == "ACM300-0001"
