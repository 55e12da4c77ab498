"""Every data file a scan reads, validated once before any traffic.

Credential lists, login prompts, admin and stream paths, SNMP communities, UPnP read actions,
update words, the SSH algorithm policy, fingerprint rules and the IoT port list: each is parsed
here by the loader the code uses (of the highest profile layer that has the file,
probe/paths.py) and a broken one is a ProfileError naming `file:line: message` before discovery
sends a packet. The loaders keep what they parsed (probe/datacache.py), so the checks reuse it
on every device and attempt instead of reading the file again. (Layer 5: it calls the loaders of
the checks and of discovery.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lanprobe.errors import ProfileError
from lanprobe.paths import data_file


def _loaders(layers: Sequence[Path]) -> list[tuple[str, Callable[[], Any]]]:
    from lanprobe.checks.clients import rtsp, upnp, weblogin
    from lanprobe.checks.clients.login import Prompts
    from lanprobe.checks.credentials import validate_credential_lists
    from lanprobe.checks.logical_access import load_admin_paths
    from lanprobe.checks.snmp import load_communities
    from lanprobe.checks.ssh_policy import load_policy
    from lanprobe.discovery.fingerprint import load_rules
    from lanprobe.discovery.ports import load_iot_ports
    from lanprobe.gateway.observe import load_update_words

    def file(name: str) -> Path:
        return data_file(name, layers)

    return [
        ("credential lists", lambda: validate_credential_lists(layers)),
        ("login-prompts.txt", lambda: Prompts.load(file("login-prompts.txt"))),
        ("admin-paths.txt", lambda: load_admin_paths(layers)),
        ("rtsp-paths.txt", lambda: rtsp.load_paths(file("rtsp-paths.txt"))),
        ("web-login-paths.txt", lambda: weblogin.load_web_login_paths(file("web-login-paths.txt"))),
        ("snmp-communities.txt", lambda: load_communities(file("snmp-communities.txt"))),
        ("upnp-read-actions.txt", lambda: upnp.load_actions(file("upnp-read-actions.txt"))),
        ("update-paths.txt", lambda: load_update_words(file("update-paths.txt").parent)),
        ("ssh-algorithms.yaml", lambda: load_policy(file("ssh-algorithms.yaml"))),
        ("fingerprints.yaml", lambda: load_rules(file("fingerprints.yaml"))),
        ("iot-ports.yaml", lambda: load_iot_ports(file("iot-ports.yaml"))),
    ]


def data_file_errors(layers: Sequence[Path]) -> list[str]:
    """One message per broken data file (`file:line: message` where the loader knows the line)."""
    errors = []
    for name, load in _loaders(layers):
        try:
            load()
        except (ProfileError, ValueError, OSError, KeyError, TypeError) as exc:
            errors.append(f"{name}: {exc}" if name not in str(exc) else str(exc))
    return errors


def validate_data_files(layers: Sequence[Path]) -> None:
    """ProfileError listing every broken data file; nothing when all parse."""
    errors = data_file_errors(layers)
    if errors:
        raise ProfileError("broken data file(s):\n" + "\n".join(errors))
