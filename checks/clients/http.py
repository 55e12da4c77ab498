"""HTTP for checks: guarded fetches and Basic, Digest and form login attempts (httpx).

Every request goes to an IP literal (no DNS), ignores proxy settings of the environment
(`trust_env=False`), follows no redirect (a redirect is an answer to judge, and could leave the
device), reads at most `max_bytes` of a body, has connect and read timeouts and a deadline for the
whole answer (a body that trickles in never ends otherwise), and asks for no compression (a
compressed body is decoded in whole chunks before any cap applies). Header lines are capped by
httpcore (100 KB). TLS is accepted whatever the certificate: these clients measure logins;
judging TLS is other checks' work.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import logging
import re
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from lanprobe.checks.clients.login import (
    PASSWORD_MARK,
    LoginAttempt,
    Prompts,
    Stopwatch,
    os_error_sign,
)
from lanprobe.errors import ProbeTimeout, ProtocolError, TargetError, Unreachable
from lanprobe.options import Timeouts
from lanprobe.profile_schema import HttpLogin
from selectolax.lexbor import LexborHTMLParser

MAX_BODY_BYTES = 64 * 1024
USER_AGENT = "lanprobe"
# Whatever else a device does wrong, these end a request (besides timeouts): a broken stream,
# a header line over httpcore's cap, a body that does not decode.
HTTPX_ERRORS = (httpx.TransportError, httpx.DecodingError)

log = logging.getLogger(__name__)


def target_error(
    exc: BaseException, what: str, target: str, deadline_s: float | None = None
) -> TargetError:
    """The device's doing, from what an HTTP exchange raised (TimeoutError: our own deadline of
    the whole exchange; an httpx error): ProbeTimeout, Unreachable or ProtocolError."""
    if isinstance(exc, TimeoutError):
        within = f" within {deadline_s:g} s" if deadline_s is not None else ""
        return ProbeTimeout(f"{what}: not done{within}", target=target)
    if isinstance(exc, httpx.TimeoutException):
        return ProbeTimeout(f"{what}: no answer in time", target=target)
    if isinstance(exc, httpx.ConnectError):
        return Unreachable(f"{what}: {exc}", target=target)
    return ProtocolError(f"{what}: {exc}", target=target)


def answer_deadline_s(timeouts: Timeouts) -> float:
    """The most one request may take from connect to the last body byte."""
    return timeouts.connect_s + 3 * timeouts.read_s


def probe_ssl_context(cls: type[ssl.SSLContext] = ssl.SSLContext) -> ssl.SSLContext:
    """A client context that talks to any device: no verification, every protocol and suite."""
    ctx = cls(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


def split_url(url: str) -> tuple[str, str, int | None, str] | None:
    """(scheme, host, port, path) of a URL a device sent (a Location, a form action); None when
    it is none (an unbalanced IPv6 bracket, a port out of range: urllib raises ValueError)."""
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), parts.hostname or "", parts.port, parts.path
    except ValueError:
        return None


def base_url(ip: str, port: int, tls: bool) -> str:
    host = f"[{ip}]" if ipaddress.ip_address(ip).version == 6 else ip
    return f"{'https' if tls else 'http'}://{host}:{port}"


@dataclass
class HttpAnswer:
    """One response, its body capped."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    truncated: bool
    elapsed_s: float
    set_cookies: list[str] = field(default_factory=list)  # cookie names only

    @property
    def status_line(self) -> str:
        return f"{self.status} {self.reason}".strip()

    @property
    def location(self) -> str:
        return self.headers.get("location", "")

    @property
    def digest(self) -> str:
        """A short hash of the body, to compare two answers without keeping them."""
        return hashlib.sha256(self.body).hexdigest()[:16]

    def shows_password_form(self) -> bool:
        return has_password_input(self.body)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "length": len(self.body)}
        if self.location:
            out["location"] = self.location
        if self.headers.get("www-authenticate"):
            out["www_authenticate"] = self.headers["www-authenticate"][:120]
        return out


def client_settings(
    tls: bool, timeouts: Timeouts, auth: httpx.Auth | None = None, user_agent: str = USER_AGENT
) -> dict[str, Any]:
    """The one way lanprobe sets up an HTTP client (the checks' and discovery's async one, the
    device API's sync one): no certificate check (we observe TLS, we do not trust it), no
    redirects followed, no proxy or .netrc from the environment, the run's timeouts, no
    compression (a body cap counts the bytes sent)."""
    return {
        "verify": probe_ssl_context() if tls else False,
        "follow_redirects": False,
        "trust_env": False,
        "auth": auth,
        "timeout": httpx.Timeout(timeouts.read_s, connect=timeouts.connect_s),
        "headers": {"User-Agent": user_agent, "Accept-Encoding": "identity"},
    }


def new_client(tls: bool, timeouts: Timeouts, auth: httpx.Auth | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(**client_settings(tls, timeouts, auth))


async def fetch(
    ip: str,
    port: int,
    path: str,
    *,
    tls: bool,
    timeouts: Timeouts,
    method: str = "GET",
    auth: httpx.Auth | None = None,
    data: dict[str, str] | None = None,
    max_bytes: int = MAX_BODY_BYTES,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> HttpAnswer:
    """One request, its body capped. Raises Unreachable, ProbeTimeout or ProtocolError.
    `data` is a form body; `content` a raw one (SOAP), sent with `headers`."""
    async with new_client(tls, timeouts, auth) as client:
        return await request(
            client, ip, port, path, tls=tls, timeouts=timeouts, method=method, data=data,
            max_bytes=max_bytes, content=content, headers=headers,
        )  # fmt: skip


async def request(
    client: httpx.AsyncClient,
    ip: str,
    port: int,
    path: str,
    *,
    tls: bool,
    timeouts: Timeouts,
    method: str = "GET",
    data: dict[str, str] | None = None,
    json_body: Any = None,
    max_bytes: int = MAX_BODY_BYTES,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> HttpAnswer:
    """One request on `client` (whose cookie jar a login session keeps), its body capped."""
    url = base_url(ip, port, tls) + (path if path.startswith("/") else "/" + path)
    target = f"{ip}:{port}"
    watch = Stopwatch()
    deadline_s = answer_deadline_s(timeouts)
    sent = {"event": "send", "protocol": "https" if tls else "http", "method": method, "url": url}
    log.debug("HTTP %s %s", method, url, extra={"fields": sent})
    try:
        async with (
            asyncio.timeout(deadline_s),
            client.stream(
                method, url, data=data, json=json_body, content=content, headers=headers
            ) as resp,
        ):
            body = bytearray()
            truncated = False
            async for chunk in resp.aiter_bytes():
                body.extend(chunk)
                if len(body) > max_bytes:
                    truncated = True
                    del body[max_bytes:]
                    break
            cookies = [c.split("=", 1)[0].strip() for c in resp.headers.get_list("set-cookie")]
            log.debug(
                "HTTP %s %s -> %s",
                method,
                url,
                resp.status_code,
                extra={"fields": {**sent, "event": "answer", "status": resp.status_code}},
            )
            return HttpAnswer(
                status=resp.status_code,
                reason=resp.reason_phrase,
                headers={k.lower(): v for k, v in resp.headers.items()},
                body=bytes(body),
                truncated=truncated,
                elapsed_s=watch.elapsed,
                set_cookies=cookies,
            )
    except (TimeoutError, *HTTPX_ERRORS) as exc:
        raise target_error(exc, f"HTTP {method} {path}", target, deadline_s) from exc


@dataclass(frozen=True)
class AuthChallenge:
    """An HTTP auth challenge found on a path: the scheme (basic or digest) and realm."""

    kind: str
    path: str
    realm: str = ""
    header: str = ""


def parse_challenge(header: str) -> tuple[str, str]:
    """(`basic`|`digest`|other scheme, realm) of a WWW-Authenticate header."""
    scheme = header.strip().split(" ", 1)[0].lower()
    realm = re.search(r'realm\s*=\s*"([^"]*)"', header, re.I)
    return scheme, realm.group(1) if realm else ""


async def find_challenge(
    ip: str, port: int, paths: list[str], *, tls: bool, timeouts: Timeouts
) -> AuthChallenge | None:
    """The first path answering 401 with a Basic or Digest challenge, if any."""
    for path in paths:
        answer = await fetch(ip, port, path, tls=tls, timeouts=timeouts, max_bytes=4096)
        header = answer.headers.get("www-authenticate", "")
        if answer.status == 401 and header:
            kind, realm = parse_challenge(header)
            if kind in ("basic", "digest"):
                return AuthChallenge(kind=kind, path=path, realm=realm, header=header[:120])
    return None


def _attempt_from_error(
    user: str, password: str, request: str, exc: Exception, watch: Stopwatch
) -> LoginAttempt:
    """The attempt an exchange that raised ends in: no verdict, the sign it showed."""
    cause = exc.__cause__ or exc
    sign = os_error_sign(cause)
    if not sign and isinstance(exc, ProbeTimeout):
        sign = "no answer in time"
    if not sign and isinstance(exc, ProtocolError):
        sign = "connection reset"
    return LoginAttempt(user, password, None, latency_s=watch.elapsed, sign=sign,
                        request=request, error=str(exc))  # fmt: skip


async def auth_login(
    ip: str,
    port: int,
    path: str,
    user: str,
    password: str,
    *,
    kind: str,
    tls: bool,
    timeouts: Timeouts,
    prompts: Prompts | None = None,
) -> LoginAttempt:
    """One HTTP Basic or Digest login attempt on `path`: 2xx/3xx accepted, 401/403 refused;
    429 or a lockout page (a 200/401/403 body that says so) is a named lockout, no verdict."""
    auth: httpx.Auth = (
        httpx.DigestAuth(user, password) if kind == "digest" else httpx.BasicAuth(user, password)
    )
    request = f"GET {path} Authorization: {kind.capitalize()} {user}:{PASSWORD_MARK}"
    watch = Stopwatch()
    try:
        answer = await fetch(ip, port, path, tls=tls, timeouts=timeouts, auth=auth, max_bytes=4096)
    except (Unreachable, ProbeTimeout, ProtocolError) as exc:
        return _attempt_from_error(user, password, request, exc, watch)
    accepted: bool | None
    sign = lockout_sign(answer, prompts)
    if sign:
        accepted = None
    elif answer.status in (401, 403):
        accepted = False
    elif 200 <= answer.status < 400:
        accepted = True
    else:
        accepted = None
    return LoginAttempt(
        user,
        password,
        accepted,
        latency_s=watch.elapsed,
        sign=sign,
        request=request,
        answer=answer.status_line,
        error="" if accepted is not None or sign else f"unexpected status {answer.status}",
        details={"http": answer.summary()},
    )


@dataclass(frozen=True)
class FormJudgement:
    """What a form login's answer says: accepted (True/False/None), a lockout sign, and why."""

    accepted: bool | None
    sign: str = ""
    why: str = ""


def has_password_input(body: bytes) -> bool:
    """Whether an HTML body has a password input (HTML5 parser; bodies are capped)."""
    try:
        tree = LexborHTMLParser(body)
    except (ValueError, RuntimeError):
        return False
    return any(
        (node.attributes.get("type") or "").lower() == "password" for node in tree.css("input")
    )


def _text(body: bytes) -> str:
    """What a page says to its reader: the visible text of HTML (not its markup, where a hidden
    `csrfmiddlewaretoken` field would read as a token complaint), or the body as it is (JSON,
    plain text)."""
    raw = body.decode("utf-8", "replace")
    if "<" not in raw:
        return raw
    try:
        tree = LexborHTMLParser(body)
    except (ValueError, RuntimeError):
        return raw
    for node in tree.css("script, style"):
        node.decompose()
    root = tree.body or tree.root
    return root.text(separator=" ") if root is not None else raw


def lockout_sign(answer: HttpAnswer, prompts: Prompts | None) -> str:
    """A named lockout in an HTTP answer: 429, or a lockout page in a 200/401/403 body."""
    if answer.status == 429:
        return "HTTP 429"
    if prompts is not None and answer.status in (200, 401, 403):
        said = prompts.message(_text(answer.body), "lockout")
        if said:
            return f"lockout page ({answer.status}): {said}"
    return ""


def _error_in_query(location: str) -> bool:
    query = urlsplit(location).query.lower() if "?" in location else ""
    return any(w in query for w in ("error", "fail", "invalid", "denied", "wrong"))


@dataclass(frozen=True)
class _Said:
    """What a login answer says before its kind (form or JSON) is judged: a verdict already
    (a lockout sign, a 5xx, the failure marker, a 401), else its failure and token messages."""

    verdict: FormJudgement | None
    failure: str = ""
    token: str = ""


def token_complaint(answer: HttpAnswer, prompts: Prompts) -> str:
    """The anti-forgery or session-token complaint the answer shows its reader ("" if none):
    such a refusal says nothing of credentials."""
    return prompts.message(_text(answer.body), "token")


def _said(answer: HttpAnswer, prompts: Prompts | None, marker: str = "") -> _Said:
    sign = lockout_sign(answer, prompts)
    if sign:
        return _Said(FormJudgement(None, sign, sign))
    if answer.status >= 500:
        return _Said(FormJudgement(None, "", f"status {answer.status}"))
    if marker and marker.encode() in answer.body:
        return _Said(FormJudgement(False, "", f"failure marker {marker!r}"))
    if answer.status == 401:
        return _Said(FormJudgement(False, "", "401"))
    text = _text(answer.body)
    failure = prompts.message(text, "failure") if prompts is not None else ""
    token = prompts.message(text, "token") if prompts is not None else ""
    return _Said(None, failure, token)


def judge_form(
    answer: HttpAnswer, login: HttpLogin, prompts: Prompts | None = None
) -> FormJudgement:
    """Judge a form login's answer. Refused only when the answer refuses the *credentials*:
    401, the profile's failure marker, a failure message, or a redirect back to the login page
    with an error in its query. A 403 or other 4xx without a credentials message (a missing or
    stale CSRF token), the login page served again without an error, a 5xx: no verdict (None).
    Accepted: a redirect elsewhere, or a 2xx page without the login form.
    """
    said = _said(answer, prompts, login.failure_marker)
    if said.verdict is not None:
        return said.verdict
    failure, token = said.failure, said.token
    if 400 <= answer.status < 500:
        if failure and not token:
            return FormJudgement(False, "", f"{answer.status}: {failure}")
        why = f"token complaint: {token}" if token else "no credentials error in the answer"
        return FormJudgement(None, "", f"{answer.status} without a refusal of the credentials "
                             f"({why})")  # fmt: skip
    if 300 <= answer.status < 400:
        parts = split_url(answer.location)
        if parts is None:
            return FormJudgement(None, "", "a Location that is no URL")
        target = (parts[3] or "/").rstrip("/")
        if target != login.path.rstrip("/"):
            return FormJudgement(True, "", f"redirected to {parts[3] or '/'}")
        if _error_in_query(answer.location):
            return FormJudgement(False, "", "redirected back to the login page with an error")
        return FormJudgement(None, "", "redirected back to the login page without an error")
    if answer.status not in login.success_status and not 200 <= answer.status < 300:
        return FormJudgement(None, "", f"status {answer.status}")
    if failure and not token:
        return FormJudgement(False, "", f"failure message: {failure}")
    if answer.shows_password_form():
        why = f"token complaint: {token}" if token else "no error shown"
        return FormJudgement(None, "", f"the login page again ({why})")
    if answer.status not in login.success_status:
        return FormJudgement(None, "", f"status {answer.status} is not a success status here")
    return FormJudgement(True, "", "a page without the login form")


def form_accepted(
    answer: HttpAnswer, login: HttpLogin, prompts: Prompts | None = None
) -> bool | None:
    """judge_form's verdict alone."""
    return judge_form(answer, login, prompts).accepted


def _judged(
    user: str,
    password: str,
    request_text: str,
    watch: Stopwatch,
    answer: HttpAnswer,
    verdict: FormJudgement,
    details: dict[str, Any] | None = None,
) -> LoginAttempt:
    """The attempt of a judged form or JSON login answer."""
    return LoginAttempt(
        user,
        password,
        verdict.accepted,
        latency_s=watch.elapsed,
        sign=verdict.sign,
        request=request_text,
        answer=answer.status_line,
        error="" if verdict.accepted is not None else verdict.why,
        details={**(details or {}), "http": answer.summary(), "judged": verdict.why},
    )


async def web_login(
    ip: str,
    port: int,
    login: HttpLogin,
    user: str,
    password: str,
    *,
    tls: bool,
    timeouts: Timeouts,
    prompts: Prompts | None = None,
) -> LoginAttempt:
    """One form or JSON login attempt (`login.kind`) as a browser makes it, in one cookie
    session. A form: GET the login page (cookies, hidden fields and CSRF token of its form), POST
    them with the user and password, and when sent back to the login page, GET it to read the
    error it shows. JSON: POST {user_field: user, password_field: password, ...extra_fields}."""
    as_json = login.kind == "json"
    request_text = (f"POST {login.path} {'JSON ' if as_json else ''}{login.user_field}={user}"
                    f"{' ' if as_json else '&'}{login.password_field}={PASSWORD_MARK}")  # fmt: skip
    watch = Stopwatch()
    details: dict[str, Any] = {}
    try:
        async with new_client(tls, timeouts) as client:
            session = _Session(client, ip, port, tls, timeouts)
            if as_json:
                body = {
                    **login.extra_fields,
                    login.user_field: user,
                    login.password_field: password,
                }
                sent = {"json_body": body} if login.body == "json" else {"data": body}
                answer = await session.send("POST", login.path, **sent)
                verdict = judge_json(answer, prompts)
            else:
                answer, verdict = await _post_form(session, login, user, password, prompts,
                                                   details)  # fmt: skip
            verdict = await _proven(session, login, answer, verdict, details)
    except (Unreachable, ProbeTimeout, ProtocolError) as exc:
        return _attempt_from_error(user, password, request_text, exc, watch)
    return _judged(user, password, request_text, watch, answer, verdict, details)


async def _proven(
    session: _Session,
    login: HttpLogin,
    answer: HttpAnswer,
    verdict: FormJudgement,
    details: dict[str, Any],
) -> FormJudgement:
    """Success by positive proof: the protected path, which refused without a login, answers
    in this session now (its cookies, and the token a JSON login returned as a Bearer header).
    An answer that looked accepted while the path still refuses is no verdict; a 2xx page alone,
    with no path to prove it on, is none either (a login page may answer 200 to anything)."""
    if verdict.accepted is False or verdict.sign:
        return verdict
    if not login.protected:
        if verdict.accepted and 200 <= answer.status < 300 and login.kind == "form":
            return FormJudgement(None, "", f"{verdict.why}: a 200 alone proves no login, and no "
                                 "page that refuses without one was found")  # fmt: skip
        return verdict
    token = token_of(answer) if login.kind == "json" else ""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    after = await session.send("GET", login.protected, headers=headers)
    opened = 200 <= after.status < 300 and not after.shows_password_form()
    details["proof"] = {"path": login.protected, "status": after.status, "answers": opened,
                        "bearer": bool(token)}  # fmt: skip
    if opened:
        return FormJudgement(True, "", f"{login.protected} answers {after.status} after the "
                             "login (it refused without one)")  # fmt: skip
    if verdict.accepted:
        return FormJudgement(None, "", f"{verdict.why}, but {login.protected} still answers "
                             f"{after.status}")  # fmt: skip
    return verdict


@dataclass
class _Session:
    """One login's client and where it talks to (a browser tab's cookie jar)."""

    client: httpx.AsyncClient
    ip: str
    port: int
    tls: bool
    timeouts: Timeouts

    async def send(self, method: str, path: str, **kw: Any) -> HttpAnswer:
        return await request(self.client, self.ip, self.port, path, tls=self.tls,
                             timeouts=self.timeouts, method=method, **kw)  # fmt: skip


async def _post_form(
    session: _Session,
    login: HttpLogin,
    user: str,
    password: str,
    prompts: Prompts | None,
    details: dict[str, Any],
) -> tuple[HttpAnswer, FormJudgement]:
    """The form login's exchange: the page, the POST, the page it sends back to."""
    page_path = login.page or login.path
    page = await session.send("GET", page_path)
    fields: dict[str, str] = {}
    form = parse_login_form(page.body, page_path) if page.status == 200 else None
    if form is not None and form.path == login.path:
        fields.update(form.hidden)
        if form.hidden:
            details["hidden_fields"] = sorted(form.hidden)
    fields.update(login.extra_fields)
    fields[login.user_field] = user
    fields[login.password_field] = password
    answer = await session.send("POST", login.path, data=fields)
    verdict = judge_form(answer, login, prompts)
    if verdict.accepted is None and verdict.why.startswith("redirected back"):
        # Post/redirect/get: the error is on the page we are sent back to.
        again = await session.send("GET", answer.location)
        shown = prompts.message(_text(again.body), "failure") if prompts else ""
        sign = lockout_sign(again, prompts)
        if sign:
            verdict = FormJudgement(None, sign, sign)
        elif shown:
            verdict = FormJudgement(False, "", f"the login page again, showing {shown!r}")
    return answer, verdict


# Keys of a JSON answer that carry a session: a login API that returns one let us in.
TOKEN_KEYS = ("token", "access_token", "accesstoken", "jwt", "id_token", "sid", "session",
              "session_id", "sessionid", "auth_token", "authtoken")  # fmt: skip
_ERROR_KEYS = ("error", "errors", "message", "msg", "detail", "reason")


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def token_of(answer: HttpAnswer) -> str:
    """The session token a JSON login answer carries (TOKEN_KEYS, also one level down)."""
    data = _json_object(answer.body) or {}
    for d in (data, *[v for v in data.values() if isinstance(v, dict)]):
        for k, v in d.items():
            if k.lower() in TOKEN_KEYS and isinstance(v, str) and v:
                return v
    return ""


def judge_json(answer: HttpAnswer, prompts: Prompts | None = None) -> FormJudgement:
    """Judge a JSON login API's answer. Accepted: a 2xx whose JSON carries a token or session
    (TOKEN_KEYS, also one level down, e.g. {"data": {"token": ...}}) or says success/ok true.
    Refused: 401, or a 2xx/4xx whose text refuses the credentials (failure messages), or
    success/ok false. A 403/400 without a credentials message, a 2xx without either: no verdict."""
    said = _said(answer, prompts)
    if said.verdict is not None:
        return said.verdict
    failure, token = said.failure, said.token
    data = _json_object(answer.body) or {}
    if 200 <= answer.status < 300:
        inner = [v for v in data.values() if isinstance(v, dict)]
        keys = {k.lower() for d in (data, *inner) for k, v in d.items() if v}
        if keys & set(TOKEN_KEYS) and not keys & set(_ERROR_KEYS[:2]):
            return FormJudgement(True, "", "a token in the answer")
        flag = next((data[k] for k in ("success", "ok") if isinstance(data.get(k), bool)), None)
        if flag is True:
            return FormJudgement(True, "", "success: true")
        if flag is False or (failure and not token):
            return FormJudgement(False, "", failure or "success: false")
        return FormJudgement(None, "", "2xx without a token, a cookie verdict or an error")
    if failure and not token:
        return FormJudgement(False, "", f"{answer.status}: {failure}")
    return FormJudgement(None, "", f"{answer.status} without a refusal of the credentials")


@dataclass(frozen=True)
class LoginForm:
    """An HTML login form: where it posts, its field names, and its hidden fields."""

    path: str
    user_field: str
    password_field: str
    hidden: dict[str, str] = field(default_factory=dict)

    def as_login(self, page: str = "") -> HttpLogin:
        return HttpLogin(kind="form", path=self.path, page=page, user_field=self.user_field,
                         password_field=self.password_field)  # fmt: skip


_USER_HINTS = ("user", "login", "name", "email", "account", "id")


def parse_login_form(body: bytes, page_path: str) -> LoginForm | None:
    """The first POST form with a password input (HTML5 parser, the body is already capped),
    or None. Forms that post to another host are not this device's login."""
    try:
        tree = LexborHTMLParser(body)
    except (ValueError, RuntimeError):
        return None
    for form in tree.css("form"):
        if (form.attributes.get("method") or "get").lower() != "post":
            continue
        user_field, password_field = "", ""
        hidden: dict[str, str] = {}
        texts: list[str] = []
        for node in form.css("input"):
            kind = (node.attributes.get("type") or "text").lower()
            name = node.attributes.get("name") or ""
            if not name:
                continue
            if kind == "password" and not password_field:
                password_field = name
            elif kind == "hidden":
                hidden[name] = node.attributes.get("value") or ""
            elif kind in ("text", "email", "tel"):
                texts.append(name)
        if not password_field:
            continue
        hinted = [n for n in texts if any(h in n.lower() for h in _USER_HINTS)]
        user_field = (hinted or texts or ["username"])[0]
        action = split_url(form.attributes.get("action") or page_path)
        if action is None:
            continue  # an action that is no URL
        scheme, host, _port, action_path = action
        if scheme or host:
            continue  # a form that posts elsewhere is not this device's login
        if not action_path:
            path = page_path
        elif action_path.startswith("/"):
            path = action_path
        else:  # relative to the page's folder
            path = page_path.rsplit("/", 1)[0] + "/" + action_path
        if not path.startswith("/"):
            path = "/" + path
        return LoginForm(path=path, user_field=user_field, password_field=password_field,
                         hidden=hidden)  # fmt: skip
    return None
