"""Data protection (NIST IR 8259A DP-1): TLS on every transport, and no cleartext where it is due.

The TLS facts of a port are measured once per device (`tls_observation`, tier 1; `deep_scans`,
tier 2 with sslyze) through the session's observation cache, and judged by the three TLS checks
here, by update.transport and by identification.shared-key.

What "weak" means here:
- protocol: anything below TLS 1.2 (SSLv2, SSLv3, TLS 1.0, TLS 1.1);
- suites: broken ones (NULL, anonymous, EXPORT, RC4, DES, 3DES, MD5), and suites without forward
  secrecy (static RSA key exchange), which Mozilla's intermediate profile and NIST SP 800-52r2's
  preference for ephemeral key exchange both leave out; Heartbleed and ROBOT count too;
- SSH (data.ssh-algorithms): SHA-1 key exchange and signatures (ssh-rsa), DSA host keys, RSA
  host keys below 2048 bits, CBC/RC4/3DES/64-bit-block ciphers, MD5 and truncated SHA-1 MACs, as
  profiles/data/ssh-algorithms.yaml lists them with their sources (checks/ssh_policy.py);
- certificate: expired or not yet valid, RSA/DSA below 2048 bits, SHA-1/MD5 signature,
  self-signed or not chained to the profile's CA or the run's trusted CAs, or names that match
  neither the device's address nor its hostname.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from lanprobe.checks import snmp as snmp_checks
from lanprobe.checks import ssh_policy
from lanprobe.checks.campaign import login_interface
from lanprobe.checks.clients import http as web
from lanprobe.checks.clients import pages, ssh_kex, tls
from lanprobe.checks.context import CheckContext
from lanprobe.checks.logins import HTTP_METHODS, LoginInterface
from lanprobe.checks.registry import Cost, check
from lanprobe.checks.tls_findings import (
    certificate_problems,
    certificate_trust,
    protocol_problems,
    suite_problems,
    trusted_cas,
)
from lanprobe.errors import TargetError
from lanprobe.model import Capability, Result, Service, Verdict
from lanprobe.observations import (
    TLS_KINDS,
    deep_scans,
    tls_observation,
    tls_ports,
)

# The TLS observations (probe/observations.py) and TLS findings (checks/tls_findings.py) live
# below the checks: data.tls-*, identification and update checks share them.


# --- checks -------------------------------------------------------------------------------------


def _undecided(ctx: CheckContext, svc: Service, obs: tls.TlsObservation) -> Result:
    what = (
        "accepts connections but finished no TLS handshake in time"
        if obs.timed_out
        else f"gave no TLS handshake to judge ({obs.error})"
    )
    return ctx.result(
        Verdict.inconclusive,
        f"port {svc.port} {what}",
        target=ctx.target(svc),
        evidence={"reason": obs.error, "duration_s": round(obs.duration_s, 2)},
    )


def _not_tls(ctx: CheckContext, svc: Service, obs: tls.TlsObservation) -> Result:
    return ctx.result(
        Verdict.not_applicable,
        f"port {svc.port} does not speak TLS ({obs.error})",
        target=ctx.target(svc),
        evidence={"reason": obs.error},
    )


async def tls_to_judge(
    ctx: CheckContext,
) -> tuple[list[Result], list[tuple[Service, tls.TlsObservation]]]:
    """The device's TLS ports to judge, and the results for the rest: no TLS service at all
    (not_applicable), a port that gave no handshake to judge (inconclusive), or a port that
    turned out not to speak TLS (not_applicable)."""
    ports = await tls_ports(ctx.session)
    if not ports:
        return [ctx.result(Verdict.not_applicable, "no TLS service on the device")], []
    early: list[Result] = []
    judge: list[tuple[Service, tls.TlsObservation]] = []
    for svc, obs in ports:
        if not obs.decided:
            early.append(_undecided(ctx, svc, obs))
        elif not obs.is_tls:
            early.append(_not_tls(ctx, svc, obs))
        else:
            judge.append((svc, obs))
    return early, judge


@check("data.tls-protocol", Capability.data_protection, cost=Cost(requests=12))
async def tls_protocol(ctx: CheckContext) -> AsyncIterator[Result]:
    """TLS below 1.2 (or any SSL) is accepted."""
    early, ports = await tls_to_judge(ctx)
    for res in early:
        yield res
    deep = await deep_scans(ctx.session) if ports else {}
    for svc, obs in ports:
        d = deep.get(svc.port)
        old = protocol_problems(obs, d)
        evidence: dict[str, Any] = {"tier1": obs.evidence()}
        if d is not None:
            evidence["tier2"] = {"versions": d.versions, "error": d.error or None}
            if not d.ok:
                evidence["untested"] = "SSLv2/SSLv3 (tier 2 did not finish)"
        if old:
            evidence["old_versions"] = old
            yield ctx.result(
                Verdict.fail,
                f"port {svc.port} accepts {', '.join(old)}",
                target=ctx.target(svc),
                evidence=evidence,
            )
        elif (d is None or not d.ok) and any(
            obs.versions.get(v) is None for v in ("TLSv1.0", "TLSv1.1")
        ):
            yield ctx.result(
                Verdict.inconclusive,
                f"port {svc.port}: TLS 1.0/1.1 could not be tried to the end",
                target=ctx.target(svc),
                evidence=evidence,
            )
        else:
            accepted = [v for v, ok in obs.versions.items() if ok]
            yield ctx.result(
                Verdict.passed,
                f"port {svc.port} accepts only {', '.join(accepted)}",
                target=ctx.target(svc),
                evidence=evidence,
            )


@check("data.tls-cipher", Capability.data_protection, cost=Cost(requests=200))
async def tls_cipher(ctx: CheckContext) -> AsyncIterator[Result]:
    """Weak cipher suites (broken, or without forward secrecy) are accepted."""
    early, ports = await tls_to_judge(ctx)
    for res in early:
        yield res
    deep = await deep_scans(ctx.session) if ports else {}
    for svc, obs in ports:
        d = deep.get(svc.port)
        found = suite_problems(obs, d)
        evidence: dict[str, Any] = {"tier1": obs.evidence(), **found}
        if d is not None:
            evidence["tier2"] = d.evidence()
        reasons = []
        if found["broken"]:
            kinds = sorted(set(found["broken"].values()))
            reasons.append(f"broken suites ({'; '.join(kinds)})")
        if found["no_forward_secrecy"]:
            reasons.append(f"{len(found['no_forward_secrecy'])} suites without forward secrecy")
        reasons.extend(found["vulnerabilities"])
        if reasons:
            yield ctx.result(
                Verdict.fail,
                f"port {svc.port} accepts " + ", ".join(reasons),
                target=ctx.target(svc),
                evidence=evidence,
            )
        elif d is None or not d.ok:
            why = d.error if d is not None else "tier 2 did not run"
            yield ctx.result(
                Verdict.inconclusive,
                f"port {svc.port}: RC4, 3DES and EXPORT suites could not be tested ({why})",
                target=ctx.target(svc),
                evidence=evidence,
            )
        else:
            yield ctx.result(
                Verdict.passed,
                f"port {svc.port} accepts only forward-secret, unbroken suites",
                target=ctx.target(svc),
                evidence=evidence,
            )


@check("data.tls-certificate", Capability.data_protection, cost=Cost(requests=1))
async def tls_certificate(ctx: CheckContext) -> AsyncIterator[Result]:
    """The certificate is expired, weak, SHA-1 signed, untrusted or for another name."""
    early, ports = await tls_to_judge(ctx)
    for res in early:
        yield res
    cas, notes = trusted_cas(ctx.session)
    for svc, obs in ports:
        problems = certificate_problems(ctx.session, obs)
        trust = certificate_trust(ctx.session, obs)
        evidence: dict[str, Any] = {
            "certificate": obs.cert.evidence() if obs.cert else None,
            "trusted_cas": [c.subject.rfc4514_string() for c in cas],
            "trust": {"state": trust.state, "reason": trust.text},
        }
        if notes:
            evidence["notes"] = notes
        if problems:
            evidence["problems"] = problems
            untested = ""
            if trust.state == "unknown":
                evidence["problems_not_judged"] = [f"trust: {trust.text}"]
                untested = f" (trust not judged: {trust.text})"
            yield ctx.result(
                Verdict.fail,
                f"port {svc.port} certificate: {'; '.join(problems)}{untested}",
                target=ctx.target(svc),
                evidence=evidence,
            )
        elif trust.state == "unknown":
            evidence["reason"] = trust.text
            yield ctx.result(
                Verdict.inconclusive,
                f"port {svc.port} certificate is valid and strong, but its trust was not "
                f"verified: {trust.text}",
                target=ctx.target(svc),
                evidence=evidence,
            )
        else:
            yield ctx.result(
                Verdict.passed,
                f"port {svc.port} certificate is valid, strong and trusted ({trust.text})",
                target=ctx.target(svc),
                evidence=evidence,
            )


# --- data.tls-required --------------------------------------------------------------------------

# Cleartext protocols that carry credentials (and the data after them) by design.
CLEARTEXT_CARRIERS = {
    "telnet": "logins and the whole session",
    "ftp": "logins and files",
    "rtsp": "credentials and media streams",
    "mqtt": "credentials and messages",
}
# Encrypted by design (SSH), or carrying no login (DNS): examined by their kind alone.
ENCRYPTED_BY_DESIGN = ("ssh",)
NO_LOGIN_KINDS = ("domain", "dns")
# Every HTTP login method a campaign may find (a JSON login API sends its password too).
HTTP_LOGIN_METHODS = HTTP_METHODS


async def _http_cleartext(ctx: CheckContext, svc: Service) -> tuple[str, dict[str, Any]]:
    """What a plain-HTTP port does with a visitor: "login" (a challenge or a password form on a
    page reached from `/` or the profile's login path, following local redirects), "redirect"
    (everything leads to https) or "open"."""
    starts = ["/"]
    login = ctx.profile.interfaces.http_login
    if login is not None and (login.port in (None, svc.port)) and login.path not in starts:
        starts.append(login.path)
    seen: list[dict[str, Any]] = []
    to_tls = False
    for start in starts:
        path: str | None = start
        chain: list[str] = []
        for _ in range(pages.MAX_REDIRECTS + 1):
            if path is None or path in chain:
                break
            chain.append(path)
            answer = await web.fetch(
                ctx.address(svc),
                svc.port,
                path,
                tls=False,
                timeouts=ctx.timeouts,
                max_bytes=16 * 1024,
            )
            seen.append({"path": path, **answer.summary()})
            where = (
                path if len(chain) == 1 else f"{path} (reached by redirects: {' -> '.join(chain)})"
            )
            if answer.status == 401 and answer.headers.get("www-authenticate"):
                scheme = answer.headers["www-authenticate"].split(" ", 1)[0]
                return "login", {
                    "answers": seen,
                    "login": f"HTTP {scheme} authentication at {where}",
                }
            if answer.shows_password_form():
                return "login", {"answers": seen, "login": f"password form at {where}"}
            if 300 <= answer.status < 400 and answer.location:
                path = pages.local_redirect(answer.location, ctx.address(svc), svc.port, tls=False)
                if path == "https":
                    to_tls = True
                    break
                continue
            break
    return ("redirect" if to_tls else "open"), {"answers": seen}


def _login_seen(ctx: CheckContext, svc: Service) -> dict[str, Any] | None:
    """A cleartext HTTP login that another check's login campaign found on this port: one the
    device showed (a challenge, a password form), or one that answered an attempt. A login only
    inferred (an API path that was never answered) is no observation."""
    found = ctx.session.facts.get("login_interfaces", {}).get(svc.port)
    if not found or found.get("tls") or found.get("method") not in HTTP_LOGIN_METHODS:
        return None
    return found if found.get("seen") or found.get("answered") else None


async def _http_login(ctx: CheckContext, svc: Service) -> tuple[str, dict[str, Any]]:
    """`_http_cleartext`, then every other observation of a login on the port: what a login
    campaign saw or got an answer from, else (no campaign ran: not selected, not applicable to
    the model) the campaign's own search past `/`, GETs only (admin paths' challenges, common
    login pages)."""
    what, evidence = await _http_cleartext(ctx, svc)
    seen = _login_seen(ctx, svc)
    if what != "login" and seen is not None:
        evidence["login"] = f"{seen['interface']} (found by the login campaign)"
        evidence["campaign"] = seen
        return "login", evidence
    if what == "open":
        iface = await login_interface(ctx, svc)  # the campaign's, when one ran
        if isinstance(iface, LoginInterface) and iface.seen and not iface.tls:
            evidence["login"] = f"{iface.describe()} ({iface.seen})"
            return "login", evidence
        if isinstance(iface, str):
            evidence["login_search"] = iface
    return what, evidence


@check(
    "data.tls-required",
    Capability.data_protection,
    services=(),
    cost=Cost(requests=3),
    order=10,  # after the login campaigns, whose interfaces it also judges
)
async def tls_required(ctx: CheckContext) -> AsyncIterator[Result]:
    """A login or data interface works in cleartext where TLS is expected.

    Every TCP port is examined: TLS where the profile or the service expects it, plain HTTP for a
    login reached from `/` (redirects followed), seen by a login campaign or, where none ran,
    found by the campaign's search (GETs only), and the protocols that
    carry credentials in cleartext by design. A port that could not be identified or examined
    leaves the device undecided; a device with no TCP port has nothing to judge, and says what
    the scan covered (`ScanCoverage`: TCP ports, UDP services, address families).
    """
    examined: list[str] = []
    not_examined: list[str] = []
    failed = False
    undecided = False  # a port that could not be examined (already inconclusive)
    for svc in ctx.device.services:
        if svc.transport == "udp" and ctx.kind(svc) == "snmp":
            obs = await snmp_checks.observe(ctx.session, svc.port)
            judged = snmp_checks.judge_cleartext(obs)
            if judged is not None:
                failed = True
                yield ctx.result(judged[0], judged[1], target=ctx.target(svc), evidence=judged[2])
            elif obs.answered:
                examined.append(f"{svc.port}/udp snmp: no SNMPv1/v2c community reads")
            else:  # silence says nothing about what the agent would carry
                not_examined.append(f"{svc.port}/udp (snmp): the agent did not answer")
            continue
        if svc.transport != "tcp":
            not_examined.append(f"{svc.port}/{svc.transport} ({ctx.kind(svc)}): not TCP")
            continue
        kind = ctx.kind(svc)
        declared = ctx.profile.allowed_port(svc.port, svc.transport)
        if (declared is not None and declared.tls) or kind in TLS_KINDS:
            # TLS is expected here (the profile, or the service's name): does it answer in TLS?
            obs = await tls_observation(ctx.session, svc.port)
            examined.append(f"{svc.port}/{kind}: {'TLS' if obs.is_tls else obs.error}")
            if not obs.decided:
                undecided = True
                yield _undecided(ctx, svc, obs)
            elif not obs.is_tls and declared is not None and declared.tls:
                failed = True
                yield ctx.result(
                    Verdict.fail,
                    f"the profile expects TLS on port {svc.port}; the device answers without",
                    target=ctx.target(svc),
                    evidence={"handshake": obs.error, "service": svc.name},
                )
            continue
        if kind == "http":
            try:
                what, evidence = await _http_login(ctx, svc)
            except TargetError as exc:
                undecided = True
                yield ctx.result(
                    Verdict.inconclusive,
                    f"HTTP port {svc.port} did not answer: {exc}",
                    target=ctx.target(svc),
                    evidence={"reason": str(exc)},
                )
                continue
            examined.append(f"{svc.port}/http: {what}")
            if what == "login":
                failed = True
                yield ctx.result(
                    Verdict.fail,
                    f"{evidence['login']} over plain HTTP on port {svc.port}",
                    target=ctx.target(svc),
                    evidence=evidence,
                )
            continue
        if kind in CLEARTEXT_CARRIERS:
            failed = True
            yield ctx.result(
                Verdict.fail,
                f"{kind} without TLS on port {svc.port} carries {CLEARTEXT_CARRIERS[kind]} "
                "in cleartext",
                target=ctx.target(svc),
                evidence={"service": svc.name, "product": svc.product},
            )
            continue
        if kind in ENCRYPTED_BY_DESIGN or kind in NO_LOGIN_KINDS:
            what = "encrypted protocol" if kind in ENCRYPTED_BY_DESIGN else "carries no login"
            examined.append(f"{svc.port}/{kind}: {what}")
            continue
        # Not identified: TLS would settle it; anything else may carry anything.
        obs = await tls_observation(ctx.session, svc.port, speculative=True)
        if obs.is_tls:
            examined.append(f"{svc.port}/{kind}: TLS")
        else:
            not_examined.append(f"{svc.port}/tcp ({kind or 'unknown'}): not identified, no TLS")
    summary: dict[str, Any] = {"examined": examined, "not_examined": not_examined}
    tcp_unknown = [n for n in not_examined if "/tcp " in n]
    if failed or undecided:
        return
    if tcp_unknown:
        yield ctx.result(
            Verdict.inconclusive,
            f"{len(tcp_unknown)} port(s) could not be identified: cleartext logins or data there "
            "cannot be ruled out",
            evidence={**summary, "reason": "; ".join(tcp_unknown)},
        )
    elif not examined:
        # Say what was looked for: the device's only service may sit where the scan never was.
        covered = ctx.coverage
        where = ""
        if covered is not None:
            n = covered.tcp_ports
            where = f" on the {n} TCP ports the scan covered" if n else " (no TCP port scan ran)"
        summary["scan_covered"] = covered.describe() if covered else "not recorded by this run"
        yield ctx.result(
            Verdict.not_applicable,
            f"no TCP service found on the device{where}: nothing to examine",
            evidence=summary,
        )
    else:
        yield ctx.result(
            Verdict.passed,
            f"no login or data interface in cleartext on {len(examined)} examined port(s)",
            evidence=summary,
        )


# --- data.ssh-algorithms --------------------------------------------------------------------------


@check(
    "data.ssh-algorithms",
    Capability.data_protection,
    services=("ssh",),
    cost=Cost(requests=2),
)
async def ssh_algorithms(ctx: CheckContext) -> AsyncIterator[Result]:
    """An SSH server offers weak key exchange, host-key types, ciphers or MACs (its KEXINIT,
    judged by profiles/data/ssh-algorithms.yaml; checks/ssh_policy.py has the rules)."""
    policy = ssh_policy.load_policy()
    for svc in ctx.services("ssh"):
        if svc.transport != "tcp":
            continue
        try:
            offer = await ssh_kex.read_kexinit(ctx.address(svc), svc.port, ctx.timeouts)
        except TargetError as exc:
            verdict, title, ev = ssh_policy.judge_ssh(None, None, policy, str(exc))
        else:
            bits = await ssh_kex.rsa_key_bits(ctx.address(svc), svc.port, offer, ctx.timeouts)
            verdict, title, ev = ssh_policy.judge_ssh(offer, bits, policy)
        yield ctx.result(verdict, f"port {svc.port}: {title}", target=ctx.target(svc), evidence=ev)
