"""`--lab`: the scope of a running bench (the lab is imported only from the top layer: the CLI,
the pytest plugin, scripts and tests)."""

from __future__ import annotations

import os

from lanprobe.errors import ScopeError
from lanprobe.lab import bench
from lanprobe.scope import Scope


def lab_scope(bridge: str = "plab0") -> Scope:
    """The running bench's bridge and subnet (and IPv6 prefix, dual-stack), minus the host's own
    bridge addresses."""
    state = bench.status(bridge)
    if state is None:
        path = bench.state_dir(bridge) / "state.json"
        if path.exists() and not os.access(path, os.R_OK):
            raise ScopeError(f"cannot read {path}: give --iface {bridge} --cidr <its subnet>")
        raise ScopeError(f"no lab bench is running on {bridge} (start one: probe lab up)")
    cidrs, exclude = [str(state.subnet)], [str(state.host_ip)]
    if state.ipv6_prefix:  # a dual-stack bench: its unique-local /64 and link-local
        cidrs += [state.ipv6_prefix, "fe80::/64"]
        exclude.append(state.host_ip6)
    return Scope.build(cidrs, [state.bridge], lab=True, exclude=exclude)
