"""`--lab`: the scope of a running bench (the lab is imported only from the top layer: the CLI,
the pytest plugin, scripts and tests)."""

from __future__ import annotations

import os

from lanprobe.errors import ScopeError
from lanprobe.lab import bench
from lanprobe.scope import Scope


def lab_scope(bridge: str = "plab0") -> Scope:
    """The running bench's bridge and subnet, minus the host's own bridge address."""
    state = bench.status(bridge)
    if state is None:
        path = bench.state_dir(bridge) / "state.json"
        if path.exists() and not os.access(path, os.R_OK):
            raise ScopeError(f"cannot read {path}: give --iface {bridge} --cidr <its subnet>")
        raise ScopeError(f"no lab bench is running on {bridge} (start one: probe lab up)")
    return Scope.build([str(state.subnet)], [state.bridge], lab=True, exclude=[str(state.host_ip)])
