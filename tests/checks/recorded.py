"""Run one check on a device made from recorded observations (no lab bench).

`session(device, profile)` builds the DeviceSession a scan would; `run(check_id, session)` runs the
registered check through the runner's own `run_check` (so the verdict mapping is the real one);
`run_bench(check_id, sessions)` runs a bench-wide check over several sessions. Devices live on
127.0.0.1, so a check that does talk to the network reaches only a local test server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lanprobe.baseline import load_baseline
from lanprobe.checks.context import BenchContext, DeviceSession, RunOptions, Timeouts
from lanprobe.checks.registry import load_all
from lanprobe.model import Device, Identifier, Result, Service
from lanprobe.paths import BUILTIN_PROFILES
from lanprobe.profile_schema import Profile
from lanprobe.runner import run_check
from lanprobe.scope import Scope

BASELINE = load_baseline()
SPECS = load_all()
FAST = Timeouts(connect_s=1.0, read_s=1.0, check_s=10.0)
# Pages of local test servers: an app shell any path may get, and a login page.
APP_SHELL = (
    b"<html><head><title>App</title></head><body><div id=app>loading the app</div></body></html>"
)

LOGIN = (
    b"<html><head><title>Sign in</title></head><body><form method=post action=/login>"
    b"<input name=user><input type=password name=pass><button>Sign in</button></form></body></html>"
)


def device(
    n: int = 1,
    *,
    services: list[Service] | None = None,
    ids: dict[str, str] | None = None,
    **fields: Any,
) -> Device:
    """A device on 127.0.0.1 with the given services and identifiers (kind -> value)."""
    return Device(
        key=f"02:00:00:00:00:{n:02x}",
        ips=["127.0.0.1"],
        services=services or [],
        identifiers={k: Identifier(value=v, source="recorded") for k, v in (ids or {}).items()},
        **fields,
    )


def session(
    dev: Device,
    profile: Profile | None = None,
    *,
    trusted_ca_files: tuple[Path, ...] = (),
    timeouts: Timeouts = FAST,
) -> DeviceSession:
    return DeviceSession(
        device=dev,
        profile=profile or Profile(id="generic"),
        scope=Scope.build(["127.0.0.1/32"]),
        options=RunOptions(
            timeouts=timeouts, profiles_dir=BUILTIN_PROFILES, trusted_ca_files=trusted_ca_files
        ),
    )


async def run(check_id: str, sess: DeviceSession) -> list[Result]:
    deadline_s = sess.options.timeouts.check_s
    return await run_check(SPECS[check_id], sess, BASELINE, deadline_s=deadline_s)


async def run_bench(check_id: str, sessions: list[DeviceSession]) -> list[Result]:
    spec = SPECS[check_id]
    bctx = BenchContext(
        sessions=sessions, check_id=check_id, meta=BASELINE.meta(check_id, spec.capability)
    )
    return [res async for res in spec.fn(bctx)]  # type: ignore[attr-defined]
