"""A check's metadata: its capability (from its registration) and its severity, standard
references and remediation (from the baseline, `Baseline.meta`); it makes the check's results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lanprobe.model import Capability, Device, Result, Severity, Target, Verdict


@dataclass(frozen=True)
class CheckMeta:
    """A check's capability (from its registration) and standard metadata (from the baseline)."""

    capability: Capability
    severity: Severity
    references: tuple[str, ...] = ()
    title: str = ""
    remediation: str = ""  # what to do about a finding ("" for a check the baseline lacks)

    def result(
        self,
        check_id: str,
        device: Device,
        verdict: Verdict,
        title: str,
        target: Target | None,
        evidence: dict[str, Any] | None,
        severity: Severity | None,
    ) -> Result:
        """A result of this check on `device`, with the baseline's severity and references."""
        return Result(
            check_id=check_id,
            device=device.key,
            capability=self.capability,
            verdict=verdict,
            severity=severity or self.severity,
            title=title,
            target=target or Target(),
            evidence=evidence or {},
            references=list(self.references),
        )
