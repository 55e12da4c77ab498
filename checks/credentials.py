"""Default-credential candidates: the credential lists (profiles/credentials/, each with its
source and licence) and the order a login campaign tries them in on one service.

The profile's documented defaults come first, then the lists the profile names (or
DEFAULT_LISTS): lists whose `# vendors:` words the device's evidence names go first, and the
large `# depth: deep` lists join at deep depth only.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from lanprobe import datacache, paths
from lanprobe.checks.context import DeviceSession

# Lists used when the profile names none, in this order (each file says which services it fits):
# a service's own list first (the Mirai pairs are what telnet devices were actually hit with).
DEFAULT_LISTS = ("ftp-anonymous", "mirai-telnet", "generic")
_FAMILY = {"https": "http", "mqtts": "mqtt"}


@dataclass(frozen=True)
class Pair:
    user: str
    password: str
    source: str  # "profile default (<where>)" or "<list name>"


@dataclass
class CredentialList:
    name: str
    pairs: list[tuple[str, str]]
    services: tuple[str, ...] = ()  # () = every login service
    header: list[str] = field(default_factory=list)  # the comment lines (source, licence)
    depth: str = "standard"  # "deep": the large lists, tried at --depth deep only
    # Words that pick this list first when the device's evidence names them (vendor, product,
    # HTTP realm or Server, banner, hostname): vendor-specific defaults before generic ones.
    vendors: tuple[str, ...] = ()

    def fits(self, kind: str) -> bool:
        return not self.services or kind in self.services or _family(kind) in self.services


_HEADER_KEYS = ("services:", "depth:", "vendors:")


def parse_credential_list(text: str, name: str, where: str = "") -> CredentialList:
    """`user:password` lines (split at the first colon); `#` comment lines. Comments
    `# services: a b c` (the service kinds it fits), `# depth: deep` (the large lists) and
    `# vendors: w1 w2` (evidence words that put it first). Errors read `where:line: ...`."""
    where = where or name
    pairs: list[tuple[str, str]] = []
    out = CredentialList(name=name, pairs=pairs)
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        if line.lstrip().startswith("#"):
            comment = line.lstrip()[1:].strip()
            out.header.append(comment)
            key, _, value = comment.partition(":")
            words = tuple(value.lower().split())
            if key.lower() == "services":
                out.services = words
            elif key.lower() == "depth":
                if words not in (("standard",), ("deep",)):
                    raise ValueError(f"{where}:{lineno}: depth: expected standard or deep")
                out.depth = words[0]
            elif key.lower() == "vendors":
                out.vendors = _vendor_words(value, f"{where}:{lineno}")
            continue
        if ":" not in line:
            raise ValueError(f"{where}:{lineno}: expected user:password")
        user, password = line.split(":", 1)
        if any(c in user + password for c in "\r\n\x00"):
            raise ValueError(f"{where}:{lineno}: control character in a credential")
        if (user, password) not in pairs:
            pairs.append((user, password))
    return out


def check_provenance(clist: CredentialList, where: str) -> None:
    """Every shipped or user list names its source and licence (DESIGN.md): refused otherwise."""
    head = " ".join(clist.header).lower()
    if "source" not in head:
        raise ValueError(f"{where}:1: no '# Source:' comment (where the pairs come from)")
    if "licence" not in head and "license" not in head:
        raise ValueError(f"{where}:1: no licence named in the comments")


def load_credential_list(layers: Path | Sequence[Path], name: str) -> CredentialList:
    """A credential list by name, from the highest profile layer that has it (probe/paths.py),
    validated: file:line errors for bad lines, no list without its source and licence."""
    roots = (layers,) if isinstance(layers, Path) else tuple(layers)
    path = paths.credential_list(name, roots) or paths.CREDENTIALS_DIR / f"{name}.txt"
    return datacache.load(path, _parse_credential_file)  # once a run, shared by every attempt


def _parse_credential_file(path: Path) -> CredentialList:
    clist = parse_credential_list(path.read_text(encoding="utf-8"), path.stem, str(path))
    check_provenance(clist, str(path))
    return clist


def all_list_names(layers: Sequence[Path]) -> list[str]:
    """Every credential list of every profile layer (built-in first), by name."""
    names = {p.stem for p in paths.CREDENTIALS_DIR.glob("*.txt")}
    for root in layers:
        names |= {p.stem for p in (root / "credentials").glob("*.txt")}
    return sorted(names)


def validate_credential_lists(layers: Sequence[Path]) -> int:
    """Load every credential list of every layer (before any traffic): ValueError with
    file:line on the first bad one. Returns how many pairs there are in all."""
    return sum(len(load_credential_list(layers, n).pairs) for n in all_list_names(layers))


def evidence_words(session: DeviceSession, realm: str = "") -> str:
    """What the device says about itself, lower-cased: OUI vendor, hostname, the model
    and manufacturer it reported, service products, versions and banners (an HTTP Server header,
    an SSH banner), mDNS names and TXT, SSDP headers, the login's HTTP realm, the profile's
    vendor."""
    dev = session.device
    said = [dev.identifier("manufacturer") or "", dev.identifier("model") or "", dev.model]
    parts = [dev.vendor or "", dev.hostname or "", *said, session.profile.vendor, realm]
    for svc in dev.services:
        parts += [svc.product or "", svc.version or "", svc.banner or ""]
    for m in dev.mdns:
        parts += [m.name, *m.txt.values()]
    parts += dev.ssdp.values()
    return " ".join(parts).lower()


def _vendor_words(value: str, where: str) -> tuple[str, ...]:
    """`acme "acme vision" acme-*`: words, and phrases in double quotes (lower-cased)."""
    try:
        return tuple(" ".join(w.split()) for w in shlex.split(value.lower()) if w.strip())
    except ValueError as exc:  # an unclosed quote
        raise ValueError(f"{where}: vendors: {exc}") from None


# A vendor word is whole when no letter or digit touches it (evidence is lower-cased).
_NOT_ALNUM = "(?![a-z0-9])"
_NOT_ALNUM_BEFORE = "(?<![a-z0-9])"


def _word_pattern(word: str) -> str:
    body = r"\s+".join(re.escape(part) for part in word.rstrip("*").split())
    return body if word.endswith("*") else body + _NOT_ALNUM


@lru_cache(maxsize=256)
def _vendor_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    alts = "|".join(_word_pattern(w) for w in words)
    return re.compile(f"{_NOT_ALNUM_BEFORE}(?:{alts})")


def names_vendor(said: str, words: Sequence[str]) -> bool:
    """Whether lower-cased evidence names one of a list's `# vendors:` words as a whole word:
    letters and digits around it do not count ("axis" is not in "stereotaxis", "zte" not in
    "aztech", "avtech" not in "navtech"); a phrase matches across any whitespace ("bosch
    security" names "Bosch Security Systems", not "Robert Bosch GmbH"); a word ending in `*` is
    a prefix ("ds-2cd*" names "ds-2cd2032-i")."""
    words = tuple(w for w in words if w.rstrip("*").strip())
    return bool(words) and _vendor_pattern(words).search(said) is not None


def _family(kind: str) -> str:
    return _FAMILY.get(kind, kind)


def candidates(session: DeviceSession, kind: str, realm: str = "") -> tuple[list[Pair], int]:
    """The pairs to try on a service of `kind` (whose login names `realm`, if any), in order, and
    how many are documented defaults."""
    creds = session.profile.credentials
    out: list[Pair] = []
    seen: set[tuple[str, str]] = set()
    for cred in creds.defaults:
        fits = not cred.services or any(
            s == kind or _family(s) == _family(kind) for s in cred.services
        )
        if fits and (cred.user, cred.password) not in seen:
            seen.add((cred.user, cred.password))
            out.append(
                Pair(cred.user, cred.password, f"profile default ({cred.source or 'documented'})")
            )
    n_defaults = len(out)
    layers = session.options.profile_layers
    names = list(creds.lists or DEFAULT_LISTS)
    extra = [n for n in all_list_names(layers) if n not in names]
    said = evidence_words(session, realm)
    lists = [load_credential_list(layers, n) for n in names]
    others = [load_credential_list(layers, n) for n in extra]
    # Vendor lists the evidence names come first; the large lists join at deep depth only.
    vendor = [c for c in lists if names_vendor(said, c.vendors)]
    # Several vendors named (a "Cisco-Linksys" OUI names both): the shorter list first, so one
    # vendor's few pairs do not wait behind another's long list; the profile's lists keep its order.
    named = [c for c in others if names_vendor(said, c.vendors)]
    vendor += sorted(named, key=lambda c: len(c.pairs))
    chosen = vendor + [c for c in lists if c not in vendor]
    if session.depth == "deep":
        chosen += [c for c in others if c.depth == "deep" and c not in chosen]
    for clist in chosen:
        if not clist.fits(kind):
            continue
        for user, password in clist.pairs:
            if (user, password) not in seen:
                seen.add((user, password))
                out.append(Pair(user, password, clist.name))
    return out, n_defaults
