"""The lab scan's verdicts against a recorded table, so that every behaviour change is deliberate.

tests/fixtures/lab_verdicts.json lists, for every check id and lab model, the verdict the
session's one lab scan (`lab_run`, tests/checks/conftest.py: no scan of its own) gives: the worst
verdict over that model's units and ports (probe/verdicts.py). An entry may list several verdicts
when a check is known to flap between them on a loaded host; say why in `note`.

When a change means to alter verdicts, regenerate the table from the new code and commit it with
the change (the diff of the JSON is the review of the behaviour change):

    LANPROBE_UPDATE_VERDICTS=1 pytest tests/checks/test_verdict_table.py

(with your bench variables exported). Entries listing several verdicts keep their list when the
new verdict is one of them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from lanprobe.model import ScanRun
from lanprobe.verdicts import worst_verdict

pytestmark = pytest.mark.lab

TABLE = Path(__file__).resolve().parents[1] / "fixtures" / "lab_verdicts.json"
UPDATE = os.environ.get("LANPROBE_UPDATE_VERDICTS") == "1"
HOW = (
    "if the change is intended, regenerate the table and commit it with the change: "
    "LANPROBE_UPDATE_VERDICTS=1 pytest tests/checks/test_verdict_table.py "
    "(tests/fixtures/lab_verdicts.json)"
)


def observed(run: ScanRun, bench: Any) -> dict[tuple[str, str], str]:
    """(check id, lab model) -> the worst verdict over that model's units and ports."""
    model_of_ip = {d.ip: d.model for d in bench.devices}
    model_of_key = {}
    for dev in run.devices:
        models = {model_of_ip[ip] for ip in dev.ips if ip in model_of_ip}
        if len(models) == 1:
            model_of_key[dev.key] = models.pop()
    grouped: dict[tuple[str, str], list[Any]] = {}
    for res in run.results:
        model = model_of_key.get(res.device)
        if model is not None:
            grouped.setdefault((res.check_id, model), []).append(res.verdict)
    return {key: worst_verdict(vs).value for key, vs in sorted(grouped.items())}


def load_table() -> dict[tuple[str, str], dict[str, Any]]:
    rows = json.loads(TABLE.read_text(encoding="utf-8"))["verdicts"]
    return {(r["check"], r["model"]): r for r in rows}


def write_table(seen: dict[tuple[str, str], str]) -> None:
    old = load_table() if TABLE.is_file() else {}
    rows = []
    for (check, model), verdict in seen.items():
        prev = old.get((check, model))
        if prev is not None and isinstance(prev["verdict"], list) and verdict in prev["verdict"]:
            rows.append(prev)
        else:
            rows.append({"check": check, "model": model, "verdict": verdict})
    # One row a line: the diff of a regenerated table reads as the list of changed verdicts.
    lines = ",\n".join("  " + json.dumps(r) for r in rows)
    text = f'{{"how_to_update": {json.dumps(HOW)},\n "verdicts": [\n{lines}\n]}}\n'
    TABLE.write_text(text, encoding="utf-8")


def test_lab_verdicts_match_the_recorded_table(lab_run: ScanRun, lab_bench: Any) -> None:
    seen = observed(lab_run, lab_bench)
    assert seen, "the lab scan gave no result on any lab model"
    if UPDATE:
        write_table(seen)
    expected = load_table()
    changed = []
    for key in sorted(set(seen) | set(expected)):
        want = expected.get(key, {}).get("verdict")
        got = seen.get(key)
        allowed = want if isinstance(want, list) else [want]
        if got not in allowed:
            changed.append(f"  {key[0]} on {key[1]}: recorded {want}, now {got}")
    assert not changed, (
        f"{len(changed)} verdict(s) differ from tests/fixtures/lab_verdicts.json:\n"
        + "\n".join(changed)
        + f"\n{HOW}"
    )
