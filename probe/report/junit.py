"""JUnit XML for CI readers (Jenkins, GitLab): one testsuite per device, one testcase per result.

fail -> <failure> with the evidence; inconclusive and error -> <error> with the reason;
not_applicable -> <skipped> with the reason; pass -> an empty testcase. Jenkins splits
`classname` at its last dot into package and class, so the classname is
``<profile>@<ip with dots as _>.<capability>``: one package per device, one class per capability.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

from lanprobe.diff import device_label
from lanprobe.model import Device, Result, ScanRun, Verdict

# Characters XML 1.0 cannot carry at all (device banners do contain them).
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    return _XML_BAD.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _evidence_text(evidence: dict[str, Any]) -> str:
    return json.dumps(evidence, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def _reason(r: Result) -> str:
    """Why a result is not a pass: the check's stated reason, else its title."""
    for key in ("reason", "error", "why"):
        val = r.evidence.get(key)
        if isinstance(val, str) and val:
            return val
    return r.title


def testcase_name(r: Result) -> str:
    t = r.target
    if t.port is None:
        return f"{r.check_id} [{t.service}]" if t.service else r.check_id
    svc = f" {t.service}" if t.service else ""
    return f"{r.check_id} [{t.port}/{t.transport}{svc}]"


def _suite_groups(run: ScanRun) -> list[tuple[str, Device | None, list[Result]]]:
    """(suite name, device, results) in device order; results of unknown devices at the end."""
    groups: list[tuple[str, Device | None, list[Result]]] = []
    known = set()
    for dev in run.devices:
        known.add(dev.key)
        groups.append((device_label(dev), dev, run.results_for(dev.key)))
    orphans: dict[str, list[Result]] = {}
    for r in run.results:
        if r.device not in known:
            orphans.setdefault(r.device, []).append(r)
    groups.extend((key, None, res) for key, res in orphans.items())
    return groups


def _props(parent: ET.Element, values: dict[str, str]) -> None:
    props = ET.SubElement(parent, "properties")
    for name, value in values.items():
        if value:
            ET.SubElement(props, "property", name=name, value=_clean(value))


def build(run: ScanRun) -> ET.Element:
    """The <testsuites> element of a run."""
    total: Counter[str] = Counter()
    total_time = 0.0
    root = ET.Element("testsuites", name=f"lanprobe {run.run_id}")
    timestamp = run.started.strftime("%Y-%m-%dT%H:%M:%S")
    for idx, (name, dev, results) in enumerate(_suite_groups(run)):
        counts = Counter(r.verdict for r in results)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=_clean(name),
            tests=str(len(results)),
            failures=str(counts[Verdict.fail]),
            errors=str(counts[Verdict.error] + counts[Verdict.inconclusive]),
            skipped=str(counts[Verdict.not_applicable]),
            time=f"{sum(r.duration_s for r in results):.3f}",
            timestamp=timestamp,
            id=str(idx),
            package="lanprobe",
        )
        score = run.scores.get(dev.key) if dev else None
        props = {
            "device": dev.key if dev else name,
            "mac": (dev.mac or "") if dev else "",
            "ips": " ".join(dev.ips) if dev else "",
            "serial": (dev.identifier("serial") or "") if dev else "",
            "model": dev.model if dev else "",
            "firmware": dev.firmware if dev else "",
            "profile": (dev.profile or "") if dev else "",
            **_match_props(dev),
            "verdict": score.verdict.value if score else "",
            "score": "" if score is None or score.score is None else f"{score.score:.1f}",
            "coverage": f"{score.coverage:.2f}" if score else "",
            # why not conforms; the capabilities below the baseline's minimum coverage
            "verdict_reasons": "; ".join(score.reasons) if score else "",
            "lacking_evidence": " ".join(score.lacking_evidence) if score else "",
            "baseline": run.baseline.get("version", ""),
            "bench": run.bench,
            "probe_host": run.host.hostname,
            "lanprobe": run.tool.version,
        }
        _props(suite, props)
        package = _clean(name).replace(".", "_")
        for r in results:
            _testcase(suite, package, r)
        total["tests"] += len(results)
        total["failures"] += counts[Verdict.fail]
        total["errors"] += counts[Verdict.error] + counts[Verdict.inconclusive]
        total_time += sum(r.duration_s for r in results)
    root.set("tests", str(total["tests"]))
    root.set("failures", str(total["failures"]))
    root.set("errors", str(total["errors"]))
    root.set("time", f"{total_time:.3f}")
    return root


def _match_props(dev: Device | None) -> dict[str, str]:
    """How the profile was chosen: strength, and what was weak or conflicting about it."""
    m = dev.profile_match if dev else None
    if m is None:
        return {}
    props = {"profile_match": m.strength, "profile_reason": dev.profile_reason if dev else ""}
    if m.flags:
        props["profile_match_doubt"] = m.flags
    if m.conflicts:
        props["profile_conflicts"] = "; ".join(m.conflicts)
    if m.hints:
        props["profile_hints"] = "; ".join(m.hints)
    return props


def _testcase(suite: ET.Element, package: str, r: Result) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        name=_clean(testcase_name(r)),
        classname=f"{package}.{r.capability.value}",
        time=f"{r.duration_s:.3f}",
    )
    head = f"[{r.severity.value}] {r.title}"
    if r.verdict is Verdict.fail:
        el = ET.SubElement(case, "failure", message=_clean(head), type=r.severity.value)
        el.text = _clean(_evidence_text(r.evidence))
    elif r.verdict in (Verdict.inconclusive, Verdict.error):
        el = ET.SubElement(case, "error", message=_clean(_reason(r)), type=r.verdict.value)
        el.text = _clean(f"{head}\n{_evidence_text(r.evidence)}")
    elif r.verdict is Verdict.not_applicable:
        ET.SubElement(case, "skipped", message=_clean(_reason(r)))
    if r.references:
        out = ET.SubElement(case, "system-out")
        out.text = _clean("references: " + ", ".join(r.references))


def render_junit(run: ScanRun) -> str:
    root = build(run)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(run: ScanRun, path: Path) -> Path:
    """Write atomically (a CI reader never sees half a file)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(render_junit(run), encoding="utf-8")
    tmp.replace(path)
    return path
