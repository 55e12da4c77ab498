"""Finding a device's web login the way a browser gets there (issue 12).

From `/`: HTTP redirects, meta refresh and script redirects (`location.href = ...`,
`window.location = ...`, `location.replace(...)`), same origin only, at most MAX_HOPS pages; a
POST form with a password input on one of them is a form login. Else a login API named in those
pages' scripts (inline, and same-origin `<script src>`: at most MAX_SCRIPTS of SCRIPT_BYTES
each): a fetch/axios/XHR/jQuery call with POST whose URL says login, auth, session or signin.
Else the common paths of profiles/data/web-login-paths.txt: form pages, then login APIs (there
when a GET answers neither 404 nor the any-path page).

The proof of a login (`HttpLogin.protected`): a path that refuses without a login (401, 403, a
redirect to the login page) and must answer after one (http.web_login). Candidates: a page that
redirected to the login page on the way, the other `/api/...` paths the scripts call, then the
data file's `protected` paths.

Every request goes through http.fetch (timeouts, body caps, IP literal, no redirect followed).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lanprobe import datacache
from lanprobe.checks.clients import http as web
from lanprobe.checks.clients.pages import local_redirect, same_page
from lanprobe.errors import TargetError
from lanprobe.options import Timeouts
from lanprobe.profile_schema import HttpLogin
from selectolax.lexbor import LexborHTMLParser

MAX_HOPS = 4  # pages followed from `/` (redirects, meta refresh, script redirects)
MAX_SCRIPTS = 4  # same-origin scripts read for a login API
SCRIPT_BYTES = 512 * 1024  # a single-page app's bundle is large; past this it is not read
MAX_PROTECTED = 8  # candidate proof paths asked before giving up

_META_URL = re.compile(r"url\s*=\s*['\"]?([^'\";\s]+)", re.I)
_SCRIPT_REDIRECT = re.compile(
    r"""(?:(?:window|document|top|self)\.)?location(?:\.href)?\s*=\s*["']([^"']+)["']"""
    r"""|location\.(?:replace|assign)\(\s*["']([^"']+)["']\s*\)"""
)
# A string literal that names a login endpoint (relative or absolute path; no page or asset).
_LOGIN_URL = re.compile(
    r"""["'`]((?:https?://[^"'`\s/]+)?/?[\w.~/-]*(?:log-?in|logon|sign-?in|auth|session|token)"""
    r"""[\w.~/-]*)["'`]""",
    re.I,
)
_CALL = re.compile(r"fetch\s*\(|axios|\.post\s*\(|\.ajax\s*\(|\.open\s*\(|url\s*:", re.I)
_POST = re.compile(r"""["']post["']|\.post\s*\(""", re.I)
_ASSET = re.compile(r"\.(?:html?|js|css|png|jpe?g|gif|svg|ico|json|woff2?)$", re.I)
# Other API paths a script calls (proof candidates: they may refuse without the login).
_API_URL = re.compile(r"""["'`]((?:/|\./)?api/[\w.~/-]+)["'`]""", re.I)
_KEY = re.compile(r"""["']?([A-Za-z_][\w-]*)["']?\s*:""")
_FORM_BODY = re.compile(r"\$\.(?:ajax|post)|URLSearchParams|x-www-form-urlencoded", re.I)
_JSON_BODY = re.compile(r"JSON\.stringify|application/json|axios", re.I)


@dataclass(frozen=True)
class ApiEndpoint:
    """A login API (of the data file, or named in a script)."""

    path: str
    body: Literal["json", "form"] = "json"
    user_field: str = "username"
    password_field: str = "password"
    probe: str = ""  # GET this to learn whether the API is there ("" = path)
    fields: dict[str, str] = field(default_factory=dict)

    def as_login(self) -> HttpLogin:
        return HttpLogin(kind="json", path=self.path, body=self.body,
                         user_field=self.user_field, password_field=self.password_field,
                         extra_fields=dict(self.fields))  # fmt: skip


@dataclass(frozen=True)
class WebLoginPaths:
    """profiles/data/web-login-paths.txt."""

    forms: tuple[str, ...] = ()
    apis: tuple[ApiEndpoint, ...] = ()
    protected: tuple[str, ...] = ()


def load_web_login_paths(path: Path) -> WebLoginPaths:
    """The data file, parsed once (probe/datacache.py); ValueError `file:line: ...` on a bad
    line. Shared: never changed by callers."""
    return datacache.load(path, _parse_web_login_paths)


def _parse_web_login_paths(path: Path) -> WebLoginPaths:
    forms: list[str] = []
    apis: list[ApiEndpoint] = []
    protected: list[str] = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        role, *rest = line.split()
        if not rest or not rest[0].startswith("/"):
            raise ValueError(f"{path}:{lineno}: expected '<role> /<path> [key=value ...]'")
        where, opts = rest[0], rest[1:]
        if role in ("form", "protected") and opts:
            raise ValueError(f"{path}:{lineno}: {role} takes a path only")
        if role == "form":
            forms.append(where)
        elif role == "protected":
            protected.append(where)
        elif role == "api":
            kv = dict(o.split("=", 1) for o in opts if "=" in o)
            if len(kv) != len(opts):
                raise ValueError(f"{path}:{lineno}: options are key=value")
            body = kv.pop("body", "json")
            if body not in ("json", "form"):
                raise ValueError(f"{path}:{lineno}: body: expected json or form")
            user, pw = kv.pop("user", "username"), kv.pop("pass", "password")
            sent: Literal["json", "form"] = "form" if body == "form" else "json"
            apis.append(ApiEndpoint(where, sent, user, pw, kv.pop("probe", ""), kv))
        else:
            raise ValueError(f"{path}:{lineno}: unknown role {role!r} (form, api, protected)")
    return WebLoginPaths(tuple(forms), tuple(apis), tuple(protected))


@dataclass
class Found:
    """A web login found on a port: the login to try, and how it was found (evidence)."""

    login: HttpLogin
    how: list[str] = field(default_factory=list)


def resolve(url: str, page: str, ip: str, port: int, tls: bool) -> str | None:
    """The same-origin path `url` (absolute, root-relative or relative to `page`) leads to;
    None when it leaves the origin or is no URL."""
    url = url.strip()
    if not url or url.startswith(("#", "javascript:", "data:", "mailto:")):
        return None
    if "://" in url or url.startswith("//"):
        path = local_redirect(url if "://" in url else ("https:" if tls else "http:") + url,
                              ip, port, tls)  # fmt: skip
        return None if path in (None, "https") else path
    path = url.split("#", 1)[0].split("?", 1)[0]
    if not path.startswith("/"):
        path = page.rsplit("/", 1)[0] + "/" + path
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return "/" + "/".join(parts) + ("/" if path.endswith("/") and parts else "")


def page_redirect(body: bytes) -> str:
    """Where an HTML page sends the browser on its own: meta refresh, else a script redirect."""
    try:
        tree = LexborHTMLParser(body)
    except (ValueError, RuntimeError):
        return ""
    for meta in tree.css("meta"):
        if (meta.attributes.get("http-equiv") or "").lower() == "refresh":
            m = _META_URL.search(meta.attributes.get("content") or "")
            if m:
                return m.group(1)
    for script in tree.css("script"):
        m = _SCRIPT_REDIRECT.search(script.text() or "")
        if m:
            return m.group(1) or m.group(2)
    return ""


def scripts_of(body: bytes) -> tuple[list[str], list[str]]:
    """(inline script texts, script src URLs) of an HTML page."""
    try:
        tree = LexborHTMLParser(body)
    except (ValueError, RuntimeError):
        return [], []
    inline, srcs = [], []
    for script in tree.css("script"):
        src = script.attributes.get("src")
        if src:
            srcs.append(src)
        else:
            inline.append(script.text() or "")
    return inline, srcs


def script_api_paths(text: str) -> list[str]:
    """API paths (`/api/...`) a script names that are not login endpoints."""
    out = [m.group(1) for m in _API_URL.finditer(text)]
    return [p for p in dict.fromkeys(out) if not _LOGIN_URL.fullmatch(f'"{p}"')]


def script_login_apis(text: str) -> list[ApiEndpoint]:
    """Login API calls in a script: a URL naming login/auth/session/signin inside an HTTP call
    (fetch, axios, XHR open, jQuery) that POSTs. Field names from the object posted nearby."""
    out: list[ApiEndpoint] = []
    for m in _LOGIN_URL.finditer(text):
        url = m.group(1)
        if _ASSET.search(url.split("?", 1)[0]):
            continue
        before = text[max(0, m.start() - 120) : m.start()]
        around = text[max(0, m.start() - 120) : m.end() + 400]
        if not _CALL.search(before) or not _POST.search(around):
            continue
        after = text[m.end() : m.end() + 400]
        keys = [k for k in _KEY.findall(after) if k.lower() not in ("url", "method", "type")]
        pw = next((k for k in keys if "pass" in k.lower() or "pwd" in k.lower()), "password")
        user = next((k for k in keys if k != pw and any(h in k.lower() for h in (
            "user", "login", "name", "email", "account"))), "username")  # fmt: skip
        form = _FORM_BODY.search(around) and not _JSON_BODY.search(around)
        out.append(ApiEndpoint(url, "form" if form else "json", user, pw))
    return out


async def _get(ip: str, port: int, path: str, tls: bool, timeouts: Timeouts,
               max_bytes: int = web.MAX_BODY_BYTES) -> web.HttpAnswer | None:  # fmt: skip
    try:
        return await web.fetch(ip, port, path, tls=tls, timeouts=timeouts, max_bytes=max_bytes)
    except TargetError:
        return None


@dataclass
class _Walk:
    """What following the front page showed."""

    pages: list[str] = field(default_factory=list)
    redirected_to_login: list[str] = field(default_factory=list)  # 3xx sources (proof paths)
    scripts: list[tuple[str, str]] = field(default_factory=list)  # (where, inline text)
    srcs: list[tuple[str, str]] = field(default_factory=list)  # (page, src)
    how: list[str] = field(default_factory=list)
    api_paths: list[str] = field(default_factory=list)  # other APIs the scripts call


async def discover(
    ip: str, port: int, *, tls: bool, timeouts: Timeouts, known: WebLoginPaths, start: str = "/"
) -> Found | None:
    """The web login of a port, or None (see the module docstring)."""
    walk = _Walk()
    found = await _follow(ip, port, tls, timeouts, start, walk)
    if found is None:
        found = await _from_scripts(ip, port, tls, timeouts, walk, known)
    if found is None:
        found = await _from_common_paths(ip, port, tls, timeouts, known)
    if found is None:
        return None
    found.how[:0] = walk.how
    candidates = [*walk.redirected_to_login, *walk.api_paths, *known.protected]
    proof = await find_protected(ip, port, tls=tls, timeouts=timeouts, login=found.login,
                                 candidates=candidates)  # fmt: skip
    if proof:
        found.login = found.login.model_copy(update={"protected": proof[0]})
        found.how.append(f"proof path {proof[0]} refuses without a login ({proof[1]})")
    return found


async def _follow(
    ip: str, port: int, tls: bool, timeouts: Timeouts, path: str, walk: _Walk
) -> Found | None:
    """Follow the front page to a login form (same origin, at most MAX_HOPS pages)."""
    pending_3xx: list[str] = []
    for _ in range(MAX_HOPS):
        walk.pages.append(path)
        answer = await _get(ip, port, path, tls, timeouts)
        if answer is None:
            return None
        nxt: str | None = None
        if 300 <= answer.status < 400 and answer.location:
            nxt = local_redirect(answer.location, ip, port, tls)
            pending_3xx.append(path)
            walk.how.append(f"{path} answers {answer.status} to {answer.location}")
        elif 200 <= answer.status < 300:
            form = web.parse_login_form(answer.body, path)
            if form is not None:
                walk.redirected_to_login += pending_3xx
                return Found(form.as_login(page=path), [f"login form on {path}"])
            inline, srcs = scripts_of(answer.body)
            walk.scripts += [(path, s) for s in inline]
            walk.srcs += [(path, s) for s in srcs]
            target = page_redirect(answer.body)
            if target:
                nxt = resolve(target, path, ip, port, tls)
                walk.how.append(f"{path} sends the browser to {target} (meta refresh or script)")
        if nxt is None or nxt == "https" or nxt in walk.pages:
            return None
        path = nxt
    return None


async def _from_scripts(
    ip: str, port: int, tls: bool, timeouts: Timeouts, walk: _Walk, known: WebLoginPaths
) -> Found | None:
    """A login API named in the pages' inline scripts or same-origin script files. Where the
    data file knows the endpoint, its entry (fixed fields such as an OAuth client_id) wins."""
    texts = list(walk.scripts)
    for page, src in walk.srcs[:MAX_SCRIPTS]:
        where = resolve(src, page, ip, port, tls)
        if where is None:
            continue  # another origin's script (a CDN) says nothing about this device
        answer = await _get(ip, port, where, tls, timeouts, SCRIPT_BYTES)
        if answer is not None and 200 <= answer.status < 300:
            texts.append((where, answer.body.decode("utf-8", "replace")))
    page = walk.pages[-1] if walk.pages else "/"
    for _where, text in texts:
        for url in script_api_paths(text):
            path = resolve(url, page, ip, port, tls)
            if path is not None:
                walk.api_paths.append(path)
    named: list[tuple[str, ApiEndpoint]] = []
    for where, text in texts:
        for api in script_login_apis(text):
            path = resolve(api.path, page, ip, port, tls)
            if path is not None:
                named.append((where, ApiEndpoint(path, api.body, api.user_field,
                                                 api.password_field)))  # fmt: skip
    # An endpoint the data file knows first (its fixed fields, e.g. an OAuth client_id).
    by_path = {k.path: k for k in known.apis}
    named.sort(key=lambda n: n[1].path not in by_path)
    for where, api in named[:1]:
        login = by_path.get(api.path, api).as_login()
        return Found(login, [f"login API {api.path} named in the script {where}"])
    return None


async def _from_common_paths(
    ip: str, port: int, tls: bool, timeouts: Timeouts, known: WebLoginPaths
) -> Found | None:
    """A login form or API on the data file's common paths (not the any-path page)."""
    random_path = f"/lanprobe-{secrets.token_hex(6)}"
    control = await _get(ip, port, random_path, tls, timeouts)
    for path in known.forms:
        answer = await _get(ip, port, path, tls, timeouts)
        if answer is not None and 200 <= answer.status < 300:
            form = web.parse_login_form(answer.body, path)
            if form is not None:
                return Found(form.as_login(page=path), [f"login form on the common path {path}"])
    for api in known.apis:
        probe = api.probe or api.path
        answer = await _get(ip, port, probe, tls, timeouts)
        if answer is None or answer.status == 404 or answer.status >= 500:
            continue
        if control is not None and same_page(answer, control, probe, random_path):
            continue  # the any-path page
        return Found(api.as_login(), [f"login API {api.path}: GET {probe} answers {answer.status}"])
    return None


def refuses(answer: web.HttpAnswer, login: HttpLogin) -> bool:
    """An answer that asks for a login: 401, 403, or a redirect to the login page."""
    if answer.status in (401, 403):
        return True
    if 300 <= answer.status < 400 and answer.location:
        target = (web.split_url(answer.location) or ("", "", None, ""))[3]
        return target.rstrip("/") in {login.path.rstrip("/"), (login.page or "").rstrip("/")}
    return False


def answers(answer: web.HttpAnswer) -> bool:
    """An answer that serves content: a 2xx without a login form."""
    return 200 <= answer.status < 300 and not answer.shows_password_form()


async def find_protected(
    ip: str, port: int, *, tls: bool, timeouts: Timeouts, login: HttpLogin, candidates: list[str]
) -> tuple[str, int] | None:
    """The first candidate path that refuses without a login, with its status."""
    tried = 0
    for path in dict.fromkeys(candidates):
        if path in (login.path, login.page):
            continue
        if tried >= MAX_PROTECTED:
            break
        tried += 1
        answer = await _get(ip, port, path, tls, timeouts)
        if answer is not None and refuses(answer, login):
            return path, answer.status
    return None
