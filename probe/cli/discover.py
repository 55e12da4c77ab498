"""`probe discover`: the inventory alone, as a table, plain lines or JSON.

Exit codes (probe/cli/common.py): 2 for a usage or scope error, 3 when discovery cannot run at all
(nmap missing).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from lanprobe.cli.common import (
    EXIT_CANNOT_RUN,
    EXIT_USAGE,
    AllowPublicOpt,
    BridgeOpt,
    CidrOpt,
    IfaceOpt,
    IotPortsOpt,
    LabOpt,
    PortsOpt,
    TopPortsOpt,
    VersionDetectionOpt,
    build_scope,
    discovery_options,
    profile_ports,
)

if TYPE_CHECKING:
    from lanprobe.discovery import DiscoveryEvent, DiscoveryOptions, Inventory
    from lanprobe.model import Device
    from lanprobe.scope import Scope


def model_of(dev: Device) -> str:
    return dev.identifier("model") or dev.ssdp.get("modelName", "")


def services_text(dev: Device) -> str:
    parts = []
    for svc in dev.services:
        name = svc.name or "?"
        parts.append(f"{svc.port}/{name}{'+tls' if svc.tls else ''}")
    return " ".join(parts)


def inventory_json(inv: Inventory) -> str:
    """The devices as run.json carries them, with the inventory's partial flag and notes."""
    import json

    return json.dumps(
        {
            "partial": inv.partial,
            "notes": inv.notes,
            "timings_s": inv.timings_s,
            "devices": [d.model_dump(mode="json") for d in inv.devices],
        },
        indent=2,
    )


PLAIN_HEADER = "\t".join(("IP", "MAC", "vendor", "model", "services"))


def _plain_line(dev: Device) -> str:
    cols = [dev.ip, dev.mac or "-", dev.vendor or "-", model_of(dev) or "-", services_text(dev)]
    return "\t".join(cols)


def _print_table(inv: Inventory) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(inv.devices)} device(s){' (partial)' if inv.partial else ''}")
    for col in ("IP", "MAC", "vendor", "model", "services", "seen by"):
        table.add_column(col)
    for dev in inv.devices:
        table.add_row(
            dev.ip,
            dev.mac or "-",
            dev.vendor or "-",
            model_of(dev) or "-",
            services_text(dev),
            ",".join(dev.seen_by),
        )
    Console().print(table)


async def _run_with_bar(scope: Scope, ports: list[int], opts: DiscoveryOptions) -> Inventory:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        transient=True,
        console=Console(stderr=True),
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def on_event(ev: DiscoveryEvent) -> None:
            if ev.phase not in tasks:
                tasks[ev.phase] = bar.add_task(ev.phase, total=ev.total, detail="")
            bar.update(tasks[ev.phase], completed=ev.done, total=ev.total, detail=ev.detail)

        from lanprobe.discovery import discover

        return await discover(scope, ports=ports, options=opts, progress=on_event)


def _plain_progress(ev: DiscoveryEvent) -> None:
    per_host = ("nmap", "fingerprint")
    if ev.phase in per_host and ev.done:
        print(f"{ev.phase} {ev.done}/{ev.total} {ev.detail}", file=sys.stderr, flush=True)
    elif ev.phase not in per_host and ev.done == ev.total:
        print(f"{ev.phase} done", file=sys.stderr, flush=True)


def discover_command(
    lab: LabOpt = False,
    bridge: BridgeOpt = "plab0",
    iface: IfaceOpt = None,
    cidr: CidrOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the devices as JSON.")] = False,
    top_ports: TopPortsOpt = 100,
    iot_ports: IotPortsOpt = True,
    ports: PortsOpt = "",
    profiles: Annotated[
        Path | None,
        typer.Option(help="Your profiles, over the built-in ones: their ports are scanned too."),
    ] = None,
    no_services: Annotated[
        bool, typer.Option("--no-services", help="Skip the nmap service scan.")
    ] = False,
    allow_public: AllowPublicOpt = False,
    version_detection: VersionDetectionOpt = "ours",
) -> None:
    """Find the devices in scope (ARP, mDNS, SSDP, nmap) and print the inventory."""
    import asyncio

    from lanprobe.discovery import discover
    from lanprobe.discovery.ports import parse_ports_option
    from lanprobe.errors import LabError, ProfileError, ScopeError, ToolError

    try:
        scope = build_scope(lab, bridge, iface or [], cidr or [], allow_public)
        wanted = parse_ports_option(ports)
        scan_ports = sorted(set(wanted.extra) | set(profile_ports(profiles, lab=lab)))
        opts = discovery_options(version_detection, profiles, services=not no_services)
        opts.full_ports = wanted.full
        opts.iot_ports = iot_ports
    except (ScopeError, LabError, ProfileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(EXIT_USAGE) from exc
    except ValueError as exc:
        print(f"error: --ports: {exc}", file=sys.stderr)
        raise typer.Exit(EXIT_USAGE) from exc

    opts.nmap.top_ports = max(0, top_ports)
    tty = sys.stderr.isatty() and not as_json
    try:
        if tty:
            inv = asyncio.run(_run_with_bar(scope, scan_ports, opts))
        else:
            inv = asyncio.run(
                discover(scope, ports=scan_ports, options=opts, progress=_plain_progress)
            )
    except ScopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(EXIT_USAGE) from exc
    except ToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(EXIT_CANNOT_RUN) from exc

    for note in inv.notes:
        print(f"note: {note}", file=sys.stderr)
    if as_json:
        print(inventory_json(inv))
    elif sys.stdout.isatty():
        _print_table(inv)
    else:
        print(PLAIN_HEADER)  # the same columns as the table (tab-separated)
        for dev in inv.devices:
            print(_plain_line(dev))
        if inv.partial:
            print("partial inventory: see the notes above", file=sys.stderr)
