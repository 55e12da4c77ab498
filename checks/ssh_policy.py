"""The SSH algorithm policy (profiles/data/ssh-algorithms.yaml) and the data.ssh-algorithms verdict.

`judge_ssh(kexinit, rsa_bits, policy)` is pure: an SSH server that offers a weak key exchange,
host-key type, cipher or MAC (or an RSA host key below the policy's minimum, or SSH-1 only) fails;
one whose offer was read in full and holds nothing weak passes, with the advisories listed; what
could not be read (no KEXINIT; an RSA host key whose size could not be learnt) is inconclusive.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lanprobe import datacache
from lanprobe.checks.clients.ssh_kex import KexInit
from lanprobe.discovery.fingerprint import read_yaml
from lanprobe.errors import ProfileError
from lanprobe.model import Verdict
from lanprobe.paths import DATA_DIR

POLICY_FILE = DATA_DIR / "ssh-algorithms.yaml"
CATEGORIES = ("kex", "host_key", "cipher", "mac")
_ENTRY_KEYS = {"match", "why", "source"}


@dataclass(frozen=True)
class Entry:
    match: str
    why: str
    source: str


@dataclass(frozen=True)
class Policy:
    weak: dict[str, tuple[Entry, ...]]
    advisory: dict[str, tuple[Entry, ...]]
    rsa_min_bits: int
    source: str

    def classify(self, category: str, name: str) -> tuple[str, Entry] | None:
        """("weak" | "advisory", the entry) for an algorithm name, None when neither."""
        for level, table in (("weak", self.weak), ("advisory", self.advisory)):
            for entry in table.get(category, ()):
                if fnmatch.fnmatchcase(name, entry.match):
                    return level, entry
        return None


def parse_policy(data: Any, source: str = "ssh-algorithms") -> Policy:
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ProfileError("expected a mapping with version: 1", file=source)
    bits = data.get("rsa_min_bits")
    if not isinstance(bits, int) or bits < 1024:
        raise ProfileError("must be an integer >= 1024", file=source, field="rsa_min_bits")
    weak: dict[str, tuple[Entry, ...]] = {}
    advisory: dict[str, tuple[Entry, ...]] = {}
    for cat in CATEGORIES:
        block = data.get(cat)
        if not isinstance(block, dict) or set(block) - {"weak", "advisory"}:
            raise ProfileError("needs weak: and advisory: lists only", file=source, field=cat)
        for level, table in (("weak", weak), ("advisory", advisory)):
            entries = []
            for i, item in enumerate(block.get(level) or []):
                field = f"{cat}.{level}[{i}]"
                if not isinstance(item, dict) or set(item) != _ENTRY_KEYS:
                    raise ProfileError("needs exactly match, why, source", file=source, field=field)
                if not all(isinstance(item[k], str) and item[k].strip() for k in _ENTRY_KEYS):
                    raise ProfileError(
                        "match, why and source must be text", file=source, field=field
                    )
                entries.append(Entry(item["match"], item["why"], item["source"]))
            table[cat] = tuple(entries)
    return Policy(weak=weak, advisory=advisory, rsa_min_bits=bits, source=source)


def load_policy(path: Path = POLICY_FILE) -> Policy:
    """Parsed once (probe/datacache.py); shared, never changed."""
    return datacache.load(path, _parse_policy)


def _parse_policy(path: Path) -> Policy:
    return parse_policy(read_yaml(path, "the SSH algorithm policy"), str(path))


def judge_ssh(
    kex: KexInit | None, rsa_bits: int | None, policy: Policy, reason: str = ""
) -> tuple[Verdict, str, dict[str, Any]]:
    """What the server offered -> verdict, title, evidence."""
    if kex is None:
        why = reason or "no KEXINIT read"
        return Verdict.inconclusive, f"SSH offer not read: {why}", {"reason": why}
    ev: dict[str, Any] = {"server": kex.ident, "policy": Path(policy.source).name}
    if kex.protocol not in ("2.0", "1.99"):
        ev["reason"] = "SSH protocol 1 only (RFC 4253 section 5: SSH-1 is obsolete and broken)"
        return Verdict.fail, f"SSH protocol {kex.protocol or '?'} only", ev
    weak: dict[str, dict[str, str]] = {}
    advisories: dict[str, dict[str, str]] = {}
    for cat in CATEGORIES:
        offered = kex.offered(cat)
        ev[f"offered_{cat}"] = offered
        for name in offered:
            hit = policy.classify(cat, name)
            if hit is None:
                continue
            level, entry = hit
            into = weak if level == "weak" else advisories
            into[f"{cat}:{name}"] = {"why": entry.why, "source": entry.source}
    rsa_offered = any(n.startswith(("rsa-sha2-", "ssh-rsa")) for n in kex.offered("host_key"))
    if rsa_bits is not None:
        ev["rsa_host_key_bits"] = rsa_bits
        if rsa_bits < policy.rsa_min_bits:
            weak[f"host_key:RSA-{rsa_bits}"] = {
                "why": f"RSA host key below {policy.rsa_min_bits} bits",
                "source": "NIST SP 800-131A Rev. 2 section 3",
            }
    if advisories:
        ev["advisories"] = advisories
    if weak:
        ev["weak"] = weak
        names = ", ".join(k.split(":", 1)[1] for k in weak)
        return Verdict.fail, f"SSH offers weak algorithms: {names}", ev
    if rsa_offered and rsa_bits is None:
        ev["reason"] = "an RSA host key is offered but its size could not be learnt"
        return Verdict.inconclusive, "SSH offer read; RSA host key size unknown", ev
    if not all(kex.offered(c) for c in CATEGORIES):
        ev["reason"] = "the KEXINIT had an empty algorithm list"
        return Verdict.inconclusive, "SSH offer incomplete", ev
    return Verdict.passed, "SSH offers no weak key exchange, host key, cipher or MAC", ev
