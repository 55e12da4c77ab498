"""Where lanprobe's own data lives, in a checkout and in an installed wheel alike, and how a user's
profiles directory is layered over it.

The repository's top-level folders install as one import package (pyproject.toml package-dir):
probe/ is `lanprobe`, checks/ is `lanprobe.checks`, lab/ is `lanprobe.lab`, profiles/ is
`lanprobe.builtin_profiles` (data only; `lanprobe.profiles` is the loader). So the built-in data
is found next to the package, never relative to the working directory.

Layers, lowest first: the built-in set (generic.yaml, the baseline, credential lists, data), the
lab models' profiles (only for a lab bench: `--lab`, `--probe-lab`, the tests), then the user's
profiles directory. A higher layer adds models and overrides a lower one's profile of the same id
(a user's `generic`), and its `credentials/` and `data/` files shadow ours of the same name; what
it lacks comes from below, so a user's directory may hold a single model file.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path


def _package_dir(name: str) -> Path:
    """A package's folder without running its code (lanprobe.lab is imported only by layer 6)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"lanprobe is installed without {name}")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


BUILTIN_PROFILES = _package_dir("lanprobe.builtin_profiles")
BASELINE_FILE = BUILTIN_PROFILES / "baseline" / "nistir-8259a.yaml"
DATA_DIR = BUILTIN_PROFILES / "data"
CREDENTIALS_DIR = BUILTIN_PROFILES / "credentials"
# The lab models' profiles (lab/README.md is their contract): never loaded for a real bench.
LAB_PROFILES = _package_dir("lanprobe.lab") / "profiles"


def profile_layers(user_dir: Path | None = None, *, lab: bool = False) -> tuple[Path, ...]:
    """The profile directories of a run, lowest first (a directory given twice counts once)."""
    layers = [BUILTIN_PROFILES]
    if lab:
        layers.append(LAB_PROFILES)
    if user_dir is not None:
        user = Path(user_dir).resolve()
        if user not in layers:
            layers.append(user)
    return tuple(layers)


def _find(sub: str, names: Sequence[str], layers: Sequence[Path]) -> Path | None:
    for root in reversed(tuple(layers) or (BUILTIN_PROFILES,)):
        for name in names:
            cand = root / sub / name
            if cand.is_file():
                return cand
    if BUILTIN_PROFILES not in layers:
        for name in names:
            cand = BUILTIN_PROFILES / sub / name
            if cand.is_file():
                return cand
    return None


def data_file(name: str, layers: Sequence[Path] = ()) -> Path:
    """data/<name> from the highest layer that has one; else the built-in path (which a caller
    reading it reports as missing, with its name)."""
    return _find("data", (name,), layers) or DATA_DIR / name


def credential_list(name: str, layers: Sequence[Path] = ()) -> Path | None:
    """credentials/<name>(.txt|.csv) from the highest layer that has it; None: no such list."""
    return _find("credentials", (name, f"{name}.txt", f"{name}.csv"), layers)
