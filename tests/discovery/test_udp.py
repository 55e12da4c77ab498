"""UDP discovery beyond SNMP: TFTP (a read of a name nobody has) and NTP (one client request),
against Debian's tftpd-hpa and chronyd on 127.0.0.1, plus the judge of TFTP reads."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from lanprobe.checks.clients import datagram
from lanprobe.checks.logical_access import judge_tftp
from lanprobe.discovery import udp
from lanprobe.model import Verdict

from tests.requires import require, require_root


def test_tftp_messages() -> None:
    assert udp.tftp_read_request("a.bin") == b"\x00\x01a.bin\x00octet\x00"
    want = {"reply": "error", "code": 1, "meaning": "file not found", "message": "File not found"}
    assert udp.parse_tftp(b"\x00\x05\x00\x01File not found\x00") == want
    assert udp.parse_tftp(b"\x00\x03\x00\x01" + b"x" * 10)["bytes"] == 10
    assert udp.parse_tftp(b"\x00\x09")["reply"] == "other"
    # a DATA block is ended with an ERROR, never acknowledged; an ERROR gets nothing back
    assert udp.tftp_stop(b"\x00\x03\x00\x01x", 1)[:2] == b"\x00\x05"  # type: ignore[index]
    assert udp.tftp_stop(b"\x00\x05\x00\x01", 1) is None


def test_judge_tftp() -> None:
    assert judge_tftp("n", {"reply": "error", "code": 1})[0] is Verdict.fail
    assert judge_tftp("n", {"reply": "data", "block": 1, "bytes": 512})[0] is Verdict.fail
    assert judge_tftp("n", {"reply": "error", "code": 2})[0] is Verdict.inconclusive
    assert judge_tftp("n", None)[0] is Verdict.inconclusive


def test_ntp_messages() -> None:
    assert len(udp.NTP_REQUEST) == 48 and udp.NTP_REQUEST[0] & 0x07 == 3
    server = bytes([0x24, 8]) + b"\x00" * 46  # version 4, mode 4, stratum 8
    assert udp.parse_ntp(server) == {"version": 4, "stratum": 8}
    assert udp.parse_ntp(udp.NTP_REQUEST) is None  # a client packet is no answer
    assert udp.parse_ntp(b"\x24") is None


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, message: bytes, any_port: bool = False) -> bool:
    async def ready() -> bool:
        for _ in range(40):
            if await datagram.exchange("127.0.0.1", port, message, timeout_s=0.25, retries=0,
                                       any_port=any_port):  # fmt: skip
                return True
        return False

    return asyncio.run(ready())


def _daemon(argv: list[str], port: int, ready: bytes, any_port: bool = False) -> Iterator[int]:
    """A real Debian daemon on 127.0.0.1:port for one test: up once it answers `ready`."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait(port, ready, any_port=any_port), f"{argv[0]} did not answer"
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _needs(exe: str, package: str) -> str:
    path = shutil.which(exe) or f"/usr/sbin/{exe}"
    require(os.path.exists(path), f"Debian's {package} (`make sysdeps` installs it)")
    require_root(f"{exe} drops privileges to nobody")
    return path


@pytest.fixture
def tftpd(tmp_path: Path) -> Iterator[int]:
    exe = _needs("in.tftpd", "tftpd-hpa")
    root = tmp_path / "tftp"
    root.mkdir()
    (root / "config.txt").write_text("secret=1\n")
    tmp_path.chmod(0o755)
    root.chmod(0o755)
    port = _free_udp_port()
    argv = [exe, "--foreground", "--listen", "--address", f"127.0.0.1:{port}", "--secure",
            "--user", "nobody", str(root)]  # fmt: skip
    yield from _daemon(argv, port, udp.tftp_read_request("probe"), any_port=True)


@pytest.mark.realsw  # Debian's tftpd-hpa
def test_real_tftpd(tftpd: int) -> None:
    opts = udp.UdpOptions(timeout_s=0.5)
    svc = asyncio.run(udp.tftp_service("127.0.0.1", opts, udp.RateLimit(100), tftpd))
    assert svc is not None and svc.transport == "udp" and svc.name == "tftp"
    assert "file not found" in svc.banner.lower()


@pytest.fixture
def chronyd(tmp_path: Path) -> Iterator[int]:
    exe = _needs("chronyd", "chrony")
    port = _free_udp_port()
    conf = tmp_path / "chrony.conf"
    conf.write_text(f"bindaddress 127.0.0.1\nport {port}\nallow 127.0.0.1\nlocal stratum 8\n"
                    f"cmdport 0\npidfile {tmp_path / 'pid'}\n")  # fmt: skip
    # -x: never touch the clock; no server line: it asks nobody.
    yield from _daemon([exe, "-d", "-x", "-f", str(conf)], port, udp.NTP_REQUEST)


@pytest.mark.realsw  # Debian's chronyd
def test_real_chronyd(chronyd: int) -> None:
    opts = udp.UdpOptions(timeout_s=0.5)
    svc = asyncio.run(udp.ntp_service("127.0.0.1", opts, udp.RateLimit(100), chronyd))
    assert svc is not None and svc.name == "ntp" and svc.product == "NTPv4"
    assert svc.banner == "stratum 8"


# --- CoAP -----------------------------------------------------------------------------------------


def test_coap_get_request_shape() -> None:
    from lanprobe.discovery import coap

    msg = coap.get_request("/.well-known/core", 0x1234, b"\xaa\xbb")
    assert msg[:4] == bytes([0x52, 0x01, 0x12, 0x34])  # ver 1, NON, TKL 2; GET; message id
    assert msg[4:6] == b"\xaa\xbb"
    assert msg[6:] == b"\xbb.well-known\x04core"  # Uri-Path 11 (len 11), then delta 0 (len 4)
    long = coap.get_request("/" + "x" * 20, 1, b"")
    assert long[4] == 0xBD and long[5] == 20 - 13  # extended length


def test_coap_parse_answer_and_links() -> None:
    from lanprobe.discovery import coap

    # ACK/NON 2.05 with token, Content-Format 40 (link-format), payload
    data = bytes([0x51, 0x45, 0, 1, 0x7E, 0xC1, 40, 0xFF]) + b'</relay>;rt="switch";if="core.a"'
    ans = coap.parse_answer(data)
    assert ans.code == "2.05" and ans.token == b"\x7e" and ans.content_format == 40
    [link] = coap.parse_links(ans.payload.decode())
    assert link.path == "/relay" and link.attrs == {"rt": "switch", "if": "core.a"}
    assert link.declared_writable
    assert not coap.parse_links('</s>;if="core.s"')[0].declared_writable
    with pytest.raises(ValueError):
        coap.parse_answer(b"\x00\x00\x00\x00")


def test_judge_coap() -> None:
    from lanprobe.checks.logical_access import judge_coap
    from lanprobe.discovery import coap

    links = coap.parse_links('</relay>;if="core.a",</status>;if="core.s"')
    verdict, _, ev = judge_coap(links, {"/relay": "2.05", "/status": "2.05"})
    assert verdict is Verdict.fail and ev["declared_writable"] == ["/relay"]
    assert judge_coap(links, {"/relay": "4.01", "/status": "4.01"})[0] is Verdict.passed
    assert judge_coap(links, {"/relay": "no answer"})[0] is Verdict.inconclusive
    assert judge_coap(None, {})[0] is Verdict.inconclusive


async def test_coap_against_aiocoap() -> None:
    """Our GET against aiocoap's server (a real CoAP implementation) on 127.0.0.1."""
    import aiocoap  # a dependency of lanprobe (the lab's CoAP device)
    import aiocoap.resource as resource
    from lanprobe.discovery import coap

    class Temp(resource.Resource):
        async def render_get(self, request: object) -> object:
            return aiocoap.Message(payload=b"21.5")

    site = resource.Site()
    site.add_resource([".well-known", "core"],
                      resource.WKCResource(site.get_resources_as_linkheader))  # fmt: skip
    site.add_resource(["temp"], Temp())
    port = _free_udp_port()
    ctx = await aiocoap.Context.create_server_context(site, bind=("127.0.0.1", port),
                                                      transports=["udp6"])  # fmt: skip
    try:
        wkc = await coap.get("127.0.0.1", "/.well-known/core", port=port)
        assert wkc is not None and wkc.ok
        assert "/temp" in [link.path for link in coap.parse_links(wkc.payload.decode())]
        temp = await coap.get("127.0.0.1", "/temp", port=port)
        assert temp is not None and temp.payload == b"21.5"
        missing = await coap.get("127.0.0.1", "/nothing", port=port)
        assert missing is not None and missing.code == "4.04"
    finally:
        await ctx.shutdown()
