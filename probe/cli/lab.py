"""`probe lab up|status|down`: the virtual test bench (the lab is imported only when used)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from lanprobe.cli.common import EXIT_CANNOT_RUN, EXIT_USAGE

if TYPE_CHECKING:
    from lanprobe.lab.bench import BenchState
    from rich.console import Console
    from rich.table import Table

lab_app = typer.Typer(
    help="Build, inspect and remove the virtual test bench.", no_args_is_help=True
)

BRIDGE = typer.Option("plab0", "--bridge", help="bridge name (must start with plab)")


def _console() -> Console:
    from rich.console import Console

    return Console(width=None if Console().is_terminal else 160)


@contextmanager
def _exits(console: Console, action: str) -> Iterator[None]:
    """A refused bridge, subnet or model is exit 2; a bench that cannot be built, read or removed
    is `<action> failed`, exit 3 (probe/cli/common.py exit codes)."""
    from lanprobe.errors import ProbeError, ScopeError
    from rich.markup import escape

    try:
        yield
    except (ScopeError, ValueError) as exc:
        console.print(f"[red]refused:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from exc
    except ProbeError as exc:
        console.print(f"[red]{action} failed:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_CANNOT_RUN) from exc


def _table(state: BenchState) -> Table:
    from rich.table import Table

    table = Table(title=f"lab bench {state.bridge} {state.subnet} (host {state.host_ip})")
    for col in ("name", "model", "ip", "mac", "serial", "ports", "pid", "up"):
        table.add_column(col)
    for d in state.devices:
        ports = ",".join(str(p) for p in d.ports)
        table.add_row(d.name, d.model, d.ip, d.mac, d.serial, ports, str(d.pid or "-"),
                      "yes" if d.alive else "NO")  # fmt: skip
    return table


@lab_app.command()
def up(
    devices: int = typer.Option(None, "--devices", "-n", help="number of devices (round-robin)"),
    bridge: str = BRIDGE,
    subnet: str = typer.Option("198.18.0.0/24", "--subnet", help="inside 198.18.0.0/16"),
    models: str = typer.Option("", "--models", help="comma-separated model ids (default: all)"),
    ipv6: bool = typer.Option(
        False, "--ipv6", help="dual-stack: a unique-local /64 (fd00:0:<subnet>::/64) too"
    ),
) -> None:
    """Build the bench and wait until every device answers."""
    from lanprobe.lab import bench
    from rich.markup import escape

    console = _console()
    with _exits(console, "lab up"):
        try:
            wanted = [m for m in models.split(",") if m.strip()] or None
            state = bench.up(bridge, subnet, devices, wanted, ipv6=ipv6)
        except bench.BenchExists as exc:
            console.print(f"[yellow]{escape(str(exc))}[/yellow]")
            raise typer.Exit(EXIT_USAGE) from exc
    console.print(_table(state))
    console.print(f"{len(state.devices)} devices up in {state.up_seconds:.1f} s; "
                  f"lab CA: {state.ca_file}")  # fmt: skip


@lab_app.command()
def status(bridge: str = BRIDGE) -> None:
    """Show the bench; exit 1 when there is none or a device process is gone."""
    from lanprobe.lab import bench

    console = _console()
    with _exits(console, "lab status"):
        state = bench.status(bridge)
    if state is None:
        console.print(f"no lab bench on {bridge}")
        raise typer.Exit(1)
    console.print(_table(state))
    dead = [d.name for d in state.devices if not d.alive]
    if not state.complete or dead:
        console.print(f"[red]bench degraded[/red]: complete={state.complete} dead={dead}")
        raise typer.Exit(1)


@lab_app.command()
def down(bridge: str = BRIDGE) -> None:
    """Remove everything the bench on BRIDGE made (also after a crash)."""
    from lanprobe.lab import bench

    console = _console()
    with _exits(console, "lab down"):
        removed = bench.down(bridge)
    if removed:
        console.print(f"removed: {len(removed)} items on {bridge} ({', '.join(removed[:4])} ...)")
    else:
        console.print(f"nothing to remove on {bridge}")


@lab_app.command()
def restart(
    name: str = typer.Argument(..., help="The device's name (probe lab status)."),
    bridge: str = BRIDGE,
) -> None:
    """Restart one device's process, as a power cycle: it boots again (DHCP models ask again)."""
    from lanprobe.lab import bench

    console = _console()
    with _exits(console, "restart"):
        dev = bench.restart(bridge, name, lambda cfg: None)
    console.print(f"restarted {dev.name} (pid {dev.pid})")
