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
import re
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from lanprobe.checks.clients.login import PASSWORD_MARK, LoginAttempt, Stopwatch, os_error_sign
from lanprobe.checks.context import Timeouts
from lanprobe.errors import ProbeTimeout, ProtocolError, Unreachable
from lanprobe.profile_schema import HttpLogin

MAX_BODY_BYTES = 64 * 1024
USER_AGENT = "lanprobe"
# Whatever else a device does wrong, these end a request (besides timeouts): a broken stream,
# a header line over httpcore's cap, a body that does not decode.
HTTPX_ERRORS = (httpx.TransportError, httpx.DecodingError)


def answer_deadline_s(timeouts: Timeouts) -> float:
    """The most one request may take from connect to the last body byte."""
    return timeouts.connect_s + 3 * timeouts.read_s


_PASSWORD_INPUT = re.compile(rb"<input[^>]*type\s*=\s*[\"']?password", re.I)


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
        return bool(_PASSWORD_INPUT.search(self.body))

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "length": len(self.body)}
        if self.location:
            out["location"] = self.location
        if self.headers.get("www-authenticate"):
            out["www_authenticate"] = self.headers["www-authenticate"][:120]
        return out


def _client(tls: bool, timeouts: Timeouts, auth: httpx.Auth | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        verify=probe_ssl_context() if tls else False,
        follow_redirects=False,
        trust_env=False,
        auth=auth,
        timeout=httpx.Timeout(timeouts.read_s, connect=timeouts.connect_s),
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )


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
) -> HttpAnswer:
    """One request, its body capped. Raises Unreachable, ProbeTimeout or ProtocolError."""
    url = base_url(ip, port, tls) + (path if path.startswith("/") else "/" + path)
    target = f"{ip}:{port}"
    watch = Stopwatch()
    deadline_s = answer_deadline_s(timeouts)
    try:
        async with (
            asyncio.timeout(deadline_s),
            _client(tls, timeouts, auth) as client,
            client.stream(method, url, data=data) as resp,
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
            return HttpAnswer(
                status=resp.status_code,
                reason=resp.reason_phrase,
                headers={k.lower(): v for k, v in resp.headers.items()},
                body=bytes(body),
                truncated=truncated,
                elapsed_s=watch.elapsed,
                set_cookies=cookies,
            )
    except TimeoutError as exc:
        raise ProbeTimeout(
            f"HTTP {method} {path}: answer not complete within {deadline_s:g} s", target=target
        ) from exc
    except httpx.TimeoutException as exc:
        raise ProbeTimeout(f"HTTP {method} {path}: no answer in time", target=target) from exc
    except httpx.ConnectError as exc:
        raise Unreachable(f"HTTP {method} {path}: {exc}", target=target) from exc
    except HTTPX_ERRORS as exc:
        raise ProtocolError(f"HTTP {method} {path}: {exc}", target=target) from exc


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


def _attempt_from_error(user: str, password: str, request: str, exc: Exception) -> LoginAttempt:
    cause = exc.__cause__ or exc
    sign = os_error_sign(cause)
    if not sign and isinstance(exc, ProbeTimeout):
        sign = "no answer in time"
    if not sign and isinstance(exc, ProtocolError):
        sign = "connection reset"
    return LoginAttempt(user, password, None, sign=sign, request=request, error=str(exc))


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
) -> LoginAttempt:
    """One HTTP Basic or Digest login attempt on `path`: 2xx/3xx accepted, 401/403 refused."""
    auth: httpx.Auth = (
        httpx.DigestAuth(user, password) if kind == "digest" else httpx.BasicAuth(user, password)
    )
    request = f"GET {path} Authorization: {kind.capitalize()} {user}:{PASSWORD_MARK}"
    watch = Stopwatch()
    try:
        answer = await fetch(ip, port, path, tls=tls, timeouts=timeouts, auth=auth, max_bytes=4096)
    except (Unreachable, ProbeTimeout, ProtocolError) as exc:
        attempt = _attempt_from_error(user, password, request, exc)
        attempt.latency_s = watch.elapsed
        return attempt
    accepted: bool | None
    sign = ""
    if answer.status == 429:
        accepted, sign = None, "HTTP 429"
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


def form_accepted(answer: HttpAnswer, login: HttpLogin) -> bool | None:
    """Judge a form login's answer. None when it cannot be judged (429, 5xx).

    A refusal usually shows the form again, says so (the profile's failure marker), or redirects
    back to the login page; an acceptance redirects elsewhere or shows a page without the form.
    """
    if answer.status == 429 or answer.status >= 500:
        return None
    if answer.status not in login.success_status:
        return False
    if login.failure_marker and login.failure_marker.encode() in answer.body:
        return False
    if 300 <= answer.status < 400:
        # Redirected back to the login page: refused; anywhere else: in.
        parts = split_url(answer.location)
        if parts is None:
            return None  # a Location that is no URL: cannot tell where it sends us
        target = parts[3] or "/"
        return target.rstrip("/") != login.path.rstrip("/")
    return not answer.shows_password_form()


async def form_login(
    ip: str,
    port: int,
    login: HttpLogin,
    user: str,
    password: str,
    *,
    tls: bool,
    timeouts: Timeouts,
) -> LoginAttempt:
    """One form login attempt: POST the user and password fields to the login path."""
    request = f"POST {login.path} {login.user_field}={user}&{login.password_field}={PASSWORD_MARK}"
    watch = Stopwatch()
    try:
        answer = await fetch(
            ip,
            port,
            login.path,
            tls=tls,
            timeouts=timeouts,
            method="POST",
            data={login.user_field: user, login.password_field: password},
        )
    except (Unreachable, ProbeTimeout, ProtocolError) as exc:
        attempt = _attempt_from_error(user, password, request, exc)
        attempt.latency_s = watch.elapsed
        return attempt
    accepted = form_accepted(answer, login)
    return LoginAttempt(
        user,
        password,
        accepted,
        latency_s=watch.elapsed,
        sign="HTTP 429" if answer.status == 429 else "",
        request=request,
        answer=answer.status_line,
        error="" if accepted is not None else f"status {answer.status}",
        details={"http": answer.summary()},
    )


_FORM = re.compile(rb"<form\b([^>]*)>(.*?)</form>", re.I | re.S)
_INPUT = re.compile(rb"<input\b([^>]*)>", re.I)
_ATTR = re.compile(rb"""([a-z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)


def _attrs(tag: bytes) -> dict[str, str]:
    return {
        m.group(1).decode().lower(): (m.group(2) or m.group(3) or m.group(4) or b"").decode(
            "utf-8", "replace"
        )
        for m in _ATTR.finditer(tag)
    }


def parse_login_form(body: bytes, page_path: str) -> HttpLogin | None:
    """The first HTML form with a password input, as a form login (POST only), or None."""
    for form in _FORM.finditer(body):
        attrs = _attrs(form.group(1))
        if attrs.get("method", "get").lower() != "post":
            continue
        user_field, password_field = "", ""
        for tag in _INPUT.finditer(form.group(2)):
            a = _attrs(tag.group(1))
            kind, name = a.get("type", "text").lower(), a.get("name", "")
            if kind == "password" and name and not password_field:
                password_field = name
            elif kind in ("text", "email") and name and not user_field:
                user_field = name
        if not password_field:
            continue
        action = split_url(attrs.get("action", "") or page_path)
        if action is None:
            continue  # an action that is no URL
        scheme, host, _port, action_path = action
        if scheme or host:
            continue  # a form that posts elsewhere is not this device's login
        path = action_path if action_path.startswith("/") else "/" + action_path
        return HttpLogin(
            kind="form",
            path=path or page_path,
            user_field=user_field or "username",
            password_field=password_field,
        )
    return None
