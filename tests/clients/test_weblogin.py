"""Web login discovery (checks/clients/weblogin.py) and success by positive proof
(http.web_login), against small real HTTP servers on 127.0.0.1 shaped like real firmware: a
router UI reached through meta refresh and a script redirect with a CSRF form, a single-page
camera app whose JSON login is named only in its script, and a login API answering 200 with an
error body."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lanprobe.checks.clients import http as web
from lanprobe.checks.clients import weblogin
from lanprobe.checks.clients.login import Prompts
from lanprobe.options import Timeouts
from lanprobe.paths import DATA_DIR
from lanprobe.profile_schema import HttpLogin

from tests.clients.localhttp import http_server

T = Timeouts(connect_s=2, read_s=2)
KNOWN = weblogin.load_web_login_paths(DATA_DIR / "web-login-paths.txt")
PROMPTS = Prompts.load(DATA_DIR / "login-prompts.txt")

ROUTER_FORM = (b'<html><form method="post" action="login.cgi"><input type="hidden" name="csrf" '
               b'value="tok-1"><input name="user_name"><input type="password" name="user_pw">'
               b"</form></html>")  # fmt: skip


def router(log: list[str]) -> Any:
    """/ meta-refreshes to /cgi/start.htm, whose script sends the browser to the login page;
    the form posts with a CSRF field tied to the session cookie; /api/config refuses without
    the session; a wrong login shows the page again with an error."""

    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        cookie = headers.get("cookie", "")
        log.append(f"{method} {path}")
        if path == "/":
            return 200, b'<meta http-equiv="refresh" content="0; URL=/cgi/start.htm">', {}
        if path == "/cgi/start.htm":
            return 200, b"<script>if (1) { window.location.href = 'login.htm'; }</script>", {}
        if path == "/cgi/login.htm":
            return 200, ROUTER_FORM, {"Set-Cookie": "sid=pre; Path=/"}
        if path == "/cgi/login.cgi" and method == "POST":
            if b"csrf=tok-1" not in body or "sid=pre" not in cookie:
                return 403, b"<p>CSRF token missing</p>", {}
            if b"user_name=admin&user_pw=admin123" in body:
                return 200, b"<p>Welcome</p>", {"Set-Cookie": "sid=good; Path=/"}
            return 200, b"<p>Invalid password</p>" + ROUTER_FORM, {}
        if path == "/api/config":
            if "sid=good" in cookie:
                return 200, b'{"wifi": "x"}', {"Content-Type": "application/json"}
            return 401, b'{"error": "login required"}', {}
        return 404, b"", {}

    return handler


APP_JS = b"""
function login(u, p) {
  return fetch("api/v2/auth/login", {method: "POST", headers: {"Content-Type":
    "application/json"}, body: JSON.stringify({user: u, passwd: p})});
}
function system(t) { return fetch("/api/v2/system", {headers: {Authorization: "Bearer " + t}}); }
"""


def spa(log: list[str], ok_body: bytes = b'{"data": {"token": "abc123"}}') -> Any:
    """Every path answers the app page (a catch-all); the login API is named only in
    /static/app.js; a wrong login is a 200 with an error body; /api/v2/system needs the token."""

    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        log.append(f"{method} {path}")
        if path == "/static/app.js":
            return 200, APP_JS, {"Content-Type": "application/javascript"}
        if path == "/api/v2/auth/login" and method == "POST":
            data = json.loads(body or b"{}")
            if data == {"user": "admin", "passwd": "888888"}:
                return 200, ok_body, {"Content-Type": "application/json"}
            return 200, b'{"code": 1, "error": "invalid password"}', {}
        if path == "/api/v2/system":
            if headers.get("authorization") == "Bearer abc123":
                return 200, b'{"serial": "X"}', {}
            return 401, b'{"error": "no token"}', {}
        return 200, b'<html><script src="/static/app.js"></script><div id=app></div></html>', {}

    return handler


async def _discover(port: int) -> weblogin.Found | None:
    return await weblogin.discover("127.0.0.1", port, tls=False, timeouts=T, known=KNOWN)


async def _login(port: int, login: HttpLogin, user: str, pw: str) -> Any:
    return await web.web_login("127.0.0.1", port, login, user, pw, tls=False, timeouts=T,
                               prompts=PROMPTS)  # fmt: skip


async def test_router_login_found_through_meta_refresh_and_script_and_proven() -> None:
    log: list[str] = []
    async with http_server(router(log)) as port:
        found = await _discover(port)
        assert found is not None
        login = found.login
        assert (login.kind, login.path, login.page) == ("form", "/cgi/login.cgi", "/cgi/login.htm")
        assert (login.user_field, login.password_field) == ("user_name", "user_pw")
        assert login.protected == "/api/config"
        assert any("meta refresh" in h for h in found.how)
        ok = await _login(port, login, "admin", "admin123")
        bad = await _login(port, login, "admin", "admin")
    assert ok.accepted is True and ok.details["proof"]["status"] == 200
    assert ok.details["hidden_fields"] == ["csrf"]
    assert bad.accepted is False  # 200 with "Invalid password": a refusal, not a success
    assert "GET /cgi/start.htm" in log


async def test_spa_json_login_found_only_from_its_script_and_proven_with_the_token() -> None:
    log: list[str] = []
    async with http_server(spa(log)) as port:
        found = await _discover(port)
        assert found is not None
        login = found.login
        assert (login.kind, login.path, login.body) == ("json", "/api/v2/auth/login", "json")
        assert (login.user_field, login.password_field) == ("user", "passwd")
        # the catch-all answers 200 everywhere: the proof is the API the script calls
        assert login.protected == "/api/v2/system"
        ok = await _login(port, login, "admin", "888888")
        bad = await _login(port, login, "admin", "admin")
    assert ok.accepted is True and ok.details["proof"] == {
        "path": "/api/v2/system", "status": 200, "answers": True, "bearer": True}  # fmt: skip
    assert bad.accepted is False and "invalid password" in bad.error + str(bad.details)


async def test_a_200_that_says_ok_is_no_success_while_the_protected_path_still_refuses() -> None:
    async with http_server(spa([], ok_body=b'{"success": true}')) as port:
        login = HttpLogin(kind="json", path="/api/v2/auth/login", user_field="user",
                          password_field="passwd", protected="/api/v2/system")  # fmt: skip
        got = await _login(port, login, "admin", "888888")
    assert got.accepted is None and "still answers 401" in got.error


async def test_a_form_answer_of_200_alone_is_no_success_without_a_proof_path() -> None:
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if method == "POST":
            return 200, b"<p>Hello</p>", {}
        return 200, ROUTER_FORM, {}

    async with http_server(handler) as port:
        login = HttpLogin(kind="form", path="/login.cgi", user_field="user_name",
                          password_field="user_pw")  # fmt: skip
        got = await _login(port, login, "admin", "x")
    assert got.accepted is None and "a 200 alone proves no login" in got.error


async def test_common_api_path_found_and_other_origins_not_followed() -> None:
    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if path == "/":
            return 302, b"", {"Location": "http://198.18.99.99/login"}  # another host
        if path == "/api/login":
            return 405, b"use POST", {}
        return 404, b"", {}

    async with http_server(handler) as port:
        found = await _discover(port)
    assert found is not None
    assert (found.login.kind, found.login.path) == ("json", "/api/login")


async def test_nothing_found_on_a_plain_site() -> None:
    async with http_server(
        lambda m, p, h, b: (200 if p == "/" else 404, b"<h1>Hi</h1>", {})
    ) as port:
        assert await _discover(port) is None


@pytest.mark.parametrize(
    ("body", "target"),
    [
        (b'<meta http-equiv="Refresh" content="0;url=\'/cgi-bin/luci\'">', "/cgi-bin/luci"),
        (b"<script>top.location = '/webpages/login.html';</script>", "/webpages/login.html"),
        (b'<script>location.replace("/doc/page/login.asp?_1")</script>', "/doc/page/login.asp?_1"),
        (b"<p>no redirect</p>", ""),
    ],
)
def test_page_redirect(body: bytes, target: str) -> None:
    assert weblogin.page_redirect(body) == target


def test_resolve_stays_on_the_origin() -> None:
    assert (
        weblogin.resolve("login.htm", "/cgi/start.htm", "10.0.0.1", 80, False) == "/cgi/login.htm"
    )
    assert weblogin.resolve("../a/./b?x=1", "/c/d/e", "10.0.0.1", 80, False) == "/c/a/b"
    assert weblogin.resolve("http://10.0.0.1:80/x", "/", "10.0.0.1", 80, False) == "/x"
    assert weblogin.resolve("http://10.0.0.2/x", "/", "10.0.0.1", 80, False) is None
    assert weblogin.resolve("//cdn.example/x.js", "/", "10.0.0.1", 80, False) is None
    assert weblogin.resolve("javascript:void(0)", "/", "10.0.0.1", 80, False) is None


def test_script_login_apis() -> None:
    jq = '$.ajax({url:"auth/token",type:"POST",data:t}).done(function(){})'
    [api] = weblogin.script_login_apis(jq)
    assert (api.path, api.body) == ("auth/token", "form")
    ax = "axios.post('/api/session/login', {email: e, password: p})"
    [api] = weblogin.script_login_apis(ax)
    assert (api.path, api.body, api.user_field) == ("/api/session/login", "json", "email")
    xhr = 'x.open("POST", "/cgi-bin/auth.cgi"); x.send(q)'
    assert [a.path for a in weblogin.script_login_apis(xhr)] == ["/cgi-bin/auth.cgi"]
    # a GET of a login-ish URL, a page link and a stylesheet are no login API
    assert weblogin.script_login_apis('fetch("/api/auth/status")') == []
    assert weblogin.script_login_apis('var u = "/login.html"; $.post(u)') == []
    assert weblogin.script_api_paths(APP_JS.decode()) == ["/api/v2/system"]


def test_data_file_loads_and_rejects_bad_lines(tmp_path: Path) -> None:
    assert "/cgi-bin/luci" in KNOWN.forms and "/flows" in KNOWN.protected
    oauth = next(a for a in KNOWN.apis if a.path == "/auth/token")
    assert oauth.body == "form" and oauth.fields["grant_type"] == "password"
    bad = tmp_path / "w.txt"
    bad.write_text("form /login\napi /x body=xml\n")
    with pytest.raises(ValueError, match=r"w.txt:2: body"):
        weblogin.load_web_login_paths(bad)
    bad.write_text("page /login\n")
    with pytest.raises(ValueError, match=r"w.txt:1: unknown role"):
        weblogin.load_web_login_paths(bad)


async def test_a_json_login_answering_only_a_cookie_is_proven_by_the_protected_path() -> None:
    """200 {} with Set-Cookie says nothing alone; the protected API answering with the cookie
    (and refusing without it) is the proof. The wrong password gets the cookie too: refused."""

    def handler(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if path == "/api/login" and method == "POST":
            good = json.loads(body) == {"username": "admin", "password": "pass"}
            return 200, b"{}", {"Set-Cookie": f"sid={'ok' if good else 'anon'}; Path=/"}
        if path == "/api/status":
            if "sid=ok" in headers.get("cookie", ""):
                return 200, b'{"up": 1}', {}
            return 403, b'{"error": "forbidden"}', {}
        return 404, b"", {}

    async with http_server(handler) as port:
        login = HttpLogin(kind="json", path="/api/login", protected="/api/status")
        ok = await _login(port, login, "admin", "pass")
        bad = await _login(port, login, "admin", "x")
    assert ok.accepted is True and ok.details["proof"]["bearer"] is False
    assert bad.accepted is None  # 200 {} and still refused: no verdict, never a pass
