"""FTP logins against Debian's vsftpd on 127.0.0.1 (real, unmodified server software):
anonymous FTP is its own default-login finding; a server that refuses anonymous is no finding
(inconclusive at quick depth: candidates left), and its own log shows the attempts made."""

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
from lanprobe.profile_schema import Credentials, Profile
from lanprobe.scope import Scope

from tests.requires import require, require_root

pytestmark = pytest.mark.realsw  # Debian's vsftpd

VSFTPD = shutil.which("vsftpd") or "/usr/sbin/vsftpd"
T = Timeouts(connect_s=3, read_s=5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=["YES", "NO"], ids=["anonymous", "no-anonymous"])
def vsftpd(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[int, Path, str]]:
    require(os.path.exists(VSFTPD), "Debian's vsftpd (`make sysdeps` installs it)")
    require_root("vsftpd runs as root and drops to its own users")
    Path("/var/run/vsftpd/empty").mkdir(parents=True, exist_ok=True)
    port = _free_port()
    root = tmp_path / "pub"
    root.mkdir()
    root.chmod(0o555)
    log = tmp_path / "vsftpd.log"
    local = "NO" if request.param == "YES" else "YES"
    conf = tmp_path / "vsftpd.conf"
    # vsftpd refuses to serve with both anonymous and local logins off: the control has local
    # (PAM) logins on, which refuse every pair we try.
    conf.write_text("\n".join([
        "listen=YES", "listen_ipv6=NO", "listen_address=127.0.0.1", f"listen_port={port}",
        "background=NO", f"anonymous_enable={request.param}", f"local_enable={local}",
        f"anon_root={root}", "secure_chroot_dir=/var/run/vsftpd/empty", "seccomp_sandbox=NO",
        "xferlog_enable=YES", "log_ftp_protocol=YES", "dual_log_enable=YES",
        f"vsftpd_log_file={log}", f"xferlog_file={tmp_path / 'xfer.log'}",
        "pasv_enable=NO", "port_enable=NO",
    ]) + "\n")  # fmt: skip
    proc = subprocess.Popen([VSFTPD, str(conf)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None:
                pytest.fail(f"vsftpd exited with {proc.returncode}")
            time.sleep(0.1)
        yield port, log, request.param
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _ctx(port: int) -> CheckContext:
    device = Device(key="02:00:00:00:00:21", ips=["127.0.0.1"],
                    services=[Service(port=port, name="ftp")])  # fmt: skip
    profile = Profile(id="generic", strict_ports=False,
                      credentials=Credentials(lists=["ftp-anonymous", "generic"], max_attempts=3,
                                              pacing_s=0))  # fmt: skip
    session = DeviceSession(device=device, profile=profile, scope=Scope.build(["127.0.0.1/32"]),
                            options=RunOptions(timeouts=T))  # fmt: skip
    meta = CheckMeta(capability=Capability.device_configuration, severity=Severity.critical)
    return CheckContext(session=session, check_id="configuration.default-login", meta=meta)


async def test_anonymous_ftp_is_its_own_finding(vsftpd: tuple[int, Path, str]) -> None:
    port, log, anonymous = vsftpd
    [res] = [r async for r in default_login(_ctx(port))]
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    if anonymous == "YES":
        assert res.verdict is Verdict.fail, res.title
        assert res.title.startswith(f"anonymous FTP login accepted on port {port}")
        assert res.evidence["anonymous"] is True
        assert res.evidence["accepted"]["answer"].startswith("230")
        assert "wrong_password" not in res.evidence  # anonymous takes any password: no proof
        assert "OK LOGIN" in text  # vsftpd's own log
    else:
        # Both anonymous names refused (530): no finding, and the list is not done at quick.
        assert res.verdict is Verdict.inconclusive, res.title
        assert "2 of" in res.title and "candidates tried" in res.title
        assert all(a.startswith("anonymous") or a.startswith("ftp")
                   for a in res.evidence["tried"])  # fmt: skip
