"""The maker's declarations (NIST IR 8259 / 8259B): where to report vulnerabilities, how long the
model is supported, and the answers to NIST's pre-sale questions.

These are judged from the profile (the maker's ICS/IXIT) and, for the vulnerability contact, from
the device's own /.well-known/security.txt (RFC 9116). The declarations travel into run.json with
the profile record (ScanRun.profiles), so reports show them per model.

A profile that declares nothing at all (the generic fallback, or a model profile without a
`declarations:` block) says nothing about the maker: the checks are `inconclusive` ("no declaration
on file for this model"), not a device failure. With any declaration on file, what is missing or
over fails as the checks below say. A valid security.txt on the device passes either way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

from lanprobe.checks.clients import http as web
from lanprobe.checks.clients import securitytxt
from lanprobe.checks.context import CheckContext
from lanprobe.checks.registry import Cost, check
from lanprobe.errors import TargetError
from lanprobe.model import Capability, Result, Verdict
from lanprobe.profile_schema import Declarations, Foundational

# NIST IR 8259's questions, as the profile's Foundational fields name them.
QUESTIONS = {
    "customers": "who the expected customers are",
    "use_cases": "the expected use cases",
    "environment": "where and in what physical environment the device is used",
    "dependencies": "what the device depends on",
    "misuse": "how attackers might misuse it",
    "data": "what data it stores or sends",
    "support": "how long it is supported",
    "end_of_life": "when end of life comes and what still works after it",
    "problem_reporting": "how customers report problems and how reports are handled",
}


NO_DECLARATION = "no declaration on file for this model"


def today() -> date:
    return datetime.now(UTC).date()


def declares_anything(decl: Declarations) -> bool:
    """Whether the profile has any declaration on file (False: the maker's word is unknown)."""
    given = decl.foundational.model_dump()
    return bool(
        decl.support_end
        or decl.end_of_life.strip()
        or decl.vulnerability_contact.strip()
        or decl.declared
        or any(str(v).strip() for v in given.values())
    )


def _nothing_on_file(ctx: CheckContext, what: str, evidence: dict[str, Any]) -> Result:
    evidence["reason"] = f"{NO_DECLARATION}; the profile {ctx.profile.id} declares nothing"
    return ctx.result(
        Verdict.inconclusive,
        f"{what}: {NO_DECLARATION} (profile {ctx.profile.id})",
        evidence=evidence,
    )


async def _security_txt(ctx: CheckContext) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The first security.txt found on the device's web interfaces (HTTPS first), and the tries."""
    tried: list[dict[str, Any]] = []
    services = ctx.services("https") + ctx.services("http")
    for svc in services:
        tls_on = ctx.kind(svc) == "https"
        for path in (securitytxt.WELL_KNOWN, securitytxt.LEGACY):
            try:
                answer = await web.fetch(
                    ctx.address(svc),
                    svc.port,
                    path,
                    tls=tls_on,
                    timeouts=ctx.timeouts,
                    max_bytes=securitytxt.MAX_BYTES,
                )
            except TargetError as exc:
                tried.append({"port": svc.port, "path": path, "error": str(exc)})
                break
            tried.append({"port": svc.port, "path": path, "status": answer.status})
            ctype = answer.headers.get("content-type", "")
            if answer.status == 200 and "html" not in ctype.lower():
                parsed = securitytxt.parse(answer.body.decode("utf-8", "replace"))
                if parsed.fields:
                    return {
                        "url": web.base_url(ctx.address(svc), svc.port, tls_on) + path,
                        "parsed": parsed,
                        "content_type": ctype,
                    }, tried
    return None, tried


@check(
    "declarations.vulnerability-contact",
    Capability.declarations,
    cost=Cost(requests=2),
)
async def vulnerability_contact(ctx: CheckContext) -> AsyncIterator[Result]:
    """No security.txt on the device and no vulnerability contact in the profile."""
    found, tried = await _security_txt(ctx)
    declared = ctx.profile.declarations.vulnerability_contact
    evidence: dict[str, Any] = {"tried": tried, "profile_contact": declared or None}
    problems: list[str] = []
    if found is not None:
        parsed: securitytxt.SecurityTxt = found["parsed"]
        problems = parsed.problems()
        evidence["security_txt"] = {
            "url": found["url"],
            **parsed.summary(),
            "problems": problems,
            "advice": parsed.advice(),
        }
        if not problems:
            yield ctx.result(
                Verdict.passed,
                f"security.txt at {found['url']} names {', '.join(parsed.contacts)}",
                evidence=evidence,
            )
            return
    if declared:
        note = f" (the device's security.txt: {'; '.join(problems)})" if problems else ""
        yield ctx.result(
            Verdict.passed,
            f"the profile declares a vulnerability contact: {declared}{note}",
            evidence=evidence,
        )
        return
    if found is not None:
        yield ctx.result(
            Verdict.fail,
            f"security.txt at {found['url']} is not valid: {'; '.join(problems)}",
            evidence=evidence,
        )
    elif not declares_anything(ctx.profile.declarations):
        yield _nothing_on_file(ctx, "no security.txt on the device", evidence)
    else:
        yield ctx.result(
            Verdict.fail,
            "no security.txt on the device and no vulnerability contact in the profile",
            evidence=evidence,
        )


@check("declarations.support-period", Capability.declarations, cost=Cost(requests=0))
async def support_period(ctx: CheckContext) -> AsyncIterator[Result]:
    """The support period is undeclared or already over."""
    decl = ctx.profile.declarations
    end = decl.support_end
    evidence: dict[str, Any] = {
        "support_end": end.isoformat() if end else None,
        "end_of_life": decl.end_of_life or None,
        "profile": ctx.profile.id,
    }
    if end is None and not declares_anything(decl):
        yield _nothing_on_file(ctx, "support period unknown", evidence)
    elif end is None:
        yield ctx.result(
            Verdict.fail,
            f"profile {ctx.profile.id} declares no support end date",
            evidence=evidence,
        )
    elif end < today():
        yield ctx.result(Verdict.fail, f"support ended on {end.isoformat()}", evidence=evidence)
    else:
        days = (end - today()).days
        evidence["days_left"] = days
        yield ctx.result(
            Verdict.passed,
            f"supported until {end.isoformat()} ({days} days left)",
            evidence=evidence,
        )


@check("declarations.foundational", Capability.declarations, cost=Cost(requests=0))
async def foundational(ctx: CheckContext) -> AsyncIterator[Result]:
    """The profile leaves NIST's pre-sale questions unanswered."""
    answers: Foundational = ctx.profile.declarations.foundational
    given = answers.model_dump()
    missing = [name for name in QUESTIONS if not str(given.get(name, "")).strip()]
    evidence: dict[str, Any] = {
        "answered": [n for n in QUESTIONS if n not in missing],
        "missing": {n: QUESTIONS[n] for n in missing},
        "declared": dict(ctx.profile.declarations.declared),
    }
    if not declares_anything(ctx.profile.declarations):
        yield _nothing_on_file(ctx, "NIST IR 8259 questions unanswered", evidence)
    elif missing:
        yield ctx.result(
            Verdict.fail,
            f"{len(missing)} of {len(QUESTIONS)} questions unanswered: " + ", ".join(missing),
            evidence=evidence,
        )
    else:
        yield ctx.result(
            Verdict.passed,
            f"all {len(QUESTIONS)} foundational questions answered",
            evidence=evidence,
        )
