"""Cybersecurity state awareness (NIST IR 8259A CSA-1, CSA-3): the security state and logs are
readable by the authorised party, and by nobody else.

state.exposed-status reads the profile's status/log paths (and its security-state endpoint)
without credentials and compares each 2xx with the port's controls (checks/clients/pages.py): the
login page is protected, the page any path gets is no finding (inconclusive when nothing else
answered). Redirects on the port are followed and the page they lead to is judged: a 3xx is no
login by itself (a `/logs` -> `/logs/` listing is exposed). state.reporting reads the
security-state endpoint with the profile's lab credentials.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from lanprobe.checks.clients import http as web
from lanprobe.checks.clients import pages
from lanprobe.checks.clients.labauth import AuthorisedAnswer, authorised_get
from lanprobe.checks.context import CheckContext
from lanprobe.checks.registry import Cost, check
from lanprobe.errors import TargetError
from lanprobe.model import Capability, Result, Verdict
from lanprobe.observations import page_controls

PREVIEW_BYTES = 120


def _preview(body: bytes) -> str:
    text = body[:PREVIEW_BYTES].decode("utf-8", "replace")
    return "".join(ch if ch.isprintable() else " " for ch in text)


def _what(ctl: pages.PageControls, got: pages.Followed) -> str:
    """How a status path's answer (redirects followed) reads: "login", "catch_all", "open",
    "elsewhere" (a redirect to another page: not the path's content), or "" (not a 2xx)."""
    if not 200 <= got.answer.status < 300:
        return ""
    what = ctl.classify(got.answer, got.path)
    if what == "open" and got.redirected:
        if ctl.login_path and got.path == ctl.login_path:
            return "login"
        if not got.same_resource():
            return "elsewhere"
    return what


@check(
    "state.exposed-status",
    Capability.cybersecurity_state_awareness,
    services=("http", "https"),
    cost=Cost(requests=6),
)
async def exposed_status(ctx: CheckContext) -> AsyncIterator[Result]:
    """Security state, status or logs are readable without authentication."""
    paths = list(ctx.profile.interfaces.status_paths)
    state = ctx.profile.state
    if state is not None and state.path:
        paths.append(state.path)
    paths = list(dict.fromkeys(paths))
    if not paths:
        yield ctx.result(
            Verdict.not_applicable, f"profile {ctx.profile.id} lists no status or log path"
        )
        return
    protected: list[dict[str, Any]] = []
    absent: list[str] = []
    same_as_any: list[str] = []  # 2xx answers that are the server's any-path page
    redirected: list[str] = []  # redirects to another port, scheme or page: neither way
    exposed = 0
    undecided = 0  # paths that did not answer (each already inconclusive)
    for svc in ctx.services("http", "https"):
        tls_on = ctx.kind(svc) == "https"
        ctl = await page_controls(ctx.session, svc)
        for path in paths:
            try:
                got = await pages.follow(
                    ctx.address(svc),
                    svc.port,
                    path,
                    tls=tls_on,
                    timeouts=ctx.timeouts,
                    max_bytes=16 * 1024,
                )
            except TargetError as exc:
                undecided += 1
                yield ctx.result(
                    Verdict.inconclusive,
                    f"GET {path} on port {svc.port}: {exc}",
                    target=ctx.target(svc),
                    evidence={"path": path, "reason": str(exc)},
                )
                continue
            answer = got.answer
            what = _what(ctl, got)
            if what == "open" and answer.body.strip():
                exposed += 1
                yield ctx.result(
                    Verdict.fail,
                    f"{path} on port {svc.port} is readable without authentication",
                    target=ctx.target(svc),
                    evidence={
                        "path": path,
                        **answer.summary(),
                        "content_type": answer.headers.get("content-type", ""),
                        "preview": _preview(answer.body),
                        **ctl.evidence(),
                    },
                )
            elif what == "login" or answer.status in (401, 403):
                shown = {"port": svc.port, "path": path, **answer.summary()}
                if got.redirected:
                    shown["redirects"] = " -> ".join(got.chain)
                if what == "login":
                    shown["note"] = "answers the login page"
                protected.append(shown)
            elif what == "catch_all":
                same_as_any.append(f"{svc.port}{path}")
            elif got.left or what == "elsewhere":
                # A redirect is no login: where it leads was not judged here (another port or
                # scheme), or it leads to another page than the one asked for.
                to = got.left or got.path
                redirected.append(f"{svc.port}{path}: {answer.status} -> {to}")
            else:
                absent.append(f"{svc.port}{path}: {answer.status}")
    if exposed:
        return
    evidence: dict[str, Any] = {"protected": protected, "absent": absent}
    if same_as_any:
        evidence["same_as_random_path"] = same_as_any
    if redirected:
        evidence["redirected"] = redirected
    if protected:
        yield ctx.result(
            Verdict.passed,
            f"{len(protected)} status/log endpoint(s) ask for authentication",
            evidence=evidence,
        )
    elif (same_as_any or redirected) and not undecided:
        # Nothing asked for a login, and what answered is not the path's own page.
        parts = [f"{len(same_as_any)} answer the page any path gets"] if same_as_any else []
        parts += [f"{len(redirected)} redirect elsewhere"] if redirected else []
        evidence["reason"] = "no status path answers a page of its own or asks for a login"
        yield ctx.result(
            Verdict.inconclusive,
            f"status/log paths: {', '.join(parts)}: nothing can be told apart",
            evidence=evidence,
        )
    elif not undecided:  # paths that never answered may exist: no "absent" claim then
        yield ctx.result(
            Verdict.not_applicable,
            "none of the listed status or log paths exists on the device",
            evidence=evidence,
        )


@check(
    "state.reporting",
    Capability.cybersecurity_state_awareness,
    cost=Cost(requests=3, logs_in=True),
)
async def reporting(ctx: CheckContext) -> AsyncIterator[Result]:
    """No way for an authorised party to read the device's security state."""
    state = ctx.profile.state
    if state is None or not state.path:
        yield ctx.result(
            Verdict.not_applicable,
            f"profile {ctx.profile.id} declares no security-state endpoint",
        )
        return
    tls_on = state.scheme == "https"
    port = state.port
    if port is None:
        kinds = ("https",) if tls_on else ("http",)
        found = ctx.services(*kinds)
        port = found[0].port if found else (443 if tls_on else 80)
    target = ctx.target(port=port, service=state.scheme)
    url = web.base_url(ctx.address(port), port, tls_on) + state.path
    cred = ctx.profile.credentials.lab
    try:
        if cred is None:
            # Without credentials only a missing endpoint can be told apart.
            first = await web.fetch(
                ctx.address(port),
                port,
                state.path,
                tls=tls_on,
                timeouts=ctx.timeouts,
                max_bytes=16 * 1024,
            )
            if first.status in (401, 403):
                yield ctx.result(
                    Verdict.inconclusive,
                    f"{url} asks for credentials and profile {ctx.profile.id} gives no lab "
                    "credentials",
                    target=target,
                    evidence={"path": state.path, **first.summary()},
                )
                return
            got = AuthorisedAnswer(first, "no credentials (the profile gives none)")
        else:
            got = await authorised_get(
                ctx.address(port),
                port,
                state.path,
                tls=tls_on,
                cred=cred,
                login=ctx.profile.interfaces.http_login,
                timeouts=ctx.timeouts,
            )
    except TargetError as exc:
        yield ctx.result(
            Verdict.inconclusive,
            f"{url}: {exc}",
            target=target,
            evidence={"reason": str(exc)},
        )
        return
    answer = got.answer
    evidence: dict[str, Any] = {"path": state.path, "auth": got.how, **answer.summary()}
    if cred is not None:
        evidence["user"] = cred.user
        evidence["password"] = ctx.redact(cred.password)
    if answer.status == 200 and answer.body.strip():
        evidence["preview"] = _preview(answer.body)
        yield ctx.result(
            Verdict.passed,
            f"the authorised party reads the security state at {state.path} ({got.how})",
            target=target,
            evidence=evidence,
        )
    else:
        yield ctx.result(
            Verdict.fail,
            f"the security state cannot be read at {url} ({answer.status_line}, {got.how})",
            target=target,
            evidence=evidence,
        )
