"""Authorised reads: fetch a page with the profile's lab credentials, the way the device asks.

The bench's own credentials are right, so no attempt here should fail a login; still, to stay
clear of devices that ban a source after failures, only the scheme the device names is tried:
the one in its 401 challenge (Basic or Digest), or the profile's form login (one POST, then the
page with the session cookie). Redirects are not followed (they could leave the device).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
from lanprobe.checks.clients import http as web
from lanprobe.options import Timeouts
from lanprobe.profile_schema import Credential, HttpLogin


@dataclass
class AuthorisedAnswer:
    answer: web.HttpAnswer
    how: str  # "no credentials needed", "HTTP Basic", "HTTP Digest", "form login at /login"


async def _read(resp: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    body = bytearray()
    async for chunk in resp.aiter_bytes():
        body.extend(chunk)
        if len(body) > max_bytes:
            return bytes(body[:max_bytes]), True
    return bytes(body), False


async def _form_get(
    ip: str,
    port: int,
    path: str,
    *,
    tls: bool,
    login: HttpLogin,
    cred: Credential,
    timeouts: Timeouts,
    max_bytes: int,
) -> web.HttpAnswer:
    """POST the form login, then GET `path` in the same client (its cookies)."""
    base = web.base_url(ip, port, tls)
    target = f"{ip}:{port}"
    deadline_s = 2 * web.answer_deadline_s(timeouts)  # two requests
    try:
        async with (
            asyncio.timeout(deadline_s),
            web.new_client(tls, timeouts) as client,
        ):
            form = {login.user_field: cred.user, login.password_field: cred.password}
            # Streamed and closed unread: the login answer's body is not needed, and a hostile
            # device may send one that never ends.
            async with client.stream("POST", base + login.path, data=form):
                pass
            async with client.stream("GET", base + path) as got:
                body, truncated = await _read(got, max_bytes)
                return web.HttpAnswer(
                    status=got.status_code,
                    reason=got.reason_phrase,
                    headers={k.lower(): v for k, v in got.headers.items()},
                    body=body,
                    truncated=truncated,
                    elapsed_s=0.0,
                )
    except (TimeoutError, *web.HTTPX_ERRORS) as exc:
        raise web.target_error(exc, f"form login then GET {path}", target, deadline_s) from exc


async def authorised_get(
    ip: str,
    port: int,
    path: str,
    *,
    tls: bool,
    cred: Credential,
    login: HttpLogin | None,
    timeouts: Timeouts,
    max_bytes: int = web.MAX_BODY_BYTES,
) -> AuthorisedAnswer:
    """GET `path` as the authorised party. Raises TargetError subclasses when the device fails."""
    first = await web.fetch(ip, port, path, tls=tls, timeouts=timeouts, max_bytes=max_bytes)
    if first.status not in (401, 403) and not (300 <= first.status < 400):
        return AuthorisedAnswer(first, "no credentials needed")
    challenge = first.headers.get("www-authenticate", "")
    if first.status == 401 and challenge:
        scheme, _ = web.parse_challenge(challenge)
        auth: httpx.Auth | None = None
        if scheme == "basic":
            auth = httpx.BasicAuth(cred.user, cred.password)
        elif scheme == "digest":
            auth = httpx.DigestAuth(cred.user, cred.password)
        if auth is not None:
            answer = await web.fetch(
                ip, port, path, tls=tls, timeouts=timeouts, auth=auth, max_bytes=max_bytes
            )
            return AuthorisedAnswer(answer, f"HTTP {scheme.capitalize()}")
    if login is not None and login.kind == "form" and login.port in (None, port):
        answer = await _form_get(
            ip,
            port,
            path,
            tls=tls,
            login=login,
            cred=cred,
            timeouts=timeouts,
            max_bytes=max_bytes,
        )
        return AuthorisedAnswer(answer, f"form login at {login.path}")
    return AuthorisedAnswer(first, "no login method the device offers is known")
