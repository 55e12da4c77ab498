"""Telling web pages apart: is an answer the server's any-path page, its login page, or content?

Path checks (access.unauthenticated-interface, state.exposed-status,
update.unauthenticated-upload) compare every 2xx answer with two controls fetched from the same
port: a random path (what the server gives for any path) and the login page (found at the
profile's login path, or where `/` leads through local redirects). A 2xx that is one of those
is no finding.

Similarity is generic: the letters-only words and tag names of the two bodies (numbers, tokens
and timestamps drop out, and so does the requested path where a page echoes it), compared as
pairs of neighbouring tokens (Jaccard over the multisets). Pages at or above SAME_PAGE are the
same page. tests/clients/test_pages.py pins the cases: an any-path page echoing another path
1.0; a login form against a JSON status document 0.0; a login form with another CSRF token at
or above SAME_PAGE.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from lanprobe.checks.clients import http as web
from lanprobe.errors import TargetError
from lanprobe.options import Timeouts

SAME_PAGE = 0.9
MAX_COMPARED_BYTES = 64 * 1024
MAX_REDIRECTS = 3  # local redirects followed to find a login page
_TOKEN = re.compile(r"</?[a-z][a-z0-9]*|[a-z]{2,}")


def tokens(body: bytes, echo: str = "") -> list[str]:
    """Tag names and words (letters only) of a body, the echoed path taken out."""
    text = body[:MAX_COMPARED_BYTES].decode("utf-8", "replace").lower()
    if echo:
        text = text.replace(echo.lower(), " ")
    return _TOKEN.findall(text)


def similarity(a: bytes, b: bytes, echo_a: str = "", echo_b: str = "") -> float:
    """0.0 (nothing alike) .. 1.0 (the same page), over pairs of neighbouring tokens."""
    ta, tb = tokens(a, echo_a), tokens(b, echo_b)
    if not ta or not tb:
        return 1.0 if a.strip() == b.strip() else 0.0  # nothing to compare but the bytes
    pa = Counter(zip(ta, ta[1:] or [""], strict=False))
    pb = Counter(zip(tb, tb[1:] or [""], strict=False))
    union = sum((pa | pb).values())
    return sum((pa & pb).values()) / union if union else 1.0


def same_page(a: web.HttpAnswer, b: web.HttpAnswer, path_a: str = "", path_b: str = "") -> bool:
    """Two answers that are the same page: same status, and equal or similar bodies."""
    if a.status != b.status:
        return False
    if a.digest == b.digest:
        return True
    return similarity(a.body, b.body, path_a, path_b) >= SAME_PAGE


def local_redirect(location: str, ip: str, port: int, tls: bool) -> str | None:
    """The path a redirect leads to on the same port and scheme; "https" when a plain-HTTP port
    sends the visitor to TLS; None when it leaves the port or is no URL."""
    loc = web.split_url(location)
    if loc is None:
        return None
    scheme, host, loc_port, path = loc
    own = "https" if tls else "http"
    if scheme == "https" and not tls:
        return "https"
    if scheme not in ("", own):
        return None
    if host and (host != ip or (loc_port or (443 if tls else 80)) != port):
        return None
    return path or "/"


@dataclass
class Followed:
    """A GET with its local redirects followed: the answer, the path it is of, and the chain."""

    answer: web.HttpAnswer
    chain: list[str]  # the requested path first, the answer's path last
    left: str = ""  # where the last redirect goes when it was not followed (another port, TLS)

    @property
    def path(self) -> str:
        return self.chain[-1]

    @property
    def redirected(self) -> bool:
        return len(self.chain) > 1

    def same_resource(self) -> bool:
        """The answer is of the requested path (a redirect that only adds or drops a trailing
        slash or changes the query keeps it)."""

        def bare(p: str) -> str:
            return p.split("?", 1)[0].split("#", 1)[0].rstrip("/") or "/"

        return bare(self.chain[0]) == bare(self.path)


async def follow(
    ip: str, port: int, path: str, *, tls: bool, timeouts: Timeouts, max_bytes: int
) -> Followed:
    """GET `path`, following redirects that stay on this port and scheme (MAX_REDIRECTS at
    most): a path check judges the page a redirect leads to, never the 3xx itself."""
    chain = [path]
    answer = await web.fetch(ip, port, path, tls=tls, timeouts=timeouts, max_bytes=max_bytes)
    while 300 <= answer.status < 400 and answer.location:
        nxt = local_redirect(answer.location, ip, port, tls)
        if nxt is None or nxt == "https" or nxt in chain or len(chain) > MAX_REDIRECTS:
            return Followed(answer, chain, left=answer.location)
        chain.append(nxt)
        answer = await web.fetch(ip, port, nxt, tls=tls, timeouts=timeouts, max_bytes=max_bytes)
    return Followed(answer, chain)


@dataclass
class PageControls:
    """What a port answers for a random path and where its login page is."""

    random_path: str
    random: web.HttpAnswer | None = None  # None: the random path got no answer
    login_path: str = ""
    login: web.HttpAnswer | None = None
    error: str = ""

    @property
    def catch_all(self) -> bool:
        """The server answers 2xx for any path."""
        return self.random is not None and 200 <= self.random.status < 300

    @property
    def catch_all_is_login(self) -> bool:
        """Any path gives the login page: the server asks for a login everywhere."""
        return self.catch_all and self.random is not None and self.random.shows_password_form()

    def classify(self, answer: web.HttpAnswer, path: str) -> str:
        """A 2xx answer is "catch_all" (the any-path page), "login" (the login page, or an
        any-path login page) or "open" (content of its own)."""
        rnd = self.random
        if rnd is not None and self.catch_all and same_page(answer, rnd, path, self.random_path):
            return "login" if self.catch_all_is_login else "catch_all"
        if answer.shows_password_form():
            return "login"
        if self.login is not None and same_page(answer, self.login, path, self.login_path):
            return "login"
        return "open"

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {"random_path": {"path": self.random_path}}
        if self.random is not None:
            out["random_path"].update(self.random.summary())
        if self.error:
            out["random_path"]["error"] = self.error
        if self.login is not None:
            out["login_page"] = {"path": self.login_path, **self.login.summary()}
        return out


async def find_login_page(
    ip: str, port: int, starts: list[str], *, tls: bool, timeouts: Timeouts
) -> tuple[str, web.HttpAnswer] | None:
    """The first page with a password form reached from `starts` (local redirects followed)."""
    for start in starts:
        path: str | None = start
        chain: list[str] = []
        while path is not None and path != "https" and path not in chain:
            if len(chain) > MAX_REDIRECTS:
                break
            chain.append(path)
            try:
                answer = await web.fetch(ip, port, path, tls=tls, timeouts=timeouts)
            except TargetError:
                break
            if 200 <= answer.status < 300 and answer.shows_password_form():
                return path, answer
            if not (300 <= answer.status < 400 and answer.location):
                break
            path = local_redirect(answer.location, ip, port, tls)
    return None


async def page_controls(
    ip: str,
    port: int,
    *,
    tls: bool,
    timeouts: Timeouts,
    random_path: str,
    login_starts: list[str],
) -> PageControls:
    """Fetch the controls of one port: the random path, then the login page."""
    out = PageControls(random_path=random_path)
    try:
        out.random = await web.fetch(ip, port, random_path, tls=tls, timeouts=timeouts)
    except TargetError as exc:
        out.error = str(exc)
        return out
    starts = list(login_starts)
    if 300 <= out.random.status < 400 and out.random.location:
        target = local_redirect(out.random.location, ip, port, tls)
        if target not in (None, "https"):
            starts.append(target)  # type: ignore[arg-type]
    found = await find_login_page(ip, port, list(dict.fromkeys(starts)), tls=tls, timeouts=timeouts)
    if found is not None:
        out.login_path, out.login = found
    return out
