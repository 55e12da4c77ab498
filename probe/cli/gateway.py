"""`probe gateway up|down|status`: lanprobe as the bench's network (probe/gateway/control.py).

Offline by default: DHCP and DNS (dnsmasq) bound to the bench interface, every name answered with
the sinkhole on the bench, no router handed out, nothing forwarded. `--upstream` (off by default,
not exercised by the tests) makes dnsmasq forward DNS to the host's resolvers and hand out the
host as router; forwarding packets further is the host's own routing, which lanprobe leaves alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from lanprobe.cli.common import EXIT_CANNOT_RUN, EXIT_USAGE, UpstreamOpt

gateway_app = typer.Typer(
    help="Be the bench's network: DHCP/DNS (dnsmasq), NTP, a sinkhole and a packet capture.",
    no_args_is_help=True,
)

GwIfaceOpt = Annotated[
    str | None, typer.Option("--iface", help="The bench interface (never the host's uplink).")
]
GwLabOpt = Annotated[bool, typer.Option("--lab", help="Use the lab bench's bridge (--bridge).")]
GwBridgeOpt = Annotated[str, typer.Option("--bridge", help="The lab bench's bridge (with --lab).")]


def bench_iface(lab: bool, bridge: str, iface: str | None) -> str:
    from lanprobe.errors import ScopeError

    if lab == bool(iface):
        raise ScopeError("give either --lab (with --bridge) or --iface IF")
    if lab:
        from lanprobe.lab.bench import check_bridge

        check_bridge(bridge)
        return bridge
    assert iface is not None
    return iface


def _iface_or_exit(lab: bool, bridge: str, iface: str | None) -> str:
    from lanprobe.errors import ScopeError

    try:
        return bench_iface(lab, bridge, iface)
    except ScopeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc


@gateway_app.command()
def up(
    lab: GwLabOpt = False,
    bridge: GwBridgeOpt = "plab0",
    iface: GwIfaceOpt = None,
    upstream: UpstreamOpt = False,
    capture_max_s: Annotated[
        float, typer.Option("--capture-max-s", help="Stop the capture after this many seconds.")
    ] = 3600.0,
    capture_max_packets: Annotated[
        int, typer.Option("--capture-max-packets", help="Stop the capture after N packets.")
    ] = 20_000,
    ca: Annotated[
        Path | None,
        typer.Option(
            "--ca",
            help="A CA certificate the bench's units trust (with --ca-key): the sinkhole then "
            "also shows a certificate from it for a name they did not ask for, so a unit that "
            "checks the chain but not the name is found.",
        ),
    ] = None,
    ca_key: Annotated[
        Path | None, typer.Option("--ca-key", help="The private key of --ca (PEM, unencrypted).")
    ] = None,
) -> None:
    """Start DHCP/DNS, the sinkhole, NTP and the capture on the bench interface."""
    from lanprobe.errors import ProbeError, ScopeError
    from lanprobe.gateway import control

    try:
        name = bench_iface(lab, bridge, iface)
        if (ca is None) != (ca_key is None):
            raise ScopeError("--ca and --ca-key go together")
        trusted = (ca, ca_key) if ca is not None and ca_key is not None else None
        for path in trusted or ():
            if not path.is_file():
                raise ScopeError(f"--ca/--ca-key {path}: no such file")
        limits = control.CaptureLimits(max_packets=capture_max_packets, max_s=capture_max_s)
        state = control.up(name, upstream=upstream, capture=limits, trusted_ca=trusted)
    except ScopeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    except ProbeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN) from exc
    mode = "UPSTREAM: DNS forwarded" if state.upstream else "offline: every name -> sinkhole"
    names = f"; wrong-name certificate from {state.trusted_ca}" if state.trusted_ca else ""
    typer.echo(
        f"gateway up on {state.iface} ({state.address}, {state.network}; {mode}); "
        f"sinkhole ports {','.join(map(str, state.ports))}{names}; state {state.state_dir}"
    )


@gateway_app.command()
def status(lab: GwLabOpt = False, bridge: GwBridgeOpt = "plab0", iface: GwIfaceOpt = None) -> None:
    """Show the gateway on the bench interface: its processes and what it has recorded."""
    from lanprobe.gateway import control, dnsmasq

    name = _iface_or_exit(lab, bridge, iface)
    state = control.status(name)
    if state is None:
        typer.echo(f"no gateway up on {name}")
        raise typer.Exit(1)
    alive = control.running(state)
    leases = dnsmasq.parse_leases(
        state.leases_file.read_text() if state.leases_file.exists() else ""
    )
    events = state.events_file.read_text().count("\n") if state.events_file.exists() else 0
    pcap = state.pcap.stat().st_size if state.pcap.exists() else 0
    typer.echo(f"gateway on {state.iface} ({state.address}) since {state.started}")
    for proc, ok in alive.items():
        typer.echo(f"  {proc:8} pid {state.pids[proc]:>7}  {'running' if ok else 'NOT RUNNING'}")
    typer.echo(f"  leases {len(leases)}, sinkhole/NTP events {events}, capture {pcap} bytes")
    for lease in leases:
        typer.echo(f"    {lease.ip:15} {lease.mac} {lease.hostname}")


@gateway_app.command()
def down(lab: GwLabOpt = False, bridge: GwBridgeOpt = "plab0", iface: GwIfaceOpt = None) -> None:
    """Stop everything `up` started and remove its state; report any host difference."""
    from lanprobe.gateway import control

    name = _iface_or_exit(lab, bridge, iface)
    removed, differences = control.down(name)
    typer.echo(f"removed: {', '.join(removed) or 'nothing'}")
    if differences:
        typer.echo(f"error: the host differs from before `up`: {', '.join(differences)}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN)
