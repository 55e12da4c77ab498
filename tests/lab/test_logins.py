"""Telnet, FTP and SSH logins, the debug shell and the sentry's source-address ban."""

from __future__ import annotations

import asyncio
import ftplib
import socket
import subprocess
from collections.abc import Iterator

import asyncssh
import pytest
from lanprobe.lab.bench import BenchState
from lanprobe.lab.models import LAB_PASSWORDS, LAB_USER

from tests.lab.conftest import device

pytestmark = pytest.mark.lab


async def _telnet_login(ip: str, user: str, password: str) -> str:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(ip, 23), 5)
    try:
        await asyncio.wait_for(reader.readuntil(b"login: "), 5)
        writer.write(user.encode() + b"\r\n")
        await asyncio.wait_for(reader.readuntil(b"Password: "), 5)
        writer.write(password.encode() + b"\r\n")
        data = b""
        while not data.endswith((b"# ", b"login: ")) and len(data) < 4096:
            chunk = await asyncio.wait_for(reader.read(256), 5)
            if not chunk:
                break
            data += chunk
        return data.decode("latin-1")
    finally:
        writer.close()
        await writer.wait_closed()


async def test_telnet_right_and_wrong(bench: BenchState) -> None:
    cam = device(bench, "acme-ipcam200")
    ok = await _telnet_login(cam.ip, "root", "xc3511")
    assert ok.endswith("# ") and "BusyBox" in ok
    bad = await _telnet_login(cam.ip, "root", "root")
    assert "Login incorrect" in bad


async def test_debug_shell_needs_no_login(bench: BenchState) -> None:
    cam = device(bench, "acme-ipcam200")
    reader, writer = await asyncio.wait_for(asyncio.open_connection(cam.ip, 9999), 5)
    try:
        await asyncio.wait_for(reader.readuntil(b"# "), 5)
        writer.write(b"id\r\n")
        assert b"uid=0(root)" in await asyncio.wait_for(reader.readuntil(b"# "), 5)
    finally:
        writer.close()
        await writer.wait_closed()


def _ftp_login(ip: str, user: str, password: str, source: str | None = None) -> str:
    ftp = ftplib.FTP(timeout=5, source_address=(source, 0) if source else None)
    try:
        ftp.connect(ip, 21)
        return ftp.login(user, password)
    except ftplib.error_perm as exc:
        return str(exc)
    finally:
        ftp.close()


@pytest.mark.parametrize(
    ("model", "user", "good", "bad"),
    [
        ("acme-ipcam200", "admin", "admin", "admin1"),
        ("sentry-s3", LAB_USER, LAB_PASSWORDS["sentry-s3"], "admin"),
    ],
)
def test_ftp_right_and_wrong(bench: BenchState, model: str, user: str, good: str, bad: str) -> None:
    dev = device(bench, model)
    assert _ftp_login(dev.ip, user, bad).startswith("530")
    assert _ftp_login(dev.ip, user, good).startswith("230")  # also resets the sentry's count


def test_ftp_accepts_any_password(bench: BenchState) -> None:
    giz = device(bench, "gizmo-g1")
    assert _ftp_login(giz.ip, "anyone", "anything").startswith("230")


async def _ssh(ip: str, user: str, password: str) -> asyncssh.SSHKey | None:
    async with asyncssh.connect(
        ip,
        username=user,
        password=password,
        known_hosts=None,
        client_keys=None,
        agent_path=None,
        preferred_auth="password",
        connect_timeout=5,
    ) as conn:
        return conn.get_server_host_key()


@pytest.mark.parametrize(
    ("model", "user", "good"),
    [
        ("hubco-h1", LAB_USER, LAB_PASSWORDS["hubco-h1"]),
        ("acme-ipcam300", "admin", "admin"),
        ("sentry-s3", LAB_USER, LAB_PASSWORDS["sentry-s3"]),
    ],
)
async def test_ssh_right_and_wrong(bench: BenchState, model: str, user: str, good: str) -> None:
    dev = device(bench, model)
    with pytest.raises(asyncssh.PermissionDenied):
        await _ssh(dev.ip, user, "wrong-password")
    assert await _ssh(dev.ip, user, good) is not None


async def test_hubco_ssh_locks_the_username_after_five_failures(bench: BenchState) -> None:
    hub = device(bench, "hubco-h1")
    for _ in range(5):
        with pytest.raises(asyncssh.PermissionDenied):
            await _ssh(hub.ip, "sshlock", "wrong")
    # The server disconnects the locked username; under load the client may see that as a
    # broken pipe before it reads the DISCONNECT message.
    with pytest.raises((asyncssh.DisconnectError, ConnectionError)) as info:
        await _ssh(hub.ip, "sshlock", "wrong")
    assert not isinstance(info.value, asyncssh.PermissionDenied)
    if isinstance(info.value, asyncssh.DisconnectError):
        assert info.value.code == asyncssh.DISC_BY_APPLICATION
    assert await _ssh(hub.ip, LAB_USER, LAB_PASSWORDS["hubco-h1"]) is not None


async def test_twins_share_ssh_host_key(bench: BenchState) -> None:
    a, b = bench.by_model("acme-ipcam300")[:2]
    key_a = await _ssh(a.ip, "admin", "admin")
    key_b = await _ssh(b.ip, "admin", "admin")
    hub = await _ssh(device(bench, "hubco-h1").ip, LAB_USER, LAB_PASSWORDS["hubco-h1"])
    assert key_a is not None and key_b is not None and hub is not None
    assert key_a.public_data == key_b.public_data
    assert hub.public_data != key_a.public_data


@pytest.fixture
def aux_source(bench: BenchState) -> Iterator[str]:
    """A second host address on the bridge, so that the ban hits it and not the host's own."""
    third = bench.host_ip.rsplit(".", 1)[0] + ".5"
    subprocess.run(["ip", "addr", "add", f"{third}/32", "dev", bench.bridge], check=True)
    try:
        yield third
    finally:
        subprocess.run(["ip", "addr", "del", f"{third}/32", "dev", bench.bridge], check=False)


def _http_status(ip: str, source: str, auth: str) -> str:
    """One raw HTTP request from `source`: the status line, or the socket error's name."""
    try:
        with socket.create_connection((ip, 80), timeout=3, source_address=(source, 0)) as s:
            s.sendall(
                f"GET / HTTP/1.1\r\nHost: {ip}\r\nAuthorization: Basic {auth}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            data = s.recv(200)
            return data.split(b"\r\n", 1)[0].decode() if data else "closed"
    except OSError as exc:
        return type(exc).__name__


def test_sentry_bans_source_after_three_failures(bench: BenchState, aux_source: str) -> None:
    sentry = device(bench, "sentry-s3")
    wrong = "bGFiYWRtaW46d3Jvbmc="  # labadmin:wrong
    first = [_http_status(sentry.ip, aux_source, wrong) for _ in range(3)]
    assert all(s.startswith("HTTP/1.1 401") for s in first), first
    # banned now: every service resets new connections from this source
    assert _http_status(sentry.ip, aux_source, wrong) in ("ConnectionResetError", "closed")
    with pytest.raises((ConnectionResetError, EOFError, ftplib.Error, OSError)):
        _ftp_login(sentry.ip, LAB_USER, LAB_PASSWORDS["sentry-s3"], source=aux_source)
    # ...but only this source: the host's own address is still served
    assert _ftp_login(sentry.ip, LAB_USER, LAB_PASSWORDS["sentry-s3"]).startswith("230")
