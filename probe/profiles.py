"""Profiles: loading (YAML 1.2 with line numbers), `extends:`, validation errors, matching.

    profiles/
      generic.yaml          devices that match nothing
      models/<id>.yaml      one device model each
      credentials/*.txt     default-credential lists, referenced by name
      baseline/             the scoring baseline (not a profile)

A profile file is read with ruamel.yaml's round-trip loader so that every key keeps its line; a
pydantic error's field path (`loc`) is mapped back to that line, and the message reads
``file:line: field.path: message``. `extends:` names another profile by id (or a path ending in
.yaml, relative to the file); dicts merge deeply, lists and scalars of the child replace the
parent's.

Matching takes the most specific hit: mDNS TXT values (model) beat an SSDP modelName, which beats
the HTTP Server header, which beats a bare mDNS service type, which beats the MAC's OUI prefix.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from lanprobe import paths
from lanprobe.errors import ProfileError
from lanprobe.model import Device, ProfileMatch, Result, Service, Verdict
from lanprobe.profile_schema import Match as MatchRules
from lanprobe.profile_schema import Profile
from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

GENERIC_ID = "generic"
# Folders under the profiles directory that hold data, not profiles.
_NOT_PROFILES = {"baseline", "credentials", "data"}  # data/: lists and fingerprint rules

Loc = tuple[str | int, ...]


# --- YAML with line numbers ---------------------------------------------------------------------


@dataclass
class YamlDoc:
    """A parsed YAML file as plain Python data, with the 1-based line of every key and item."""

    path: Path
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """The line of the deepest part of `loc` this file holds (a missing key: its parent)."""
        for n in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:n]))
            if line is not None:
                return line
        return None


def _plain(node: Any, loc: Loc, lines: dict[Loc, int]) -> Any:
    """ruamel's round-trip nodes -> dict/list/str/int/..., recording each key's line."""
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key, value in node.items():
            k = str(key)
            with contextlib.suppress(KeyError, TypeError):
                lines[(*loc, k)] = node.lc.key(key)[0] + 1
            out[k] = _plain(value, (*loc, k), lines)
        return out
    if isinstance(node, CommentedSeq):
        items: list[Any] = []
        for i, value in enumerate(node):
            with contextlib.suppress(KeyError, TypeError):
                lines[(*loc, i)] = node.lc.item(i)[0] + 1
            items.append(_plain(value, (*loc, i), lines))
        return items
    if isinstance(node, bool | int | float | date | datetime) or node is None:
        if isinstance(node, bool):
            return bool(node)
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        return node
    return str(node)


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.version = (1, 2)  # YAML 1.2: `on` is a string, 10:20:30 is not a number
    return y


def load_yaml(path: Path) -> YamlDoc:
    """Parse one YAML file; syntax errors become ProfileError with file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"cannot read: {exc.strerror or exc}", file=str(path)) from exc
    try:
        node = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        msg = " ".join(p for p in (exc.context, exc.problem) if p) or "YAML syntax error"
        raise ProfileError(msg, file=str(path), line=line) from exc
    except Exception as exc:  # ruamel raises a few unmarked errors (e.g. duplicate keys)
        raise ProfileError(f"YAML error: {exc}", file=str(path)) from exc
    lines: dict[Loc, int] = {(): 1}
    data = _plain(node, (), lines)
    if data is None:
        data = {}
    return YamlDoc(path=path, data=data, lines=lines)


def dump_yaml(data: Any) -> str:
    out = io.StringIO()
    y = YAML(typ="rt")
    y.default_flow_style = False
    y.indent(mapping=2, sequence=4, offset=2)
    # `null` spelled out: an empty value reads as forgotten, null as "not known".
    y.representer.add_representer(
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    y.dump(data, out)
    return out.getvalue()


# --- loading and extends ------------------------------------------------------------------------


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Dicts merge key by key; lists and scalars of `over` replace those of `base`."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass
class LoadedProfile:
    """A validated profile and the file(s) it came from (child first)."""

    profile: Profile
    path: Path
    chain: list[Path] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.profile.id


def _field(loc: Loc) -> str:
    return ".".join(str(p) for p in loc)


def _docs_error(docs: list[YamlDoc], loc: Loc, message: str) -> ProfileError:
    """Blame the file of the chain that set the field (deepest prefix; the child on ties)."""

    def depth(doc: YamlDoc) -> int:
        for n in range(len(loc), 0, -1):
            if tuple(loc[:n]) in doc.lines:
                return n
        return 0

    doc = max(docs, key=depth)  # max keeps the first (the child) on ties
    return ProfileError(message, file=str(doc.path), line=doc.line_of(loc), field=_field(loc))


def _pydantic_message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key (typo? see profiles/profile.schema.json)"
    if err["type"] == "missing":
        return "required field missing"
    return str(err["msg"])


class ProfileIndex:
    """Finds profile files by id over the layers (lowest first: built-in, lab, the user's), for
    `extends:` by id. A file extends from its own layer or a lower one, never a higher one: a
    built-in model never inherits from a user's `generic`."""

    def __init__(self, layers: Path | Sequence[Path] | None):
        if layers is None:
            layers = ()
        elif isinstance(layers, Path | str):
            layers = (Path(layers),)
        self.layers = [Path(p) for p in layers]
        self._by_id: list[dict[str, Path]] | None = None

    @property
    def root(self) -> Path | None:
        """The top layer (the user's directory where one is given)."""
        return self.layers[-1] if self.layers else None

    @staticmethod
    def files_of(root: Path) -> list[Path]:
        """The profile files of one directory (not baseline/, credentials/, data/)."""
        if not root.is_dir():
            return []
        out = []
        for path in sorted(root.rglob("*.y*ml")):
            rel = path.relative_to(root)
            if rel.parts and rel.parts[0] in _NOT_PROFILES:
                continue
            if path.suffix in (".yaml", ".yml"):
                out.append(path)
        return out

    def files(self) -> list[Path]:
        """The top layer's profile files."""
        return self.files_of(self.root) if self.root is not None else []

    def layer_of(self, path: Path) -> int:
        """The highest layer holding `path`; a file outside every layer counts as the top one."""
        real = path.resolve()
        for i in range(len(self.layers) - 1, -1, -1):
            if real.is_relative_to(self.layers[i].resolve()):
                return i
        return len(self.layers) - 1

    def _ids(self) -> list[dict[str, Path]]:
        if self._by_id is None:
            self._by_id = []
            for root in self.layers:
                ids: dict[str, Path] = {}
                for path in self.files_of(root):
                    try:
                        doc = load_yaml(path)
                    except ProfileError:
                        continue
                    if isinstance(doc.data, dict) and isinstance(doc.data.get("id"), str):
                        ids.setdefault(doc.data["id"], path)
                    ids.setdefault(path.stem, path)
                self._by_id.append(ids)
        return self._by_id

    def path_of(
        self, profile_id: str, *, upto: int | None = None, skip: Iterable[Path] = ()
    ) -> Path | None:
        """The file of `profile_id` in layer `upto` or below (highest first), not in `skip`."""
        skipped = {p.resolve() for p in skip}
        by_layer = self._ids()
        top = len(by_layer) - 1 if upto is None else min(upto, len(by_layer) - 1)
        for i in range(top, -1, -1):
            path = by_layer[i].get(profile_id)
            if path is not None and path.resolve() not in skipped:
                return path
        return None


def find_profiles_root(path: Path) -> Path | None:
    """The profiles directory a file belongs to: the nearest parent holding generic.yaml."""
    for parent in [path.parent, *path.parents]:
        if (parent / "generic.yaml").is_file():
            return parent
    return None


def _resolve_chain(path: Path, index: ProfileIndex) -> list[YamlDoc]:
    """The file and its `extends:` ancestors, child first; cycles are errors."""
    docs: list[YamlDoc] = []
    seen: set[Path] = set()
    current = path
    while True:
        real = current.resolve()
        if real in seen:
            chain = " -> ".join(d.path.name for d in docs)
            raise ProfileError(f"extends cycle: {chain} -> {current.name}", file=str(path))
        seen.add(real)
        doc = load_yaml(current)
        if not isinstance(doc.data, dict):
            raise ProfileError("a profile is a mapping of fields", file=str(current), line=1)
        docs.append(doc)
        parent = doc.data.get("extends")
        if parent in (None, ""):
            return docs
        if not isinstance(parent, str):
            raise ProfileError(
                "extends names a profile id or a .yaml path",
                file=str(current),
                line=doc.line_of(("extends",)),
                field="extends",
            )
        if parent.endswith((".yaml", ".yml")):
            nxt: Path | None = (current.parent / parent).resolve()
            if nxt is not None and not nxt.is_file():
                nxt = None
        else:
            # A lower layer's profile of the same id may be extended (a user's generic extends
            # ours); one already in the chain is a cycle.
            upto = index.layer_of(current)
            nxt = index.path_of(parent, upto=upto, skip=seen) or index.path_of(parent, upto=upto)
        if nxt is None:
            raise ProfileError(
                f"extends {parent!r}: no such profile",
                file=str(current),
                line=doc.line_of(("extends",)),
                field="extends",
            )
        current = nxt


def _index_for(path: Path, profiles_dir: Path | None, lab: bool | None) -> ProfileIndex:
    """The layers a single file is read with: the built-in set, the lab's (when asked, or when
    the file is one of the lab's), and the directory the file belongs to."""
    root = profiles_dir if profiles_dir is not None else find_profiles_root(path)
    if lab is None:
        lab = path.resolve().is_relative_to(paths.LAB_PROFILES)
    return ProfileIndex(paths.profile_layers(root or path.parent, lab=lab))


def load_profile(
    path: Path,
    *,
    profiles_dir: Path | None = None,
    index: ProfileIndex | None = None,
    lab: bool | None = None,
) -> LoadedProfile:
    """Load, merge (`extends:`) and validate one profile file."""
    path = Path(path)
    index = index or _index_for(path, profiles_dir, lab)
    docs = _resolve_chain(path, index)
    merged: dict[str, Any] = {}
    for doc in reversed(docs):
        merged = deep_merge(merged, doc.data)
    # The child's own id, never an inherited one.
    if "id" not in docs[0].data:
        raise ProfileError("required field missing", file=str(path), line=1, field="id")
    merged["id"] = docs[0].data["id"]
    try:
        profile = Profile.model_validate(merged)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        err = _docs_error(docs, tuple(first["loc"]), _pydantic_message(first))
        if len(errors) > 1:
            more = [
                str(_docs_error(docs, tuple(e["loc"]), _pydantic_message(e))) for e in errors[1:]
            ]
            err.args = (str(err) + "\n" + "\n".join(more),)
        raise err from exc
    _check_references(profile, docs, index.layers[: index.layer_of(path) + 1])
    return LoadedProfile(profile=profile, path=path, chain=[d.path for d in docs])


def credential_list_path(layers: Path | Sequence[Path] | None, name: str) -> Path | None:
    """credentials/<name>(.txt|.csv) of the highest layer that has it (the built-in set last)."""
    if isinstance(layers, Path | str):
        layers = (Path(layers),)
    return paths.credential_list(name, tuple(layers or ()))


def _check_references(profile: Profile, docs: list[YamlDoc], layers: Sequence[Path]) -> None:
    """Named credential lists must exist; tls_ca_file is made absolute (relative to its file)."""
    for i, name in enumerate(profile.credentials.lists):
        if credential_list_path(layers, name) is None:
            where = " or ".join(str(p / "credentials") for p in reversed(layers))
            raise _docs_error(
                docs, ("credentials", "lists", i), f"no credential list {name!r} in {where}"
            )
    if profile.tls_ca_file:
        # Relative to the file that set it.
        owner = next((d for d in docs if "tls_ca_file" in d.data), docs[0])
        ca = Path(profile.tls_ca_file)
        if not ca.is_absolute():
            ca = (owner.path.parent / ca).resolve()
        if not ca.is_file():
            raise _docs_error(docs, ("tls_ca_file",), f"CA file {str(ca)!r} does not exist")
        profile.tls_ca_file = str(ca)


# --- the set of profiles and matching -----------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One identifier of the device that a profile's match rules name."""

    rank: int
    kind: str  # address, txt, ssdp, http_server, banner, mdns_type, oui
    reason: str


@dataclass(frozen=True)
class Match:
    profile: Profile
    reason: str
    rank: int
    record: ProfileMatch = field(default_factory=ProfileMatch)


# How specific each kind of hit is: a higher rank wins.
RANK_ADDRESS = 60  # a bench's own MAC or address list: this unit, by name
RANK_TXT = 50
RANK_SSDP = 40
RANK_HTTP_SERVER = 30
RANK_BANNER = 30
RANK_MDNS_TYPE = 20
RANK_OUI = 10
RANK_GENERIC = 0
# A model identifier the maker's firmware announces, or the bench's own list: strong alone.
STRONG_KINDS = {"address", "txt", "ssdp"}
# Hints, never enough to select a model, alone or together: an OUI names a radio module's maker,
# a service banner (SSH/RTSP/SNMP) the software (dropbear, an SSH library, a streaming server),
# both shared by thousands of products. They count once another identifier agrees.
HINT_KINDS = {"oui", "banner"}


def _norm_type(t: str) -> str:
    t = t.strip().lower()
    return t if t.endswith(".") else (t + "." if t.endswith(".local") else t + ".local.")


def _ssdp_model(device: Device) -> str:
    for key in ("modelName", "model_name", "modelname", "model"):
        for k, v in device.ssdp.items():
            if k.lower() == key.lower() and v:
                return v
    return ""


def _server_headers(device: Device) -> Iterator[str]:
    """What discovery recorded of each HTTP(S) service: product, version, banner."""
    for svc in device.services:
        if "http" in svc.name.lower() or svc.port in (80, 443, 8080, 8443):
            yield from _service_texts(svc)


def _service_texts(svc: Service) -> Iterator[str]:
    for text in (svc.product, f"{svc.product} {svc.version}".strip(), svc.banner):
        if text:
            yield text


def _banner_hit(rules: dict[str, list[str]], device: Device) -> str | None:
    """The first banner rule a service of the device satisfies, as a reason."""
    for svc in device.services:
        name = svc.name.lower()
        for kind, needles in rules.items():
            if kind.lower() not in (name, "any"):
                continue
            # SNMP's product is the versions that answered ("SNMP v3"), the same on every agent.
            texts = [svc.banner] if name in _VERSION_PRODUCTS else _service_texts(svc)
            for text in texts:
                needle = next((n for n in needles if n.lower() in text.lower()), None)
                if needle:
                    return f"{svc.name or kind} banner on {svc.port} contains {needle!r}"
    return None


def _address_hit(m: MatchRules, device: Device) -> str | None:
    mac = (device.mac or "").lower().replace("-", ":")
    if mac and mac in m.macs:
        return f"MAC {mac} listed"
    for ip in device.ips:
        try:
            addr = ipaddress.ip_address(ip.split("%")[0])
        except ValueError:
            continue
        for net in m.addresses:
            if addr in ipaddress.ip_network(net, strict=False):
                return f"address {ip} listed ({net})"
    return None


def hits(profile: Profile, device: Device) -> list[Hit]:
    """Every way `device` matches `profile`."""
    m = profile.match
    out: list[Hit] = []
    listed = _address_hit(m, device)
    if listed:
        out.append(Hit(RANK_ADDRESS, "address", listed))
    types = {_norm_type(t) for t in m.mdns_types}
    for svc in device.mdns:
        stype = _norm_type(svc.type)
        type_ok = not types or stype in types
        if m.mdns_txt and type_ok:
            txt = {k.lower(): v for k, v in svc.txt.items()}
            if all(txt.get(k.lower()) == v for k, v in m.mdns_txt.items()):
                pairs = ", ".join(f"{k}={v}" for k, v in m.mdns_txt.items())
                out.append(Hit(RANK_TXT, "txt", f"mDNS {svc.type} TXT {pairs}"))
        # A bare type hit only where the profile does not ask for TXT values too: a generic
        # type (_http._tcp) with a TXT model must not match every web server.
        if not m.mdns_txt and types and stype in types:
            out.append(Hit(RANK_MDNS_TYPE, "mdns_type", f"mDNS service type {svc.type}"))
    model = _ssdp_model(device)
    if model and model in m.ssdp_models:
        out.append(Hit(RANK_SSDP, "ssdp", f"SSDP modelName {model}"))
    if m.http_server:
        for header in _server_headers(device):
            needle = next((s for s in m.http_server if s.lower() in header.lower()), None)
            if needle:
                out.append(
                    Hit(RANK_HTTP_SERVER, "http_server", f"HTTP Server header contains {needle!r}")
                )
                break
    banner = _banner_hit(m.banners, device) if m.banners else None
    if banner:
        out.append(Hit(RANK_BANNER, "banner", banner))
    mac = (device.mac or "").lower().replace("-", ":")
    for prefix in m.oui:
        p = prefix.lower().replace("-", ":")
        if mac and mac.startswith(p):
            out.append(Hit(RANK_OUI, "oui", f"OUI {prefix}"))
            break
    return out


def strength_of(found: list[Hit]) -> str:
    """strong: a model identifier, or two different identifiers agreeing; weak: one lesser
    identifier (Server header, bare mDNS type), whatever hints agree; none: hints only (OUI,
    service banners), never enough to select a model."""
    kinds = {h.kind for h in found if h.kind not in HINT_KINDS}
    if not kinds:
        return "none"
    if kinds & STRONG_KINDS or len(kinds) >= 2:
        return "strong"
    return "weak"


@dataclass
class ProfileSet:
    """The profiles of a run: the layers' profiles by id (a higher layer's replaces a lower
    one's), with the generic fallback."""

    root: Path  # the top layer
    profiles: dict[str, LoadedProfile]
    layers: tuple[Path, ...] = ()

    @property
    def generic(self) -> Profile:
        loaded = self.profiles.get(GENERIC_ID)
        if loaded is None:
            return Profile(id=GENERIC_ID, strict_ports=False)
        return loaded.profile

    def get(self, profile_id: str) -> Profile | None:
        loaded = self.profiles.get(profile_id)
        return loaded.profile if loaded else None

    def source(self, profile_id: str) -> Path | None:
        loaded = self.profiles.get(profile_id)
        return loaded.path if loaded else None

    def match(self, device: Device) -> Match:
        """The most specific profile for `device`; generic when no identifier selects one.

        Hits of an OUI or a service banner alone are recorded as hints; another identifier must
        agree before they count.
        Other profiles an identifier of the device names are recorded as conflicts.
        """
        candidates: list[tuple[int, int, str, list[Hit]]] = []
        hints: list[str] = []
        for pid in sorted(self.profiles):
            if pid == GENERIC_ID:
                continue
            found = hits(self.profiles[pid].profile, device)
            if not found:
                continue
            if strength_of(found) == "none":
                hints.extend(f"{pid}: {h.reason}" for h in found)
                continue
            kinds = len({h.kind for h in found})
            candidates.append((max(h.rank for h in found), kinds, pid, found))
        if not candidates:
            record = ProfileMatch(strength="none", hints=hints)
            reason = "no profile matched"
            if hints:
                reason += f" (hint, not enough alone: {'; '.join(hints)})"
            return Match(self.generic, reason, RANK_GENERIC, record)
        # Highest rank first, then more kinds of identifiers agreeing, then the id (stable).
        candidates.sort(key=lambda c: (-c[0], -c[1], c[2]))
        rank, _, pid, found = candidates[0]
        ordered = sorted(found, key=lambda h: -h.rank)
        record = ProfileMatch(
            strength=strength_of(found),  # type: ignore[arg-type]
            identifiers=[h.reason for h in ordered],
            hints=hints,
            conflicts=[
                f"{other}: {h.reason}"
                for _, _, other, other_hits in candidates[1:]
                for h in other_hits
                if h.kind not in HINT_KINDS
            ],
        )
        return Match(self.profiles[pid].profile, ordered[0].reason, rank, record)

    def apply(self, device: Device) -> Profile:
        """Match and record the profile, the reason and the match's strength on the device."""
        m = self.match(device)
        device.profile = m.profile.id
        device.profile_reason = m.reason
        device.profile_match = m.record
        return m.profile

    def all_ports(self) -> list[int]:
        """The union of every profile's TCP ports: discovery scans them besides its defaults."""
        ports = {
            p.port
            for lp in self.profiles.values()
            for p in lp.profile.ports
            if p.transport == "tcp"
        }
        return sorted(ports)

    def data_file(self, name: str) -> Path:
        """data/<name> of the highest layer that has it (the built-in one otherwise)."""
        return paths.data_file(name, self.layers)


def match_note(device: Device) -> str:
    """One line on how the device's profile was chosen, its doubts first (console, reports)."""
    m = device.profile_match
    if m is None:
        return device.profile_reason
    parts = [device.profile_reason or m.strength]
    if m.strength == "weak":
        parts.append("weak match: one lesser identifier, nothing else agrees")
    if m.conflicts:
        parts.append(f"conflicting: {'; '.join(m.conflicts)}")
    return "; ".join(parts)


def load_profiles(profiles_dir: Path | None = None, *, lab: bool = False) -> ProfileSet:
    """The built-in profiles, the lab models' (`lab`), and those under `profiles_dir` on top.

    Within one directory a profile id must be unique; a higher layer's profile replaces a lower
    one's of the same id. The first invalid profile raises ProfileError.
    """
    if profiles_dir is not None and not Path(profiles_dir).is_dir():
        raise ProfileError("profiles directory does not exist", file=str(profiles_dir))
    layers = paths.profile_layers(profiles_dir, lab=lab)
    index = ProfileIndex(layers)
    out: dict[str, LoadedProfile] = {}
    for root in layers:
        mine: dict[str, LoadedProfile] = {}
        for path in index.files_of(root):
            loaded = load_profile(path, index=index)
            if loaded.id in mine:
                other = mine[loaded.id].path
                raise ProfileError(
                    f"profile id {loaded.id!r} also defined in {other}", file=str(path), field="id"
                )
            mine[loaded.id] = loaded
        out.update(mine)
    return ProfileSet(root=layers[-1], profiles=out, layers=layers)


def validate_files(paths_: Iterable[Path], profiles_dir: Path | None = None) -> list[str]:
    """Validate profile files; return one message per invalid file (empty: all valid)."""
    errors: list[str] = []
    for path in paths_:
        try:
            load_profile(Path(path), profiles_dir=profiles_dir)
        except ProfileError as exc:
            errors.append(str(exc))
    return errors


# --- JSON Schema --------------------------------------------------------------------------------

SCHEMA_FILE = "profile.schema.json"


def json_schema() -> str:
    """The JSON Schema of a profile file (published as profiles/profile.schema.json)."""
    import json

    schema = Profile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "lanprobe device profile"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


# --- profile init: a starting profile from a known-good unit ------------------------------------


def _slug(text: str) -> str:
    out = "".join(c.lower() if c.isalnum() else "-" for c in text).strip("-")
    while "--" in out:
        out = out.replace("--", "-")
    return out


def globally_unique_mac(mac: str | None) -> bool:
    """A MAC whose first three octets are a maker's OUI: not locally administered (randomised
    phones and laptops, virtual NICs, a bench's made-up addresses) and not multicast."""
    if not mac:
        return False
    try:
        first = int(mac.replace("-", ":").split(":")[0], 16)
    except ValueError:
        return False
    return not first & 0x03


# Services whose announced banner names the software, for `match.banners` (SSH version string,
# RTSP Server header, SNMP sysDescr).
_BANNER_KINDS = ("ssh", "rtsp", "snmp")
_VERSION_PRODUCTS = ("snmp",)  # discovery records protocol versions as their product


def _first_line(text: str, limit: int = 80) -> str:
    return text.strip().splitlines()[0].strip()[:limit] if text.strip() else ""


@dataclass
class ProfileDraft:
    """What `probe profile init` writes, and what it says about it."""

    text: str
    identifiers: list[str]  # the match rules written, strongest first
    strength: str  # how the draft matches the unit it came from (strong / weak / none)
    notes: list[str]  # what the user should know (unknowns, ignored MAC, weak match)


def _observed_auth(port: int, transport: str, results: Sequence[Result]) -> tuple[bool | None, str]:
    """Whether the run saw this port ask for credentials (True), answer without them and never
    ask (False), or neither (None), with the observation in words.

    A login seen wins over an open answer: a port with Basic at `/` and an open `/api/config`
    has a login, and its open path is a finding to fix, not the model's design (`auth: false`
    there would tell a reader the port needs no credentials at all)."""
    mine = [r for r in results if r.target.port == port and r.target.transport == transport]
    opened = next(
        (r for r in mine if r.verdict == Verdict.fail and r.check_id in _OPEN_CHECKS), None
    )
    login = next((why for r in mine if (why := _login_seen(r))), "")
    if login:
        also = f"; also answered without them: {opened.title} (a finding)" if opened else ""
        return True, f"observed: asks for credentials ({login}){also}"
    if opened is not None:
        return False, f"observed: {opened.title}"
    return None, "unknown: the run shows no login and no open answer on this port"


def _login_seen(r: Result) -> str:
    """How `r` shows that its port asks for credentials, "" when it does not."""
    if r.verdict in (Verdict.passed, Verdict.fail) and r.check_id in _LOGIN_CHECKS:
        return f"{r.check_id} {r.verdict.value}"
    # A login interface found, even where no attempt was made (budget, lockout).
    login = r.evidence.get("interface") or r.evidence.get("login")
    if r.check_id in _LOGIN_SEEN and isinstance(login, str) and login:
        return login
    # A path check that met a login page or a challenge beside the open path.
    pages = r.evidence.get("login_page_paths")
    if r.check_id in _OPEN_CHECKS and isinstance(pages, list) and pages:
        return f"login page at {', '.join(map(str, pages))}"
    return ""


# A fail of these: the port answered without credentials. A decided verdict of these: a login
# was asked for (a default accepted is still a login). _LOGIN_SEEN: checks whose evidence names
# the login interface they found ("interface", "login") whatever their verdict.
_OPEN_CHECKS = {"access.unauthenticated-interface", "access.anonymous-mqtt"}
_LOGIN_CHECKS = {"configuration.default-login"}
_LOGIN_SEEN = {"configuration.default-login", "data.tls-required"}


def _match_rules(device: Device, *, pin: bool) -> tuple[dict[str, Any], list[str], list[str]]:
    """The match rules the device's own identifiers support, the rules in words, and notes."""
    match: dict[str, Any] = {}
    said: list[str] = []
    notes: list[str] = []
    if pin:
        if device.mac:
            match["macs"] = [device.mac.lower()]
            said.append(f"MAC {device.mac.lower()} (this unit only)")
        elif device.ip:
            match["addresses"] = [device.ip]
            said.append(f"address {device.ip} (this unit only)")
    for svc in device.mdns:
        key = next((k for k in svc.txt if k.lower() in ("model", "md")), None)
        if key and svc.txt[key]:
            match["mdns_types"] = [svc.type]
            match["mdns_txt"] = {key: svc.txt[key]}
            said.append(f"mDNS {svc.type} TXT {key}={svc.txt[key]}")
            break
    if device.ssdp.get("modelName"):
        match["ssdp_models"] = [device.ssdp["modelName"]]
        said.append(f"SSDP modelName {device.ssdp['modelName']}")
    lesser, lesser_said = _lesser_rules(device)
    if "mdns_txt" in match or "ssdp_models" in match:
        # A Server header or mDNS type selects a profile alone, and names software other models
        # run too (a web server); a banner (an SSH library) is only a hint. Neither adds here.
        if lesser_said:
            notes.append(
                "left out, as the model identifiers above suffice and these name software other "
                f"models run too: {'; '.join(lesser_said)}"
            )
    else:
        match.update(lesser)
        said.extend(lesser_said)
        if lesser_said:
            notes.append(
                "no model identifier (mDNS TXT model, SSDP modelName): a Server header or mDNS "
                "type selects the profile alone, also for other models running the same "
                "software, and service banners are only hints (they never select alone); check "
                "them" + ("" if pin else ", or match your bench's units by MAC (--pin)")
            )
    if globally_unique_mac(device.mac):
        assert device.mac is not None
        match["oui"] = [device.mac.lower()[:8]]
        said.append(f"OUI {device.mac.lower()[:8]} (a hint only, never enough alone)")
    elif device.mac:
        notes.append(
            f"MAC {device.mac} is locally administered (randomised or made up): "
            "its prefix is no maker's OUI and is not written"
        )
    return match, said, notes


def _lesser_rules(device: Device) -> tuple[dict[str, Any], list[str]]:
    """Rules from what names the software rather than the model: HTTP Server headers, SSH/RTSP
    banners and SNMP sysDescr, mDNS service types."""
    match: dict[str, Any] = {}
    said: list[str] = []
    servers = sorted(
        {
            svc.product
            for svc in device.services
            if svc.product and ("http" in svc.name.lower() or svc.port in (80, 443, 8080, 8443))
        }
    )
    if servers:
        match["http_server"] = servers
        said.extend(f"HTTP Server header {s!r}" for s in servers)
    banners: dict[str, list[str]] = {}
    for svc in device.services:
        kind = svc.name.lower()
        # SNMP's product is the versions that answered ("SNMP v3"), the same on every agent:
        # only its sysDescr (the banner) names the device.
        text = _first_line(svc.banner if kind in _VERSION_PRODUCTS else svc.banner or svc.product)
        if kind in _BANNER_KINDS and text and text not in banners.get(kind, []):
            banners.setdefault(kind, []).append(text)
            said.append(f"{kind} banner {text!r}")
    if banners:
        match["banners"] = banners
    if device.mdns:
        match["mdns_types"] = sorted({s.type for s in device.mdns})
        said.extend(f"mDNS service type {t}" for t in match["mdns_types"])
    return match, said


def profile_from_device(
    device: Device,
    *,
    results: Sequence[Result] = (),
    run_id: str = "",
    profile_id: str = "",
    pin: bool = False,
) -> ProfileDraft:
    """A starting profile for `device` as one scan saw it (for `profile init`).

    Freeze a golden unit: its ports (with TLS), services, the strongest identifiers it showed
    (mDNS TXT model, SSDP model, HTTP Server header, SSH/RTSP/SNMP banners; its OUI only as a
    hint, and only a real maker's), and its firmware become the profile. Only what the run
    observed is written: a port's `auth` is false where the port answered without credentials,
    true where it asked for them, null (unknown) otherwise. `pin` matches this unit by its MAC
    (a bench's own units). A QA engineer then edits interfaces, credentials, update and
    declarations. Ports are strict, so a later unit exposing more is flagged.
    """
    from lanprobe.service_kind import service_kind

    mine = [r for r in results if r.device == device.key]
    model = device.identifier("model") or device.ssdp.get("modelName", "")
    # Only the maker's own name (mDNS/UPnP): the OUI's owner is often the radio module's maker.
    vendor = device.identifier("manufacturer") or device.ssdp.get("manufacturer", "")
    pid = profile_id or _slug(f"{vendor}-{model}") or _slug(device.key) or "new-model"
    match, said, notes = _match_rules(device, pin=pin)
    if not vendor and device.vendor:
        notes.append(
            f"vendor left empty: the device did not name its maker; its OUI's owner "
            f"({device.vendor}) is often the maker of a module inside it"
        )
    ports = CommentedSeq()
    for svc in sorted(device.services, key=lambda s: (s.transport, s.port)):
        entry = CommentedMap(port=svc.port)
        if svc.transport != "tcp":
            entry["transport"] = svc.transport
        entry["service"] = service_kind(svc)
        if svc.tls:
            entry["tls"] = True
        auth, why = _observed_auth(svc.port, svc.transport, mine)
        entry["auth"] = auth
        entry.yaml_add_eol_comment(why, "auth")
        ports.append(entry)
    data: dict[str, Any] = {
        "id": pid,
        "version": "1",
        "vendor": vendor,
        "model": model,
        "description": f"Started by `probe profile init` from run {run_id or '?'}, "
        f"device {device.key} ({device.ip}); edit before use.",
        "match": match,
        "ports": ports,
        "strict_ports": True,
        "interfaces": {"admin_paths": [], "status_paths": [], "upload_paths": []},
        "credentials": {"defaults": [], "lists": [], "max_attempts": 3, "pacing_s": 0.5},
        "update": {"latest_firmware": device.identifier("fw") or ""},
        "declarations": {"support_end": None, "vulnerability_contact": ""},
        "not_applicable": {},
    }
    # The result must load: a generated profile that fails validation helps nobody.
    profile = Profile.model_validate(data)
    strength = strength_of(hits(profile, device))
    if strength == "none":
        notes.append(
            "nothing this unit showed can select the profile (an OUI or a service banner alone "
            "never does): add "
            "match.macs or match.addresses for your bench's units (--pin writes this unit's MAC)"
        )
    elif strength == "weak":
        notes.append("weak match: one lesser identifier; add another the model shows if you can")
    if any(p["auth"] is None for p in ports):
        notes.append("auth: null marks ports where the run showed no login and no open answer")
    head = (
        "# Starting profile from a known-good unit. Review: which ports are documented, which\n"
        "# interfaces need auth (auth: null is unknown), default credentials, update endpoint\n"
        "# and key, support period and vulnerability contact.\n"
        f"# Matched by ({strength}): {'; '.join(said) or 'nothing'}\n"
    )
    return ProfileDraft(
        text=head + dump_yaml(data), identifiers=said, strength=strength, notes=notes
    )
