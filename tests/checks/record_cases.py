"""Record verdict-branch cases (tests/fixtures/recorded/*.json) from a running lab bench.

    probe lab up --bridge plabX --subnet 198.18.N.0/24
    probe scan --lab --bridge plabX --format json --out /tmp/run
    python -m tests.checks.record_cases /tmp/run/run.json --bridge plabX
    probe lab down --bridge plabX

For every device of the run (its device record and profile as the scan found them), every check
runs again on one DeviceSession per device, rounds in `CheckSpec.order` as the runner does, and
the session observations each check read are kept. A case is written only when replaying it
(tests/checks/branches.py `run_case`: the recorded observations, no traffic) gives the verdict
the live run gave and reaches a verdict branch no earlier case reached. Existing cases are kept;
the new ones go into <module>.json beside them. Lab traffic only: the scope is the bench's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from lanprobe.checks.clients import http as http_client
from lanprobe.checks.context import CheckContext, DeviceSession, RunOptions, Timeouts
from lanprobe.errors import TargetError
from lanprobe.lab import bench
from lanprobe.lab.scope import lab_scope
from lanprobe.model import Result, ScanRun
from lanprobe.profiles import load_profiles
from lanprobe.runner import run_check

from tests.checks import recorded
from tests.checks.branches import (
    CALLS,
    CASES_DIR,
    OBSERVATION_TYPES,
    Case,
    branches,
    call_key,
    covered,
    encode,
    fixed_secrets,
    guards_of,
    http_key,
    load_cases,
    pack,
    run_case,
)

MAX_CASE_CHARS = 200_000  # a hostile device's megabyte pages stay out of the repository
LIVE_TIMEOUTS = Timeouts(connect_s=2.0, read_s=3.0, check_s=60.0)


class Reads:
    """What each check read: session observation keys, HTTP exchanges, other client calls."""

    def __init__(self) -> None:
        self.by_check: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.http: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self.calls: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        # the login guards as each check found them (an earlier check's logins count there)
        self.guards: dict[tuple[str, str], dict[str, Any]] = {}
        self.current: dict[str, str] = {}  # device key -> check running (one at a time)
        self.device_of: dict[str, str] = {}  # ip -> device key

    def install(self) -> None:
        original = DeviceSession.observe
        reads = self
        self._saved = [(DeviceSession, "observe", original), (http_client, "request",
                       http_client.request)] + [(m, a, getattr(m, a)) for targets in CALLS.values()
                                                for m, a in targets]  # fmt: skip

        async def observe(session: DeviceSession, key: str, make: Any) -> Any:
            check = reads.current.get(session.device.key)
            if check:
                reads.by_check[(session.device.key, check)].add(key)
            return await original(session, key, make)

        DeviceSession.observe = observe  # type: ignore[method-assign]

        def http_of(args: tuple[Any, ...], kw: dict[str, Any]) -> tuple[str, dict[str, Any]]:
            client, ip, port, path = args
            rest = {k: v for k, v in kw.items() if k not in ("tls", "timeouts")}
            return ip, {"request": http_key(client, port, path, kw["tls"], rest)}

        http_client.request = self._recording(self.http, "answer", http_of, http_client.request)
        for name, targets in CALLS.items():

            def call_of(args: tuple[Any, ...], kw: dict[str, Any], name: str = name) -> Any:
                ip = args[0].session.ip if isinstance(args[0], CheckContext) else str(args[0])
                return ip.split("%")[0], {"call": call_key(name, args, kw)}

            for module, attr in targets:
                wrapped = self._recording(self.calls, "result", call_of, getattr(module, attr))
                setattr(module, attr, wrapped)

    def uninstall(self) -> None:
        for owner, attr, fn in self._saved:
            setattr(owner, attr, fn)

    def _recording(self, store: dict[tuple[str, str], list[dict[str, Any]]], field: str,
                   what: Any, fn: Any) -> Any:  # fmt: skip
        """`fn`, recording each call's answer (or TargetError) under the check that made it."""
        reads = self

        async def call(*args: Any, **kw: Any) -> Any:
            ip, ex = what(args, kw)
            dev = reads.device_of.get(ip, "")
            check = reads.current.get(dev)
            try:
                result = await fn(*args, **kw)
            except TargetError as exc:
                ex.update(error=str(exc), error_type=type(exc).__name__)
                if check:
                    store[(dev, check)].append(ex)
                raise
            ex[field] = encode(result)
            if check:
                store[(dev, check)].append(ex)
            return result

        return call


def _case(
    name: str,
    check: str,
    sessions: list[DeviceSession],
    keys: dict[str, set[str]],
    http: list[dict[str, Any]] | None,
    calls: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    devices = []
    for s in sessions:
        obs = {}
        for key in sorted(keys.get(s.device.key, ())):
            task = s._cache.get(key)
            if key.split(":", 1)[0] not in OBSERVATION_TYPES or task is None:
                continue
            if task.done() and not task.cancelled() and task.exception() is None:
                obs[key] = encode(task.result())
        dev = s.device.model_dump(mode="json", exclude_defaults=True)
        dev.pop("key", None)
        devices.append({"device": dev, "profile": s.profile.model_dump(mode="json",
                        exclude_defaults=True), "observations": obs})  # fmt: skip
    if len(devices) == 1:
        if http:
            devices[0]["http"] = http
        if calls:
            devices[0]["calls"] = calls
        return {"name": name, "check": check, **devices[0]}
    return {"name": name, "check": check, "devices": devices}


def _title_part(live: str, replayed: str) -> str:
    """The part of the live title the replay gives too (addresses differ: 127.0.0.1)."""
    if live == replayed:
        return live
    n = 0
    while n < min(len(live), len(replayed)) and live[n] == replayed[n]:
        n += 1
    return live[:n] if n >= 15 else ""


async def record(
    run_path: Path, bridge: str, with_ca: bool = True
) -> dict[str, list[dict[str, Any]]]:
    run = ScanRun.model_validate_json(run_path.read_text(encoding="utf-8"))
    scope = lab_scope(bridge)
    profiles = load_profiles(None, lab=True)
    ca = bench.status(bridge).ca_file  # type: ignore[union-attr]
    options = RunOptions(timeouts=LIVE_TIMEOUTS, trusted_ca_files=(Path(ca),) if with_ca else ())
    sessions = []
    for dev in run.devices:
        profile = profiles.get(dev.profile or "") or profiles.generic
        sessions.append(DeviceSession(device=dev, profile=profile, scope=scope, options=options))
    ca_pem = Path(ca).read_text(encoding="ascii") if with_ca else None
    return await record_sessions(sessions, run.started.isoformat(), ca_pem)


async def record_sessions(
    sessions: list[DeviceSession],
    started: str,
    ca_pem: str | None,
    checks: list[str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Run every check (or `checks`, in that order within a round: the runner runs a round's
    checks at once, so any order happens) on the sessions and keep, as cases, the
    runs whose replay reaches a verdict branch no case reached yet (the lab's benches, or the
    real servers tests/checks/record_local.py starts on loopback). `ca_pem`: the run's trusted
    CA, kept with cases that read TLS."""
    reads = Reads()
    reads.install()
    try:
        return await _record(reads, sessions, started, ca_pem, checks)
    finally:
        reads.uninstall()


async def _record(
    reads: Reads,
    sessions: list[DeviceSession],
    started: str,
    ca_pem: str | None,
    checks: list[str] | None,
) -> dict[str, list[dict[str, Any]]]:
    for s in sessions:
        reads.device_of.update({ip: s.device.key for ip in s.device.ips})
        for svc in s.device.services:
            reads.device_of.update({a.split("%")[0]: s.device.key for a in svc.addresses})
    options = sessions[0].options
    specs = sorted(
        (s for s in recorded.SPECS.values() if checks is None or s.id in checks),
        key=lambda s: (s.order, checks.index(s.id) if checks else 0),
    )
    live: dict[tuple[str, str], list[Result]] = {}

    async def device_checks(session: DeviceSession) -> None:
        for spec in specs:
            if spec.bench:
                continue
            reads.current[session.device.key] = spec.id
            reads.guards[(session.device.key, spec.id)] = guards_of(session)
            live[(session.device.key, spec.id)] = await run_check(
                spec, session, recorded.BASELINE, deadline_s=options.timeouts.check_s
            )
        reads.current.pop(session.device.key, None)

    with fixed_secrets():  # the replay asks for the same no-lockout logins
        await asyncio.gather(*(device_checks(s) for s in sessions))
    for spec in specs:
        if spec.bench:
            for s in sessions:
                reads.current[s.device.key] = spec.id
            results = await recorded.run_bench(spec.id, sessions)
            for s in sessions:
                live[(s.device.key, spec.id)] = [r for r in results if r.device == s.device.key]

    all_branches = list(branches())
    have: set[Any] = set()
    for case in load_cases():
        have |= covered(all_branches, (await run_case(case))[1])
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for spec in specs:
        module = spec.fn.__module__.rsplit(".", 1)[-1]
        group = sessions if spec.bench else None
        for s in sessions:
            members = group or [s]
            keys = {m.device.key: reads.by_check.get((m.device.key, spec.id), set())
                    for m in members}  # fmt: skip
            name = f"{s.profile.id} {s.device.key}: {spec.id}"
            http = None if spec.bench else reads.http.get((s.device.key, spec.id))
            calls = None if spec.bench else reads.calls.get((s.device.key, spec.id))
            raw = _case(name, spec.id, members, keys, http, calls)
            if not spec.bench and reads.guards.get((s.device.key, spec.id)):
                raw["guards"] = reads.guards[(s.device.key, spec.id)]
            tls_read = any(k.startswith("tls") for k in keys.get(s.device.key, ()))
            if ca_pem and tls_read and not spec.bench:
                raw["trusted_ca"] = ca_pem  # the certificate's trust is judged against it
            case = Case("new", name, spec.id, raw.get("devices") or [raw], {}, started)
            results, hits = await run_case(case)
            new = covered(all_branches, hits) - have
            if not new or not results:
                continue
            stored = pack(raw)
            if len(json.dumps(stored)) > MAX_CASE_CHARS:
                print(f"- {name}: {len(json.dumps(stored))} characters, over {MAX_CASE_CHARS}")
                continue
            # Replayed device i is members[i] (keys 02:00:00:00:01:<i+1>): same verdicts?
            pairs: list[tuple[Result, Result]] = []
            same = True
            for i, m in enumerate(members, 1):
                got = [r for r in results if r.device == f"02:00:00:00:01:{i:02x}"]
                want = live.get((m.device.key, spec.id), [])
                same = same and sorted(r.verdict.value for r in got) == sorted(
                    r.verdict.value for r in want
                )
                pairs += list(zip(want, got, strict=False))
            if not same or not pairs:
                if new:  # a branch only a replay that differs would reach: say why
                    got = [(r.verdict.value, r.title[:60]) for r in results]
                    print(f"- {name}: replay differs: {got}")
                    print([r.evidence for r in results if r.verdict.value == "error"])
                continue
            pairs.sort(key=lambda p: p[0].verdict.value != "fail")
            want_r, got_r = pairs[0]
            raw["recorded_at"] = started
            raw["expect"] = {"verdict": want_r.verdict.value,
                             "title": _title_part(want_r.title, got_r.title)}  # fmt: skip
            stored["recorded_at"], stored["expect"] = raw["recorded_at"], raw["expect"]
            have |= new
            out[module].append(stored)
            print(f"+ {module}: {name} -> {want_r.verdict.value}: {want_r.title[:70]}")
            if spec.bench:
                break  # one case holds every device
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--bridge", required=True)
    ap.add_argument(
        "--without-ca",
        action="store_true",
        help="judge certificates as a scan without --ca does (the bench CA unknown)",
    )
    args = ap.parse_args()
    found = asyncio.run(record(args.run, args.bridge, with_ca=not args.without_ca))
    write_cases(found, f"recorded from a lab bench (tests/checks/record_cases.py, {args.run.name})")


def write_cases(found: dict[str, list[dict[str, Any]]], source: str) -> None:
    """Append the new cases to <module>.json (`source`: the file's, when it is new)."""
    for module, cases in found.items():
        path = CASES_DIR / f"{module}.json"
        doc = json.loads(path.read_text()) if path.exists() else {"source": source, "cases": []}
        doc["cases"] += cases
        path.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n", encoding="utf-8")
        print(f"{path}: {len(cases)} new case(s)")


if __name__ == "__main__":
    main()
