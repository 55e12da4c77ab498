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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from lanprobe.errors import ProfileError
from lanprobe.model import Device
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
    """Finds profile files by id under a profiles directory (for `extends:` by id)."""

    def __init__(self, root: Path | None):
        self.root = root
        self._by_id: dict[str, Path] | None = None

    def files(self) -> list[Path]:
        if self.root is None or not self.root.is_dir():
            return []
        out = []
        for path in sorted(self.root.rglob("*.y*ml")):
            rel = path.relative_to(self.root)
            if rel.parts and rel.parts[0] in _NOT_PROFILES:
                continue
            if path.suffix in (".yaml", ".yml"):
                out.append(path)
        return out

    def path_of(self, profile_id: str) -> Path | None:
        if self._by_id is None:
            self._by_id = {}
            for path in self.files():
                try:
                    doc = load_yaml(path)
                except ProfileError:
                    continue
                if isinstance(doc.data, dict) and isinstance(doc.data.get("id"), str):
                    self._by_id.setdefault(doc.data["id"], path)
                self._by_id.setdefault(path.stem, path)
        return self._by_id.get(profile_id)


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
            nxt = index.path_of(parent)
        if nxt is None:
            raise ProfileError(
                f"extends {parent!r}: no such profile",
                file=str(current),
                line=doc.line_of(("extends",)),
                field="extends",
            )
        current = nxt


def load_profile(
    path: Path, *, profiles_dir: Path | None = None, index: ProfileIndex | None = None
) -> LoadedProfile:
    """Load, merge (`extends:`) and validate one profile file."""
    path = Path(path)
    root = profiles_dir if profiles_dir is not None else find_profiles_root(path)
    index = index or ProfileIndex(root)
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
    _check_references(profile, docs, root)
    return LoadedProfile(profile=profile, path=path, chain=[d.path for d in docs])


def credential_list_path(root: Path | None, name: str) -> Path | None:
    """profiles/credentials/<name>(.txt|.csv): a default-credential list by name."""
    if root is None:
        return None
    base = root / "credentials"
    for cand in (base / name, base / f"{name}.txt", base / f"{name}.csv"):
        if cand.is_file():
            return cand
    return None


def _check_references(profile: Profile, docs: list[YamlDoc], root: Path | None) -> None:
    """Named credential lists must exist; tls_ca_file is made absolute (relative to its file)."""
    if root is not None and (root / "credentials").is_dir():
        for i, name in enumerate(profile.credentials.lists):
            if credential_list_path(root, name) is None:
                raise _docs_error(
                    docs,
                    ("credentials", "lists", i),
                    f"no credential list {name!r} in {root / 'credentials'}",
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
class Match:
    profile: Profile
    reason: str
    rank: int


# How specific each kind of hit is: a higher rank wins.
RANK_TXT = 50
RANK_SSDP = 40
RANK_HTTP_SERVER = 30
RANK_MDNS_TYPE = 20
RANK_OUI = 10
RANK_GENERIC = 0


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
            for text in (svc.product, f"{svc.product} {svc.version}".strip(), svc.banner):
                if text:
                    yield text


def hits(profile: Profile, device: Device) -> list[tuple[int, str]]:
    """Every way `device` matches `profile`, as (rank, reason)."""
    m = profile.match
    out: list[tuple[int, str]] = []
    types = {_norm_type(t) for t in m.mdns_types}
    for svc in device.mdns:
        stype = _norm_type(svc.type)
        type_ok = not types or stype in types
        if m.mdns_txt and type_ok:
            txt = {k.lower(): v for k, v in svc.txt.items()}
            if all(txt.get(k.lower()) == v for k, v in m.mdns_txt.items()):
                pairs = ", ".join(f"{k}={v}" for k, v in m.mdns_txt.items())
                out.append((RANK_TXT, f"mDNS {svc.type} TXT {pairs}"))
        # A bare type hit only where the profile does not ask for TXT values too: a generic
        # type (_http._tcp) with a TXT model must not match every web server.
        if not m.mdns_txt and types and stype in types:
            out.append((RANK_MDNS_TYPE, f"mDNS service type {svc.type}"))
    model = _ssdp_model(device)
    if model and model in m.ssdp_models:
        out.append((RANK_SSDP, f"SSDP modelName {model}"))
    if m.http_server:
        for header in _server_headers(device):
            needle = next((s for s in m.http_server if s.lower() in header.lower()), None)
            if needle:
                out.append((RANK_HTTP_SERVER, f"HTTP Server header contains {needle!r}"))
                break
    mac = (device.mac or "").lower().replace("-", ":")
    for prefix in m.oui:
        p = prefix.lower().replace("-", ":")
        if mac and mac.startswith(p):
            out.append((RANK_OUI, f"OUI {prefix}"))
            break
    return out


@dataclass
class ProfileSet:
    """Every profile under a directory, with the generic fallback."""

    root: Path
    profiles: dict[str, LoadedProfile]

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
        """The most specific profile for `device`; the generic one when nothing matches."""
        best: Match | None = None
        for pid in sorted(self.profiles):
            if pid == GENERIC_ID:
                continue
            profile = self.profiles[pid].profile
            for rank, reason in hits(profile, device):
                if best is None or rank > best.rank:
                    best = Match(profile=profile, reason=reason, rank=rank)
        if best is None:
            return Match(profile=self.generic, reason="no profile matched", rank=RANK_GENERIC)
        return best

    def apply(self, device: Device) -> Profile:
        """Match and record the profile and the reason on the device."""
        m = self.match(device)
        device.profile = m.profile.id
        device.profile_reason = m.reason
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


def load_profiles(profiles_dir: Path) -> ProfileSet:
    """Load every profile under `profiles_dir`; the first invalid one raises ProfileError."""
    root = Path(profiles_dir)
    if not root.is_dir():
        raise ProfileError("profiles directory does not exist", file=str(root))
    index = ProfileIndex(root)
    out: dict[str, LoadedProfile] = {}
    for path in index.files():
        loaded = load_profile(path, profiles_dir=root, index=index)
        if loaded.id in out:
            other = out[loaded.id].path
            raise ProfileError(
                f"profile id {loaded.id!r} also defined in {other}", file=str(path), field="id"
            )
        out[loaded.id] = loaded
    return ProfileSet(root=root, profiles=out)


def validate_files(paths: Iterable[Path], profiles_dir: Path | None = None) -> list[str]:
    """Validate profile files; return one message per invalid file (empty: all valid)."""
    errors: list[str] = []
    for path in paths:
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


def profile_from_device(device: Device, *, run_id: str = "", profile_id: str = "") -> str:
    """YAML text of a starting profile for `device` as one scan saw it (for `profile init`).

    Freeze a golden unit: its ports (with TLS), services, mDNS type and TXT model, SSDP model,
    OUI and firmware become the profile; a QA engineer then edits interfaces, credentials,
    update and declarations. Ports are strict, so a later unit exposing more is flagged.
    """
    from lanprobe.checks.context import service_kind

    model = device.identifier("model") or device.ssdp.get("modelName", "")
    # The maker's own name (mDNS/UPnP) beats the OUI owner (often the radio module's maker).
    vendor = device.identifier("manufacturer") or device.ssdp.get("manufacturer", "")
    if not vendor and device.vendor:
        vendor = device.vendor.split()[0]
    pid = profile_id or _slug(f"{vendor}-{model}") or _slug(device.key) or "new-model"
    match: dict[str, Any] = {}
    types = sorted({s.type for s in device.mdns})
    if types:
        match["mdns_types"] = types
    txt_model = next(
        (v for s in device.mdns for k, v in s.txt.items() if k.lower() in ("model", "md")), ""
    )
    if txt_model:
        key = next(k for s in device.mdns for k, v in s.txt.items() if v == txt_model)
        match["mdns_txt"] = {key: txt_model}
    if device.ssdp.get("modelName"):
        match["ssdp_models"] = [device.ssdp["modelName"]]
    if device.mac:
        match["oui"] = [device.mac.lower()[:8]]
    ports = []
    for svc in sorted(device.services, key=lambda s: (s.transport, s.port)):
        entry: dict[str, Any] = {"port": svc.port}
        if svc.transport != "tcp":
            entry["transport"] = svc.transport
        entry["service"] = service_kind(svc)
        if svc.tls:
            entry["tls"] = True
        entry["auth"] = True
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
    Profile.model_validate(data)
    head = (
        "# Starting profile from a known-good unit. Review: which ports are documented, which\n"
        "# interfaces need auth (auth: false for public ones), default credentials, update\n"
        "# endpoint and key, support period and vulnerability contact.\n"
    )
    return head + dump_yaml(data)
