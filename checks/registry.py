"""The check catalogue: `@check` for per-device checks, `@bench_check` for checks over all devices.

A check is an async generator that takes a context and yields `Result`s built with
`ctx.result(...)`. Its standard references (NIST IR 8259A element, ETSI EN 303 645 provision,
OWASP IoT item) and default severity come from the baseline file (profiles/baseline/), keyed by
the check id, so that they live in one place; the decorator says what the check does and costs.

    @check("access.cleartext-admin", Capability.logical_access, services=("telnet", "ftp"))
    async def cleartext_admin(ctx: CheckContext) -> AsyncIterator[Result]:
        for svc in ctx.services("telnet", "ftp"):
            yield ctx.result(Verdict.fail, f"{svc.name} is open", target=ctx.target(svc))
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lanprobe.model import Capability, Result

if TYPE_CHECKING:
    from lanprobe.baseline import Baseline
    from lanprobe.checks.context import BenchContext, CheckContext

CheckFn = Callable[["CheckContext"], AsyncIterator[Result]]
BenchFn = Callable[["BenchContext"], AsyncIterator[Result]]

# The modules that register checks, one per capability. Importing them fills the catalogue.
CHECK_MODULES = (
    "lanprobe.checks.identification",
    "lanprobe.checks.configuration",
    "lanprobe.checks.data_protection",
    "lanprobe.checks.outbound",  # data protection of what devices send (gateway mode)
    "lanprobe.checks.logical_access",
    "lanprobe.checks.software_update",
    "lanprobe.checks.state_awareness",
    "lanprobe.checks.declarations",
)


@dataclass(frozen=True)
class Cost:
    """What a check costs the device: requests it sends, and whether it tries to log in."""

    requests: int = 1
    logs_in: bool = False


@dataclass(frozen=True)
class CheckSpec:
    id: str
    capability: Capability
    fn: CheckFn | BenchFn
    services: tuple[str, ...] = ()  # service kinds it applies to; () = every device
    cost: Cost = field(default_factory=Cost)
    bench: bool = False
    description: str = ""
    # Checks of a device run in rounds by `order`: a round starts when the previous one is done.
    # access.no-lockout runs late so that it judges the login attempts the other checks made.
    order: int = 0


_CATALOGUE: dict[str, CheckSpec] = {}


def _register(spec: CheckSpec) -> None:
    if spec.id in _CATALOGUE and _CATALOGUE[spec.id].fn is not spec.fn:
        raise ValueError(f"check id {spec.id!r} registered twice")
    _CATALOGUE[spec.id] = spec


def check(
    id: str,
    capability: Capability,
    *,
    services: tuple[str, ...] = (),
    cost: Cost | None = None,
    order: int = 0,
) -> Callable[[CheckFn], CheckFn]:
    """Register a per-device check."""

    def deco(fn: CheckFn) -> CheckFn:
        _register(
            CheckSpec(
                id=id,
                capability=capability,
                fn=fn,
                services=services,
                cost=cost or Cost(),
                order=order,
                description=(fn.__doc__ or "").strip().split("\n")[0],
            )
        )
        return fn

    return deco


def bench_check(
    id: str, capability: Capability, *, cost: Cost | None = None
) -> Callable[[BenchFn], BenchFn]:
    """Register a check that runs once after all devices, over every device's evidence."""

    def deco(fn: BenchFn) -> BenchFn:
        _register(
            CheckSpec(
                id=id,
                capability=capability,
                fn=fn,
                cost=cost or Cost(requests=0),
                bench=True,
                description=(fn.__doc__ or "").strip().split("\n")[0],
            )
        )
        return fn

    return deco


def load_all() -> dict[str, CheckSpec]:
    """Import every check module and return the catalogue, ordered by id."""
    for mod in CHECK_MODULES:
        importlib.import_module(mod)
    return dict(sorted(_CATALOGUE.items()))


def disagreements(catalogue: dict[str, CheckSpec], baseline: Baseline) -> list[str]:
    """What the registrations and the baseline file disagree on: a registered check without a
    baseline entry (it would run without its standard references), or another capability."""
    out = []
    for cid, spec in sorted(catalogue.items()):
        cdef = baseline.checks.get(cid)
        if cdef is None:
            out.append(f"check {cid} is registered but has no entry under checks:")
        elif cdef.capability != spec.capability:
            out.append(
                f"checks.{cid}.capability: {cdef.capability.value}, but the check is "
                f"registered as {spec.capability.value}"
            )
    return out


def catalogue() -> dict[str, CheckSpec]:
    return load_all()
