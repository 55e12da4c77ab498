"""How devices and targets are named for people, in one place (reports, diff, pytest items,
device API messages), and which recorded links a report may show."""

from __future__ import annotations

from lanprobe.model import Target


def device_label(profile: str | None, ip: str, key: str, *, unmatched: str = "unmatched") -> str:
    """`<profile>@<ip>`: `acme-ipcam200@198.18.0.10` (`unmatched@...` without a profile)."""
    return f"{profile or unmatched}@{ip or key}"


def target_label(target: Target, *, no_port: str = "") -> str:
    """`23/tcp telnet`, `443/tcp`; without a port its service, else `no_port`."""
    if target.port is None:
        return target.service or no_port
    return f"{target.port}/{target.transport}" + (f" {target.service}" if target.service else "")


def report_link_or(recorded: str, fallback: str) -> str:
    """A run's recorded report URL (run.json may come from anywhere: `probe history --add`) if
    it is http(s) or relative, else `fallback`: a report never links a javascript: or file:."""
    scheme = recorded.split(":", 1)[0].lower() if ":" in recorded.split("/", 1)[0] else ""
    return recorded if recorded and scheme in ("", "http", "https") else fallback
