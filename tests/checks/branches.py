"""Verdict branches of the check modules, and recorded cases (JSON) that reach them without a lab.

A verdict branch is one `ctx.result(...)` call in a module of checks/registry.py CHECK_MODULES
(or in the judge helpers next to them). A recorded case (tests/fixtures/recorded/*.json) is what a
scan observed of one device: the device as run.json has it (services, identifiers, mDNS, traffic),
its profile, and the session observations the check reads (`observations`: cache key -> JSON,
decoded into the observation's own type, see OBSERVATION_TYPES). The case runs the registered
check through the runner's `run_check` (tests/checks/recorded.py) with those observations already
in the session's cache, and its HTTP exchanges (`http`) answered from the recording; the device
keeps its recorded addresses, but nothing leaves meanwhile (`no_network`: every socket connect and
send is refused, no process starts), so a check that would need more than was recorded meets a
closed port instead of sending anything.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import contextlib
import dataclasses
import errno
import hashlib
import json
import socket
import subprocess
import sys
import tempfile
import types
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints
from unittest import mock

from lanprobe import observations
from lanprobe.checks import (
    identification,
    logical_access,
    software_update,
    state_awareness,
    traffic_findings,
)
from lanprobe.checks.campaign import Campaign
from lanprobe.checks.clients import datagram, ssh_kex
from lanprobe.checks.clients import ftp as ftp_client
from lanprobe.checks.clients import http as http_client
from lanprobe.checks.clients import mqtt as mqtt_client
from lanprobe.checks.clients import rtsp as rtsp_client
from lanprobe.checks.clients import ssh as ssh_client
from lanprobe.checks.clients import telnet as telnet_client
from lanprobe.checks.clients import tls as tls_client
from lanprobe.checks.clients.pages import PageControls
from lanprobe.checks.clients.tls import TlsObservation
from lanprobe.checks.clients.tls_deep import DeepObservation
from lanprobe.checks.clients.update_discovery import Discovery
from lanprobe.checks.context import BenchContext, CheckContext, DeviceSession, RunOptions, Timeouts
from lanprobe.checks.logins import LoginInterface
from lanprobe.checks.snmp import SnmpObservation
from lanprobe.checks.software_update import ManifestFetch
from lanprobe.discovery import coap
from lanprobe.errors import ProbeTimeout, ProtocolError, TargetError, Unreachable
from lanprobe.model import Device, Result, Service
from lanprobe.paths import BUILTIN_PROFILES
from lanprobe.profile_schema import Profile
from lanprobe.scope import Scope
from pydantic import BaseModel

from tests.checks import recorded

ROOT = Path(__file__).resolve().parents[2]
CASES_DIR = ROOT / "tests" / "fixtures" / "recorded"
# Every module of checks/ (not its clients) may hold verdict branches: the check modules and
# their judge helpers (tls_findings, traffic_findings); a new module is mapped without a change.
BRANCH_MODULES = tuple(sorted(p.stem for p in (ROOT / "checks").glob("*.py")))
# Observation cache keys (up to the first ':') -> the type the session holds for them.
OBSERVATION_TYPES: dict[str, Any] = {
    "identifiers": dict[str, tuple[str, str]],
    "ssh-hostkey": str,
    "snmp": SnmpObservation,
    "page-controls": PageControls,
    "tls": TlsObservation,
    "tls-ports": list[tuple[Service, TlsObservation]],
    "tls-deep": dict[int, DeepObservation],
    "login-campaign": Campaign,
    "login-interface": LoginInterface | str,
    "shell-banner": str | None,
    "update-discovery": Discovery,
    "update-manifest": ManifestFetch | None,
}
TARGET_ERRORS = {c.__name__: c for c in (Unreachable, ProbeTimeout, ProtocolError, TargetError)}


# --- HTTP exchanges: recorded answers by request ------------------------------------------------


def http_key(client: Any, port: int, path: str, tls: bool, kw: dict[str, Any]) -> str:
    """What identifies one HTTP request in a recording: method, port, TLS, path, credentials
    and body (the login checks send the same path with different pairs)."""
    auth = getattr(client, "auth", None)
    who = ""
    if auth is not None:
        who = getattr(auth, "_auth_header", "") or (
            f"{getattr(auth, '_username', b'')!r}:{getattr(auth, '_password', b'')!r}"
        )
    body = {k: kw.get(k) for k in ("data", "json_body", "content") if kw.get(k) is not None}
    if isinstance(body.get("content"), bytes):
        body["content"] = body["content"].decode("latin-1")
    method = kw.get("method", "GET")
    return json.dumps([method, port, tls, path, str(who), body], sort_keys=True, default=str)


def _by_key(recorded: list[dict[str, Any]], field: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for ex in recorded:
        out.setdefault(ex[field], []).append(ex)
    return out


def _next(answers: dict[str, list[dict[str, Any]]], key: str, what: str) -> dict[str, Any]:
    """The next recorded answer to `key` (the last one repeats); its TargetError is raised; a
    request not recorded is Unreachable."""
    queue = answers.get(key)
    if not queue:
        raise Unreachable(f"{what}: not in the recording")
    ex = queue.pop(0) if len(queue) > 1 else queue[0]
    if "error" in ex:
        raise TARGET_ERRORS.get(ex["error_type"], TargetError)(ex["error"])
    return ex


@contextmanager
def http_replay(exchanges: list[dict[str, Any]] | None) -> Iterator[None]:
    """http.request answers from the recording (in the order recorded, the last repeating); a
    request not recorded is Unreachable. Nothing is sent."""
    if exchanges is None:
        yield
        return
    answers = _by_key(exchanges, "request")

    async def request(client: Any, ip: str, port: int, path: str, *, tls: bool,
                      timeouts: Any, **kw: Any) -> http_client.HttpAnswer:  # fmt: skip
        key = http_key(client, port, path, tls, kw)
        ex = _next(answers, key, f"HTTP {kw.get('method', 'GET')} {path}")
        return decode(http_client.HttpAnswer, ex["answer"])  # type: ignore[no-any-return]

    with mock.patch.object(http_client, "request", request):
        yield


# --- other client calls: recorded answers by arguments --------------------------------------------

# Client functions checks call while they run (not through the session cache), by name. Their
# arguments identify a call, less the run's timeouts, payload bytes (random TFTP names, CoAP
# tokens) and callbacks; their answer or TargetError is replayed in the order recorded.
CALLS: dict[str, tuple[tuple[Any, str], ...]] = {
    "telnet.read_banner": ((telnet_client, "read_banner"),),
    "mqtt.connect": ((mqtt_client, "connect"),),
    "rtsp.describe": ((rtsp_client, "describe"),),
    "datagram.exchange": ((datagram, "exchange"),),
    "coap.get": ((coap, "get"),),
    "ssh_kex.read_kexinit": ((ssh_kex, "read_kexinit"),),
    "ssh_kex.rsa_key_bits": ((ssh_kex, "rsa_key_bits"),),
    # the logins a check makes itself (access.no-lockout's; a campaign is a session observation)
    "telnet.login": ((telnet_client, "login"),),
    "ftp.login": ((ftp_client, "login"),),
    "mqtt.login": ((mqtt_client, "login"),),
    "ssh.login": ((ssh_client, "login"),),
    "rtsp.login": ((rtsp_client, "login"),),
    # the lab's session login (HTTP form, then the page) and the firmware upload POST, made with
    # httpx directly; imported by name, so patched where the checks look them up
    "labauth.authorised_get": tuple(
        (m, "authorised_get") for m in (identification, software_update, state_awareness)
    ),
    "software_update._post_note": ((software_update, "_post_note"),),
}
_UNKEYED = ("timeouts", "timeout_s", "retries", "after", "wait_s", "subscribe_wait_s")


def call_key(name: str, args: tuple[Any, ...], kw: dict[str, Any]) -> str:
    def keyed(v: Any) -> bool:
        return not (isinstance(v, Timeouts | bytes) or callable(v) or dataclasses.is_dataclass(v))

    shown = [encode(a) for a in args if keyed(a)]
    named = {k: encode(v) for k, v in kw.items() if k not in _UNKEYED and keyed(v)}
    return json.dumps([name, shown, named], sort_keys=True, default=str)


def _returns(module: Any, attr: str) -> Any:
    fn = getattr(module, attr)
    return get_type_hints(fn, vars(sys.modules[fn.__module__]))["return"]


# Read once, before anything wraps the functions (tests/checks/record_cases.py does).
RETURNS = {name: _returns(*targets[0]) for name, targets in CALLS.items()}


# access.no-lockout's own logins use a fresh throwaway user and wrong password; recorder and
# replay fix them, so the replayed login calls have the keys the recording has.
THROWAWAY_USER, WRONG_PASSWORD = "lanprobe-recorded", "lanprobe-recorded-wrong"


@contextmanager
def fixed_secrets() -> Iterator[None]:
    with (
        mock.patch.object(logical_access, "throwaway_user", lambda: THROWAWAY_USER),
        mock.patch.object(logical_access, "wrong_password", lambda: WRONG_PASSWORD),
    ):
        yield


@contextmanager
def calls_replay(recorded_calls: list[dict[str, Any]] | None) -> Iterator[None]:
    """The CALLS answer from the recording; a call not recorded is Unreachable."""
    if recorded_calls is None:
        yield
        return
    answers = _by_key(recorded_calls, "call")

    def replayer(name: str) -> Any:
        async def replay(*args: Any, **kw: Any) -> Any:
            ex = _next(answers, call_key(name, args, kw), name)
            return decode(RETURNS[name], ex["result"])

        return replay

    with contextlib.ExitStack() as stack:
        for name, targets in CALLS.items():
            for module, attr in targets:
                stack.enter_context(mock.patch.object(module, attr, replayer(name)))
        yield


# --- login guards: what earlier checks' logins left on each service ----------------------------

GUARD_FIELDS = ("budget", "attempts", "failures", "locked_out", "signs", "signs_after_failure",
                "latencies_s", "transient")  # fmt: skip


def guards_of(sess: DeviceSession) -> dict[str, Any]:
    """The session's login guards as JSON (`service:port` -> fields; the device budget)."""
    out: dict[str, Any] = {
        f"{k}:{p}": {f: encode(getattr(g, f)) for f in GUARD_FIELDS}
        for (k, p), g in sess.guards.items()
    }  # fmt: skip (encode: a copy)
    if out and sess.budget.remaining is not None:
        out["device_remaining"] = sess.budget.remaining
    return out


def restore_guards(sess: DeviceSession, recorded: dict[str, Any]) -> None:
    for key, fields in recorded.items():
        if key == "device_remaining":
            sess.budget.remaining = fields
            continue
        kind, port = key.rsplit(":", 1)
        guard = sess.guard(kind, int(port))
        for f in GUARD_FIELDS:
            setattr(guard, f, fields[f])


# --- observations to JSON and back ---------------------------------------------------------------


def encode(value: Any) -> Any:
    """An observation as JSON (what `decode` reads back, given the type)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_defaults=True)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [encode(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    return value


def decode(tp: Any, data: Any) -> Any:
    """JSON -> a value of type `tp` (dataclasses, pydantic models, enums, containers)."""
    if data is None:
        return None
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return decode(arg, data)
            except (TypeError, ValueError, KeyError, AttributeError) as exc:  # str for a dataclass
                errors.append(exc)
        raise TypeError(f"{data!r} fits none of {tp}: {errors}")
    if origin is list:
        return [decode(args[0], x) for x in data]
    if origin in (set, frozenset):
        return origin(decode(args[0], x) for x in data)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(args[0], x) for x in data)
        return tuple(decode(a, x) for a, x in zip(args, data, strict=True))
    if origin is dict:
        return {decode(args[0], k): decode(args[1], v) for k, v in data.items()}
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp.model_validate(data)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(data)
    if dataclasses.is_dataclass(tp):
        hints = get_type_hints(tp, vars(sys.modules[tp.__module__]))
        init = {f.name for f in dataclasses.fields(tp) if f.init}
        return tp(**{k: decode(hints[k], v) for k, v in data.items() if k in init})  # type: ignore[operator]
    if tp is bytes:
        return base64.b64decode(data)
    if tp is datetime:
        return datetime.fromisoformat(data)
    if tp is int and isinstance(data, str):
        return int(data)  # a JSON object's key
    return data


# --- cases ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class Case:
    file: str
    name: str
    check: str
    devices: list[dict[str, Any]]  # one device; several for a bench check
    expect: dict[str, str]  # verdict, and a part of the title ("title")
    recorded_at: str = ""  # certificate dates are judged as of then (ISO time; "" = now)


# A long string of a case (a 64 KiB page body, as base64) is stored zlib-compressed: an endless
# page of one repeated line takes a few hundred bytes instead of 87 kB per answer.
PACK_OVER = 4096


def pack(value: Any) -> Any:
    """A case as stored: strings over PACK_OVER characters as {"zlib": base64}."""
    if isinstance(value, str) and len(value) > PACK_OVER:
        return {"zlib": base64.b64encode(zlib.compress(value.encode(), 9)).decode("ascii")}
    if isinstance(value, dict):
        return {k: pack(v) for k, v in value.items()}
    if isinstance(value, list):
        return [pack(v) for v in value]
    return value


def unpack(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"zlib"}:
            return zlib.decompress(base64.b64decode(value["zlib"])).decode()
        return {k: unpack(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unpack(v) for v in value]
    return value


def load_cases() -> list[Case]:
    out = []
    for path in sorted(CASES_DIR.glob("*.json")):
        for item in unpack(json.loads(path.read_text(encoding="utf-8")))["cases"]:
            keys = ("device", "profile", "observations", "http", "calls", "trusted_ca", "guards")
            devices = item.get("devices") or [{k: item[k] for k in keys if k in item}]
            out.append(Case(path.name, item["name"], item["check"], devices, item["expect"],
                            item.get("recorded_at", "")))  # fmt: skip
    return out


def _ca_file(pem: str) -> Path:
    """The run's trusted CA (`--ca`, the lab CA) of a case, as the file RunOptions names."""
    path = (
        Path(tempfile.gettempdir())
        / f"lanprobe-case-ca-{hashlib.sha256(pem.encode()).hexdigest()[:16]}.pem"
    )
    if not path.exists():
        path.write_text(pem, encoding="ascii")
    return path


def _session(spec: dict[str, Any], n: int) -> DeviceSession:
    dev = Device.model_validate({"key": f"02:00:00:00:01:{n:02x}", **spec.get("device", {})})
    # The recorded addresses (a certificate's names are judged against them); `no_network`
    # keeps every packet from leaving, whatever the address.
    dev.ips = dev.ips or ["127.0.0.1"]
    addresses = {*dev.ips, *(a for s in dev.services for a in s.addresses)}
    scope = Scope.build([f"{a.split('%')[0]}/{128 if ':' in a else 32}" for a in addresses])
    profile = Profile.model_validate(spec.get("profile") or {"id": "generic"})
    cas = (_ca_file(spec["trusted_ca"]),) if spec.get("trusted_ca") else ()
    options = RunOptions(
        timeouts=recorded.FAST, profiles_dir=BUILTIN_PROFILES, trusted_ca_files=cas
    )
    sess = DeviceSession(device=dev, profile=profile, scope=scope, options=options)
    loop = asyncio.get_running_loop()
    for key, value in (spec.get("observations") or {}).items():
        fut = loop.create_future()
        fut.set_result(decode(OBSERVATION_TYPES[key.split(":", 1)[0]], value))
        sess._cache[key] = fut
    restore_guards(sess, spec.get("guards") or {})
    return sess


class Sites:
    """Records where each result was made: (file, line) of the ctx.result call, and of the
    Judgement a judge helper made."""

    def __init__(self) -> None:
        self.hits: set[tuple[str, int]] = set()

    def __enter__(self) -> Sites:
        self._saved = CheckContext.result, BenchContext.result
        self._judgement = traffic_findings.Judgement.__init__
        hits = self.hits
        check_result, bench_result = self._saved
        judgement = self._judgement

        def on_judgement(j: Any, *a: Any, **kw: Any) -> None:
            f = sys._getframe(1)
            hits.add((f.f_code.co_filename, f.f_lineno))
            judgement(j, *a, **kw)

        traffic_findings.Judgement.__init__ = on_judgement  # type: ignore[method-assign]

        def on_check(ctx: CheckContext, *a: Any, **kw: Any) -> Result:
            f = sys._getframe(1)
            hits.add((f.f_code.co_filename, f.f_lineno))
            return check_result(ctx, *a, **kw)

        def on_bench(ctx: BenchContext, *a: Any, **kw: Any) -> Result:
            f = sys._getframe(1)
            hits.add((f.f_code.co_filename, f.f_lineno))
            return bench_result(ctx, *a, **kw)

        CheckContext.result, BenchContext.result = on_check, on_bench  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: Any) -> None:
        CheckContext.result, BenchContext.result = self._saved  # type: ignore[method-assign]
        traffic_findings.Judgement.__init__ = self._judgement  # type: ignore[method-assign]


async def run_case(case: Case) -> tuple[list[Result], set[tuple[str, int]]]:
    """The case's results and the (file, line) of every ctx.result call it reached."""
    sessions = [_session(spec, n) for n, spec in enumerate(case.devices, 1)]
    one = case.devices[0] if len(case.devices) == 1 else {}
    with (
        Sites() as sites,
        _clock(case.recorded_at),
        http_replay(one.get("http")),
        calls_replay(one.get("calls")),
        fixed_secrets(),
        no_network(),
    ):
        if recorded.SPECS[case.check].bench:
            results = await recorded.run_bench(case.check, sessions)
        else:
            results = await recorded.run(case.check, sessions[0])
    return results, sites.hits


@contextmanager
def no_network() -> Iterator[None]:
    """Nothing leaves while a case runs: every socket connect or send is refused (ECONNREFUSED,
    as from a closed port), no process starts (nmap, the sslyze workers), and a TLS tier-2 scan
    that was not recorded is a failed one."""

    def refuse(*args: Any, **kw: Any) -> Any:
        raise ConnectionRefusedError(errno.ECONNREFUSED, "no network while replaying a case")

    async def refuse_async(*args: Any, **kw: Any) -> Any:
        refuse()

    async def no_deep_scan(ip: str, port: int, **kw: Any) -> DeepObservation:
        return DeepObservation(ip=ip, port=port, error="not in the recording")

    with contextlib.ExitStack() as stack:
        for name in ("connect", "connect_ex", "sendto", "sendmsg"):
            stack.enter_context(mock.patch.object(socket.socket, name, refuse))
        stack.enter_context(mock.patch.object(subprocess, "Popen", refuse))
        for name in ("create_subprocess_exec", "create_subprocess_shell"):
            stack.enter_context(mock.patch.object(asyncio, name, refuse_async))
        stack.enter_context(mock.patch.object(observations, "deep_scan", no_deep_scan))
        yield


@contextmanager
def _clock(at: str) -> Iterator[None]:
    """Certificates judged as of the recording (an expired one stays expired, a valid one valid)."""
    if not at:
        yield
        return
    when = datetime.fromisoformat(at)

    class Recorded(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return when.astimezone(tz)

    with mock.patch.object(tls_client, "datetime", Recorded):
        yield


# --- the branches themselves ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Branch:
    module: str
    function: str
    line: int
    end_line: int

    @property
    def where(self) -> str:
        return f"checks/{self.module}.py:{self.line} ({self.function})"


def branches() -> Iterator[Branch]:
    """Every `<ctx>.result(...)` call of the branch modules, and every `Judgement(...)` of the
    judge helpers (traffic_findings: one `ctx.result` in `as_result` makes all of their
    verdicts), with its innermost function."""
    for module in BRANCH_MODULES:
        tree = ast.parse((ROOT / "checks" / f"{module}.py").read_text(encoding="utf-8"))
        found: dict[int, Branch] = {}
        for fn in ast.walk(tree):  # outer functions first: an inner one overwrites its calls
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Call) and (
                    (
                        isinstance(node.func, ast.Attribute)
                        and node.func.attr == "result"
                        and isinstance(node.func.value, ast.Name)
                        and node.func.value.id in ("ctx", "bctx")
                    )
                    # a judge helper's verdict, turned into a result by one shared ctx.result
                    or (isinstance(node.func, ast.Name) and node.func.id == "Judgement")
                ):
                    end = node.end_lineno or node.lineno
                    found[node.lineno] = Branch(module, fn.name, node.lineno, end)
        yield from sorted(found.values(), key=lambda b: b.line)


def covered(all_branches: list[Branch], hits: set[tuple[str, int]]) -> set[Branch]:
    """The branches whose call a hit falls in (a multi-line call reports one of its lines)."""
    out = set()
    for file, line in hits:
        path = Path(file)
        if path.parent.name != "checks":
            continue
        for b in all_branches:
            if b.module == path.stem and b.line <= line <= b.end_line:
                out.add(b)
    return out
