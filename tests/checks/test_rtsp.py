"""RTSP: access.unauthenticated-interface on camera streams (DESCRIBE without credentials), and
the RTSP login client (Basic/Digest) against the lab cameras.

Unit tests judge recorded answers; lab tests use the session bench: acme-ipcam200 describes its
stream on 554 to anyone, acme-ipcam300 asks for a Digest login on 8554 (the control).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from lanprobe.checks.clients import rtsp
from lanprobe.checks.context import Timeouts
from lanprobe.checks.logical_access import RTSP_PATHS_FILE, judge_rtsp
from lanprobe.errors import ProtocolError
from lanprobe.lab.models import BY_ID, LAB_USER
from lanprobe.model import ScanRun, Severity, Verdict

from tests.checks.conftest import device_of, results_of

T = Timeouts(connect_s=3.0, read_s=5.0)

SDP_ANSWER = (
    b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: 45\r\n\r\n"
)
SDP_BODY = b"v=0\r\ns=cam live\r\nm=video 0 RTP/AVP 96\r\nt=0 0\r\n"


def answer(raw: bytes, body: bytes = b"") -> rtsp.RtspAnswer:
    a = rtsp.parse_answer(raw)
    a.body = body
    return a


UNAUTH = answer(b'RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Digest realm="x", '
                b'nonce="abc"\r\n\r\n')  # fmt: skip
NOT_FOUND = answer(b"RTSP/1.0 404 Not Found\r\nCSeq: 1\r\n\r\n")


def test_parse_answer() -> None:
    a = answer(SDP_ANSWER, SDP_BODY)
    assert a.status == 200 and a.is_sdp
    assert a.summary()["sdp_lines"] == ["s=cam live", "m=video 0 RTP/AVP 96"]
    assert UNAUTH.challenge() == "digest" and not UNAUTH.is_sdp
    # 200 without a description (an OPTIONS-style answer) is not a stream description
    assert not answer(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n").is_sdp
    with pytest.raises(ProtocolError):
        rtsp.parse_answer(b"HTTP/1.1 200 OK\r\n\r\n")


def test_digest_header_follows_rfc2617() -> None:
    # RFC 2617 section 3.5's example, with qop=auth, cnonce and nc fixed by us: only the shape and
    # the MD5 without qop are checked here (cnonce is random).
    hdr = rtsp.digest_header(' realm="cam", nonce="n1"', "DESCRIBE", "rtsp://a/live", "u", "p")
    import hashlib

    def md5(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()

    want = md5(f"{md5('u:cam:p')}:n1:{md5('DESCRIBE:rtsp://a/live')}")
    assert hdr.startswith("Digest ") and f'response="{want}"' in hdr
    with_qop = rtsp.digest_header('realm="c", nonce="n", qop="auth"', "DESCRIBE", "/", "u", "p")
    assert "qop=auth" in with_qop and "cnonce=" in with_qop


def test_paths_file() -> None:
    paths = rtsp.load_paths(RTSP_PATHS_FILE)
    assert paths[0] == "/" and "/live" in paths and len(paths) == len(set(paths))
    assert all("pass" not in p.lower() for p in paths)  # no credentials hidden in a path


def test_paths_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "p.txt"
    bad.write_text("# c\n/ok\nno-slash\n")
    with pytest.raises(ValueError, match=r"p.txt:3"):
        rtsp.load_paths(bad)


def test_judge_described_fails() -> None:
    verdict, title, ev = judge_rtsp({"/": NOT_FOUND, "/live": answer(SDP_ANSWER, SDP_BODY)})
    assert verdict is Verdict.fail and "/live" in title
    assert ev["request"] == "DESCRIBE /live (no credentials)"


def test_judge_login_asked_passes() -> None:
    verdict, _, ev = judge_rtsp({"/": NOT_FOUND, "/live": UNAUTH})
    assert verdict is Verdict.passed and ev["refused"] == ["/live"]


def test_judge_unknown_paths_inconclusive() -> None:
    # Every path 404: a stream may live elsewhere; no pass without a login having been asked for.
    verdict, title, _ = judge_rtsp({"/": NOT_FOUND, "/live": NOT_FOUND})
    assert verdict is Verdict.inconclusive and "no known stream path" in title
    verdict, title, _ = judge_rtsp({"/": "RTSP connect: no answer in time"})
    assert verdict is Verdict.inconclusive and title == "no RTSP answer"


# --- lab -----------------------------------------------------------------------------------------


@pytest.mark.lab
def test_rtsp_in_the_scan(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = device_of(lab_run, lab_bench, "acme-ipcam200")
    assert any(s.port == 554 and s.name == "rtsp" for s in cam.services)
    found = [r for r in results_of(lab_run, cam, "access.unauthenticated-interface")
             if r.target.service == "rtsp"]  # fmt: skip
    assert [r.verdict for r in found] == [Verdict.fail]
    assert found[0].severity is Severity.high and found[0].target.port == 554
    assert found[0].evidence["answer"]["status"].startswith("200")
    control = device_of(lab_run, lab_bench, "acme-ipcam300")
    ok = [r for r in results_of(lab_run, control, "access.unauthenticated-interface")
          if r.target.service == "rtsp"]  # fmt: skip
    assert [(r.target.port, r.verdict) for r in ok] == [(8554, Verdict.passed)]


@pytest.mark.lab
async def test_rtsp_login_client(lab_bench: Any) -> None:
    ip = next(d.ip for d in lab_bench.devices if d.model == "acme-ipcam300")
    conf = BY_ID["acme-ipcam300"].rtsp
    assert conf is not None
    good = await rtsp.login(ip, conf.port, conf.path, LAB_USER, conf.users[LAB_USER], T)
    assert good.accepted is True and "Digest" in good.request
    assert conf.users[LAB_USER] not in good.request  # the password never in the evidence
    bad = await rtsp.login(ip, conf.port, conf.path, LAB_USER, secrets.token_hex(6), T)
    assert bad.accepted is False and bad.answer.startswith("401")
    # A camera that asks for no login: the client says so instead of claiming a login.
    cam = next(d.ip for d in lab_bench.devices if d.model == "acme-ipcam200")
    open_ = await rtsp.login(cam, 554, "/live", "admin", "admin", T)
    assert open_.accepted is None and "no login asked for" in open_.error


@pytest.mark.lab
def test_rtsp_default_login(lab_run: ScanRun, lab_bench: Any) -> None:
    """RTSP logins join configuration.default-login: the twin camera's Digest login takes its
    documented default."""
    cam = device_of(lab_run, lab_bench, "acme-ipcam300")
    [login] = [r for r in results_of(lab_run, cam, "configuration.default-login")
               if r.target.port == 8554]  # fmt: skip
    assert login.verdict is Verdict.fail
    assert login.evidence["interface"].startswith("RTSP digest login on port 8554")
    assert login.evidence["accepted"]["user"] == "admin"
    assert login.evidence["wrong_password"]["accepted"] is False
