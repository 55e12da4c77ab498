"""Profile-driven collection: every check x device (x target) of a run as a pytest item.

    <profile>@<ip>                          DeviceChecks, one collector per device
      ::<check id>                          a check about the whole device
      ::<check id>[<port>]                  a check about one port (`[1900/udp]` for UDP)

Outcomes follow the verdicts: pass -> passed; fail -> failed (the message carries the titles and
the evidence); inconclusive and error -> an error at setup (not a failure: the check could not
decide); not_applicable -> skipped with the reason. Several results on one target add up to the
worst (fail > error > inconclusive > pass > not_applicable). Each item carries the capability as a
marker (`-m data_protection`), `lanprobe` and `model(<profile>)` markers, and JUnit properties.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lanprobe.device_api import target_label
from lanprobe.labels import device_label
from lanprobe.model import Device, Result, ScanRun, Verdict
from lanprobe.pytest_bench import SESSION_KEY, BenchUnavailable, ProbeSession
from lanprobe.verdicts import worst_verdict

_EVIDENCE_CHARS = 4000


def device_labels(run: ScanRun) -> dict[str, str]:
    """key -> `<profile>@<ip>`, unique within the run (the key is added where two collide)."""
    out: dict[str, str] = {}
    seen: dict[str, int] = {}
    for dev in run.devices:
        label = device_label(dev.profile, dev.ip, dev.key, unmatched="generic")
        seen[label] = seen.get(label, 0) + 1
        out[dev.key] = label
    for key, label in list(out.items()):
        if seen[label] > 1:
            out[key] = f"{label}[{key}]"
    return out


def item_name(check_id: str, res: Result) -> str:
    t = res.target
    if t.port is None:
        return check_id
    return (
        f"{check_id}[{t.port}]" if t.transport == "tcp" else f"{check_id}[{t.port}/{t.transport}]"
    )


def _evidence(evidence: dict[str, Any]) -> str:
    text = json.dumps(evidence, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    if len(text) > _EVIDENCE_CHARS:
        text = text[: _EVIDENCE_CHARS - 20] + "\n... (truncated)"
    return "\n".join("      " + line for line in text.splitlines())


def _reason(res: Result) -> str:
    for key in ("reason", "error"):
        val = res.evidence.get(key)
        if isinstance(val, str) and val and val not in res.title:
            return f"{res.title} ({val})"
    return res.title


class DeviceChecks(pytest.Collector):
    """The baseline checks of one device in the session's run."""

    def __init__(self, *, probe: ProbeSession, device_key: str, source: Path, **kw: Any) -> None:
        super().__init__(**kw)
        self.probe = probe
        self.device_key = device_key
        self.source = source

    def collect(self) -> Iterator[BaselineItem]:
        run = self.probe.get_run()
        dev = run.device(self.device_key)
        if dev is None:
            return
        groups: dict[str, list[Result]] = {}
        for res in run.results_for(dev.key):
            groups.setdefault(item_name(res.check_id, res), []).append(res)
        names = set(groups)
        # A check the run made for other devices but not for this one (an interrupted scan).
        for check_id in sorted({r.check_id for r in run.results}):
            if not any(n == check_id or n.startswith(check_id + "[") for n in names):
                groups[check_id] = []
        for name in sorted(groups):
            check_id = name.split("[", 1)[0]
            yield BaselineItem.from_parent(
                self, name=name, check_id=check_id, device=dev, results=groups[name], run=run
            )

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.source, 0, self.name


class BaselineItem(pytest.Item):
    """One check on one device (and target): its verdict(s) as a test outcome."""

    def __init__(
        self,
        *,
        check_id: str,
        device: Device,
        results: list[Result],
        run: ScanRun,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.check_id = check_id
        self.device = device
        self.results = results
        self.run_id = run.run_id
        self.verdict: Verdict = (
            worst_verdict([r.verdict for r in results]) if results else Verdict.error
        )
        if results:
            first = results[0]
            self.add_marker(str(first.capability))
            sev = max((r.severity for r in results), key=lambda s: s.rank)
            self.extra_keyword_matches.add(str(sev))
            self.user_properties += [
                ("check_id", check_id),
                ("capability", str(first.capability)),
                ("severity", str(sev)),
                ("target", target_label(first)),
                ("references", ", ".join(first.references)),
            ]
        self.add_marker("lanprobe")
        if self.verdict == Verdict.not_applicable:
            # A skip marker, so that reports point at the item, not at this module.
            why = f"{check_id} not applicable: {_reason(results[0])}"
            self.add_marker(pytest.mark.skip(reason=why))
        self.add_marker(pytest.mark.model(device.profile or "generic"))
        self.extra_keyword_matches.update({device.profile or "generic", device.ip})
        self.user_properties += [
            ("device", device.key),
            ("ip", device.ip),
            ("profile", device.profile or "generic"),
            ("verdict", str(self.verdict)),
            ("run_id", run.run_id),
        ]
        match = device.profile_match
        if match is not None:  # how the profile was chosen; doubts spelled out (issue 11)
            self.user_properties.append(("profile_match", match.strength))
            if match.flags:
                doubt = "; ".join([match.flags, device.profile_reason, *match.conflicts])
                self.user_properties.append(("profile_match_doubt", doubt))

    def _text(self) -> str:
        parent = self.parent.name if self.parent else self.device.key
        if not self.results:
            return f"{parent}: {self.check_id}: no verdict in run {self.run_id}"
        head = f"{parent}: {self.check_id} is {self.verdict.value}"
        lines = [head]
        for res in self.results:
            lines.append(f"  {res.verdict.value} ({res.severity.value}) {target_label(res)}: "
                         f"{res.title}")  # fmt: skip
            if res.evidence:
                lines.append("    evidence:")
                lines.append(_evidence(res.evidence))
        refs = self.results[0].references
        if refs:
            lines.append(f"  references: {', '.join(refs)}")
        return "\n".join(lines)

    def setup(self) -> None:
        # Undecided checks are errors at setup, so that they never read as a device failure.
        if self.verdict in (Verdict.inconclusive, Verdict.error):
            pytest.fail(self._text(), pytrace=False)

    def runtest(self) -> None:
        if self.verdict == Verdict.fail:
            pytest.fail(self._text(), pytrace=False)

    def reportinfo(self) -> tuple[Path, int, str]:
        parent = self.parent.name if self.parent else ""
        # Not the node id's tail: pytest would print its dots as "::" in verbose lines.
        return self.path, 0, f"{parent}: {self.name}"


class BaselineUnavailable(pytest.Item):
    """Stands for the baseline items when the session has no run: errors with the reason."""

    def __init__(self, *, message: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.message = message

    def setup(self) -> None:
        pytest.fail(self.message, pytrace=False)

    def runtest(self) -> None:  # pragma: no cover - setup always fails
        pass

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, self.name


def _source(probe: ProbeSession, run: ScanRun, dev: Device, default: Path) -> Path:
    """Where a device's items point: its profile file when known."""
    src = run.profiles.get(dev.profile or "", {}).get("source")
    if src and Path(src).is_file():
        return Path(src)
    try:
        cand = probe.profile_source(dev.profile or "")
    except BenchUnavailable:
        return default
    return cand if cand is not None and cand.is_file() else default


def baseline_items(session: pytest.Session, probe: ProbeSession) -> list[pytest.Item]:
    """The items of `--probe-baseline`: every device of the run, every check."""
    try:
        run = probe.get_run()
    except BenchUnavailable as exc:
        stand_in = BaselineUnavailable.from_parent(
            session, name="lanprobe-baseline", nodeid="lanprobe-baseline", message=str(exc)
        )
        return list(session.genitems(stand_in))
    items: list[pytest.Item] = []
    labels = device_labels(run)
    for dev in run.devices:
        col = DeviceChecks.from_parent(
            session,
            name=labels[dev.key],
            nodeid=labels[dev.key],
            path=_source(probe, run, dev, session.path),
            probe=probe,
            device_key=dev.key,
            source=_source(probe, run, dev, session.path),
        )
        # Through the session, so that collect reports (counts, errors) go out as usual.
        items.extend(session.genitems(col))
    return items


class ProfileFile(pytest.File):
    """A profile YAML named on the command line: the baseline items of the devices of that model."""

    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        from lanprobe.profiles import load_yaml

        data = load_yaml(self.path).data
        profile_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(profile_id, str):
            return
        probe: ProbeSession = self.config.stash[SESSION_KEY]
        if not probe.opts.active:
            from lanprobe.pytest_bench import NO_BENCH

            pytest.skip(NO_BENCH)
        try:
            run = probe.get_run()
        except BenchUnavailable as exc:
            pytest.fail(str(exc), pytrace=False)
        labels = device_labels(run)
        devices = [d for d in run.devices if d.profile == profile_id]
        if not devices:
            found = ", ".join(sorted({d.profile or "generic" for d in run.devices})) or "none"
            pytest.skip(f"no device of model {profile_id} on the bench (found: {found})")
        for dev in devices:
            yield DeviceChecks.from_parent(
                self, name=labels[dev.key], probe=probe, device_key=dev.key, source=self.path
            )
