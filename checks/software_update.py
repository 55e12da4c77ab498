"""Software update (NIST IR 8259A SU-2, SU-4): how updates travel, whether they are signed,
whether the unit runs the latest firmware, and whether anyone may upload one.

The update endpoint is the profile's `update.manifest_url` (a path on the device, or a URL with
"{ip}"), or one the device announces in an mDNS TXT record (`update`, `update_url`, `manifest`).
Where the unit reports its firmware version: discovery's identifiers (mDNS TXT, UPnP), and the
profile's `update.firmware_sources`, each one of
    "mdns:<txt key>"         a TXT key of any mDNS service of the device
    "ssdp:<field>"           a field of the UPnP description (firmwareVersion...)
    "<path>[#<json key>]"    a JSON document on the device's web interface (dots walk objects),
                             read without credentials, then with the profile's lab credentials.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from lanprobe.checks import traffic_findings as outbound
from lanprobe.checks.clients import http as web
from lanprobe.checks.clients import manifest as mf
from lanprobe.checks.clients import mqtt as mqtt_client
from lanprobe.checks.clients import pages, update_discovery
from lanprobe.checks.clients.labauth import authorised_get
from lanprobe.checks.clients.login import Prompts
from lanprobe.checks.context import CheckContext, DeviceSession
from lanprobe.checks.registry import Cost, check
from lanprobe.checks.tls_findings import (
    certificate_problems,
    certificate_trust,
    protocol_problems,
    suite_problems,
)
from lanprobe.errors import TargetError
from lanprobe.model import Capability, Result, Target, Verdict
from lanprobe.observations import deep_scans, page_controls, service_kind_of, tls_observation

TXT_UPDATE_KEYS = ("update", "update_url", "updateurl", "manifest", "fwupdate")
INSTALLED_FIELDS = ("installed", "current", "current_version", "running", "installed_version")
UPLOAD_NOTE = b"lanprobe check: not a firmware image\n"


# --- the endpoint and its manifest --------------------------------------------------------------


def update_endpoint(session: DeviceSession) -> tuple[mf.Endpoint | None, str]:
    """The manifest's endpoint and where it came from; (None, why) when there is none."""
    upd = session.profile.update
    spec, source = upd.manifest_url, f"profile {session.profile.id}"
    if not spec:
        for svc in session.device.mdns:
            for key in TXT_UPDATE_KEYS:
                if svc.txt.get(key):
                    spec, source = svc.txt[key], f"mDNS TXT {key} of {svc.type}"
                    break
            if spec:
                break
    if not spec:
        return None, "the profile declares no update endpoint and the device announces none"
    port = upd.port
    scheme = upd.scheme
    if port is None and not scheme:
        # A path only: serve it from the device's HTTPS port if it has one, else HTTP.
        https = [s.port for s in session.device.services if service_kind_of(session, s) == "https"]
        if https:
            port, scheme = https[0], "https"
    try:
        endpoint = mf.resolve(
            spec, session.address(port) if port else session.ip, scheme=scheme, port=port
        )
    except ValueError as exc:
        return None, str(exc)
    if not session.scope.contains(endpoint.ip):  # a URL to another address must be in scope
        return None, f"the update endpoint {endpoint.url()} is outside the scan's scope"
    return endpoint, source


async def find_update_endpoint(session: DeviceSession) -> tuple[mf.Endpoint | None, str]:
    """`update_endpoint`, and for a device no profile describes (generic), the endpoint found on
    the device itself (checks/clients/update_discovery.py), looked for once per device."""
    endpoint, why = update_endpoint(session)
    if endpoint is not None or session.profile.id != "generic":
        return endpoint, why

    async def make() -> update_discovery.Discovery:
        kinds = {s.port: service_kind_of(session, s) for s in session.device.services}
        urls: list[str] = []
        for port, kind in kinds.items():  # retained messages of a broker that lets anyone in
            if kind in ("mqtt", "mqtts"):
                timeouts = session.options.timeouts
                tls = kind == "mqtts"
                out = await mqtt_client.connect(
                    session.address(port), port, tls=tls, timeouts=timeouts, subscribe_wait_s=1.5
                )
                urls += out.urls
        return await update_discovery.discover(
            session.device, kinds, session.options.timeouts, mqtt_urls=urls
        )

    found = await session.observe("update-discovery", make)
    if found.endpoint is None:
        return None, found.why_none()
    return found.endpoint, f"found on the device: {found.source} ({found.manifest_format})"


@dataclass
class ManifestFetch:
    endpoint: mf.Endpoint
    source: str
    status: int | None = None
    error: str = ""
    manifest: mf.Manifest | None = None
    signature: bytes | None = None  # detached signature, when one was found
    signature_url: str = ""
    signature_status: int | None = None
    notes: list[str] = field(default_factory=list)

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "manifest_url": self.endpoint.url(),
            "source": self.source,
            "status": self.status,
        }
        if self.error:
            out["error"] = self.error
        if self.manifest is not None:
            out["manifest"] = self.manifest.summary()
            if self.manifest.error:
                out["manifest_error"] = self.manifest.error
        if self.signature_url:
            out["signature_url"] = self.signature_url
            out["signature_status"] = self.signature_status
        if self.notes:
            out["notes"] = self.notes
        return out


async def _get(session: DeviceSession, ep: mf.Endpoint, max_bytes: int) -> web.HttpAnswer:
    session.scope.check(ep.ip)
    return await web.fetch(
        ep.ip,
        ep.port,
        ep.path,
        tls=ep.tls,
        timeouts=session.options.timeouts,
        max_bytes=max_bytes,
    )


def looks_like_html(answer: web.HttpAnswer) -> bool:
    """An HTML page (by its type or its first bytes): no signature or manifest is one."""
    head = answer.body[:512].lstrip().lower()
    return "html" in answer.headers.get("content-type", "").lower() or head.startswith(
        (b"<!doctype", b"<html", b"<head", b"<body")
    )


async def fetch_manifest(session: DeviceSession) -> ManifestFetch | None:
    """The manifest and its detached signature, fetched once per device."""

    async def make() -> ManifestFetch | None:
        endpoint, source = await find_update_endpoint(session)
        if endpoint is None:
            return None
        out = ManifestFetch(endpoint=endpoint, source=source)
        try:
            answer = await _get(session, endpoint, mf.MAX_MANIFEST_BYTES)
        except TargetError as exc:
            out.error = str(exc)
            return out
        out.status = answer.status
        if answer.status != 200:
            out.error = f"manifest answered {answer.status_line}"
            return out
        if answer.truncated:
            out.notes.append(f"manifest larger than {mf.MAX_MANIFEST_BYTES} bytes; truncated")
        out.manifest = mf.parse_any(answer.body, answer.headers.get("content-type", ""))
        sig_spec = session.profile.update.signature_url
        if not sig_spec and out.manifest.embedded_signature:
            return out
        # A detached signature: the profile's, else the usual "<manifest>.sig" beside it.
        sig_ep = (
            mf.resolve(sig_spec, endpoint.ip, scheme=endpoint.scheme, port=endpoint.port)
            if sig_spec
            else mf.Endpoint(endpoint.scheme, endpoint.ip, endpoint.port, endpoint.path + ".sig")
        )
        out.signature_url = sig_ep.url()
        try:
            sig = await _get(session, sig_ep, mf.MAX_SIGNATURE_BYTES)
        except TargetError as exc:
            out.notes.append(f"signature fetch failed: {exc}")
            return out
        out.signature_status = sig.status
        if sig.status == 200 and looks_like_html(sig):
            # a web app's any-path page (or an error page) where the signature should be
            out.notes.append("the signature path answers an HTML page, not a signature")
        elif sig.status == 200 and sig.body.strip():
            out.signature = sig.body
        return out

    return await session.observe("update-manifest", make)


def _na(ctx: CheckContext, why: str) -> Result:
    return ctx.result(Verdict.not_applicable, why, evidence={"reason": why})


def _target(ep: mf.Endpoint) -> Target:
    return Target(port=ep.port, service=ep.scheme)


# --- checks -------------------------------------------------------------------------------------


@check("update.transport", Capability.software_update, cost=Cost(requests=2))
async def update_transport(ctx: CheckContext) -> AsyncIterator[Result]:
    """The update endpoint is plain HTTP or its TLS fails the data-protection checks."""
    # Update polls the device made on its own (gateway mode) are judged as observed.
    observed = list(outbound.update_poll_verdicts(ctx.device.traffic))
    for judgement in observed:
        yield outbound.as_result(ctx, judgement, "update-poll")
    endpoint, why = await find_update_endpoint(ctx.session)
    if endpoint is None:
        if not observed:
            yield _na(ctx, why)
        return
    fetched = await fetch_manifest(ctx.session)
    evidence: dict[str, Any] = fetched.evidence() if fetched else {}
    image_url = ""
    if fetched and fetched.manifest is not None:
        value = fetched.manifest.data.get("url") or fetched.manifest.data.get("image")
        image_url = value if isinstance(value, str) else ""
    problems: list[str] = []
    unverified = ""  # TLS sound but for a trust no given CA could judge
    if not endpoint.tls:
        problems.append(f"manifest served over plain HTTP ({endpoint.url()})")
    if image_url.lower().startswith("http://"):
        problems.append(f"firmware image over plain HTTP ({image_url[:200]})")
    if endpoint.tls:
        obs = await tls_observation(ctx.session, endpoint.port)
        if not obs.decided:
            yield ctx.result(
                Verdict.inconclusive,
                f"update port {endpoint.port} finished no TLS handshake in time",
                target=_target(endpoint),
                evidence={**evidence, "reason": obs.error},
            )
            return
        if not obs.is_tls:
            problems.append(f"port {endpoint.port} does not speak TLS ({obs.error})")
        else:
            deep = (await deep_scans(ctx.session)).get(endpoint.port)
            old = protocol_problems(obs, deep)
            if old:
                problems.append(f"TLS accepts {', '.join(old)}")
            suites = suite_problems(obs, deep)
            if suites["broken"] or suites["no_forward_secrecy"] or suites["vulnerabilities"]:
                problems.append("TLS accepts weak suites")
            problems.extend(f"certificate {p}" for p in certificate_problems(ctx.session, obs))
            trust = certificate_trust(ctx.session, obs)
            if trust.state == "unknown":
                unverified = f"certificate trust not verified: {trust.text}"
    if problems:
        evidence["problems"] = problems
        yield ctx.result(
            Verdict.fail,
            "updates travel unprotected: " + "; ".join(problems),
            target=_target(endpoint),
            evidence=evidence,
        )
    elif unverified:
        evidence["reason"] = unverified
        yield ctx.result(
            Verdict.inconclusive,
            f"update endpoint {endpoint.url()}: {unverified}",
            target=_target(endpoint),
            evidence=evidence,
        )
    else:
        yield ctx.result(
            Verdict.passed,
            f"updates are fetched over sound TLS ({endpoint.url()})",
            target=_target(endpoint),
            evidence=evidence,
        )


@check("update.signature", Capability.software_update, cost=Cost(requests=2))
async def update_signature(ctx: CheckContext) -> AsyncIterator[Result]:
    """The update manifest carries no signature valid under the profile's key."""
    endpoint, why = await find_update_endpoint(ctx.session)
    if endpoint is None:
        yield _na(ctx, why)
        return
    fetched = await fetch_manifest(ctx.session)
    assert fetched is not None
    evidence = fetched.evidence()
    target = _target(endpoint)
    if fetched.manifest is None:
        yield ctx.result(
            Verdict.inconclusive,
            f"no manifest to judge at {endpoint.url()}: {fetched.error}",
            target=target,
            evidence=evidence,
        )
        return
    man = fetched.manifest
    if man.error and fetched.signature is None:
        # Not JSON (or not an object): an embedded signature cannot be looked for, so the
        # manifest is not shown unsigned; a detached signature is still verified on the bytes.
        evidence["reason"] = f"the manifest could not be parsed: {man.error}"
        yield ctx.result(
            Verdict.inconclusive,
            f"the update manifest at {endpoint.url()} could not be parsed ({man.error}) and "
            "has no detached signature",
            target=target,
            evidence=evidence,
        )
        return
    if fetched.signature is None and man.embedded_signature and man.format != "json":
        yield ctx.result(
            Verdict.inconclusive,
            f"the {man.format} manifest carries a signature lanprobe does not verify (only JSON)",
            target=target,
            evidence=evidence,
        )
        return
    if fetched.signature is not None:
        signature, messages, where = fetched.signature, [man.raw], "detached"
    elif man.embedded_signature:
        signature, messages, where = (
            man.embedded_signature.encode(),
            mf.signed_messages(man),
            ("embedded"),
        )
    else:
        yield ctx.result(
            Verdict.fail,
            "the update manifest is unsigned",
            target=target,
            evidence=evidence,
        )
        return
    evidence["signature"] = where
    key_pem = ctx.profile.update.public_key
    if not key_pem:
        yield ctx.result(
            Verdict.inconclusive,
            f"a {where} signature is there, but the profile gives no public key to verify it",
            target=target,
            evidence=evidence,
        )
        return
    try:
        algorithm = mf.key_algorithm(mf.load_public_key(key_pem))
        valid = mf.verify(key_pem, messages, signature)
    except ValueError as exc:
        yield ctx.result(
            Verdict.error,
            f"the profile's update public key is unusable: {exc}",
            target=target,
            evidence=evidence,
        )
        return
    evidence["algorithm"] = algorithm
    if valid:
        yield ctx.result(
            Verdict.passed,
            f"the manifest's {where} signature verifies with the profile's {algorithm} key",
            target=target,
            evidence=evidence,
        )
    else:
        yield ctx.result(
            Verdict.fail,
            f"the manifest's {where} signature does not verify with the profile's {algorithm} key",
            target=target,
            evidence=evidence,
        )


# --- update.currency ----------------------------------------------------------------------------


def _json_value(data: Any, dotted: str) -> str:
    for part in dotted.split(".") if dotted else []:
        if not isinstance(data, dict):
            return ""
        data = data.get(part)
    if isinstance(data, str | int | float) and not isinstance(data, bool):
        return str(data).strip()
    return ""


async def _json_source(ctx: CheckContext, spec: str) -> tuple[str, str]:
    """Read a version from a JSON document on the device's web interface."""
    path, _, key = spec.partition("#")
    keys = [key] if key else list(mf.VERSION_FIELDS)
    lab = ctx.profile.credentials.lab
    for svc in ctx.services("https", "http"):
        tls_on = ctx.kind(svc) == "https"
        try:
            if lab is not None:
                got = await authorised_get(
                    ctx.address(svc),
                    svc.port,
                    path,
                    tls=tls_on,
                    cred=lab,
                    login=ctx.profile.interfaces.http_login,
                    timeouts=ctx.timeouts,
                )
                answer, how = got.answer, got.how
            else:
                answer = await web.fetch(
                    ctx.address(svc), svc.port, path, tls=tls_on, timeouts=ctx.timeouts
                )
                how = "no credentials"
        except TargetError:
            continue
        if answer.status != 200:
            continue
        try:
            data = json.loads(answer.body)
        except (ValueError, UnicodeDecodeError):
            continue
        for k in keys:
            value = _json_value(data, k)
            if value:
                return value, f"{path} on port {svc.port} ({how})"
    return "", ""


async def reported_version(ctx: CheckContext) -> tuple[str, str]:
    """The firmware version the unit reports, and where; ("", "") when none does."""
    fw = ctx.device.identifiers.get("fw")
    if fw is not None and fw.value:
        return fw.value, fw.source
    for spec in ctx.profile.update.firmware_sources:
        kind, _, rest = spec.partition(":")
        if kind == "mdns" and rest:
            for svc in ctx.device.mdns:
                if svc.txt.get(rest):
                    return svc.txt[rest], f"mDNS TXT {rest} of {svc.type}"
        elif kind == "ssdp" and rest:
            if ctx.device.ssdp.get(rest):
                return ctx.device.ssdp[rest], f"UPnP {rest}"
        elif spec.startswith("/"):
            value, where = await _json_source(ctx, spec)
            if value:
                return value, where
    found = (await find_update_endpoint(ctx.session))[0]
    fetched = await fetch_manifest(ctx.session) if found else None
    if fetched is not None and fetched.manifest is not None:
        for key in INSTALLED_FIELDS:
            value = _json_value(fetched.manifest.data, key)
            if value:
                return value, f"manifest field {key}"
    return "", ""


@check("update.currency", Capability.software_update, cost=Cost(requests=2))
async def update_currency(ctx: CheckContext) -> AsyncIterator[Result]:
    """The unit runs firmware older than the profile's latest."""
    latest = ctx.profile.update.latest_firmware
    if not latest:
        yield _na(ctx, f"profile {ctx.profile.id} names no latest firmware")
        return
    version, where = await reported_version(ctx)
    evidence: dict[str, Any] = {"latest": latest, "reported": version or None, "source": where}
    if not version:
        yield ctx.result(
            Verdict.inconclusive,
            "no interface reports the firmware version",
            evidence=evidence,
        )
        return
    try:
        order = mf.compare_versions(version, latest)
    except ValueError as exc:
        yield ctx.result(Verdict.inconclusive, f"cannot compare versions: {exc}", evidence=evidence)
        return
    if order < 0:
        yield ctx.result(
            Verdict.fail,
            f"firmware {version} is older than the latest {latest}",
            evidence=evidence,
        )
    else:
        yield ctx.result(
            Verdict.passed, f"firmware {version} is current (latest {latest})", evidence=evidence
        )


# --- update.unauthenticated-upload --------------------------------------------------------------


@check(
    "update.unauthenticated-upload",
    Capability.software_update,
    services=("http", "https"),
    cost=Cost(requests=4),
)
async def unauthenticated_upload(ctx: CheckContext) -> AsyncIterator[Result]:
    """A firmware upload endpoint accepts a request without authentication.

    The request is a multipart POST whose only part is a short text note: nothing a device could
    install, flash or even take for an image. The same POST to a random path is the control: an
    upload path that answers it alike cannot be told apart (inconclusive); a 2xx that is the login
    page asks for a login; a 4xx that complains of a missing anti-forgery token (a CSRF guard
    refuses any POST without one) is no sign of authentication (`judge_upload`).
    """
    paths = list(dict.fromkeys(ctx.profile.interfaces.upload_paths))
    if not paths:
        yield _na(ctx, f"profile {ctx.profile.id} lists no upload endpoint")
        return
    decided = False
    absent: list[str] = []
    same_as_any: list[str] = []
    prompts = Prompts.load(ctx.options.data_file("login-prompts.txt"))
    for svc in ctx.services("http", "https"):
        tls_on = ctx.kind(svc) == "https"
        ctl = await page_controls(ctx.session, svc)
        control = await _random_post(ctx, svc.port, ctl.random_path, tls_on)
        for path in paths:
            try:
                answer = await _post_note(ctx, svc.port, path, tls_on)
            except TargetError as exc:
                yield ctx.result(
                    Verdict.inconclusive,
                    f"POST {path} on port {svc.port}: {exc}",
                    target=ctx.target(svc),
                    evidence={"path": path, "reason": str(exc)},
                )
                decided = True
                continue
            evidence = {
                "path": path,
                "request": "POST multipart, one text part",
                **answer.summary(),
                **ctl.evidence(),
            }
            if control is not None:
                evidence["random_path_post"] = control.summary()
            token = web.token_complaint(answer, prompts)
            verdict, why = judge_upload(answer, path, ctl, control, token)
            if verdict is None:
                (same_as_any if why == "same as any path" else absent).append(
                    f"{svc.port}{path}: {answer.status}"
                )
                continue
            decided = True
            yield ctx.result(
                verdict,
                f"POST {path} on port {svc.port} {why}",
                target=ctx.target(svc),
                evidence=evidence,
            )
    if decided:
        return
    if same_as_any:
        yield ctx.result(
            Verdict.inconclusive,
            f"{len(same_as_any)} upload path(s) answer a POST like any random path: an upload "
            "endpoint there cannot be told apart",
            evidence={"same_as_random_path": same_as_any, "tried": absent},
        )
    else:
        yield ctx.result(
            Verdict.not_applicable,
            "no upload endpoint answers on the device",
            evidence={"tried": absent},
        )


def judge_upload(
    answer: web.HttpAnswer,
    path: str,
    ctl: pages.PageControls,
    control: web.HttpAnswer | None,
    token: str = "",
) -> tuple[Verdict | None, str]:
    """The verdict of one unauthenticated upload POST, compared with the same POST to a random
    path (`control`) and the port's login page; (None, why) when it says nothing: the answer
    any path gets, or no endpoint there. `token`: the answer's complaint about a missing
    anti-forgery token (a 4xx for it is no sign that credentials are needed)."""
    status = answer.status
    if token and 400 <= status < 500:
        return Verdict.inconclusive, (f"refused ({status}) for its anti-forgery token "
                                      f"({token!r}), not for credentials")  # fmt: skip
    if 200 <= status < 300:
        if control is not None and pages.same_page(answer, control, path, ctl.random_path):
            return None, "same as any path"
        if ctl.classify(answer, path) == "login":
            return Verdict.passed, f"answers the login page ({status})"
        return Verdict.fail, f"accepted without credentials ({status})"
    if status in (401, 403) or (300 <= status < 400 and "login" in answer.location):
        return Verdict.passed, f"needs authentication ({status})"
    if 300 <= status < 400 and not _redirects_alike(answer, control, path, ctl.random_path):
        # Told apart from any path, and not to a login: an accepted upload redirects too (PRG).
        return Verdict.inconclusive, (f"answered {status} to {answer.location or 'nowhere'} "
                                      "without asking for credentials")  # fmt: skip
    if status in (404, 405) or 300 <= status < 400:
        return None, "absent"
    return Verdict.inconclusive, f"answered {status} without asking for credentials"


def _redirects_alike(
    answer: web.HttpAnswer, control: web.HttpAnswer | None, path: str, random_path: str
) -> bool:
    """The POST to `path` is redirected as the one to a random path is (the port sends every
    request to TLS, or to one page): nothing of an upload endpoint shows."""
    if control is None or not 300 <= control.status < 400:
        return False
    return answer.location.replace(path, random_path) == control.location


async def _random_post(
    ctx: CheckContext, port: int, path: str, tls_on: bool
) -> web.HttpAnswer | None:
    """The control: the same POST to a path that cannot exist (None when it got no answer)."""
    try:
        return await _post_note(ctx, port, path, tls_on)
    except TargetError:
        return None


async def _post_note(ctx: CheckContext, port: int, path: str, tls_on: bool) -> web.HttpAnswer:
    """One unauthenticated multipart POST carrying a harmless text note."""
    ip = ctx.address(port)
    url = web.base_url(ip, port, tls_on) + path
    target = f"{ip}:{port}"
    files = {"file": ("lanprobe-check.txt", UPLOAD_NOTE, "text/plain")}
    deadline_s = web.answer_deadline_s(ctx.timeouts)  # a body that trickles in ends too
    try:
        async with (
            asyncio.timeout(deadline_s),
            web.new_client(tls_on, ctx.timeouts) as client,
            client.stream("POST", url, files=files) as resp,
        ):
            body = bytearray()
            async for chunk in resp.aiter_bytes():
                body.extend(chunk)
                if len(body) > 4096:
                    break
            return web.HttpAnswer(
                status=resp.status_code,
                reason=resp.reason_phrase,
                headers={k.lower(): v for k, v in resp.headers.items()},
                body=bytes(body[:4096]),
                truncated=len(body) > 4096,
                elapsed_s=0.0,
            )
    except (TimeoutError, *web.HTTPX_ERRORS) as exc:
        raise web.target_error(exc, f"POST {path}", target, deadline_s) from exc
