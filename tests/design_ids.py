"""The stable check ids of DESIGN.md "Check ids" (reports, diffs and history key on them), read
from the section's copy in tests/fixtures/design-check-ids.md: DESIGN.md lives outside the
repository, so the tests keep a copy and compare it with DESIGN.md where it is on the machine
(tests/test_baseline.py). No id list is kept by hand."""

from __future__ import annotations

import os
from pathlib import Path

COPY = Path(__file__).parent / "fixtures" / "design-check-ids.md"
HEADING = "## Check ids"


def design_file() -> Path | None:
    """DESIGN.md where this machine has it: LANPROBE_DESIGN_MD, or the project's shared folder
    beside the checkout (CI lays a copy of it there), or the workplace's."""
    beside = Path(__file__).resolve().parents[2] / "shared" / "DESIGN.md"
    for cand in (os.environ.get("LANPROBE_DESIGN_MD"), str(beside), "/work/shared/DESIGN.md"):
        if cand and Path(cand).is_file():
            return Path(cand)
    return None


def section(text: str) -> str:
    """The "Check ids" section of a DESIGN.md text: its heading up to the next `## ` heading."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(HEADING))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start:end]).strip()


def check_table(text: str) -> dict[str, str]:
    """check id -> capability, from the section's table (`| id | capability | what fails it |`)."""
    out: dict[str, str] = {}
    for line in section(text).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 2 and "." in cells[0]:
            out[cells[0]] = cells[1]
    return out


DESIGN_CHECKS = check_table(COPY.read_text("utf-8"))
