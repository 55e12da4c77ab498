"""Node-RED (npm node-red, unmodified) with adminAuth: its editor is a single-page app whose login
is an OAuth 2.0 password grant (GET /auth/login names the prompts, POST /auth/token answers a
token, a wrong password is 403 invalid_grant) and whose admin API (/settings) refuses without the
token. The probe, given no login in the profile, must find that login from the editor's scripts,
find a default past position 10 of the generic list at standard depth, and prove it: /settings
answers with the token after refusing without it.

Node-RED is installed with npm into a cache folder shared across runs (LANPROBE_NPM_CACHE,
default ~/.cache/lanprobe/npm); the test is skipped, saying why, only when npm cannot install it.
Node-RED listens on 127.0.0.1 only, with its telemetry and update check off (no traffic leaves
the machine)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lanprobe.checks.configuration import default_login
from lanprobe.checks.context import CheckContext, CheckMeta, DeviceSession, RunOptions, Timeouts
from lanprobe.model import Capability, Device, Service, Severity, Verdict
from lanprobe.profile_schema import Credentials, Lockout, Profile
from lanprobe.scope import Scope

from tests.requires import require
from tests.resolver_lock import resolver_lock

pytestmark = pytest.mark.realsw  # Node-RED under node

VERSION = "4.1.8"  # the 4.x line runs on node >= 18.5 (5.x needs node 22)
# The Raspberry Pi image's default account, 20th of profiles/credentials/generic.txt: Node-RED
# ships on Raspberry Pi OS, where adminAuth users are often the OS's.
USER, PASSWORD = "pi", "raspberry"
POSITION = 20
T = Timeouts(connect_s=3, read_s=10)

SETTINGS = """module.exports = {
  uiHost: "127.0.0.1", uiPort: PORT, flowFile: "flows.json", credentialSecret: false,
  adminAuth: {type: "credentials", users: [{username: "USER", password: "HASH", permissions: "*"}]},
  telemetry: {enabled: false, updateNotification: false},
  diagnostics: {enabled: false},
  externalModules: {autoInstall: false, palette: {allowInstall: false},
                    modules: {allowInstall: false}},
  logging: {console: {level: "info", metrics: false, audit: true}},
};
"""


def _install() -> Path:
    """node_modules with node-red VERSION, installed once into the npm cache folder."""
    require(
        shutil.which("node") is not None and shutil.which("npm") is not None,
        "node and npm (`make sysdeps` installs Debian's nodejs and npm)",
    )
    root = Path(os.environ.get("LANPROBE_NPM_CACHE", Path.home() / ".cache/lanprobe/npm"))
    prefix = root / f"node-red-{VERSION}"
    red = prefix / "node_modules" / "node-red" / "red.js"
    if not red.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        cmd = ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
               "--omit=optional", "--loglevel=error", f"node-red@{VERSION}"]  # fmt: skip
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            why = done.stderr.strip()[-300:]
        except subprocess.TimeoutExpired:
            why = "npm install took over 300 s"
        need = f"node-red@{VERSION} from the npm registry or a LANPROBE_NPM_CACHE holding it"
        require(red.exists(), f"{need} ({why})")
    return prefix / "node_modules"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def node_red(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    # npm resolves the registry's name, and Node-RED itself may look names up: never inside a
    # scope test's DNS capture.
    with resolver_lock():
        yield from _node_red(tmp_path_factory)


def _node_red(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    modules = _install()
    user_dir = tmp_path_factory.mktemp("node-red")
    hashed = subprocess.run(
        ["node", "-e", f"console.log(require('bcryptjs').hashSync('{PASSWORD}', 8))"],
        env={**os.environ, "NODE_PATH": str(modules)}, capture_output=True, text=True,
        check=True, timeout=30,
    ).stdout.strip()  # fmt: skip
    port = _free_port()
    settings = user_dir / "settings.js"
    settings.write_text(SETTINGS.replace("PORT", str(port)).replace("USER", USER)
                        .replace("HASH", hashed))  # fmt: skip
    log = user_dir / "node-red.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["node", str(modules / "node-red" / "red.js"), "--userDir", str(user_dir),
             "--settings", str(settings)], stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while b"Server now running" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"node-red did not start: {log.read_text()[-500:]}")
            time.sleep(0.2)
        yield port, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _ctx(port: int) -> CheckContext:
    device = Device(key="02:00:00:00:00:81", ips=["127.0.0.1"],
                    services=[Service(port=port, name="http")])  # fmt: skip
    # Node-RED refuses a username's 6th token request within 10 minutes ("Too many login
    # attempts", @node-red/editor-api lib/auth/strategies.js): a lockout after 5 per account.
    lockout = Lockout(threshold=5, scope="account", window_s=600, penalty_s=600)
    creds = Credentials(lists=["generic"], pacing_s=0, depth="standard", lockout=lockout)
    session = DeviceSession(device=device, profile=Profile(id="t", credentials=creds),
                            scope=Scope.build(["127.0.0.1/32"]),
                            options=RunOptions(timeouts=T))  # fmt: skip
    meta = CheckMeta(capability=Capability.device_configuration, severity=Severity.critical)
    return CheckContext(session=session, check_id="configuration.default-login", meta=meta)


async def test_node_red_oauth_login_found_from_its_editor_and_default_proven(
    node_red: tuple[int, Path],
) -> None:
    port, log = node_red
    [res] = [r async for r in default_login(_ctx(port))]
    assert res.verdict is Verdict.fail, res.title
    ev = res.evidence
    assert ev["interface"] == f"HTTP json login on http/{port} /auth/token"
    assert any("named in the script" in h for h in ev["found"]), ev["found"]
    assert any(h.startswith("proof path /settings") for h in ev["found"]), ev["found"]
    ok = ev["accepted"]
    assert ok["user"] == USER and ok["answer"].startswith("200")
    assert ok["proof"] == {"path": "/settings", "status": 200, "answers": True, "bearer": True}
    wrong = ev["wrong_password"]
    assert wrong["accepted"] is False and wrong["answer"].startswith("403")  # invalid_grant
    tried = [t.split(":", 1)[0] for t in ev["tried"]]
    assert len(tried) < POSITION  # accounts at their limit were passed over, not tried
    assert max(tried.count(u) for u in set(tried)) <= 4  # under Node-RED's lockout
    # Node-RED's own audit log: every refusal, the one token granted, no lockout caused.
    audit = log.read_text()
    assert audit.count('"event":"auth.login.fail.credentials"') >= 10
    assert audit.count('"event":"auth.login",') == 1
    assert "too-many-attempts" not in audit
