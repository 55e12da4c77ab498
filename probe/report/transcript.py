"""A finding as a short transcript: what the probe sent, what came back, why that is the verdict.

Checks record their evidence as small dicts with keys of their own; this module reads them by
the meaning of common key names, not per check: keys that name what the probe sent (`request`,
`tried`, `path`, the `user` and `password` it tried, ...), keys that give the reason for a
verdict (`reason`, `threshold`, `missing`, ...), bookkeeping that says nothing about the device
(`budget`, `wait_s`, ...), and everything else as what the device answered. Nested dicts are read
one level down with dotted names (`accepted.request`). A check whose evidence uses other names
still gets a transcript (its observations are "came back"), and the raw JSON stays in the
report, folded away.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lanprobe.model import Result, Verdict

SENT = frozenset(
    {
        "request",
        "requests",
        "sent",
        "query",
        "queries",
        "method",
        "path",
        "paths",
        "url",
        "interface",
        "tried",
        "user",
        "username",
        "password",
        "credentials",
        "probe",
        "command",
        "community",
        "communities",
        "resource",
        "action",
    }
)
WHY = frozenset(
    {
        "reason",
        "why",
        "threshold",
        "threshold_from",
        "missing",
        "expected",
        "allowed",
        "policy",
        "weak",
        "lockout_signs",
        "stopped",
        "rule",
        "latest",
        "support_end",
    }
)
NOISE = frozenset(
    {"budget", "allowance", "wait_s", "duration_s", "candidates", "attempts", "guard", "seq"}
)
MAX_LINES = 6  # per direction: a transcript, not a dump
MAX_CHARS = 180


@dataclass(frozen=True)
class Line:
    direction: str  # sent | received | why
    label: str
    text: str


def _text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    else:
        text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def _flatten(evidence: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(dotted label, last key, value), one level of nesting opened."""
    out = []
    for key, value in evidence.items():
        if isinstance(value, dict) and key not in NOISE:
            out += [(f"{key}.{k}", k, v) for k, v in value.items()]
        else:
            out.append((key, key, value))
    return out


def transcript(result: Result) -> list[Line]:
    """The sent / received / why lines of one result; the last line always states the verdict."""
    sent: list[Line] = []
    received: list[Line] = []
    why: list[Line] = []
    for label, key, value in _flatten(result.evidence):
        if key in NOISE or value in (None, "", [], {}):
            continue
        if key in SENT:
            bucket, direction = sent, "sent"
        elif key in WHY:
            bucket, direction = why, "why"
        else:
            bucket, direction = received, "received"
        if len(bucket) < MAX_LINES:
            bucket.append(Line(direction, label.replace("_", " "), _text(value)))
    if not received and result.verdict is not Verdict.not_applicable:
        received.append(Line("received", "answer", "nothing recorded"))
    verdict = result.verdict.value.replace("_", " ")
    why.append(Line("why", verdict, result.title))
    return sent + received + why
