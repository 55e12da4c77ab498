"""Device configuration checks: `configuration.default-login`.

A default login is tried on every login interface of the device: HTTP Basic, Digest, form and
JSON logins, telnet, SSH, FTP, MQTT and RTSP, by the service's login campaign
(checks/campaign.py; the candidates in order: checks/credentials.py). This module judges what
the campaign observed. A found pair proves itself: the same user with a wrong password must be
refused. A device that takes the wrong password too accepts anything: that is no default login
(the check says not_applicable there) but an unauthenticated interface, which
`access.unauthenticated-interface` reports from the same observation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from lanprobe.checks import snmp as snmp_checks
from lanprobe.checks.campaign import Campaign, campaign
from lanprobe.checks.clients.login import LoginAttempt
from lanprobe.checks.context import CheckContext
from lanprobe.checks.logins import login_kinds
from lanprobe.checks.registry import Cost, check
from lanprobe.errors import TargetError
from lanprobe.model import Capability, Result, Service, Severity, Verdict

# Every kind a registered login method logs in on (checks/logins.py).
LOGIN_KINDS = login_kinds()


# --- the check ---------------------------------------------------------------------------------


def _shown(ctx: CheckContext, a: LoginAttempt) -> dict[str, Any]:
    return a.evidence(ctx.redact(a.password))


def _summary(ctx: CheckContext, c: Campaign) -> dict[str, Any]:
    guard = ctx.session.guards.get((c.kind, c.port))
    ev: dict[str, Any] = {
        "interface": c.iface.describe() if c.iface else None,
        "attempts": len(c.tried) + (1 if c.proof else 0),
        "candidates": c.total,
        "documented_defaults": c.defaults,
        "documented_defaults_tried": c.defaults_tried,
        "allowance": c.allowance,
        "depth": c.depth,
        "waited_s": c.waited_s,
        "tried": [f"{p.user}:{ctx.redact(p.password)} ({p.source})" for p, _ in c.tried],
    }
    if c.iface is not None and c.iface.how:
        ev["found"] = list(c.iface.how)
    if c.resumed:
        ev["resumed"] = c.resumed
    if c.skipped:
        ev["skipped"] = f"{c.skipped} candidate(s) passed over: their lockout window was full"
    if c.stopped:
        ev["stopped"] = c.stopped
    if guard is not None:
        ev["guard"] = guard.evidence()
    return ev


def judge(ctx: CheckContext, svc: Service, c: Campaign) -> Result:
    """The default-login verdict of one service's campaign."""
    target = ctx.target(svc)
    if c.not_applicable:
        return ctx.result(Verdict.not_applicable, f"no login to try on port {svc.port}: "
                          f"{c.not_applicable}", target=target,
                          evidence={"reason": c.not_applicable})  # fmt: skip
    ev = _summary(ctx, c)
    if c.success is not None and c.anonymous:
        pair, ok = c.success
        ev["accepted"] = _shown(ctx, ok)
        ev["anonymous"] = True
        ev["source"] = pair.source
        return ctx.result(Verdict.fail, f"anonymous FTP login accepted on port {svc.port} "
                          f"(user {pair.user})", target=target, evidence=ev)  # fmt: skip
    if c.success is not None:
        pair, ok = c.success
        ev["accepted"] = _shown(ctx, ok)
        if c.proof is not None:
            ev["wrong_password"] = _shown(ctx, c.proof)
        if c.accepts_any:
            return ctx.result(
                Verdict.not_applicable,
                f"port {svc.port} accepts any password: no default login to speak of "
                "(reported by access.unauthenticated-interface)",
                target=target,
                evidence=ev,
            )
        if c.proof is None or c.proof.accepted is not False:
            why = "no attempt left" if c.proof is None else (c.proof.error or c.proof.answer)
            ev["reason"] = f"could not show that a wrong password is refused: {why}"
            return ctx.result(Verdict.inconclusive, f"{pair.user} was accepted on port "
                              f"{svc.port}, but a wrong password was not shown refused",
                              target=target, evidence=ev)  # fmt: skip
        ev["source"] = pair.source
        return ctx.result(
            Verdict.fail,
            f"default login {pair.user}:{ctx.redact(pair.password)} accepted on "
            f"{c.iface.describe() if c.iface else svc.port}",
            target=target,
            evidence=ev,
        )
    if not c.tried:
        ev["reason"] = c.stopped or "no attempt allowed"
        return ctx.result(Verdict.inconclusive, f"no login attempt was possible on port "
                          f"{svc.port}: {ev['reason']}", target=target, evidence=ev)  # fmt: skip
    judged = [a for _, a in c.tried if a.accepted is not None]
    if not judged:
        ev["reason"] = c.stopped or "no attempt got an answer"
        return ctx.result(Verdict.inconclusive, f"no login attempt on port {svc.port} got a "
                          "verdict", target=target, evidence=ev)  # fmt: skip
    refused = c.refused
    n_refused = len(refused)
    ev["tried_of"] = f"{n_refused} of {c.total}"
    documented = [p for p in refused if p.source.startswith("profile default")]
    if c.defaults and len(documented) == c.defaults:
        ev["basis"] = "every documented default refused"
        return ctx.result(
            Verdict.passed,
            f"the {c.defaults} documented default(s) refused on port {svc.port} "
            f"({n_refused} of {c.total} candidates tried)",
            target=target,
            evidence=ev,
        )
    if n_refused >= c.total:
        ev["basis"] = "every candidate that fits the service refused"
        return ctx.result(
            Verdict.passed,
            f"none of the {c.total} candidates logs in on port {svc.port} ({n_refused} of "
            f"{c.total} tried)",
            target=target,
            evidence=ev,
        )
    # Candidates left: no pass (issue 11). Say why the campaign ended.
    if c.stopped.startswith("lockout sign") or c.stopped.startswith("no verdict"):
        why = c.stopped
    elif c.defaults_tried < c.defaults:
        why = (f"only {c.defaults_tried} of {c.defaults} documented defaults tried: the attempt "
               "budget does not cover them")  # fmt: skip
    else:
        why = c.stopped or "attempt budget spent"
    ev["reason"] = why
    return ctx.result(
        Verdict.inconclusive,
        f"{n_refused} of {c.total} candidates tried on port {svc.port}, none logged in: {why}",
        target=target,
        evidence=ev,
    )


@check(
    "configuration.default-login",
    Capability.device_configuration,
    services=(*LOGIN_KINDS, "snmp"),
    cost=Cost(requests=8, logs_in=True),
)
async def default_login(ctx: CheckContext) -> AsyncIterator[Result]:
    """A documented default or a listed weak credential logs in (SNMP: a community reads)."""
    # SNMP waits on silence (a wrong community gets none): measured while the logins run.
    snmp = [
        (svc, asyncio.ensure_future(snmp_checks.observe(ctx.session, svc.port)))
        for svc in ctx.services("snmp")
        if svc.transport == "udp"
    ]
    try:
        async for res in _login_results(ctx):
            yield res
        for svc, pending in snmp:
            obs = await pending
            verdict, title, ev = snmp_checks.judge_communities(obs, ctx.redact)
            severity = Severity.critical if obs.writable and verdict is Verdict.fail else None
            yield ctx.result(verdict, f"port {svc.port}/udp: {title}", target=ctx.target(svc),
                             evidence=ev, severity=severity)  # fmt: skip
    finally:
        for _svc, pending in snmp:
            pending.cancel()


async def _login_results(ctx: CheckContext) -> AsyncIterator[Result]:
    for svc in ctx.services(*login_kinds()):
        if svc.transport != "tcp":
            continue
        try:
            c = await campaign(ctx, svc)
        except TargetError as exc:
            yield ctx.result(Verdict.inconclusive, f"port {svc.port}: {exc}",
                             target=ctx.target(svc), evidence={"reason": str(exc)})  # fmt: skip
            continue
        yield judge(ctx, svc, c)
