"""Telling pages apart (checks/clients/pages.py): similarity, redirects, classification."""

from __future__ import annotations

import pytest
from lanprobe.checks.clients.http import HttpAnswer
from lanprobe.checks.clients.pages import (
    SAME_PAGE,
    PageControls,
    local_redirect,
    same_page,
    similarity,
)

from tests.checks.recorded import APP_SHELL, LOGIN


def answer(status: int, body: bytes) -> HttpAnswer:
    return HttpAnswer(status, "", {}, body, False, 0.0)


def test_similarity_ignores_numbers_tokens_and_the_echoed_path() -> None:
    a = b"<html><p>Not found: /lanprobe-3fa9c0</p><p>req 1733112 at 04:55:01</p></html>"
    b = b"<html><p>Not found: /api/config</p><p>req 1733999 at 04:56:40</p></html>"
    assert similarity(a, b, "/lanprobe-3fa9c0", "/api/config") == 1.0
    assert similarity(a, b) < SAME_PAGE  # the paths themselves differ
    token_a = LOGIN.replace(b"</form>", b"<input type=hidden name=csrf value=9f8e7d6c5b4a></form>")
    token_b = LOGIN.replace(b"</form>", b"<input type=hidden name=csrf value=0a1b2c3d4e5f></form>")
    assert similarity(token_a, token_b) >= SAME_PAGE
    assert similarity(LOGIN, b'{"state": "ok", "serial": "H1-0001"}') == 0.0
    assert similarity(b"", b"") == 1.0 and similarity(b"", b"x y") == 0.0


def test_same_page_needs_the_same_status() -> None:
    assert same_page(answer(200, APP_SHELL), answer(200, APP_SHELL))
    assert not same_page(answer(200, APP_SHELL), answer(404, APP_SHELL))


@pytest.mark.parametrize(
    ("location", "tls", "want"),
    [
        ("/login", False, "/login"),
        ("http://10.0.0.5/ui/", False, "/ui/"),
        ("http://10.0.0.5:8080/ui/", False, None),  # another port
        ("http://10.0.0.6/ui/", False, None),  # another host
        ("https://10.0.0.5/login", False, "https"),
        ("https://10.0.0.5/login", True, "/login"),
        ("http://[::1", False, None),  # no URL
    ],
)
def test_local_redirect(location: str, tls: bool, want: str | None) -> None:
    assert local_redirect(location, "10.0.0.5", 443 if tls else 80, tls) == want


def test_classify_against_the_controls() -> None:
    ctl = PageControls(random_path="/lanprobe-1", random=answer(200, APP_SHELL))
    assert ctl.classify(answer(200, APP_SHELL), "/admin") == "catch_all"
    assert ctl.classify(answer(200, LOGIN), "/admin") == "login"
    assert ctl.classify(answer(200, b'{"wifi_psk": "x"}'), "/api/config") == "open"
    everywhere = PageControls(random_path="/lanprobe-1", random=answer(200, LOGIN))
    assert everywhere.catch_all_is_login
    assert everywhere.classify(answer(200, LOGIN), "/admin") == "login"
    # a login page without a password field of its own (a script-drawn form) is known by
    # its likeness to the login page the port showed
    drawn = b"<html><head><title>Sign in</title></head><body><div id=login></div></body></html>"
    with_login = PageControls(random_path="/x", random=answer(404, b""), login=answer(200, drawn),
                              login_path="/login")  # fmt: skip
    assert with_login.classify(answer(200, drawn), "/admin") == "login"
