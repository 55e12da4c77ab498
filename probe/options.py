"""Run options: the limits and choices one scan runs with (core types, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lanprobe import paths


@dataclass(frozen=True)
class Timeouts:
    """Per-operation limits, in seconds."""

    connect_s: float = 3.0
    read_s: float = 5.0
    check_s: float = 60.0  # a whole check run
    mqtt_wait_s: float = 3.0  # how long a '#' subscription waits for a message
    # standard/deep depth: how long one login campaign may wait for lockout windows (a login
    # check's deadline is check_s plus this)
    campaign_s: float = 240.0


@dataclass
class RunOptions:
    timeouts: Timeouts = field(default_factory=Timeouts)
    reveal_secrets: bool = False
    # The user's profiles directory, layered over the built-in set (None: the built-in set only);
    # lab_profiles adds the lab models' (a lab bench only). See probe/paths.py.
    profiles_dir: Path | None = None
    lab_profiles: bool = False
    trusted_ca_files: tuple[Path, ...] = ()  # bench CAs (e.g. the lab CA) besides the profile's
    depth: str | None = None  # quick | standard | deep; None: the profile's, else quick

    @property
    def profile_layers(self) -> tuple[Path, ...]:
        return paths.profile_layers(self.profiles_dir, lab=self.lab_profiles)

    def data_file(self, name: str) -> Path:
        """data/<name> of the highest profile layer that has it (login prompts, admin paths)."""
        return paths.data_file(name, self.profile_layers)


_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_seconds(text: str | float, name: str = "duration") -> float:
    """A duration as users write it: `60`, `60s`, `2.5m`, `1h` -> seconds. ValueError naming
    `name` otherwise (the CLI turns it into a usage error before any traffic)."""
    if isinstance(text, int | float):
        return float(text)
    raw = text.strip().lower()
    number = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = raw[len(number) :].strip()
    try:
        value = float(number)
    except ValueError:
        value = float("nan")
    if unit not in _UNITS or value != value or value < 0:
        raise ValueError(f"{name} {text!r}: give seconds, e.g. 60, 60s, 2m")
    return value * _UNITS[unit]
