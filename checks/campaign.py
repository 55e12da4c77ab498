"""The login campaign: one per login service and device, shared by every check that judges
logins (`configuration.default-login`, `access.no-lockout`, `access.unauthenticated-interface`).

The candidates (checks/credentials.py) are tried on the service's login interface, all within
its login guard: the profile's attempt budget, its pacing, and a stop at the first sign of
lockout. When the profile documents an account lockout, no username gets more than threshold - 1
failures, and threshold + 1 attempts of the budget stay for `access.no-lockout`. When it
documents a ban of the source address, the device-wide budget (threshold - 1) is shared out over
the login services at quick depth, so that the scan never gets the bench banned.

A finding proves itself: after a pair is accepted, one wrong (random) password for the same user
must be refused on the same interface (`Campaign.proof`).

The campaign of one interface runs once per device (`DeviceSession.observe`), whichever check
asks first, so every check judges the same attempts. This module is no check module: check
modules import it, never one another.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field

from lanprobe.cancel import raise_if_cancelled
from lanprobe.checks.clients import http as http_client
from lanprobe.checks.clients import rtsp as rtsp_client
from lanprobe.checks.clients import weblogin
from lanprobe.checks.clients.login import LoginAttempt, is_named_lockout
from lanprobe.checks.context import CheckContext, DeviceSession
from lanprobe.checks.credentials import Pair, candidates
from lanprobe.checks.logins import (
    LoginInterface,
    attempt,
    login_kinds,
    method_for_kind,
)
from lanprobe.model import Service
from lanprobe.pacing import Limit
from lanprobe.profile_schema import HttpLogin

# Services whose lockout access.no-lockout judges (MQTT brokers authenticate machines; a lockout
# there would be a remote denial of service, so none is expected).
LOCKOUT_KINDS = ("http", "https", "telnet", "ssh", "ftp")
# Consecutive attempts without any verdict (protocol errors) after which we stop guessing.
MAX_UNJUDGED = 2


# --- login interfaces --------------------------------------------------------------------------


async def find_interface(ctx: CheckContext, svc: Service) -> LoginInterface | str:
    """The login interface of a service, or why there is none."""
    kind = ctx.kind(svc)
    if kind == "rtsp":  # the login sits on a stream path: find one that asks for it
        return await _find_rtsp_login(ctx, svc)
    method = method_for_kind(kind)
    if method is not None:
        tls = kind in method.tls_kinds or svc.tls
        return LoginInterface(kind=kind, method=method.name, port=svc.port, tls=tls,
                              ip=ctx.address(svc))  # fmt: skip
    if kind not in ("http", "https"):
        return f"{kind} is not a login service"
    tls = kind == "https" or svc.tls
    login = ctx.profile.interfaces.http_login
    if login is not None and login.port not in (None, svc.port):
        return f"the profile's HTTP login is on port {login.port}"
    if login is not None and login.kind in ("form", "json"):
        login, how = await _with_proof(ctx, svc.port, tls, login)
        return LoginInterface(kind=kind, method=login.kind, port=svc.port, tls=tls,
                              path=login.path, form=login, how=how)  # fmt: skip
    paths = [login.path] if login is not None else ["/", *ctx.profile.interfaces.admin_paths]
    challenge = await http_client.find_challenge(
        ctx.address(svc), svc.port, list(dict.fromkeys(paths)), tls=tls, timeouts=ctx.timeouts
    )
    if challenge is None and login is None:
        where, known = ctx.address(svc), web_login_paths(ctx)
        found = await weblogin.discover(where, svc.port, tls=tls, timeouts=ctx.timeouts,
                                        known=known)  # fmt: skip
        if found is not None:
            page = found.login.page or found.login.path
            seen = f"password form at {page}" if found.login.kind == "form" else ""
            return LoginInterface(kind=kind, method=found.login.kind, port=svc.port, tls=tls,
                                  path=found.login.path, form=found.login,
                                  how=tuple(found.how), seen=seen)  # fmt: skip
    if challenge is None:
        return f"no HTTP Basic or Digest challenge or web login found from {', '.join(paths)}"
    return LoginInterface(kind=kind, method=challenge.kind, port=svc.port, tls=tls,
                          path=challenge.path, realm=challenge.realm,
                          seen=f"HTTP {challenge.kind} challenge at {challenge.path}")  # fmt: skip


def web_login_paths(ctx: CheckContext) -> weblogin.WebLoginPaths:
    return weblogin.load_web_login_paths(ctx.options.data_file("web-login-paths.txt"))


async def _with_proof(
    ctx: CheckContext, port: int, tls: bool, login: HttpLogin
) -> tuple[HttpLogin, tuple[str, ...]]:
    """The profile's form/JSON login with a proof path: the profile's, else the first of `/`
    and the data file's protected paths that refuses without a login."""
    if login.protected:
        return login, (f"proof path {login.protected} (profile)",)
    found = await weblogin.find_protected(
        ctx.address(port), port, tls=tls, timeouts=ctx.timeouts, login=login,
        candidates=["/", *web_login_paths(ctx).protected],
    )  # fmt: skip
    if found is None:
        return login, ("no path that refuses without a login found",)
    path, status = found
    how = (f"proof path {path} refuses without a login ({status})",)
    return login.model_copy(update={"protected": path}), how


async def _find_rtsp_login(ctx: CheckContext, svc: Service) -> LoginInterface | str:
    """The first stream path (profiles/data/rtsp-paths.txt) whose DESCRIBE asks for a login."""
    paths = rtsp_client.load_paths(ctx.options.data_file("rtsp-paths.txt"))
    for path in paths:
        answer = await rtsp_client.describe(ctx.address(svc), svc.port, path, ctx.timeouts)
        if answer.is_sdp:
            return f"RTSP stream {path} is described without a login"
        if answer.status == 401 and answer.challenge() in ("basic", "digest"):
            return LoginInterface(kind="rtsp", method="rtsp", port=svc.port, tls=False, path=path,
                                  realm=answer.challenge())  # fmt: skip
    return f"no RTSP path of {len(paths)} asks for a login"


def login_limits(session: DeviceSession, kind: str, port: int, user: str) -> list[Limit]:
    """The failure limits one attempt of `user` on a service must stay under (probe/pacing.py):
    the profile's documented lockout (threshold - 1 per its window, per account or per source),
    else the profile's `window` (common thresholds, per account across the device and per
    service), else none (the maker documents that nothing locks)."""
    creds = session.profile.credentials
    lockout = creds.lockout
    if lockout is not None:
        n = max(1, lockout.threshold - 1)
        key = f"account:{user}" if lockout.scope == "account" else "source"
        return [Limit(key, n, lockout.window_s)]
    if creds.window is None:
        return []
    w = creds.window
    return [
        Limit(f"account:{user}", w.per_account, w.window_s),
        Limit(f"service:{kind}:{port}", w.per_service, w.window_s),
    ]


async def guarded_attempt(
    ctx: CheckContext,
    iface: LoginInterface,
    user: str,
    password: str,
    *,
    limits: list[Limit] | None = None,
    deadline: float | None = None,
) -> LoginAttempt | None:
    """One attempt through the service's login guard and the device's pacer; None when the
    guard allows no more or the pacer's next slot comes after `deadline` (monotonic s)."""
    session = ctx.session
    guard = session.guard(iface.kind, iface.port)
    if limits is None:
        limits = login_limits(session, iface.kind, iface.port, user)
    if deadline is None:  # no wait past the device's login time (none at quick depth)
        deadline = session.login_deadline()
    slot = await session.pacer.slot(limits, deadline)
    if slot is None:
        return None
    if not await guard.acquire():
        session.pacer.settle(slot, failed=False)
        return None
    result = await attempt(ctx, iface, user, password)
    session.pacer.settle(slot, failed=result.accepted is not True)
    guard.record(accepted=result.accepted, latency_s=result.latency_s, sign=result.sign)
    raise_if_cancelled()  # recorded; but a cancelled scan tries no more (3.11's wait_for)
    return result


def wrong_password() -> str:
    return "lanprobe-" + secrets.token_urlsafe(12)


# --- the campaign: one per login interface, shared by every check ------------------------------


@dataclass
class Campaign:
    """What trying the credentials on one service showed."""

    port: int
    kind: str
    iface: LoginInterface | None = None
    not_applicable: str = ""  # why there is nothing to try here
    tried: list[tuple[Pair, LoginAttempt]] = field(default_factory=list)
    success: tuple[Pair, LoginAttempt] | None = None
    proof: LoginAttempt | None = None  # the wrong-password attempt after a success
    accepts_any: bool = False
    stopped: str = ""  # lockout sign, budget or errors that ended the campaign early
    total: int = 0  # candidates there were
    defaults: int = 0  # of which documented defaults
    allowance: int = 0  # attempts the campaign could make (budget minus what stays reserved)
    depth: str = "quick"
    skipped: int = 0  # candidates passed over at quick depth (their account's window was full)
    waited_s: float = 0.0  # the device's time spent waiting for lockout windows so far
    resumed: list[str] = field(default_factory=list)  # bare signs waited out and retried
    anonymous: bool = False  # the login that worked is FTP's anonymous account

    @property
    def refused(self) -> list[Pair]:
        """The distinct candidates the device refused (a verdict, not an error)."""
        return list(dict.fromkeys(p for p, a in self.tried if a.accepted is False))

    @property
    def defaults_tried(self) -> int:
        return sum(1 for pair, _ in self.tried if pair.source.startswith("profile default"))


def is_anonymous_ftp(iface: LoginInterface, pair: Pair) -> bool:
    return iface.method == "ftp" and pair.user.lower() in ("anonymous", "ftp")


def lockout_reserve(session: DeviceSession, kind: str) -> int:
    lockout = session.profile.credentials.lockout
    if lockout is None or lockout.scope != "account" or kind not in LOCKOUT_KINDS:
        return 0
    return lockout.threshold + 1


async def campaign(ctx: CheckContext, svc: Service) -> Campaign:
    """The shared observation: the login campaign of one service (run once per device)."""
    c = await ctx.session.observe(
        f"login-campaign:{svc.transport}:{svc.port}", lambda: _run_campaign(ctx, svc)
    )
    record_login_interface(ctx.session, c)
    return c


def record_login_interface(session: DeviceSession, c: Campaign) -> None:
    """facts["login_interfaces"][port]: the login a campaign found, what the device showed of
    it (a challenge, a form) and whether it answered an attempt (data.tls-required judges a
    cleartext login wherever it was found, not only on `/`)."""
    if c.iface is not None:
        session.facts.setdefault("login_interfaces", {})[c.port] = {
            "interface": c.iface.describe(),
            "method": c.iface.method,
            "tls": c.iface.tls,
            "path": c.iface.path,
            "seen": c.iface.seen,
            "answered": any(a.accepted is not None for _, a in c.tried),
        }


# How long a campaign waits before retrying an attempt that ended in a bare timeout or reset.
RESUME_PAUSE_S = 5.0


def _may_resume(sign: str, depth: str, pair: Pair, retried: set[Pair]) -> bool:
    return depth != "quick" and not is_named_lockout(sign) and pair not in retried


def _resume_pause_s(ctx: CheckContext, left_s: float) -> float:
    lockout = ctx.profile.credentials.lockout
    pause = min(lockout.penalty_s, 60.0) if lockout is not None else RESUME_PAUSE_S
    return max(0.0, min(pause, left_s))


def _next_candidate(
    session: DeviceSession, kind: str, port: int, pending: list[Pair]
) -> tuple[Pair, list[Limit], float]:
    """The first pending candidate that need not wait for a lockout window (the list's order,
    a full account passed over for now); when all must wait, the one that waits least."""
    best: tuple[Pair, list[Limit], float] | None = None
    now = session.pacer.clock()  # one instant for all: equal waits keep the list's order
    for pair in pending:
        limits = login_limits(session, kind, port, pair.user)
        wait = session.pacer.wait_s(limits, now)
        if wait <= 0:
            return pair, limits, 0.0
        if best is None or wait < best[2]:
            best = (pair, limits, wait)
    assert best is not None
    return best


async def login_interface(ctx: CheckContext, svc: Service) -> LoginInterface | str:
    """`find_interface` once per port and device (GETs only, no login attempt): the campaign
    and data.tls-required, which judges a login seen on plain HTTP, share it."""
    return await ctx.session.observe(
        f"login-interface:{svc.transport}:{svc.port}", lambda: find_interface(ctx, svc)
    )


async def _run_campaign(ctx: CheckContext, svc: Service) -> Campaign:
    kind = ctx.kind(svc)
    out = Campaign(port=svc.port, kind=kind)
    found = await login_interface(ctx, svc)
    if isinstance(found, str):
        out.not_applicable = found
        return out
    out.iface = iface = found
    session = ctx.session
    out.depth = depth = session.depth
    pairs, out.defaults = candidates(session, kind, iface.realm)
    out.total = len(pairs)
    guard = session.guard(kind, svc.port)
    # The proof attempt is always reserved (issue 12): a found default must be provable.
    out.allowance = max(0, guard.remaining - lockout_reserve(session, kind) - 1)
    lockout = ctx.profile.credentials.lockout
    if depth == "quick" and lockout is not None and lockout.scope == "source":
        # A device-wide budget (threshold - 1): share it out so that more services get a try.
        n = sum(1 for s in ctx.services(*login_kinds()) if s.transport == "tcp")
        out.allowance = min(out.allowance, max(1, (lockout.threshold - 1) // max(1, n)))
    # Quick depth never waits for a lockout window (a candidate whose account is full is
    # skipped); deeper ones wait, until the campaign's time is up. The proof never waits: the
    # accepted attempt held a failure slot of every limit and gave it back.
    clock = session.pacer.clock
    end = session.login_deadline()  # one login time for all services of the device
    unjudged = 0
    retried: set[Pair] = set()
    pending = list(pairs)
    while pending:
        if len(out.tried) >= out.allowance:
            # An earlier check on this service may have stopped the guard (a timeout, a reset).
            spent = f"stopped earlier: {guard.locked_out}" if guard.locked_out else ""
            out.stopped = out.stopped or spent or "attempt budget spent"
            break
        pair, limits, wait = _next_candidate(session, kind, svc.port, pending)
        if depth == "quick" and wait > 0:
            out.skipped += len(pending)
            break  # one more failure could lock a real account or ban us
        if depth != "quick" and clock() + wait > end:
            out.stopped = (f"paced out: the next attempt would wait {wait:.0f} s for a lockout "
                           f"window; the device's logins may take "
                           f"{session.login_time_s:g} s")  # fmt: skip
            break
        pending.remove(pair)
        result = await guarded_attempt(ctx, iface, pair.user, pair.password, limits=limits)
        if result is None:
            out.stopped = guard.locked_out or "attempt budget spent"
            break
        out.tried.append((pair, result))
        if result.accepted is True:
            out.success = (pair, result)
            break
        if result.accepted is False:
            unjudged = 0
            if iface.method == "ssh" and not result.details.get("password_offered", True):
                out.not_applicable = "the SSH server offers no password authentication"
                return out
            continue
        if iface.method == "ssh" and result.error.startswith("the server did not offer"):
            out.not_applicable = "the SSH server offers no password authentication"
            return out
        if guard.locked_out and _may_resume(guard.locked_out, depth, pair, retried):
            # Wait out a bare timeout or reset and retry the attempt once: a loaded device
            # answers again, a ban does not (then the campaign ends inconclusive).
            retried.add(pair)
            pause = _resume_pause_s(ctx, end - clock())
            out.resumed.append(f"{guard.locked_out}: retried after {pause:.0f} s")
            await asyncio.sleep(pause)
            guard.resume()
            pending.insert(0, pair)
            continue
        if guard.locked_out:
            out.stopped = f"lockout sign: {guard.locked_out}"
            break
        unjudged += 1
        if unjudged >= MAX_UNJUDGED:
            out.stopped = f"no verdict from the device: {result.error or result.answer}"
            break
    if out.success is not None and is_anonymous_ftp(iface, out.success[0]):
        # FTP's anonymous account takes any password by definition (RFC 1635): no proof to make,
        # and no "accepts any password" to report; the anonymous login is the finding.
        out.anonymous = True
    elif out.success is not None:
        # The proof: the same user with a random password must be refused.
        user = out.success[0].user
        out.proof = await guarded_attempt(ctx, iface, user, wrong_password(), deadline=end)
        out.accepts_any = bool(out.proof and out.proof.accepted is True)
    out.waited_s = round(session.pacer.waited_s, 1)
    return out
