"""Layers import only downward (DESIGN.md "Layers", docs/architecture.md "Layers").

Every module's imports are read from its source (ast, nothing imported, no lab), function-level
and TYPE_CHECKING imports included, and each `lanprobe` import is checked against the layer map
below. Same-layer imports are allowed, except that a check module never imports another check
module and no two modules import each other.

A new module inside a package below gets that package's layer; a new top-level module of
`lanprobe` must be added to LAYERS here and to the table in docs/architecture.md.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"probe": "lanprobe", "checks": "lanprobe.checks", "lab": "lanprobe.lab"}

CORE, CLIENTS, SESSION, CHECKS, RUNNER, TOP = 1, 2, 3, 4, 5, 6
LAB = 0  # beside the layers: imports only core and leaf clients, imported only from the top layer

# The longest matching prefix gives a module's layer.
LAYERS: dict[str, int] = {
    # 1 core: types, errors, scope, options, data definitions (no I/O beyond reading our files)
    "lanprobe": CORE,  # the package itself (__version__)
    "lanprobe.model": CORE,
    "lanprobe.errors": CORE,
    "lanprobe.scope": CORE,
    "lanprobe.paths": CORE,
    "lanprobe.datacache": CORE,
    "lanprobe.options": CORE,
    "lanprobe.checkmeta": CORE,
    "lanprobe.service_kind": CORE,
    "lanprobe.labels": CORE,
    "lanprobe.verdicts": CORE,
    "lanprobe.logs": CORE,
    "lanprobe.cancel": CORE,
    "lanprobe.profile_schema": CORE,
    "lanprobe.profiles": CORE,
    "lanprobe.baseline": CORE,
    "lanprobe.builtin_profiles": CORE,  # data only (profiles/)
    # 2 protocol clients and the other measurements (discovery, the gateway's listeners)
    "lanprobe.checks.clients": CLIENTS,
    "lanprobe.httpclient": CLIENTS,
    "lanprobe.discovery": CLIENTS,
    "lanprobe.gateway": CLIENTS,
    # 3 the device session with its observations and login pacing
    "lanprobe.session": SESSION,
    "lanprobe.pacing": SESSION,
    "lanprobe.observations": SESSION,
    # 4 checks (pure judges of observations), their registry, scoring
    "lanprobe.checks": CHECKS,
    "lanprobe.scoring": CHECKS,
    # 5 the runner
    "lanprobe.runner": RUNNER,
    "lanprobe.datafiles": RUNNER,  # calls the loaders of the checks and of discovery
    # 6 CLI, pytest plugin, device API, reports, history and diff
    "lanprobe.cli": TOP,
    "lanprobe.pytest_plugin": TOP,
    "lanprobe.pytest_items": TOP,
    "lanprobe.pytest_bench": TOP,
    "lanprobe.device_api": TOP,
    "lanprobe.report": TOP,
    "lanprobe.store": TOP,
    "lanprobe.diff": TOP,
    "lanprobe.fleet": TOP,
    # beside
    "lanprobe.lab": LAB,
}


def check_modules() -> frozenset[str]:
    """checks/registry.py CHECK_MODULES, read from its source: the modules that register checks.
    They are judges and never import one another (what two share lives in a lower layer)."""
    tree = ast.parse((ROOT / "checks" / "registry.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "CHECK_MODULES" for t in node.targets
        ):
            return frozenset(ast.literal_eval(node.value))
    raise AssertionError("checks/registry.py has no CHECK_MODULES")


CHECK_MODULES = check_modules()

# Edges that break the rules and are not fixed yet: (importer, imported): why. The test fails
# when an entry no longer occurs, so that the list only shrinks.
ALLOWED: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    parts = [p for p in rel.with_suffix("").parts[1:] if p != "__init__"]
    return ".".join([FOLDERS[rel.parts[0]], *parts])


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for folder in FOLDERS for p in sorted((ROOT / folder).rglob("*.py"))}


MODULES = all_modules()


def imports_of(path: Path) -> Iterator[tuple[str, int]]:
    """The lanprobe modules `path` imports, with the line; `from pkg import submodule` counts as
    importing the submodule."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "lanprobe":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            if node.module.split(".")[0] != "lanprobe":
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                yield (sub if sub in MODULES else node.module), node.lineno


def layer_of(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    if best == "lanprobe" and module != "lanprobe":
        raise KeyError(module)
    return LAYERS[best]


def edges() -> dict[tuple[str, str], int]:
    """(importer, imported) -> first line, over every module of the package."""
    found: dict[tuple[str, str], int] = {}
    for mod, path in MODULES.items():
        for target, line in imports_of(path):
            if target != mod:
                found.setdefault((mod, target), line)
    return found


EDGES = edges()


def leaf_clients() -> frozenset[str]:
    """Protocol clients that import only core modules and other leaf clients (transitively):
    codecs and transports the lab may share with discovery and the checks (SNMP's BER codec)."""
    clients = {m for m in MODULES if layer_of(m) == CLIENTS and m.startswith("lanprobe.checks.")}
    leaves: set[str] = set()
    while True:
        more = {
            m
            for m in clients - leaves
            if all(
                layer_of(dst) == CORE or dst in leaves
                for (src, dst) in EDGES
                if src == m and dst != "lanprobe.checks.clients"
            )
        }
        if not more:
            return frozenset(leaves)
        leaves |= more


LEAF_CLIENTS = leaf_clients()


def rule_broken(src: str, dst: str) -> str:
    """Why the import src -> dst breaks the layering ("" when it does not)."""
    a, b = layer_of(src), layer_of(dst)
    if b == LAB:
        return "" if a in (LAB, TOP) else "the lab is imported only from the top layer"
    if a == LAB:
        if b == CORE or dst in LEAF_CLIENTS:
            return ""
        return "the lab imports only core modules and leaf protocol clients"
    if b > a:
        return f"layer {a} imports layer {b}"
    if src in CHECK_MODULES and dst in CHECK_MODULES:
        return "a check module imports another check module"
    if (dst, src) in EDGES:
        return "the two modules import each other"
    return ""


def test_every_module_has_a_layer() -> None:
    missing = []
    for mod in MODULES:
        try:
            layer_of(mod)
        except KeyError:
            missing.append(mod)
    assert not missing, (
        f"modules without a layer: {missing}; add them to LAYERS in tests/test_layers.py "
        "and to the layer table in docs/architecture.md"
    )


def test_imports_run_only_downward() -> None:
    bad = []
    for (src, dst), line in sorted(EDGES.items()):
        why = rule_broken(src, dst)
        if why and (src, dst) not in ALLOWED:
            bad.append(f"{MODULES[src].relative_to(ROOT)}:{line}: {src} -> {dst}: {why}")
    assert not bad, "imports against the layers (docs/architecture.md):\n" + "\n".join(bad)


def test_allowlist_is_not_stale() -> None:
    stale = [edge for edge in ALLOWED if edge not in EDGES or not rule_broken(*edge)]
    assert not stale, f"fixed: remove from ALLOWED in tests/test_layers.py: {stale}"


@pytest.mark.parametrize(
    ("src", "dst", "broken"),
    [
        ("lanprobe.baseline", "lanprobe.checks.context", True),
        ("lanprobe.checks.clients.http", "lanprobe.session", True),
        ("lanprobe.discovery", "lanprobe.lab.bench", True),
        ("lanprobe.lab.bench", "lanprobe.runner", True),
        ("lanprobe.lab.device", "lanprobe.discovery.udp", True),
        ("lanprobe.lab.device", "lanprobe.checks.clients.update_discovery", True),
        ("lanprobe.lab.services.udpready", "lanprobe.checks.clients.snmp", False),
        ("lanprobe.checks.identification", "lanprobe.checks.data_protection", True),
        ("lanprobe.runner", "lanprobe.checks.registry", False),
        ("lanprobe.cli.scan", "lanprobe.lab.bench", False),
        ("lanprobe.checks.configuration", "lanprobe.checks.clients.http", False),
    ],
)
def test_the_rules_themselves(src: str, dst: str, broken: bool) -> None:
    assert bool(rule_broken(src, dst)) is broken
