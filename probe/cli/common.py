"""What every `probe` command shares: the exit codes (a contract, docs/architecture.md) and
the usage-error helper. Kept free of heavy imports: `probe --help` loads this."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from lanprobe.discovery import DiscoveryOptions
    from lanprobe.scope import Scope

EXIT_OK = 0  # every device conforms (or --fail-on never)
EXIT_NONCONFORM = 1  # a device does not conform, or a regression
EXIT_USAGE = 2  # usage or scope error, found before any traffic
EXIT_CANNOT_RUN = 3  # the scan itself could not run (no privileges, nmap missing)
EXIT_ERRORS = 4  # the scan ran but some checks broke (`error` results: lanprobe's own failure)

EXIT_CODES_HELP = (
    "Exit codes: 0 every device conforms (or --fail-on never); 1 a device does not conform, or "
    "a regression with --fail-on regression; 2 usage or scope error (before any traffic); 3 the "
    "scan could not run or was interrupted; 4 the scan ran but some checks broke (`error` "
    "results, lanprobe's own failure: the run is incomplete; before 1, and only --fail-on never "
    "gives 0)."
)

DB_HELP = (
    "history database: a path, or a SQLAlchemy URL (postgresql://...); "
    "default: $LANPROBE_DB or the user data dir"
)


def fail_usage(exc: Exception) -> typer.Exit:
    """Print `error: ...` and return the usage-error exit to raise."""
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(EXIT_USAGE)


# The scope options `discover` and `scan` share.
LabOpt = Annotated[bool, typer.Option("--lab", help="Scan the running lab bench.")]
BridgeOpt = Annotated[str, typer.Option(help="The lab bench's bridge (with --lab).")]
IfaceOpt = Annotated[
    list[str] | None, typer.Option("--iface", help="Interface to scan from (repeatable).")
]
CidrOpt = Annotated[list[str] | None, typer.Option("--cidr", help="Network in scope (repeatable).")]
AllowPublicOpt = Annotated[
    bool, typer.Option("--allow-public", help="Allow globally routable networks.")
]


def build_scope(
    lab: bool, bridge: str, ifaces: list[str], cidrs: list[str], allow_public: bool
) -> Scope:
    """The scope from the command line; ScopeError when it is missing or not allowed."""
    from lanprobe.errors import ScopeError
    from lanprobe.scope import Scope

    if lab:
        if cidrs or ifaces:
            raise ScopeError("give either --lab or --iface/--cidr, not both")
        from lanprobe.lab.scope import lab_scope

        return lab_scope(bridge)
    if not cidrs:
        raise ScopeError("no scope: give --lab, or --iface IF and --cidr CIDR")
    scope = Scope.build(cidrs, ifaces, allow_public=allow_public)
    check_interfaces(scope)
    return scope


def check_interfaces(scope: Scope) -> None:
    """ScopeError unless every interface of the scope exists and has an address to scan from:
    said before anything that suggests the scan started."""
    if scope.interfaces:
        from lanprobe.discovery import links

        links(scope)


def profile_ports(profiles_dir: Path | None, *, lab: bool = False) -> list[int]:
    """The TCP ports the profiles name (built-in, the lab's for `lab`, the user's on top), so
    that `discover` sees what `scan` will check."""
    from lanprobe.profiles import load_profiles

    return load_profiles(profiles_dir, lab=lab).all_ports()


VERSION_DETECTION_HELP = (
    "How open ports are named: ours (fast: an nmap port scan, then our own fingerprints), "
    "nmap (nmap -sV, slow), or both (ours, then -sV on the ports ours left unknown)."
)

# The port options `discover` and `scan` share.
TopPortsOpt = Annotated[
    int,
    typer.Option(
        "--top-ports", help="Also scan nmap's N most common TCP ports (0: profile ports only)."
    ),
]
IotPortsOpt = Annotated[
    bool,
    typer.Option(
        "--iot-ports/--no-iot-ports",
        help="Also scan the IoT port list (profiles/data/iot-ports.yaml).",
    ),
]
PortsOpt = Annotated[
    str,
    typer.Option(
        "--ports",
        help="Extra TCP ports (80,8000-8010), or 'full' for all 65535 (the IoT port list "
        "and nmap's top ports are scanned anyway).",
    ),
]
# Gateway mode's (`probe gateway up`, `probe scan --gateway`).
UpstreamOpt = Annotated[
    bool,
    typer.Option(
        "--upstream",
        help="Gateway mode, OFF by default: forward DNS to the host's resolvers and hand out the "
        "host as router, for benches that must reach the real cloud.",
    ),
]
VersionDetectionOpt = Annotated[
    str, typer.Option("--version-detection", help=VERSION_DETECTION_HELP)
]


def discovery_options(
    version_detection: str, profiles_dir: Path | None, *, services: bool = True
) -> DiscoveryOptions:
    """Discovery options of the CLI; the fingerprint rules are data/fingerprints.yaml of the
    user's profiles directory when it has one, else the built-in rules."""
    from lanprobe.discovery import VERSION_DETECTION, DiscoveryOptions
    from lanprobe.errors import ScopeError
    from lanprobe.paths import data_file, profile_layers

    if version_detection not in VERSION_DETECTION:
        raise ScopeError(
            f"--version-detection {version_detection!r}: choose {', '.join(VERSION_DETECTION)}"
        )
    opts = DiscoveryOptions(services=services, version_detection=version_detection)
    opts.fingerprint.rules_file = data_file("fingerprints.yaml", profile_layers(profiles_dir))
    return opts
