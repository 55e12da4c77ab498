"""SNMP: what the agent answers to which community, measured once per device, judged twice.

`observe(session, port)` asks the agent, read-only: an SNMPv3 engine discovery; a v2c and a v1
GetRequest of sysDescr with each candidate community (the profile's documented SNMP defaults,
then profiles/data/snmp-communities.txt); a random community (an agent that answers it checks no
community at all); and for each community that reads, the write probe (checks/clients/snmp.py
write_probe), a SetRequest that no agent can carry out (wrong type), whose error tells a write
community (wrongType/badValue) from a read-only one (noAccess and the like).
Nothing on the agent changes.

Judged by configuration.default-login (`judge_communities`: a community that reads fails, critical
when it also writes; none of them, with the agent answering SNMPv3, passes) and by
data.tls-required (`judge_cleartext`: SNMPv1/v2c carries the community and the data in clear).
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lanprobe import datacache
from lanprobe.checks.clients import snmp
from lanprobe.checks.context import DeviceSession
from lanprobe.model import Verdict
from lanprobe.paths import DATA_DIR

COMMUNITIES_FILE = DATA_DIR / "snmp-communities.txt"
MAX_COMMUNITIES = 16  # requests to one agent stay few (two versions each)
TIMEOUT_S = 1.0
RETRIES = 1
AT_ONCE = 16  # communities in flight to one agent (each a GetRequest of sysDescr)


def load_communities(path: Path = COMMUNITIES_FILE) -> list[str]:
    """One community a line, `#` comments; ValueError names file and line. Parsed once
    (probe/datacache.py); the list is shared, never changed."""
    return datacache.load(path, _parse_communities)


def _parse_communities(path: Path) -> list[str]:
    out: list[str] = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if any(c in line for c in "\x00\t") or line != line.strip():
            raise ValueError(f"{path}:{lineno}: a community has no tabs or edge spaces")
        if line not in out:
            out.append(line)
    return out


@dataclass
class SnmpObservation:
    port: int
    engine_id: str = ""  # answered SNMPv3 engine discovery
    # SNMPv3 discovery answered again after the communities: silence to them was the agent's
    # refusal, not a device that went away mid-check (a pass needs both answers).
    alive_after: bool = False
    readable: dict[str, list[str]] = field(default_factory=dict)  # community -> ["v2c", "v1"]
    writable: dict[str, str] = field(default_factory=dict)  # community -> error that proved it
    refused_write: dict[str, str] = field(default_factory=dict)  # community -> the refusal
    sysdescr: str = ""
    any_community: bool = False  # a random community read too
    tried: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # community -> where it came from

    @property
    def answered(self) -> bool:
        return bool(self.engine_id or self.readable)


def candidates(session: DeviceSession) -> list[tuple[str, str]]:
    """(community, source): the profile's documented SNMP defaults, then the generic list."""
    out: list[tuple[str, str]] = []
    for cred in session.profile.credentials.defaults:
        if "snmp" in cred.services:
            out.append((cred.password, f"profile default ({cred.source or 'documented'})"))
    path = session.options.data_file(COMMUNITIES_FILE.name)  # a layer's own list first
    out += [(c, "snmp-communities") for c in load_communities(path)]
    unique = dict(reversed(out))  # the first source of a community wins
    return [(c, unique[c]) for c in dict.fromkeys(c for c, _ in out)][:MAX_COMMUNITIES]


async def _reads(ip: str, port: int, community: str) -> list[str]:
    async def one(version: int) -> bool:
        try:
            answer = await snmp.get(ip, community.encode(), version, [snmp.SYS_DESCR], port=port,
                                    timeout_s=TIMEOUT_S, retries=RETRIES)  # fmt: skip
        except (OSError, ValueError):
            return False
        return answer is not None and answer.error_status == 0

    v2c, v1 = await asyncio.gather(one(1), one(0))
    return [v for v, ok in (("v2c", v2c), ("v1", v1)) if ok]


async def _engine_id(ip: str, port: int) -> str:
    """The agent's SNMPv3 engine id from a discovery request ("" for no answer)."""
    try:
        raw = await snmp.exchange(ip, port, snmp.engine_discovery(secrets.randbelow(2**30)),
                                  timeout_s=TIMEOUT_S, retries=RETRIES)  # fmt: skip
        return snmp.parse_message(raw).engine_id if raw is not None else ""
    except (OSError, ValueError):
        return ""


async def measure(ip: str, port: int, pairs: list[tuple[str, str]]) -> SnmpObservation:
    obs = SnmpObservation(port=port, engine_id=await _engine_id(ip, port))
    # A wrong community gets silence (RFC 3584 section 5.2.1: dropped, counted): waiting for
    # each in turn would cost timeout x retries per candidate, so they are asked a few at once.
    gate = asyncio.Semaphore(AT_ONCE)

    async def ask(community: str) -> list[str]:
        async with gate:
            return await _reads(ip, port, community)

    answers = await asyncio.gather(*(ask(c) for c, _ in pairs))
    for (community, source), versions in zip(pairs, answers, strict=True):
        obs.tried.append(community)
        obs.sources[community] = source
        if versions:
            obs.readable[community] = versions
    if obs.engine_id and not obs.readable:
        obs.alive_after = bool(await _engine_id(ip, port))
    if obs.readable:
        obs.any_community = bool(await _reads(ip, port, f"lanprobe-{secrets.token_hex(6)}"))
        for community, versions in obs.readable.items():
            version = 1 if "v2c" in versions else 0
            try:
                answer = await snmp.can_write(ip, community.encode(), version, port=port,
                                              timeout_s=TIMEOUT_S, retries=RETRIES)  # fmt: skip
            except (OSError, ValueError):
                answer = None
            if answer is not None and answer.error_status in snmp.WRITE_ALLOWED:
                obs.writable[community] = answer.error
            else:
                obs.refused_write[community] = answer.error if answer else "no answer"
    return obs


async def observe(session: DeviceSession, port: int) -> SnmpObservation:
    """The SNMP measurement of one port, once per device (both checks judge the same one)."""

    async def make() -> SnmpObservation:
        return await measure(session.address(port, "udp"), port, candidates(session))

    return await session.observe(f"snmp:{port}", make)


def judge_communities(
    obs: SnmpObservation, shown: Any = lambda c: c
) -> tuple[Verdict, str, dict[str, Any]]:
    """configuration.default-login on SNMP. `shown` redacts a community for the evidence."""
    ev: dict[str, Any] = {"tried": len(obs.tried), "snmpv3_engine_id": obs.engine_id or None}
    if not obs.answered:
        ev["reason"] = "the agent answered neither SNMPv3 discovery nor any community"
        return Verdict.inconclusive, "SNMP agent did not answer", ev
    if obs.any_community:
        ev["note"] = "a random community reads too: the agent checks no community at all"
        return Verdict.not_applicable, "SNMP accepts any community (no login to guess)", ev
    if obs.readable:
        ev["communities"] = [
            {"community": shown(c), "versions": v, "source": obs.sources.get(c, ""),
             "write": c in obs.writable,
             "write_proof": obs.writable.get(c) or obs.refused_write.get(c, "")}
            for c, v in obs.readable.items()
        ]  # fmt: skip
        ev["write_probe"] = ("SetRequest of sysLocation.0 with an INTEGER (wrong type): refused "
                             "by every agent, and by a write community with wrongType/badValue; "
                             "nothing is written (RFC 3416 section 4.2.5)")  # fmt: skip
        rw = [c for c in obs.readable if c in obs.writable]
        what = "read-write" if rw else "read-only"
        return Verdict.fail, f"SNMP {what} community accepted ({len(obs.readable)})", ev
    if not obs.alive_after:
        ev["reason"] = ("the agent stopped answering SNMPv3 discovery after the communities were "
                        "tried: their silence may be a device gone, not a refusal")  # fmt: skip
        return Verdict.inconclusive, "SNMP agent went silent during the community check", ev
    ev["note"] = "no listed community reads; the agent answers SNMPv3 (user-based security)"
    return Verdict.passed, f"no default SNMP community of {len(obs.tried)} is accepted", ev


def judge_cleartext(obs: SnmpObservation) -> tuple[Verdict, str, dict[str, Any]] | None:
    """data.tls-required on SNMP: v1/v2c answered = community and data in cleartext.
    None when nothing can be said (no community read; v3 security levels are not judged here)."""
    versions = sorted({v for vs in obs.readable.values() for v in vs})
    if not versions:
        return None
    ev = {"versions": versions, "port": obs.port,
          "reason": "SNMPv1/v2c send the community and every value in cleartext (RFC 3410 "
                    "section 8 / RFC 3414 for SNMPv3's user-based security)"}  # fmt: skip
    return Verdict.fail, f"SNMP {'/'.join(versions)} in cleartext on UDP {obs.port}", ev
