"""RTSP against real, unmodified server software: GStreamer's RTSP server (Debian's
gir1.2-gst-rtsp-server-1.0, driven from Debian's python3-gi), on loopback.

One server streams /live to anyone: access.unauthenticated-interface's DESCRIBE walk (the shipped
path list) finds it described without a login. A second one asks for HTTP Basic on /live: the walk
sees the login asked for (pass), and the RTSP login client tells the right password from a wrong
one. The launcher only configures the library (mount, pipeline, credentials), like a camera's
firmware would.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lanprobe.checks.clients import rtsp
from lanprobe.checks.context import Timeouts
from lanprobe.checks.logical_access import RTSP_PATHS_FILE, describe_paths, judge_rtsp
from lanprobe.model import Verdict

from tests.requires import require

pytestmark = pytest.mark.realsw  # GStreamer's RTSP server

T = Timeouts(connect_s=3.0, read_s=5.0)
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, where python3-gi lives (not the venv's)
USER, PASSWORD = "admin", "12345"

SERVE = """
import sys
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer

Gst.init(None)
port, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch("( audiotestsrc is-live=true ! audioconvert ! rtpL16pay name=pay0 )")
factory.set_shared(True)
if user:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server.set_auth(auth)
    factory.add_role_from_structure(Gst.Structure.from_string(
        "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true")[0])
server.get_mount_points().add_factory("/live", factory)
server.attach(None)
print("serving", flush=True)
GLib.MainLoop().run()
"""


def _has_gst_rtsp() -> bool:
    probe = ("import gi; gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import GstRtspServer")  # fmt: skip
    done = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=30)
    return done.returncode == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """(open port, Basic-auth port): two GStreamer RTSP servers on loopback."""
    require(
        Path(SYSTEM_PYTHON).exists() and _has_gst_rtsp(),
        "Debian's gir1.2-gst-rtsp-server-1.0 and python3-gi (`make sysdeps` installs them)",
    )
    script = tmp_path_factory.mktemp("gst-rtsp") / "serve.py"
    script.write_text(SERVE)
    ports = (_free_port(), _free_port())
    procs = [
        subprocess.Popen(
            [SYSTEM_PYTHON, str(script), str(port), *creds],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for port, creds in zip(ports, (("", ""), (USER, PASSWORD)), strict=True)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # "serving" once attached, EOF if it died
            assert line.strip() == b"serving", proc.stderr.read() if proc.stderr else line
        time.sleep(0.2)
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
            proc.communicate(timeout=10)  # reaps it and closes its pipes


async def test_open_stream_is_described_without_a_login(servers: tuple[int, int]) -> None:
    seen = await describe_paths("127.0.0.1", servers[0], rtsp.load_paths(RTSP_PATHS_FILE), T)
    verdict, title, ev = judge_rtsp(seen)
    assert verdict is Verdict.fail and "/live" in title
    assert ev["answer"]["status"].startswith("200")


async def test_basic_auth_stream_passes_and_login_is_told_apart(servers: tuple[int, int]) -> None:
    port = servers[1]
    seen = await describe_paths("127.0.0.1", port, rtsp.load_paths(RTSP_PATHS_FILE), T)
    verdict, _, ev = judge_rtsp(seen)
    assert verdict is Verdict.passed and "/live" in ev["refused"]
    good = await rtsp.login("127.0.0.1", port, "/live", USER, PASSWORD, T)
    assert good.accepted is True and PASSWORD not in good.request
    bad = await rtsp.login("127.0.0.1", port, "/live", USER, secrets.token_hex(6), T)
    assert bad.accepted is False and bad.answer.startswith("401")
