"""The scoring baseline: capabilities, their elements, severity weights, per-check references and
remediation.

The data lives in profiles/baseline/nistir-8259a.yaml (DESIGN.md: weights, element lists and
references are data, not code). This module loads and validates it and answers the questions the
runner, scoring and reports ask: a check's severity, references and remediation (`meta`), a
severity's weight, which elements a check verifies over the network, and which elements no check
can verify.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lanprobe.checkmeta import CheckMeta
from lanprobe.errors import ProfileError
from lanprobe.model import Capability, Severity
from lanprobe.paths import BASELINE_FILE
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_BASELINE = BASELINE_FILE


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CapabilityDef(_Strict):
    title: str
    elements: dict[str, str]  # element code -> what it asks


class CheckDef(_Strict):
    capability: Capability
    severity: Severity
    elements: list[str] = Field(default_factory=list)  # 8259A elements it relates to
    verifies: list[str] = Field(default_factory=list)  # elements a decided verdict verifies
    en_303_645: list[str] = Field(default_factory=list)
    owasp_iot: list[str] = Field(default_factory=list)
    # What to do about a finding (reports show it under a failed result): required, so that a
    # new check cannot ship without it and a report never shows a finding with no advice.
    remediation: str

    @field_validator("remediation")
    @classmethod
    def _one_paragraph(cls, text: str) -> str:
        flat = " ".join(text.split())  # a folded YAML block, as one line of plain text
        if not flat:
            raise ValueError("remediation is empty: say what to do about a finding")
        return flat

    def references(self) -> list[str]:
        """Prefixed so that reports can tell the standards apart."""
        return (
            [f"NISTIR-8259A:{e}" for e in self.elements]
            + [f"EN303645:{p}" for p in self.en_303_645]
            + [f"OWASP-IoT-2018:{o}" for o in self.owasp_iot]
        )


class Baseline(_Strict):
    id: str
    version: str
    title: str = ""
    editions: dict[str, str] = Field(default_factory=dict)
    weights: dict[Severity, int]
    capabilities: dict[Capability, CapabilityDef]
    # capability -> the least coverage (%) it needs for a `conforms` device verdict
    min_coverage: dict[Capability, float] = Field(default_factory=dict)
    not_network_verifiable: dict[str, str] = Field(default_factory=dict)
    checks: dict[str, CheckDef]

    @model_validator(mode="after")
    def _consistent(self) -> Baseline:
        known = self.element_capability()
        for sev in Severity:
            if sev not in self.weights:
                raise ValueError(f"weights: missing severity {sev.value!r}")
        for cap, pct in self.min_coverage.items():
            if cap not in self.capabilities:
                raise ValueError(f"min_coverage: {cap.value!r} is not a capability of the baseline")
            if not 0 <= pct <= 100:
                raise ValueError(f"min_coverage: {cap.value}: {pct} is not a percentage (0-100)")
            reachable = (
                100.0 * len(self.verifiable(cap)) / max(1, len(self.capabilities[cap].elements))
            )
            if pct > reachable:
                raise ValueError(
                    f"min_coverage: {cap.value}: {pct} is more than the checks can verify "
                    f"({reachable:.1f}%): no device could conform"
                )
        for code in self.not_network_verifiable:
            if code not in known:
                raise ValueError(f"not_network_verifiable: unknown element {code!r}")
        for cid, cdef in self.checks.items():
            for code in [*cdef.elements, *cdef.verifies]:
                if code not in known:
                    raise ValueError(f"lanprobe.checks.{cid}: unknown element {code!r}")
        return self

    def judged(self) -> dict[str, object]:
        """The baseline as verdicts and scores depend on it (a run records its digest): the
        remediation texts are advice for the reader, so editing one is no baseline change."""
        return self.model_dump(mode="json", exclude={"checks": {"__all__": {"remediation"}}})

    def element_capability(self) -> dict[str, Capability]:
        return {code: cap for cap, c in self.capabilities.items() for code in c.elements}

    def weight(self, severity: Severity) -> int:
        return self.weights[severity]

    def meta(self, check_id: str, capability: Capability) -> CheckMeta:
        """A check's metadata for its context; a check the baseline lacks gets medium severity."""
        cdef = self.checks.get(check_id)
        if cdef is None:
            return CheckMeta(capability=capability, severity=Severity.medium)
        return CheckMeta(
            capability=capability,
            severity=cdef.severity,
            references=tuple(cdef.references()),
            title=check_id,
            remediation=cdef.remediation,
        )

    def verifiable(self, capability: Capability) -> list[str]:
        """The capability's elements some check of the baseline can verify over the network."""
        codes = {c for d in self.checks.values() for c in d.verifies}
        return [e for e in self.capabilities[capability].elements if e in codes]

    def missing(self, registered: set[str]) -> tuple[list[str], list[str]]:
        """(registered checks without a baseline entry, baseline entries without a check)."""
        return sorted(registered - set(self.checks)), sorted(set(self.checks) - registered)


def load_baseline(path: Path | None = None) -> Baseline:
    """Load and validate the baseline; errors read ``file:line: field: message``."""
    from lanprobe.profiles import load_yaml

    path = Path(path or DEFAULT_BASELINE)
    doc = load_yaml(path)
    try:
        return Baseline.model_validate(doc.data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        raise ProfileError(
            str(err["msg"]),
            file=str(path),
            line=doc.line_of(loc),
            field=".".join(str(p) for p in loc),
        ) from exc


@cache
def default_baseline() -> Baseline:
    """The shipped baseline, loaded once per process: reports ask it for every finding."""
    return load_baseline()
