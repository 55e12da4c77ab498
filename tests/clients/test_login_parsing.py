"""Pure parsing of the login clients: telnet negotiation and prompts, FTP replies, HTTP judging."""

from __future__ import annotations

from pathlib import Path

import pytest
from lanprobe.checks.clients import ftp, http, telnet
from lanprobe.checks.clients.login import is_named_lockout
from lanprobe.checks.clients.telnet import DO, DONT, IAC, SB, SE, WILL, WONT
from lanprobe.profile_schema import HttpLogin

PROMPTS_FILE = Path(__file__).resolve().parents[2] / "profiles" / "data" / "login-prompts.txt"


# --- telnet negotiation ---------------------------------------------------------------------------


def test_every_option_is_refused() -> None:
    # DO ECHO, WILL SUPPRESS-GO-AHEAD, DO TERMINAL-TYPE, then text.
    buf = bytes((IAC, DO, 1, IAC, WILL, 3, IAC, DO, 24)) + b"login: "
    data, replies, rest = telnet.parse(buf)
    assert data == b"login: "
    assert replies == bytes((IAC, WONT, 1, IAC, DONT, 3, IAC, WONT, 24))
    assert rest == b""


def test_dont_and_wont_get_no_answer() -> None:
    # Answering a DONT/WONT for an option already off would start a negotiation loop.
    data, replies, _ = telnet.parse(bytes((IAC, DONT, 1, IAC, WONT, 3)) + b"x")
    assert data == b"x"
    assert replies == b""


def test_subnegotiation_is_skipped_and_escaped_iac_kept() -> None:
    buf = b"a" + bytes((IAC, SB, 24, 1, IAC, SE)) + b"b" + bytes((IAC, IAC)) + b"c"
    data, replies, rest = telnet.parse(buf)
    assert data == b"ab\xffc"
    assert replies == b""
    assert rest == b""


@pytest.mark.parametrize(
    "tail",
    [bytes((IAC,)), bytes((IAC, DO)), bytes((IAC, SB, 24, 1))],
)
def test_a_command_split_across_reads_waits_for_the_rest(tail: bytes) -> None:
    data, replies, rest = telnet.parse(b"Password" + tail)
    assert data == b"Password"
    assert replies == b""
    assert rest == tail
    # The next read completes it.
    completion = {1: bytes((DO, 1)), 2: bytes((1,)), 4: bytes((IAC, SE))}[len(tail)]
    data2, replies2, rest2 = telnet.parse(rest + completion + b": ")
    assert data2 == b": "
    assert rest2 == b""
    if tail[1:2] == bytes((DO,)) or len(tail) == 1:
        assert replies2 == bytes((IAC, WONT, 1))


# --- prompt patterns ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prompts() -> telnet.Prompts:
    return telnet.Prompts.load(PROMPTS_FILE)


KINDS = ("shell", "password", "login", "failure")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("\r\ncam-1 login: ", "login"),
        ("Username:", "login"),
        ("User Name :  ", "login"),
        ("root\r\nPassword: ", "password"),
        ("BusyBox v1.19.4 built-in shell (ash)\r\n# ", "shell"),
        ("root@cam:~# ", "shell"),
        ("~ $ ", "shell"),
        ("Router> ", "shell"),
        ("\r\nLogin incorrect\r\ncam login: ", "login"),
        ("Access denied\r\n", "failure"),
        ("<html><body>", None),
        ("Welcome to the device\r\n", None),
    ],
)
def test_prompt_kinds(prompts: telnet.Prompts, text: str, kind: str | None) -> None:
    assert prompts.match(text, KINDS) == kind


def test_prompt_file_names_its_source(prompts: telnet.Prompts) -> None:
    head = PROMPTS_FILE.read_text(encoding="utf-8").splitlines()[:6]
    assert any(line.startswith("# Source:") for line in head)
    assert all(prompts.patterns[k] for k in ("login", "password", "shell", "failure"))


def test_bad_prompt_lines_are_errors() -> None:
    with pytest.raises(ValueError, match=r"x\.txt:2"):
        telnet.Prompts.parse("login login:\nprompt >\n", source="x.txt")
    with pytest.raises(ValueError, match="bad regex"):
        telnet.Prompts.parse("shell [\n", source="x.txt")


# --- FTP replies ----------------------------------------------------------------------------------


def test_ftp_single_and_multiline_replies() -> None:
    assert ftp.parse_reply([b"230 User logged in\r\n"]) == (230, "User logged in")
    lines = [b"220-Welcome\r\n", b" to the device\r\n"]
    assert ftp.parse_reply(lines) is None  # not finished yet
    lines.append(b"220 ready\r\n")
    code, text = ftp.parse_reply(lines) or (0, "")
    assert code == 220
    assert "Welcome" in text and "ready" in text
    with pytest.raises(ValueError):
        ftp.parse_reply([b"SSH-2.0-OpenSSH\r\n"])


# --- HTTP judging ---------------------------------------------------------------------------------


def _answer(status: int, body: bytes = b"", location: str = "") -> http.HttpAnswer:
    headers = {"location": location} if location else {}
    return http.HttpAnswer(status, "", headers, body, False, 0.0)


FORM = HttpLogin(kind="form", path="/login", failure_marker="")


@pytest.mark.parametrize(
    ("answer", "accepted"),
    [
        (_answer(302, location="/"), True),
        (_answer(303, location="https://198.18.0.5/home"), True),
        (_answer(302, location="/login?error=1"), False),
        (_answer(401, b"<form><input type=password name=password></form>"), False),
        # The login page again without an error is no refusal (issue 11).
        (_answer(200, b"<p>bad</p><form><input type='password' name=p></form>"), None),
        (_answer(200, b"<h1>Dashboard</h1>"), True),
        (_answer(429), None),
        (_answer(503), None),
    ],
)
def test_form_login_judgement(answer: http.HttpAnswer, accepted: bool | None) -> None:
    assert http.form_accepted(answer, FORM) is accepted


PROMPTS = telnet.Prompts.load(PROMPTS_FILE)
LOGIN_PAGE = (
    b"<form method=post action=/login><input name=username>"
    b"<input type=password name=password></form>"
)


@pytest.mark.parametrize(
    ("answer", "accepted", "sign"),
    [
        # Django's CSRF failure: 403, the token, not the password, was refused.
        (
            _answer(403, b"<h1>Forbidden (403)</h1><p>CSRF verification failed. Request aborted."),
            None,
            "",
        ),
        (_answer(403, b"<h1>403 Forbidden</h1>"), None, ""),
        (_answer(400, b'{"error": "missing token"}'), None, ""),
        # Django admin's refusal: 200, the form again, with the error.
        (
            _answer(
                200,
                b"<p class=errornote>Please enter the correct username and password for a "
                b"staff account.</p>" + LOGIN_PAGE,
            ),
            False,
            "",
        ),
        (_answer(200, b"<div>Invalid password</div>" + LOGIN_PAGE), False, ""),
        (_answer(200, b"<div>Session expired, invalid password</div>" + LOGIN_PAGE), None, ""),
        (_answer(200, LOGIN_PAGE), None, ""),
        (_answer(400, b'{"error": "Invalid credentials"}'), False, ""),
        (_answer(403, b"<p>Wrong password</p>"), False, ""),
        (_answer(302, location="/login"), None, ""),
        (_answer(302, location="/login?error=1"), False, ""),
        (_answer(302, location="/home"), True, ""),
        (_answer(200, b"<h1>Dashboard</h1>"), True, ""),
        (_answer(401, b"no"), False, ""),
        (_answer(429), None, "HTTP 429"),
        (
            _answer(200, b"Too many failed login attempts. Try again later." + LOGIN_PAGE),
            None,
            "lockout page (200): Too many failed login attempts",
        ),
        (_answer(403, b"Your account is locked"), None, "lockout page (403): account is locked"),
    ],
)
def test_form_refusal_is_a_refusal_of_the_credentials(
    answer: http.HttpAnswer, accepted: bool | None, sign: str
) -> None:
    got = http.judge_form(answer, FORM, PROMPTS)
    assert (got.accepted, got.sign) == (accepted, sign), got.why


def test_named_lockout_signs() -> None:
    assert is_named_lockout("HTTP 429")
    assert is_named_lockout("lockout page (200): too many attempts")
    assert is_named_lockout("SSH disconnect: account locked")
    assert is_named_lockout("FTP 421 Too many connections")
    for bare in ("connection reset", "connection refused", "no answer in time",
                 "connection closed", ""):  # fmt: skip
        assert not is_named_lockout(bare)


def test_form_failure_marker() -> None:
    login = HttpLogin(kind="form", path="/login", failure_marker="Login failed")
    assert http.form_accepted(_answer(200, b"<p>Login failed</p>"), login) is False


def test_challenge_parsing() -> None:
    assert http.parse_challenge('Basic realm="IPCAM"') == ("basic", "IPCAM")
    assert http.parse_challenge('Digest realm="SP1", qop="auth", nonce="1"') == ("digest", "SP1")
    assert http.parse_challenge("Bearer") == ("bearer", "")


def test_ipv6_urls_are_bracketed() -> None:
    assert http.base_url("fe80::1", 80, False) == "http://[fe80::1]:80"
    assert http.base_url("198.18.0.5", 443, True) == "https://198.18.0.5:443"


def test_login_form_parsing() -> None:
    page = b"""<html><form method=get action=/search><input name=q></form>
    <form class=x method="POST" action="/cgi/login"><input type="text" name="user">
    <input type=hidden name=t value=1><input type='password' name='pw'></form></html>"""
    form = http.parse_login_form(page, "/")
    assert form is not None
    assert (form.path, form.user_field, form.password_field) == ("/cgi/login", "user", "pw")
    same_page = b"<form method=post><input type=password name=password></form>"
    form = http.parse_login_form(same_page, "/login")
    assert form is not None and (form.path, form.user_field) == ("/login", "username")
    elsewhere = b'<form method=post action="http://evil.example/x"><input type=password name=p>'
    assert http.parse_login_form(elsewhere + b"</form>", "/") is None
    assert http.parse_login_form(b"<form method=post><input name=a></form>", "/") is None


# --- JSON login APIs (single-page admin UIs) -----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "accepted"),
    [
        (200, b'{"access_token": "abc", "expires_in": 604800, "token_type": "Bearer"}', True),
        (200, b'{"data": {"token": "abc"}}', True),
        (200, b'{"success": true}', True),
        (200, b'{"success": false}', False),
        (200, b'{"error": "Invalid username or password"}', False),
        (401, b'{"error": "unauthorized"}', False),
        (403, b'{"error": "unauthorized", "error_description": "Invalid credentials"}', False),
        (403, b'{"detail": "CSRF Failed: CSRF token missing."}', None),
        (400, b'{"error": "bad request"}', None),
        (200, b'{"status": "pending"}', None),
        (200, b'{"token": "", "error": "Wrong password"}', False),
        (503, b"", None),
    ],
)
def test_json_login_judgement(status: int, body: bytes, accepted: bool | None) -> None:
    got = http.judge_json(_answer(status, body), PROMPTS)
    assert got.accepted is accepted, got.why


def test_json_lockout_answer_is_a_named_sign() -> None:
    got = http.judge_json(_answer(429, b'{"error": "too many requests"}'), PROMPTS)
    assert (got.accepted, got.sign) == (None, "HTTP 429")
    got = http.judge_json(_answer(403, b'{"error": "Account locked"}'), PROMPTS)
    assert got.accepted is None and got.sign.startswith("lockout page (403)")
