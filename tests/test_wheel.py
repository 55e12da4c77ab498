"""lanprobe as a user installs it (issue 11 "Packaging"): a wheel built with the backend version
pyproject.toml declares (no build isolation), installed into a fresh venv, used from an empty
directory: `probe checks`, `probe profile validate`, a `probe scan` of a lab device as a real
bench (the lab's profiles are not loaded), `pytest --probe-baseline` on that scan, and
`pytest --probe-baseline --probe-iface IF --probe-cidr CIDR` scanning the unit itself.

To stay fast (measured ~30 s, most of it the scan) the wheel is built by the backend's PEP 517
hook run with `python -S` against setuptools installed alone into a folder, and the fresh venv
gets lanprobe's dependencies from the dev venv through a .pth line: only lanprobe itself comes
from the wheel (`pip install --no-index --no-deps`), which the test checks.
"""

from __future__ import annotations

import json
import os
import re
import site
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.resolver_lock import resolver_lock

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("probe", "checks", "lab", "profiles")  # the repository folders the wheel maps
TIMEOUT_S = 180


def _run(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    assert proc.returncode == 0, f"{argv}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _declared_backend() -> str:
    """pyproject's build requirement, as a pip spec for its lowest release line."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    (req,) = pyproject["build-system"]["requires"]
    low = re.fullmatch(r"setuptools>=(\d+)", req)
    assert low, f"expected setuptools>=N, got {req!r}"
    return f"setuptools~={low.group(1)}.0"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from the tracked files against the declared backend alone."""
    root = tmp_path_factory.mktemp("wheel")
    backend = root / "backend"
    with resolver_lock():  # pip resolves the index's name: never inside a scope test's capture
        _run(
            [sys.executable, "-m", "pip", "install", "-q", "--target", str(backend),
             _declared_backend()],
            cwd=root,
        )  # fmt: skip
    src = root / "src"
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=30
    ).stdout.split(b"\0")
    for rel in filter(None, files):
        path = REPO / os.fsdecode(rel)
        if path.is_file():  # a file deleted in the work tree but not yet in the index
            (src / os.fsdecode(rel)).parent.mkdir(parents=True, exist_ok=True)
            (src / os.fsdecode(rel)).write_bytes(path.read_bytes())
    dist = root / "dist"
    hook = f"from setuptools import build_meta; print(build_meta.build_wheel({str(dist)!r}))"
    # -S: no site-packages at all, so nothing but the declared backend can take part.
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(backend)}
    log = _run([sys.executable, "-S", "-c", hook], cwd=src, env=env)
    # A folder setuptools "would ignore" ships today by accident, and may not tomorrow.
    assert "would be ignored" not in log, log
    (whl,) = dist.glob("lanprobe-*.whl")
    return whl


def test_the_wheel_carries_one_package_and_all_its_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {
        "lanprobe",
        wheel.name.split("-py3")[0] + ".dist-info",
    }
    want_pkg = {"probe": "lanprobe", "checks": "lanprobe/checks", "lab": "lanprobe/lab",
                "profiles": "lanprobe/builtin_profiles"}  # fmt: skip
    tracked = subprocess.run(
        ["git", "ls-files", *FOLDERS], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for rel in tracked:
        folder, _, rest = rel.partition("/")
        if rest.startswith("tests/") or "__pycache__" in rest:
            continue
        assert f"{want_pkg[folder]}/{rest}" in names, f"{rel} is not in the wheel"


def test_installed_wheel_works_from_an_empty_directory(
    wheel: Path, tmp_path: Path, lab_bench: Any
) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    py = venv / "bin" / "python"
    purelib = Path(
        _run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=tmp_path
        ).strip()
    )
    # Dependencies (and pip, pytest) from the dev venv; lanprobe only from the wheel.
    (purelib / "dev-deps.pth").write_text(
        "\n".join(p for p in site.getsitepackages() if "site-packages" in p) + "\n"
    )
    _run(
        [str(py), "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--ignore-installed",
         str(wheel)],
        cwd=tmp_path,
    )  # fmt: skip
    # One import package: nothing a QA team's own folders could shadow, or be shadowed by.
    top = {p.name for p in purelib.iterdir()}
    assert not top & {"probe", "checks", "lab", "profiles"}, top
    assert "lanprobe" in top
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    where = _run([str(py), "-c", "import lanprobe; print(lanprobe.__file__)"], cwd=empty, env=env)
    assert where.strip().startswith(str(purelib)), where

    assert "configuration.default-login" in _run(["probe", "checks"], cwd=empty, env=env)
    assert "1 valid, 0 invalid" in _run(["probe", "profile", "validate"], cwd=empty, env=env)
    lab = _run(
        [str(py), "-c", "from lanprobe.profiles import load_profiles as l; "
         "print(sorted(l(lab=True).profiles))"],
        cwd=empty, env=env,
    )  # fmt: skip
    assert "hubco-h1" in lab  # the lab's profiles ship with the lab

    # The control unit scanned as a real bench would be: the built-in profiles only.
    (hub,) = lab_bench.by_model("hubco-h1")
    _run(
        ["probe", "scan", "--iface", lab_bench.bridge, "--cidr", f"{hub.ip}/32", "--out", "out",
         "--format", "json", "--fail-on", "never"],
        cwd=empty, env=env,
    )  # fmt: skip
    run = json.loads((empty / "out" / "run.json").read_text())
    (dev,) = run["devices"]
    assert dev["profile"] == "generic", dev["profile_reason"]
    assert dev["profile_match"]["strength"] == "none"
    assert dev["profile_match"]["hints"] == []  # the lab's OUIs are not even hints here
    score = run["scores"][dev["key"]]
    assert score["verdict"] != "does_not_conform", score
    bad = [
        (r["check_id"], r["title"])
        for r in run["results"]
        if r["verdict"] == "fail" and r["severity"] in ("medium", "high", "critical")
    ]
    assert not bad, bad

    out = subprocess.run(
        [str(py), "-m", "pytest", "-p", "no:cacheprovider", "--probe-run", "out/run.json",
         "--probe-baseline", "-rA", "-q"],
        cwd=empty, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )  # fmt: skip
    assert out.returncode in (0, 1), out.stdout + out.stderr  # 1: a check of the run failed
    assert f"PASSED generic@{hub.ip}::" in out.stdout, out.stdout
    assert "warning" not in out.stdout.lower(), out.stdout

    # The command of the report: pytest scans the bench itself, no profiles directory
    # anywhere. Checks that never log in, so the unit's failed-login window is not touched twice.
    live = subprocess.run(
        [str(py), "-m", "pytest", "-p", "no:cacheprovider", "--probe-baseline",
         "--probe-iface", lab_bench.bridge, "--probe-cidr", f"{hub.ip}/32",
         "--probe-check", "data.tls-required", "--probe-check", "identification.identifier",
         "-rA", "-q"],
        cwd=empty, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )  # fmt: skip
    said = live.stdout + live.stderr
    assert live.returncode == 0, said
    assert f"PASSED generic@{hub.ip}::data.tls-required" in live.stdout, said
    assert f"PASSED generic@{hub.ip}::identification.identifier" in live.stdout, said
