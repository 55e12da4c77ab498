"""The device API of hand-written check suites: what the pytest plugin's `device` fixture is.

One `DeviceUnderTest` wraps one device of a `ScanRun` (what the scan saw and decided) and can
also talk to the device live, inside the scan's scope and with timeouts:

    device.label, .ip, .profile, .identifier("serial")     who it is
    device.port(23).is_open, device.service("mqtt")        what discovery saw
    device.result("configuration.default-login")           the check's verdict(s) and evidence
    device.score, device.verdict, device.coverage          the baseline score of the device
    device.http.get("/api/status")                         a live HTTP(S) request (httpx)
    device.login("telnet", "root", "xc3511")               a live login attempt (lanprobe's clients)
    device.assert_fails("access.cleartext-admin", port=23) assertions that fail with the evidence

Assertion helpers hide their own frames (`__tracebackhide__`), so a failure reads as a plain test
failure at the test's line, with the device, the verdict and the evidence in the message.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import socket
import time
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

import httpx
from lanprobe import labels
from lanprobe.checkmeta import CheckMeta
from lanprobe.checks.context import CheckContext
from lanprobe.errors import ProbeTimeout, ScopeError
from lanprobe.model import (
    Capability,
    Device,
    DeviceScore,
    DeviceVerdict,
    Result,
    ScanRun,
    Service,
    Severity,
    Verdict,
)
from lanprobe.options import RunOptions, Timeouts
from lanprobe.profile_schema import Credential, Profile
from lanprobe.scope import Scope
from lanprobe.service_kind import profile_kind
from lanprobe.session import DeviceSession
from lanprobe.verdicts import worst_verdict

T = TypeVar("T")

MAX_HTTP_BODY_BYTES = 1024 * 1024
_EVIDENCE_CHARS = 600  # evidence shown per result in a failure message


def target_label(res: Result) -> str:
    """`23/tcp telnet`, `443/tcp`, or `device` for a result about the whole device."""
    return labels.target_label(res.target, no_port="device")


def evidence_text(evidence: dict[str, Any], limit: int = _EVIDENCE_CHARS) -> str:
    text = json.dumps(evidence, sort_keys=True, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_result(res: Result) -> str:
    """One result as two lines: verdict, target, title; then its evidence."""
    head = f"{res.verdict.value} {target_label(res)}: {res.title}"
    return f"{head}\n    evidence: {evidence_text(res.evidence)}" if res.evidence else head


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from sync code, also when an event loop already runs here
    (an async test): then in a fresh thread with its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class UnknownCheck(LookupError):
    """The run holds no result of that check for the device (a typo, or the check did not run)."""


# --- results -------------------------------------------------------------------------------------


class Results(Sequence[Result]):
    """The results of one check on one device: one per target (port), or one for the device.

    `verdict` is the worst of them (fail > error > inconclusive > pass > not_applicable);
    `evidence` is the evidence of the single result, or {target label: evidence} for several.
    Its repr carries titles and evidence, so `assert device.result(x).passed` explains itself.
    """

    def __init__(self, check_id: str, device_label: str, results: Sequence[Result]) -> None:
        if not results:
            raise UnknownCheck(f"no result of {check_id} on {device_label}")
        self.check_id = check_id
        self.device_label = device_label
        self._results = list(results)

    @overload
    def __getitem__(self, index: int) -> Result: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Result]: ...
    def __getitem__(self, index: int | slice) -> Result | Sequence[Result]:
        return self._results[index]

    def __len__(self) -> int:
        return len(self._results)

    def __iter__(self) -> Iterator[Result]:
        return iter(self._results)

    @property
    def verdict(self) -> Verdict:
        return worst_verdict([r.verdict for r in self._results])

    @property
    def verdicts(self) -> set[Verdict]:
        return {r.verdict for r in self._results}

    @property
    def passed(self) -> bool:
        return self.verdict == Verdict.passed

    @property
    def failed(self) -> bool:
        return self.verdict == Verdict.fail

    @property
    def inconclusive(self) -> bool:
        """Undecided: inconclusive or error (and nothing failed)."""
        return self.verdict in (Verdict.inconclusive, Verdict.error)

    @property
    def not_applicable(self) -> bool:
        return self.verdict == Verdict.not_applicable

    @property
    def severity(self) -> Severity:
        return max((r.severity for r in self._results), key=lambda s: s.rank)

    @property
    def titles(self) -> list[str]:
        return [r.title for r in self._results]

    @property
    def ports(self) -> list[int]:
        return sorted({r.target.port for r in self._results if r.target.port is not None})

    @property
    def evidence(self) -> dict[str, Any]:
        if len(self._results) == 1:
            return self._results[0].evidence
        out: dict[str, Any] = {}
        for i, res in enumerate(self._results):
            key = target_label(res)
            out[key if key not in out else f"{key} #{i + 1}"] = res.evidence
        return out

    def on(self, port: int, transport: str = "tcp") -> Results:
        """The results on one port; UnknownCheck when the check said nothing about it."""
        mine = [
            r for r in self._results if r.target.port == port and r.target.transport == transport
        ]
        if not mine:
            raise UnknownCheck(
                f"{self.check_id} on {self.device_label} has no result on {port}/{transport} "
                f"(targets: {', '.join(target_label(r) for r in self._results)})"
            )
        return Results(self.check_id, self.device_label, mine)

    def describe(self) -> str:
        lines = [f"{self.check_id} on {self.device_label}: {self.verdict.value}"]
        lines += ["  " + describe_result(r) for r in self._results]
        return "\n".join(lines)

    def __repr__(self) -> str:
        # One line: pytest shows it (shortened) in plain-assert explanations.
        parts = "; ".join(f"{target_label(r)} {r.verdict.value}: {r.title}" for r in self._results)
        return f"<Results {self.check_id} on {self.device_label}: {self.verdict.value} [{parts}]>"


# --- ports and live access -----------------------------------------------------------------------


@dataclass(frozen=True)
class Port:
    """One port as the scan saw it. `is_open` is discovery's view; `connects()` asks live."""

    number: int
    transport: str
    service: Service | None
    kind: str  # http, https, telnet, ... ("" when closed)
    _ip: str
    _scope: Scope

    @property
    def is_open(self) -> bool:
        return self.service is not None

    @property
    def is_closed(self) -> bool:
        return self.service is None

    @property
    def tls(self) -> bool:
        return bool(self.service and self.service.tls)

    def connects(self, timeout_s: float = 2.0) -> bool:
        """A live TCP connect to the port (scope-checked): True when it is accepted."""
        if self.transport != "tcp":
            raise ValueError("connects() tests TCP ports only")
        ip = self._scope.check(self._ip)
        try:
            with socket.create_connection((ip, self.number), timeout=timeout_s):
                return True
        except OSError:
            return False

    def __repr__(self) -> str:
        if self.service is None:
            return f"<Port {self.number}/{self.transport} closed>"
        svc = self.service
        what = " ".join(p for p in (self.kind, svc.product, svc.version) if p)
        return f"<Port {self.number}/{self.transport} open {what}{' tls' if svc.tls else ''}>"


class DeviceHttp:
    """Live HTTP(S) requests to one device: only to its address (scope-checked), never
    following redirects, with connect/read timeouts and a capped body. TLS certificates are
    not verified here (judging them is the data.tls-* checks' work)."""

    def __init__(self, dut: DeviceUnderTest) -> None:
        self._dut = dut

    def default_port(self) -> tuple[int, bool]:
        """The port requests go to when none is given: the first HTTPS service, else HTTP."""
        for kinds, tls in ((("https",), True), (("http",), False)):
            for svc in self._dut.services(*kinds):
                return svc.port, tls
        raise LookupError(f"{self._dut.label} has no HTTP or HTTPS service")

    def url(self, path: str, *, port: int | None = None, tls: bool | None = None) -> str:
        if not path.startswith("/"):
            raise ScopeError(f"give a path on the device (starting with /), not {path!r}")
        if port is None:
            port, default_tls = self.default_port()
        else:
            svc = self._dut.raw.service(port)
            default_tls = bool(svc and self._dut.kind(svc) in ("https", "tls"))
        use_tls = default_tls if tls is None else tls
        ip = self._dut.scope.check(self._dut.ip)
        host = f"[{ip}]" if ":" in ip else ip
        return f"{'https' if use_tls else 'http'}://{host}:{port}{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        port: int | None = None,
        tls: bool | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
        json_body: Any = None,
        timeout_s: float | None = None,
    ) -> httpx.Response:
        """One request; Unreachable, ProbeTimeout or ProtocolError when the device fails it.

        `timeout_s` bounds connect and each read (default: the run's connect_s and read_s); the
        whole answer must arrive within 3x the read timeout, so a device that drips an endless
        body ends in ProbeTimeout, not a hang."""
        from lanprobe.checks.clients import http as http_client

        url = self.url(path, port=port, tls=tls)
        t = self._dut.options.timeouts
        if timeout_s:
            t = Timeouts(connect_s=timeout_s, read_s=timeout_s)
        deadline = time.monotonic() + http_client.answer_deadline_s(t)
        target = url.split("/")[2]
        what = f"HTTP {method} {path}"
        # The checks' client settings (any TLS accepted for http and https URLs alike).
        settings = http_client.client_settings(True, t, user_agent="lanprobe-pytest")
        try:
            with httpx.Client(**settings) as client:
                req = client.build_request(method, url, headers=headers, data=data, json=json_body)
                resp = client.send(req, auth=_auth(auth), stream=True)
                try:
                    body = bytearray()
                    for chunk in resp.iter_bytes():
                        if time.monotonic() > deadline:
                            raise ProbeTimeout(
                                f"{what}: the answer did not end in time", target=target
                            )
                        body.extend(chunk)
                        if len(body) > MAX_HTTP_BODY_BYTES:
                            del body[MAX_HTTP_BODY_BYTES:]
                            break
                finally:
                    resp.close()
                return httpx.Response(
                    resp.status_code,
                    headers=resp.headers,
                    content=bytes(body),
                    request=resp.request,
                )
        except http_client.HTTPX_ERRORS as exc:
            raise http_client.target_error(exc, what, target) from exc

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)


def _auth(auth: httpx.Auth | tuple[str, str] | None) -> httpx.Auth | None:
    if isinstance(auth, tuple):
        return httpx.BasicAuth(*auth)
    return auth


@dataclass(frozen=True)
class Login:
    """One live login attempt. `accepted` None: the device gave no verdict (refused or reset
    connection, HTTP 429, timeout); `sign` names a possible lockout. The password is redacted
    from the repr and the evidence."""

    service: str
    port: int
    method: str  # basic, digest, form, telnet, ssh, ftp, mqtt
    user: str
    accepted: bool | None
    answer: str
    error: str
    sign: str
    evidence: dict[str, Any]

    def __repr__(self) -> str:
        state = {True: "accepted", False: "refused", None: "undecided"}[self.accepted]
        extra = f", sign {self.sign!r}" if self.sign else ""
        extra += f", error {self.error!r}" if self.error else ""
        return (
            f"<Login {self.method} {self.user!r} on {self.port}/{self.service}: {state}, "
            f"answer {self.answer!r}{extra}>"
        )


# --- the device ----------------------------------------------------------------------------------


class DeviceUnderTest:
    """One scanned device, its results and score, and live access inside the scan's scope."""

    def __init__(
        self,
        device: Device,
        run: ScanRun,
        *,
        profile: Profile,
        scope: Scope,
        options: RunOptions | None = None,
    ) -> None:
        self.raw = device
        self.run = run
        self.profile_data = profile
        self.scope = scope
        self.options = options or RunOptions()
        self.http = DeviceHttp(self)

    # who it is
    @property
    def key(self) -> str:
        return self.raw.key

    @property
    def ip(self) -> str:
        return self.raw.ip

    @property
    def mac(self) -> str | None:
        return self.raw.mac

    @property
    def vendor(self) -> str:
        return self.raw.vendor

    @property
    def profile(self) -> str:
        """The id of the profile the device matched (`generic` when none)."""
        return self.raw.profile or "generic"

    @property
    def label(self) -> str:
        return labels.device_label(self.profile, self.ip, self.key)

    def identifier(self, name: str) -> str | None:
        return self.raw.identifier(name)

    @property
    def lab_credentials(self) -> tuple[str, str] | None:
        """(user, password) the profile gives for authorised checks on the bench's units."""
        lab: Credential | None = self.profile_data.credentials.lab
        return (lab.user, lab.password) if lab else None

    # what discovery saw
    def kind(self, svc: Service) -> str:
        return profile_kind(self.profile_data, svc)

    def services(self, *kinds: str) -> list[Service]:
        """The open services, or those of the given kinds (http, https, ssh, mqtt, mqtts, ...)."""
        return [s for s in self.raw.services if not kinds or self.kind(s) in kinds]

    def service(self, kind: str) -> Service | None:
        """The first open service of `kind`, or None."""
        found = self.services(kind)
        return found[0] if found else None

    def port(self, number: int, transport: str = "tcp") -> Port:
        svc = self.raw.service(number, transport)
        return Port(
            number=number,
            transport=transport,
            service=svc,
            kind=self.kind(svc) if svc else "",
            _ip=self.ip,
            _scope=self.scope,
        )

    @property
    def open_ports(self) -> list[int]:
        return sorted(s.port for s in self.raw.services if s.transport == "tcp")

    # what the checks decided
    @property
    def results(self) -> list[Result]:
        return self.run.results_for(self.key)

    @property
    def check_ids(self) -> list[str]:
        return sorted({r.check_id for r in self.results})

    def result(self, check_id: str) -> Results:
        mine = [r for r in self.results if r.check_id == check_id]
        if not mine:
            raise UnknownCheck(
                f"no result of {check_id!r} on {self.label}; checks in this run: "
                f"{', '.join(self.check_ids) or 'none'}"
            )
        return Results(check_id, self.label, mine)

    @property
    def scores(self) -> DeviceScore | None:
        return self.run.scores.get(self.key)

    @property
    def score(self) -> float | None:
        s = self.scores
        return s.score if s else None

    @property
    def verdict(self) -> DeviceVerdict | None:
        s = self.scores
        return s.verdict if s else None

    @property
    def coverage(self) -> float:
        s = self.scores
        return s.coverage if s else 0.0

    def capability_score(self, capability: Capability | str) -> float | None:
        s = self.scores
        return s.capabilities.get(str(capability)) if s else None

    # live access
    def _session(self) -> DeviceSession:
        return DeviceSession(
            device=self.raw, profile=self.profile_data, scope=self.scope, options=self.options
        )

    def _login_service(self, service: str, port: int | None) -> Service:
        if port is not None:
            svc = self.raw.service(port)
            if svc is None:
                raise LookupError(f"{self.label}: port {port} is not open in the scan")
            return svc
        svc = self.service(service)
        if svc is None:
            kinds = ", ".join(sorted({self.kind(s) for s in self.raw.services})) or "none"
            raise LookupError(f"{self.label} has no {service} service (it has: {kinds})")
        return svc

    async def alogin(
        self, service: str, user: str, password: str, *, port: int | None = None
    ) -> Login:
        """One live login attempt (async form of `login`)."""
        from lanprobe.checks.campaign import find_interface
        from lanprobe.checks.logins import attempt as login_attempt

        svc = self._login_service(service, port)
        ctx = CheckContext(
            session=self._session(),
            check_id="pytest.login",
            meta=CheckMeta(capability=Capability.device_configuration, severity=Severity.info),
        )
        iface = await find_interface(ctx, svc)
        if isinstance(iface, str):
            raise LookupError(f"{self.label} port {svc.port}: {iface}")
        attempt = await login_attempt(ctx, iface, user, password)
        shown = ctx.redact(password)
        return Login(
            service=ctx.kind(svc),
            port=svc.port,
            method=iface.method,
            user=user,
            accepted=attempt.accepted,
            answer=attempt.answer,
            error=attempt.error,
            sign=attempt.sign,
            evidence=attempt.evidence(shown),
        )

    def login(self, service: str, user: str, password: str, *, port: int | None = None) -> Login:
        """One live login attempt on the device's `service` (http, https, telnet, ssh, ftp, mqtt,
        mqtts; or a given port), through the clients the checks use. Mind the model's lockout:
        every refused attempt counts on the device."""
        return run_sync(self.alogin(service, user, password, port=port))

    # assertions: failures carry the evidence
    def _results_to_assert(self, check_id: str, port: int | None = None) -> Results:
        """The results an assertion judges; a plain AssertionError (at the test's line) naming
        the results the device does have when there are none for the check or the port."""
        __tracebackhide__ = True
        mine = [r for r in self.results if r.check_id == check_id]
        if not mine:
            have = "\n".join("  " + _result_line(r) for r in self.results) or "  (none)"
            raise AssertionError(
                f"{self.label}: no result of {check_id}"
                f"{f' on port {port}' if port is not None else ''}; the results of this device "
                f"in run {self.run.run_id}:\n{have}"
            )
        if port is not None:
            on_port = [r for r in mine if r.target.port == port]
            if not on_port:
                have = "\n".join("  " + describe_result(r) for r in mine)
                raise AssertionError(
                    f"{self.label}: {check_id} has no result on port {port}; its results:\n{have}"
                )
            mine = on_port
        return Results(check_id, self.label, mine)

    def assert_verdict(
        self, check_id: str, expected: Verdict | str, *, port: int | None = None
    ) -> Results:
        __tracebackhide__ = True
        res = self._results_to_assert(check_id, port)
        want = Verdict(expected)
        if res.verdict != want:
            raise AssertionError(
                f"{self.label}: {check_id}{f' on port {port}' if port else ''} is "
                f"{res.verdict.value}, expected {want.value}\n{_indent(res)}"
            )
        return res

    def assert_passes(self, check_id: str, *, port: int | None = None) -> Results:
        __tracebackhide__ = True
        return self.assert_verdict(check_id, Verdict.passed, port=port)

    def assert_fails(self, check_id: str, *, port: int | None = None) -> Results:
        """The check found the flaw (for a known-bad model: the flaw is still detected)."""
        __tracebackhide__ = True
        return self.assert_verdict(check_id, Verdict.fail, port=port)

    def assert_not_applicable(self, check_id: str) -> Results:
        __tracebackhide__ = True
        return self.assert_verdict(check_id, Verdict.not_applicable)

    def assert_decided(self, check_id: str) -> Results:
        """The check reached a pass or a fail (no inconclusive, no error)."""
        __tracebackhide__ = True
        res = self._results_to_assert(check_id)
        undecided = [r for r in res if r.verdict in (Verdict.inconclusive, Verdict.error)]
        if undecided:
            raise AssertionError(
                f"{self.label}: {check_id} was not decided\n"
                + "\n".join("  " + describe_result(r) for r in undecided)
            )
        return res

    def assert_port_open(self, *ports: int) -> None:
        __tracebackhide__ = True
        missing = [p for p in ports if self.port(p).is_closed]
        if missing:
            raise AssertionError(
                f"{self.label}: port(s) {missing} not open; open: {self.open_ports}"
            )

    def assert_port_closed(self, *ports: int) -> None:
        __tracebackhide__ = True
        found = [self.port(p) for p in ports if self.port(p).is_open]
        if found:
            raise AssertionError(f"{self.label}: must not expose {found}")

    def assert_only_ports(self, *ports: int) -> None:
        """Exactly these TCP ports are open: nothing more, nothing missing."""
        __tracebackhide__ = True
        extra = [self.port(p) for p in self.open_ports if p not in ports]
        missing = sorted(set(ports) - set(self.open_ports))
        if extra or missing:
            raise AssertionError(
                f"{self.label}: open TCP ports {self.open_ports}, expected {sorted(ports)}"
                + (f"\n  not expected: {extra}" if extra else "")
                + (f"\n  missing: {missing}" if missing else "")
            )

    def assert_conforms(self) -> None:
        __tracebackhide__ = True
        if self.verdict != DeviceVerdict.conforms:
            bad = [
                r
                for r in self.results
                if r.verdict in (Verdict.fail, Verdict.inconclusive, Verdict.error)
                and r.severity.rank >= Severity.high.rank
            ]
            lines = ["  " + describe_result(r) for r in bad]
            score = self.scores
            if score is not None:  # capabilities below the baseline's minimum coverage
                cap_of = {why: why.split(":", 1)[0] for why in score.reasons}
                lines += [f"  {w}" for w, cap in cap_of.items() if cap in score.lacking_evidence]
            raise AssertionError(
                f"{self.label}: {self.verdict.value if self.verdict else 'no score'} "
                f"(score {self.score})\n" + "\n".join(lines)
            )

    def assert_login_refused(
        self, service: str, user: str, password: str, *, port: int | None = None
    ) -> Login:
        __tracebackhide__ = True
        out = self.login(service, user, password, port=port)
        if out.accepted is not False:
            raise AssertionError(
                f"{self.label}: login {user!r} on {service} expected refused, got {out}\n"
                f"    evidence: {evidence_text(out.evidence)}"
            )
        return out

    def assert_login_accepted(
        self, service: str, user: str, password: str, *, port: int | None = None
    ) -> Login:
        __tracebackhide__ = True
        out = self.login(service, user, password, port=port)
        if out.accepted is not True:
            raise AssertionError(
                f"{self.label}: login {user!r} on {service} expected accepted, got {out}\n"
                f"    evidence: {evidence_text(out.evidence)}"
            )
        return out

    def __repr__(self) -> str:
        verdict = self.verdict.value if self.verdict else "unscored"
        return f"<DeviceUnderTest {self.label} {verdict} score={self.score}>"


def _indent(res: Results) -> str:
    return "\n".join("  " + describe_result(r) for r in res)


def _result_line(res: Result) -> str:
    return f"{res.check_id} [{target_label(res)}] {res.verdict.value}: {res.title}"
