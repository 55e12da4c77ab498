"""Logical access to interfaces (NIST IR 8259A LAI-1..3).

`access.unexpected-port` (LAI-1). A port found open on the device's IPv6 addresses only fails
whatever the profile says (medium; high for a cleartext admin service): IPv4 filtering and
IPv4-only testing never see it; the evidence names the address family and the addresses. With a
model profile (`strict_ports: true`) every open port the profile does not list fails: medium, high
when it is a cleartext admin service or answers with a shell prompt unasked (unauthenticated). With
a generic profile (`strict_ports: false`) nothing is known of the maker's intent, so each open port
the profile does not list is graded by what it is: an encrypted standard service (https, ssh,
mqtts, other TLS) passes; plain HTTP fails low; other named cleartext services (mqtt, rtsp, ...)
fail medium; telnet, FTP, r-services, raw shells and unidentified services fail high (an unknown
open port is the riskiest: nobody knows what it does).

`access.cleartext-admin` (LAI-1): telnet, FTP, TFTP and the r-services (rlogin/rsh/rexec), and any
port that shows a shell prompt without being asked to log in, fail per port; none passes.

`access.anonymous-mqtt` (LAI-2): an anonymous CONNECT accepted on an MQTT or MQTTS port fails,
high when a subscription to `#` then receives a message within Timeouts.mqtt_wait_s (the topics
seen are the evidence), medium when nothing arrived in that time; refused passes.

`access.unauthenticated-interface` (LAI-2): the profile's admin, status and upload paths and a
small generic list (profiles/data/admin-paths.txt) are fetched without credentials on every HTTP(S)
port; a 2xx answer with content of its own fails (admin and upload high, status medium). Every
answer is compared with the port's controls (`controls`, checks/clients/pages.py): a random path
and the login page. A 2xx that is the login page is no finding; one that is the page any path
gets (generic HTML similarity) is no finding either, and a port where no path could be told
apart from that page is inconclusive. Redirects on the port are followed: the page is judged
where the redirect only adds a slash (/admin -> /admin/); one to another page shows no admin
page there. A port passes only where some path asks for authentication (401/403, the login
page); a port that serves none of the paths is not_applicable (an open UI at `/` was not
judged). A login service that accepts a wrong password (seen by
the shared login campaign of configuration.default-login) fails here too. On every RTSP port
the stream paths of profiles/data/rtsp-paths.txt are asked with DESCRIBE (never SETUP or PLAY)
without credentials: a stream description (SDP) fails high; no description and a login asked for
(401/403) passes; only 404s or no answer is inconclusive (a stream may live at another path).
A TFTP server (UDP) gets a read request of a random name (nothing to transfer): TFTP has no
authentication, so one that looks the name up ("file not found") or sends data fails high. A
device with a UPnP description (SSDP LOCATION) gets the read-only control actions of
profiles/data/upnp-read-actions.txt (GetExternalIPAddress, GetGenericPortMappingEntry, ...) on
its services' control URLs without credentials: an action that runs fails high (the same URL
takes AddPortMapping); refusals (HTTP 401/403, UPnP 606+) pass. On a CoAP port the resources
that /.well-known/core lists are read with GET (never PUT or POST): one read without auth fails
(high when the device describes it as an actuator or parameter), 4.01/4.03 on all passes.

`access.no-lockout` (LAI-3) runs after the login checks (order 10) and judges each login
service's guard: a named lockout after failures passes (HTTP 429, a lockout page in a 200/401/403
body, a protocol's own code such as an SSH DISCONNECT or FTP 421), and so do the right
credentials refused after failures (retried once when a default was found). A bare timeout,
reset, refused connection or slowdown after failures is no lockout (a fault or the host's own
load looks the same): inconclusive. threshold + 1 failures with no sign fail. The threshold is
the profile's `credentials.lockout.threshold`, or 5 when the profile documents none (a common
default; EN 303 645 5.1-5 leaves the number open). With an account lockout documented, the check
adds wrong attempts with one throwaway username per service until threshold + 1, within the
guard's budget (configuration.default-login leaves that much in reserve). With a source ban the
scan stays below the threshold on purpose: inconclusive, with the reason. MQTT is not judged:
brokers authenticate machines and a lockout there would be a remote denial of service.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from lanprobe import datacache
from lanprobe.checks.campaign import (
    LOCKOUT_KINDS,
    Campaign,
    campaign,
    guarded_attempt,
    wrong_password,
)
from lanprobe.checks.clients import datagram, pages, upnp
from lanprobe.checks.clients import http as http_client
from lanprobe.checks.clients import mqtt as mqtt_client
from lanprobe.checks.clients import rtsp as rtsp_client
from lanprobe.checks.clients import telnet as telnet_client
from lanprobe.checks.clients.login import is_named_lockout
from lanprobe.checks.context import CheckContext, Timeouts
from lanprobe.checks.logins import attempt
from lanprobe.checks.registry import Cost, check
from lanprobe.discovery import coap, udp
from lanprobe.errors import TargetError
from lanprobe.model import Capability, Result, Service, Severity, Verdict
from lanprobe.observations import page_controls
from lanprobe.paths import DATA_DIR, data_file

# Service kinds and nmap names of cleartext admin services.
CLEARTEXT_ADMIN = frozenset(
    {"telnet", "ftp", "tftp", "login", "shell", "exec", "rlogin", "rsh", "rexec"}
)
# snmpv3: an agent that answered SNMPv3 only (user-based security), no v1/v2c community.
ENCRYPTED = frozenset({"https", "ssh", "mqtts", "tls", "ssl", "imaps", "pop3s", "ldaps", "snmpv3"})
# Standard services that carry no login and no data worth protecting (time): a generic profile
# passes them.
NO_CLEARTEXT_LOGIN = frozenset({"ntp"})
# Kinds we know are a protocol other than a raw shell: no banner probe for those.
KNOWN_PROTOCOLS = frozenset(
    {"http", "https", "ssh", "mqtt", "mqtts", "rtsp", "tls", "ftp", "telnet", "ssdp", "upnp",
     "domain", "mdns", "snmp", "ntp", "dhcps", "dhcpc"}
)  # fmt: skip
UNKNOWN_NAMES = frozenset({"", "unknown", "tcpwrapped"})
DEFAULT_LOCKOUT_THRESHOLD = 5
MAX_FETCH_ERRORS = 3


# --- shared observations -----------------------------------------------------------------------


def _prompts(ctx: CheckContext) -> telnet_client.Prompts:
    return telnet_client.Prompts.load(ctx.options.data_file("login-prompts.txt"))


async def shell_banner(ctx: CheckContext, svc: Service) -> str | None:
    """The banner of an unidentified TCP port when it is a shell prompt, else None (shared)."""

    async def probe() -> str | None:
        try:
            text = await telnet_client.read_banner(ctx.address(svc), svc.port,
                                                   timeouts=ctx.timeouts)  # fmt: skip
        except TargetError:
            return None
        if _prompts(ctx).match(text, ("shell",)) and not _prompts(ctx).match(
            text, ("login", "password")
        ):
            return " ".join(text.split())[-120:]
        return None

    return await ctx.session.observe(f"shell-banner:{svc.port}", probe)


def _needs_banner(ctx: CheckContext, svc: Service) -> bool:
    return svc.transport == "tcp" and ctx.kind(svc) not in KNOWN_PROTOCOLS


def _svc_ev(ctx: CheckContext, svc: Service) -> dict[str, Any]:
    ev: dict[str, Any] = {"port": svc.port, "transport": svc.transport, "kind": ctx.kind(svc)}
    for key in ("name", "product", "version"):
        if getattr(svc, key):
            ev[key] = getattr(svc, key)
    return ev


def _no_ports(ctx: CheckContext) -> Result:
    """Discovery found no open port: a claim about the device's ports would rest on nothing."""
    return ctx.result(Verdict.not_applicable, "discovery found no open port on the device",
                      evidence={"open_ports": []})  # fmt: skip


# --- access.unexpected-port ----------------------------------------------------------------------


def grading_kind(kind: str, svc: Service) -> str:
    """The kind a generic profile grades: an SNMP agent that answered only SNMPv3 (discovery
    records the versions seen as its product, "SNMP v3") is `snmpv3`, not cleartext SNMP."""
    if kind == "snmp" and svc.product.strip() == "SNMP v3":
        return "snmpv3"
    return kind


def generic_grade(kind: str, shell: bool) -> Severity | None:
    """Severity of an unlisted port under a generic profile; None when it passes."""
    if shell or kind in CLEARTEXT_ADMIN or kind in UNKNOWN_NAMES:
        return Severity.high
    if kind in ENCRYPTED or kind in NO_CLEARTEXT_LOGIN:
        return None
    if kind == "http":
        return Severity.low
    return Severity.medium


def families(svc: Service) -> list[str]:
    return sorted({"ipv6" if ":" in a else "ipv4" for a in svc.addresses})


def _ipv6_only(ctx: CheckContext, svc: Service) -> Result:
    """A port open on the device's IPv6 addresses and not on its IPv4 ones: whatever the profile
    says, it escapes IPv4 filtering and IPv4-only testing, so it is reported."""
    kind = ctx.kind(svc)
    ev = {**_svc_ev(ctx, svc), "family": "ipv6", "addresses": list(svc.addresses),
          "note": "open over IPv6 but not over IPv4"}  # fmt: skip
    severity = Severity.high if kind in CLEARTEXT_ADMIN else Severity.medium
    return ctx.result(Verdict.fail, f"port {svc.port}/{svc.transport} ({kind}) is open on IPv6 "
                      f"only ({svc.addresses[0]})", target=ctx.target(svc), evidence=ev,
                      severity=severity)  # fmt: skip


@check("access.unexpected-port", Capability.logical_access, cost=Cost(requests=1))
async def unexpected_port(ctx: CheckContext) -> AsyncIterator[Result]:
    """An open port the profile does not allow."""
    if not ctx.device.services:
        yield _no_ports(ctx)
        return
    strict = ctx.profile.strict_ports
    found = False
    listed: list[int] = []
    for svc in ctx.device.services:
        if svc.ipv6_only:
            found = True
            yield _ipv6_only(ctx, svc)
            continue
        if ctx.profile.allowed_port(svc.port, svc.transport) is not None:
            listed.append(svc.port)
            continue
        kind = ctx.kind(svc)
        shell = await shell_banner(ctx, svc) if _needs_banner(ctx, svc) else None
        ev = _svc_ev(ctx, svc)
        if shell:
            ev["shell_prompt"] = shell
        if strict:
            severity = Severity.high if shell or kind in CLEARTEXT_ADMIN else Severity.medium
            ev["profile"] = ctx.profile.id
            found = True
            yield ctx.result(Verdict.fail, f"port {svc.port}/{svc.transport} ({kind}) is open "
                             f"but not in the {ctx.profile.id} profile", target=ctx.target(svc),
                             evidence=ev, severity=severity)  # fmt: skip
            continue
        graded = grading_kind(kind, svc)
        grade = generic_grade(graded, bool(shell))
        ev["rule"] = "generic profile: graded by service"
        if grade is None:
            what = "an encrypted" if graded in ENCRYPTED else "a login-free"
            yield ctx.result(Verdict.passed, f"port {svc.port} ({kind}) is {what} standard "
                             "service", target=ctx.target(svc), evidence=ev,
                             severity=Severity.info)  # fmt: skip
        else:
            found = True
            yield ctx.result(Verdict.fail, f"port {svc.port}/{svc.transport} ({kind}) is open",
                             target=ctx.target(svc), evidence=ev, severity=grade)  # fmt: skip
    # Strict: every port was listed. Generic: none was left to grade (each graded port already
    # has its own result).
    if not found and (strict or len(listed) == len(ctx.device.services)):
        yield ctx.result(
            Verdict.passed,
            f"every open port is allowed by the {ctx.profile.id} profile",
            evidence={"open_ports": sorted(listed)},
        )


# --- access.cleartext-admin ----------------------------------------------------------------------


@check("access.cleartext-admin", Capability.logical_access, cost=Cost(requests=1))
async def cleartext_admin(ctx: CheckContext) -> AsyncIterator[Result]:
    """Telnet, FTP or another cleartext admin service is open."""
    if not ctx.device.services:
        yield _no_ports(ctx)
        return
    found = False
    for svc in ctx.device.services:
        kind = ctx.kind(svc)
        shell = await shell_banner(ctx, svc) if _needs_banner(ctx, svc) else None
        if kind not in CLEARTEXT_ADMIN and not shell:
            continue
        found = True
        ev = _svc_ev(ctx, svc)
        what = kind
        if shell:
            ev["shell_prompt"] = shell
            what = "a shell without login"
        yield ctx.result(Verdict.fail, f"{what} in cleartext on port {svc.port}",
                         target=ctx.target(svc), evidence=ev)  # fmt: skip
    if not found:
        yield ctx.result(
            Verdict.passed,
            "no telnet, FTP or other cleartext admin service is open",
            evidence={"open_ports": sorted(s.port for s in ctx.device.services)},
        )


# --- access.anonymous-mqtt -----------------------------------------------------------------------


@check(
    "access.anonymous-mqtt",
    Capability.logical_access,
    services=("mqtt", "mqtts"),
    cost=Cost(requests=2, logs_in=True),
)
async def anonymous_mqtt(ctx: CheckContext) -> AsyncIterator[Result]:
    """An MQTT broker accepts anonymous clients and lets them read '#'."""
    for svc in ctx.services("mqtt", "mqtts"):
        kind = ctx.kind(svc)
        target = ctx.target(svc)
        guard = ctx.session.guard(kind, svc.port)
        if not await guard.acquire():
            yield ctx.result(Verdict.inconclusive, f"no attempt left on port {svc.port}",
                             target=target, evidence={"guard": guard.evidence()})  # fmt: skip
            continue
        out = await mqtt_client.connect(
            ctx.address(svc),
            svc.port,
            tls=kind == "mqtts" or svc.tls,
            timeouts=ctx.timeouts,
            subscribe_wait_s=ctx.timeouts.mqtt_wait_s,
        )
        guard.record(accepted=out.accepted, latency_s=out.latency_s, sign=out.sign)
        ev: dict[str, Any] = {
            "request": "CONNECT without username and password, then SUBSCRIBE '#'",
            "answer": out.answer,
            "reason_code": out.reason_code,
            "subscribed": out.subscribed,
            "messages": out.messages,
            "topics": out.topics,
            "wait_s": ctx.timeouts.mqtt_wait_s,
        }
        if out.error:
            ev["error"] = out.error
        if out.accepted is False:
            yield ctx.result(Verdict.passed, f"anonymous clients are refused on port {svc.port}",
                             target=target, evidence=ev)  # fmt: skip
        elif out.accepted is None:
            yield ctx.result(Verdict.inconclusive, f"no CONNACK verdict on port {svc.port}: "
                             f"{out.error}", target=target, evidence=ev)  # fmt: skip
        elif out.topics:
            yield ctx.result(Verdict.fail, f"anonymous clients read {len(out.topics)} topic(s) "
                             f"on port {svc.port}", target=target, evidence=ev,
                             severity=Severity.high)  # fmt: skip
        else:
            yield ctx.result(Verdict.fail, f"anonymous clients are accepted on port {svc.port} "
                             f"(nothing on '#' within {ctx.timeouts.mqtt_wait_s:g} s)",
                             target=target, evidence=ev, severity=Severity.medium)  # fmt: skip


# --- access.unauthenticated-interface ------------------------------------------------------------


def load_admin_paths(layers: Path | Sequence[Path]) -> dict[str, str]:
    """data/admin-paths.txt (of the highest profile layer that has one): `<role> <path>` lines,
    `#` comments. Parsed once (probe/datacache.py); the dict is shared, never changed."""
    path = data_file("admin-paths.txt", (layers,) if isinstance(layers, Path) else tuple(layers))
    return datacache.load(path, _parse_admin_paths)


def _parse_admin_paths(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        role, _, url_path = line.partition(" ")
        if role not in ("admin", "status", "upload") or not url_path.strip().startswith("/"):
            raise ValueError(f"{path}:{lineno}: expected '<admin|status|upload> /path'")
        out.setdefault(url_path.strip(), role)
    return out


def paths_to_try(ctx: CheckContext) -> dict[str, tuple[str, str]]:
    """path -> (role, where from): the profile's paths first, then the generic list."""
    ifaces = ctx.profile.interfaces
    out: dict[str, tuple[str, str]] = {}
    for role, paths in (
        ("admin", ifaces.admin_paths),
        ("upload", ifaces.upload_paths),
        ("status", ifaces.status_paths),
    ):
        for p in paths:
            out.setdefault(p, (role, "profile"))
    for p, role in load_admin_paths(ctx.options.profile_layers).items():
        out.setdefault(p, (role, "generic list"))
    public = set(ifaces.public_paths)
    return {p: v for p, v in out.items() if p not in public}


async def controls(ctx: CheckContext, svc: Service) -> pages.PageControls:
    """The port's page controls (probe/observations.py), shared by every capability's path
    checks."""
    return await page_controls(ctx.session, svc)


_SEVERITY_BY_ROLE = {"admin": Severity.high, "upload": Severity.high, "status": Severity.medium}


async def _http_port(ctx: CheckContext, svc: Service) -> AsyncIterator[Result]:
    kind = ctx.kind(svc)
    tls = kind == "https" or svc.tls
    target = ctx.target(svc)
    ctl = await controls(ctx, svc)
    if ctl.random is None:
        yield ctx.result(Verdict.inconclusive, f"port {svc.port} did not answer: {ctl.error}",
                         target=target, evidence={"reason": ctl.error})  # fmt: skip
        return
    seen: dict[str, Any] = {ctl.random_path: ctl.random.status}
    errors = 0
    open_paths: list[tuple[str, str, str, pages.Followed]] = []
    hits: dict[str, list[str]] = {"catch_all": [], "login": [], "too_large": []}
    told_apart = 0  # paths whose answer differs from the random path's
    asks = 0  # paths that ask for authentication (401/403, the login page)
    for path, (role, origin) in paths_to_try(ctx).items():
        try:
            got = await pages.follow(
                ctx.address(svc), svc.port, path, tls=tls, timeouts=ctx.timeouts,
                max_bytes=http_client.MAX_BODY_BYTES,
            )  # fmt: skip
        except TargetError as exc:
            errors += 1
            seen[path] = f"error: {exc}"
            if errors >= MAX_FETCH_ERRORS:
                break
            continue
        answer = got.answer
        seen[path] = answer.status if not got.redirected else f"{answer.status} via {got.path}"
        # A redirect is judged by the page it leads to when that is the path's own (/admin ->
        # /admin/); one to another page (the home page, the login page) shows no admin page.
        asks += answer.status in (401, 403)
        if not 200 <= answer.status < 300 or not got.same_resource():
            told_apart += answer.status != ctl.random.status or got.redirected
            if 200 <= answer.status < 300 and ctl.classify(answer, got.path) == "login":
                asks += 1  # redirected to the login page
            continue
        what = ctl.classify(answer, got.path)
        if what == "catch_all" and (answer.truncated or ctl.random.truncated):
            what = "too_large"  # the same only as far as the capped bodies go
        if what == "open":
            told_apart += 1
            open_paths.append((path, role, origin, got))
        else:
            told_apart += what == "login" and not ctl.catch_all_is_login
            asks += what == "login"
            hits[what].append(path)
    base_ev: dict[str, Any] = ctl.evidence()
    for name, key in (("catch_all", "same_as_random_path"), ("login", "login_page")):
        if hits[name]:
            base_ev[key + ("_paths" if name == "login" else "")] = hits[name]
    for path, role, origin, got in open_paths:
        answer = got.answer
        ev = {
            **base_ev,
            "request": f"GET {path} (no credentials)",
            "answer": answer.status_line,
            "response": answer.summary(),
            "role": role,
            "from": origin,
        }
        if got.redirected:
            ev["redirects"] = " -> ".join(got.chain)
        yield ctx.result(Verdict.fail, f"{role} path {path} answers {answer.status} without "
                         f"authentication on port {svc.port}", target=target, evidence=ev,
                         severity=_SEVERITY_BY_ROLE[role])  # fmt: skip
    if open_paths:
        return
    ev = {**base_ev, "answers": seen}
    if errors >= MAX_FETCH_ERRORS:
        yield ctx.result(Verdict.inconclusive, f"port {svc.port}: too many failed requests",
                         target=target, evidence=ev)  # fmt: skip
        return
    if hits["too_large"]:
        ev["reason"] = (f"answers over {http_client.MAX_BODY_BYTES} bytes: their first bytes "
                        "match a random path's, the rest was not read")  # fmt: skip
        ev["too_large"] = hits["too_large"]
        yield ctx.result(Verdict.inconclusive, f"port {svc.port}: {len(hits['too_large'])} "
                         "path(s) answer 2xx with bodies too large to compare", target=target,
                         evidence=ev)  # fmt: skip
        return
    if ctl.catch_all and not ctl.catch_all_is_login and not told_apart:
        ev["reason"] = ("every path answers the page a random path gets: an admin page there "
                        "cannot be told apart from the server's any-path page")  # fmt: skip
        yield ctx.result(Verdict.inconclusive, f"port {svc.port} answers every path with the same "
                         "page: nothing can be told apart", target=target,
                         evidence=ev)  # fmt: skip
        return
    if not asks:
        # Nothing open, nothing protected: the paths are not there (404s, redirects away), so
        # an admin interface elsewhere (at `/`) was not judged. No pass over an empty set.
        ev["reason"] = "no listed path is served here: none asks for authentication"
        yield ctx.result(Verdict.not_applicable, f"none of the admin, status or upload paths is "
                         f"served on port {svc.port}", target=target, evidence=ev)  # fmt: skip
        return
    yield ctx.result(Verdict.passed, f"no admin, status or upload path answers without "
                     f"authentication on port {svc.port}", target=target,
                     evidence=ev)  # fmt: skip


def _accepts_any(ctx: CheckContext, svc: Service, c: Campaign) -> Result | None:
    if not c.accepts_any or c.success is None or c.proof is None:
        return None
    _, ok = c.success
    ev = {
        "interface": c.iface.describe() if c.iface else None,
        "accepted": ok.evidence(ctx.redact(ok.password)),
        "wrong_password": c.proof.evidence(ctx.redact(c.proof.password)),
        "note": "a random password was accepted: the interface authenticates nobody",
    }
    return ctx.result(Verdict.fail, f"port {svc.port} ({c.kind}) accepts any password",
                      target=ctx.target(svc), evidence=ev)  # fmt: skip


# --- RTSP streams ------------------------------------------------------------------------------

RTSP_PATHS_FILE = DATA_DIR / "rtsp-paths.txt"
RtspSeen = dict[str, "rtsp_client.RtspAnswer | str"]  # path -> answer, or why there is none


def judge_rtsp(seen: RtspSeen) -> tuple[Verdict, str, dict[str, Any]]:
    """DESCRIBE answers without credentials, path by path -> verdict, title, evidence.

    A stream description (2xx + SDP) fails; no description and at least one login asked for
    (401/403) passes; otherwise (every path unknown, or no answer) it cannot be told."""
    answers = {p: a.summary() if not isinstance(a, str) else {"error": a} for p, a in seen.items()}
    described = [p for p, a in seen.items() if not isinstance(a, str) and a.is_sdp]
    if described:
        first = seen[described[0]]
        assert not isinstance(first, str)
        ev = {"request": f"DESCRIBE {described[0]} (no credentials)", "answer": first.summary(),
              "described": described, "answers": answers}  # fmt: skip
        return Verdict.fail, f"RTSP stream {described[0]} is described without a login", ev
    refused = [p for p, a in seen.items() if not isinstance(a, str) and a.status in (401, 403)]
    if refused:
        ev = {"refused": refused, "answers": answers,
              "note": "no path answered a stream description without credentials"}  # fmt: skip
        return Verdict.passed, f"RTSP asks for a login ({len(refused)} of {len(seen)} paths)", ev
    errors = [p for p, a in seen.items() if isinstance(a, str)]
    reason = (
        "no RTSP answer" if len(errors) == len(seen) else
        "no known stream path: the camera neither described one nor asked for a login; a stream "
        "at another path was not checked"
    )  # fmt: skip
    return Verdict.inconclusive, reason, {"reason": reason, "answers": answers}


async def describe_paths(ip: str, port: int, paths: list[str], timeouts: Timeouts) -> RtspSeen:
    """DESCRIBE (no credentials) path by path, until one stream is described or too many fail."""
    seen: RtspSeen = {}
    for path in paths:
        try:
            seen[path] = await rtsp_client.describe(ip, port, path, timeouts)
        except TargetError as exc:
            seen[path] = str(exc)
            if sum(isinstance(a, str) for a in seen.values()) >= MAX_FETCH_ERRORS:
                break
            continue
        if seen[path].is_sdp:  # type: ignore[union-attr]
            break  # one stream described is the finding; ask no more
    return seen


async def _rtsp_port(ctx: CheckContext, svc: Service) -> Result:
    paths = rtsp_client.load_paths(ctx.options.data_file(RTSP_PATHS_FILE.name))
    seen = await describe_paths(ctx.address(svc), svc.port, paths, ctx.timeouts)
    verdict, title, ev = judge_rtsp(seen)
    severity = Severity.high if verdict is Verdict.fail else None
    return ctx.result(verdict, f"port {svc.port}: {title}", target=ctx.target(svc), evidence=ev,
                      severity=severity)  # fmt: skip


# --- TFTP reads -------------------------------------------------------------------------------


def judge_tftp(name: str, reply: dict[str, Any] | None) -> tuple[Verdict, str, dict[str, Any]]:
    """A read request of a name no device has -> verdict. TFTP has no authentication at all
    (RFC 1350 section 1): a server that looks the name up ("file not found") or sends data
    serves reads to anyone; "access violation" may mean reads are closed; silence tells nothing."""
    ev: dict[str, Any] = {"request": f"RRQ {name} (octet)", "answer": reply}
    if reply is None:
        ev["reason"] = "no answer to the read request"
        return Verdict.inconclusive, "TFTP did not answer", ev
    if reply["reply"] == "data" or reply.get("code") in (1, 0):
        ev["note"] = "TFTP has no authentication (RFC 1350): any file it has is readable"
        return Verdict.fail, "TFTP serves reads without authentication", ev
    ev["reason"] = f"the read was refused ({reply.get('meaning') or reply['reply']})"
    return Verdict.inconclusive, "TFTP refused the read; whether any file is served is unknown", ev


async def _tftp_port(ctx: CheckContext, svc: Service) -> Result:
    name = f"lanprobe-{secrets.token_hex(6)}.bin"
    timeout_s = min(ctx.timeouts.read_s, 2.0)
    try:
        got = await datagram.exchange(ctx.address(svc), svc.port, udp.tftp_read_request(name),
                                      any_port=True, timeout_s=timeout_s, retries=1,
                                      after=udp.tftp_stop)  # fmt: skip
    except OSError as exc:
        got = None
        name = f"{name} (send failed: {exc})"
    reply = udp.parse_tftp(got[0]) if got is not None else None
    verdict, title, ev = judge_tftp(name, reply)
    severity = Severity.high if verdict is Verdict.fail else None
    return ctx.result(verdict, f"port {svc.port}/udp: {title}", target=ctx.target(svc),
                      evidence=ev, severity=severity)  # fmt: skip


# --- CoAP resources -----------------------------------------------------------------------------


def judge_coap(
    links: list[coap.Link] | None, answers: dict[str, str]
) -> tuple[Verdict, str, dict[str, Any]]:
    """GETs without credentials (path -> CoAP code) -> verdict. A resource read (2.xx) fails,
    high when the device describes it as writable (an actuator or parameter, if=core.a/core.p:
    never written here); 4.01/4.03 on every resource passes; else inconclusive."""
    ev: dict[str, Any] = {"answers": answers}
    if links is None:
        ev["reason"] = "no readable /.well-known/core"
        return Verdict.inconclusive, "CoAP resources not listed", ev
    ev["resources"] = [link.path for link in links]
    read = [p for p, code in answers.items() if code.startswith("2.")]
    if read:
        writable = [link.path for link in links if link.path in read and link.declared_writable]
        ev["request"] = f"GET {read[0]} (CoAP, no credentials)"
        ev["read"] = read
        if writable:
            ev["declared_writable"] = writable
            ev["note"] = "declared writable by the device (if=core.a/core.p); never written here"
        return Verdict.fail, f"CoAP resources readable without auth: {', '.join(read)}", ev
    if answers and all(code in ("4.01", "4.03") for code in answers.values()):
        return Verdict.passed, f"CoAP refuses every resource without auth ({len(answers)})", ev
    ev["reason"] = "no resource was read or refused"
    return Verdict.inconclusive, "CoAP resources could not be judged", ev


async def _coap_port(ctx: CheckContext, svc: Service) -> Result:
    timeout_s = min(ctx.timeouts.read_s, 2.0)
    links: list[coap.Link] | None = None
    answers: dict[str, str] = {}
    try:
        wkc = await coap.get(
            ctx.address(svc), "/.well-known/core", port=svc.port, timeout_s=timeout_s
        )
        if wkc is not None and wkc.ok:
            links = coap.parse_links(wkc.payload.decode("utf-8", "replace"))
        for link in (links or [])[:8]:
            if not link.path.startswith("/") or link.path == "/.well-known/core":
                continue
            got = await coap.get(ctx.address(svc), link.path, port=svc.port, timeout_s=timeout_s)
            answers[link.path] = got.code if got is not None else "no answer"
    except (OSError, ValueError) as exc:
        answers["error"] = str(exc)
    verdict, title, ev = judge_coap(links, answers)
    writable = bool(ev.get("declared_writable"))
    severity = (Severity.high if writable else Severity.medium) if verdict is Verdict.fail else None
    return ctx.result(verdict, f"port {svc.port}/udp: {title}", target=ctx.target(svc),
                      evidence=ev, severity=severity)  # fmt: skip


# --- UPnP control -------------------------------------------------------------------------------

UPNP_ACTIONS_FILE = DATA_DIR / "upnp-read-actions.txt"


def judge_upnp(calls: list[upnp.CallOutcome]) -> tuple[Verdict, str, dict[str, Any]] | None:
    """Read-only control actions called without credentials -> verdict; None when no known
    action applies (nothing to say). A call that ran fails; refusals with none run pass; only
    unanswered or unknown-action calls are inconclusive."""
    tried = [c for c in calls if c.upnp_error != upnp.INVALID_ACTION]
    if not tried:
        return None
    ev: dict[str, Any] = {"calls": [c.summary() for c in calls]}
    ran = [c for c in tried if c.callable]
    if ran:
        ev.update(ran[0].summary())
        ev["note"] = ("read-only actions only; the same control URL takes AddPortMapping, which "
                      "opens the firewall (never called)")  # fmt: skip
        services = sorted({c.service_type.rsplit(":", 2)[-2] for c in ran})
        return Verdict.fail, f"UPnP control ({', '.join(services)}) answers without auth", ev
    if any(c.refused for c in tried):
        return Verdict.passed, "UPnP control actions refuse callers without credentials", ev
    ev["reason"] = "no control action answered or refused"
    return Verdict.inconclusive, "UPnP control could not be judged", ev


async def _upnp(ctx: CheckContext) -> Result | None:
    location = ctx.device.ssdp.get("location", "")
    if not location:
        return None
    # the description and control URLs name the (IPv4) address SSDP answered from
    desc = upnp.control_path(ctx.ip, location, location)
    if desc is None:
        return None
    port, tls, path = desc
    target = ctx.target(port=port, service="upnp")
    try:
        services = await upnp.description_services(ctx.ip, port, tls, path, ctx.timeouts)
    except TargetError as exc:
        return ctx.result(Verdict.inconclusive, f"UPnP description not read: {exc}",
                          target=target, evidence={"reason": str(exc)})  # fmt: skip
    calls: list[upnp.CallOutcome] = []
    for action in upnp.load_actions(ctx.options.data_file(UPNP_ACTIONS_FILE.name)):
        for stype, control in services:
            where = upnp.control_path(ctx.ip, location, control)
            if where is None or not stype.startswith(action.service_prefix):
                continue
            c_port, c_tls, c_path = where
            calls.append(await upnp.call(ctx.ip, c_port, c_tls, c_path, stype, action,
                                         ctx.timeouts))  # fmt: skip
    judged = judge_upnp(calls)
    if judged is None:
        return None
    verdict, title, ev = judged
    severity = Severity.high if verdict is Verdict.fail else None
    return ctx.result(verdict, title, target=target, evidence=ev, severity=severity)


@check(
    "access.unauthenticated-interface",
    Capability.logical_access,
    cost=Cost(requests=20, logs_in=True),
)
async def unauthenticated_interface(ctx: CheckContext) -> AsyncIterator[Result]:
    """An admin, status, upload or login interface answers without authentication."""
    produced = False
    for svc in ctx.services("http", "https"):
        async for res in _http_port(ctx, svc):
            produced = True
            yield res
    for svc in ctx.services("rtsp"):
        produced = True
        yield await _rtsp_port(ctx, svc)
    for svc in ctx.services("tftp"):
        if svc.transport == "udp":
            produced = True
            yield await _tftp_port(ctx, svc)
    for svc in ctx.services("coap"):
        if svc.transport == "udp":
            produced = True
            yield await _coap_port(ctx, svc)
    control = await _upnp(ctx)
    if control is not None:
        produced = True
        yield control
    for svc in ctx.services(*LOCKOUT_KINDS):
        if svc.transport != "tcp":
            continue
        try:
            c = await campaign(ctx, svc)
        except TargetError:
            continue  # default-login reports it
        finding = _accepts_any(ctx, svc, c)
        if finding is not None:
            produced = True
            yield finding
    if not produced:
        yield ctx.result(Verdict.not_applicable, "no HTTP or RTSP interface and no login service "
                         "that accepts a wrong password", evidence={})  # fmt: skip


# --- access.no-lockout ---------------------------------------------------------------------------


def throwaway_user() -> str:
    return f"lanprobe-{secrets.token_hex(4)}"


def _failures_in_a_row(by_account: bool, throwaway: int, campaign: int, documented: bool) -> int:
    """Failures that met no lockout, as evidence that nothing locks: the throwaway user's; else
    the campaign's, unless a documented lockout paced them (under its threshold per window, on
    purpose: never in a row)."""
    if by_account:
        return throwaway
    return 0 if documented else campaign


@check(
    "access.no-lockout",
    Capability.logical_access,
    services=LOCKOUT_KINDS,
    cost=Cost(requests=6, logs_in=True),
    order=10,
)
async def no_lockout(ctx: CheckContext) -> AsyncIterator[Result]:
    """Repeated failed logins are never slowed or refused."""
    lockout = ctx.profile.credentials.lockout
    threshold = lockout.threshold if lockout else DEFAULT_LOCKOUT_THRESHOLD
    produced = False
    for svc in ctx.services(*LOCKOUT_KINDS):
        if svc.transport != "tcp":
            continue
        kind = ctx.kind(svc)
        target = ctx.target(svc)
        try:
            c = await campaign(ctx, svc)
        except TargetError as exc:
            produced = True
            yield ctx.result(Verdict.inconclusive, f"port {svc.port}: {exc}", target=target,
                             evidence={"reason": str(exc)})  # fmt: skip
            continue
        if c.iface is None:
            continue  # no login there (default-login says why)
        produced = True
        guard = ctx.session.guard(kind, svc.port)
        ev: dict[str, Any] = {"threshold": threshold, "threshold_from":
                              "profile" if lockout else "generic default"}  # fmt: skip
        if c.accepts_any:
            ev["guard"] = guard.evidence()
            yield ctx.result(Verdict.not_applicable, f"port {svc.port} accepts any password: "
                             "nothing to lock", target=target, evidence=ev)  # fmt: skip
            continue
        probe: list[dict[str, Any]] = []
        # A throwaway account may be locked: with an account lockout documented, or on a device
        # nothing is known of beyond quick depth (after every other login attempt: this runs
        # last, and stops at the first sign).
        by_account = (lockout is not None and lockout.scope == "account") or (
            lockout is None and ctx.session.depth != "quick"
        )
        if by_account and not guard.signs:
            user = throwaway_user()
            ev["throwaway_user"] = user
            for _ in range(threshold + 1):
                res = await guarded_attempt(ctx, c.iface, user, wrong_password(), limits=[])
                if res is None:
                    break
                probe.append({"accepted": res.accepted, "answer": res.answer,
                              "latency_s": round(res.latency_s, 3),
                              **({"sign": res.sign} if res.sign else {})})  # fmt: skip
                if guard.locked_out or res.accepted is not False:
                    break
        ev["guard"] = guard.evidence()
        if probe:
            ev["throwaway_attempts"] = probe
        throwaway_failures = sum(1 for p in probe if p["accepted"] is False)
        named = [sign for sign in guard.signs_after_failure if is_named_lockout(sign)]
        bare = [sign for sign in guard.signs_after_failure if not is_named_lockout(sign)]
        if bare and not named and c.success is not None and c.proof is not None:
            # A reset or timeout proves nothing alone; the right credentials refused do.
            right = await attempt(ctx, c.iface, c.success[0].user, c.success[0].password)
            ev["right_credentials_again"] = right.evidence(ctx.redact(right.password))
            if right.accepted is False:
                named.append(f"the right credentials refused after {guard.failures} failures")
        if named:
            yield ctx.result(Verdict.passed, f"port {svc.port} reacts to failed logins: "
                             f"{named[0]}", target=target, evidence=ev)  # fmt: skip
        elif bare:
            ev["reason"] = (f"{bare[0]} after {guard.failures} failed login(s): a ban looks "
                            "like this, so do a fault and load; no lockout named by the "
                            "device")  # fmt: skip
            yield ctx.result(Verdict.inconclusive, f"port {svc.port}: {bare[0]} after failed "
                             "logins, but no named lockout", target=target,
                             evidence=ev)  # fmt: skip
        elif guard.signs:
            # Refused, reset or silent before any login failed: a broken service, not a lockout.
            ev["reason"] = f"{guard.signs[0]} before any failed login"
            yield ctx.result(Verdict.inconclusive, f"port {svc.port} gave no login verdict: "
                             f"{guard.signs[0]} before any failed login", target=target,
                             evidence=ev)  # fmt: skip
        elif (n := _failures_in_a_row(by_account, throwaway_failures, guard.failures,
                                      lockout is not None)) >= threshold + 1:  # fmt: skip
            who = "of one throwaway user" if by_account else "in a row"
            yield ctx.result(Verdict.fail, f"{n} failed logins {who} on port {svc.port} met "
                             "no delay or refusal", target=target, evidence=ev)  # fmt: skip
        else:
            if lockout is not None and lockout.scope == "source":
                why = (f"the model bans the source address after {lockout.threshold} failures; "
                       "the scan stays below that on purpose")  # fmt: skip
            else:
                why = (f"{guard.failures} failure(s) within the attempt budget, "
                       f"{threshold + 1} needed to judge")  # fmt: skip
            ev["reason"] = why
            yield ctx.result(Verdict.inconclusive, f"not enough failed logins on port "
                             f"{svc.port} to judge a lockout", target=target,
                             evidence=ev)  # fmt: skip
    if not produced:
        yield ctx.result(Verdict.not_applicable, "no login service to judge", evidence={})
