"""Where lanprobe's own data lives, in a checkout and in an installed wheel alike.

The repository's top-level folders install as one import package (pyproject.toml package-dir):
probe/ is `lanprobe`, checks/ is `lanprobe.checks`, lab/ is `lanprobe.lab`, profiles/ is
`lanprobe.builtin_profiles` (data only; `lanprobe.profiles` is the loader). So the built-in data
is found next to the package, never relative to the working directory.
"""

from __future__ import annotations

from pathlib import Path

import lanprobe.builtin_profiles as _profiles

BUILTIN_PROFILES = Path(_profiles.__file__).resolve().parent
BASELINE_FILE = BUILTIN_PROFILES / "baseline" / "nistir-8259a.yaml"
DATA_DIR = BUILTIN_PROFILES / "data"
CREDENTIALS_DIR = BUILTIN_PROFILES / "credentials"
