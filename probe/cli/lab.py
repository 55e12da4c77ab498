"""`probe lab up|status|down`: the virtual test bench (the lab is imported only when used)."""

from __future__ import annotations

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
    subnet: str = typer.Option("198.18.0.0/24", "--subnet", help="inside 198.18.0.0/15"),
    models: str = typer.Option("", "--models", help="comma-separated model ids (default: all)"),
    ipv6: bool = typer.Option(
        False, "--ipv6", help="dual-stack: a unique-local /64 (fd00:0:<subnet>::/64) too"
    ),
) -> None:
    """Build the bench and wait until every device answers."""
    from lanprobe.errors import ProbeError, ScopeError
    from lanprobe.lab import bench
    from rich.markup import escape

    console = _console()
    try:
        state = bench.up(
            bridge,
            subnet,
            devices,
            [m for m in models.split(",") if m.strip()] or None,
            ipv6=ipv6,
        )
    except bench.BenchExists as exc:
        console.print(f"[yellow]{escape(str(exc))}[/yellow]")
        raise typer.Exit(EXIT_USAGE) from exc
    except (ScopeError, ValueError) as exc:
        console.print(f"[red]refused:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from exc
    except ProbeError as exc:
        console.print(f"[red]lab up failed:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_CANNOT_RUN) from exc
    console.print(_table(state))
    console.print(f"{len(state.devices)} devices up in {state.up_seconds:.1f} s; "
                  f"lab CA: {state.ca_file}")  # fmt: skip


@lab_app.command()
def status(bridge: str = BRIDGE) -> None:
    """Show the bench; exit 1 when there is none or a device process is gone."""
    from lanprobe.errors import ScopeError
    from lanprobe.lab import bench
    from rich.markup import escape

    console = _console()
    try:
        state = bench.status(bridge)
    except ScopeError as exc:
        console.print(f"[red]refused:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from exc
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
    from lanprobe.errors import LabError, ScopeError
    from lanprobe.lab import bench
    from rich.markup import escape

    console = _console()
    try:
        removed = bench.down(bridge)
    except ScopeError as exc:
        console.print(f"[red]refused:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from exc
    except LabError as exc:
        console.print(f"[red]lab down failed:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_CANNOT_RUN) from exc
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
    from lanprobe.errors import ProbeError, ScopeError
    from lanprobe.lab import bench
    from rich.markup import escape

    console = _console()
    try:
        dev = bench.restart(bridge, name, lambda cfg: None)
    except ScopeError as exc:
        console.print(f"[red]refused:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from exc
    except ProbeError as exc:
        console.print(f"[red]restart failed:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_CANNOT_RUN) from exc
    console.print(f"restarted {dev.name} (pid {dev.pid})")
