"""data.ssh-algorithms: the KEXINIT reader, the policy file, every verdict branch, the lab
(acme-ipcam300 offers weak algorithms, hubco-h1 is the control) and real Debian OpenSSH.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lanprobe.checks.clients import ssh_kex
from lanprobe.checks.clients.ssh_kex import KexInit
from lanprobe.checks.context import Timeouts
from lanprobe.checks.ssh_policy import judge_ssh, load_policy, parse_policy
from lanprobe.errors import ProfileError, ProtocolError
from lanprobe.model import ScanRun, Verdict

from tests.checks.conftest import device_of, results_of
from tests.requires import require, require_root

T = Timeouts(connect_s=3.0, read_s=5.0)
STRONG = {
    "kex": ["curve25519-sha256", "diffie-hellman-group16-sha512"],
    "host_key": ["ssh-ed25519"],
    "cipher_c2s": ["chacha20-poly1305@openssh.com", "aes128-ctr"],
    "cipher_s2c": ["chacha20-poly1305@openssh.com", "aes128-ctr"],
    "mac_c2s": ["hmac-sha2-256-etm@openssh.com", "hmac-sha1"],
    "mac_s2c": ["hmac-sha2-256-etm@openssh.com", "hmac-sha1"],
}


def kexinit_payload(lists: dict[str, list[str]]) -> bytes:
    out = bytes([20]) + b"\x00" * 16
    for name in ssh_kex.NAME_LISTS:
        raw = ",".join(lists.get(name, [])).encode()
        out += struct.pack(">I", len(raw)) + raw
    return out + b"\x00" + b"\x00" * 4


def packet(payload: bytes) -> bytes:
    padding = 8 - (len(payload) + 5) % 8 + 8
    return struct.pack(">IB", len(payload) + padding + 1, padding) + payload + b"\x00" * padding


def test_parse_kexinit_round_trip() -> None:
    data = packet(kexinit_payload(STRONG))
    payload = ssh_kex.parse_packet(data)
    assert payload is not None
    lists = ssh_kex.parse_kexinit(payload)
    assert lists["kex"] == STRONG["kex"] and lists["lang_c2s"] == []
    assert ssh_kex.parse_packet(data[:10]) is None  # incomplete: read more
    with pytest.raises(ProtocolError):
        ssh_kex.parse_kexinit(b"\x15" + payload[1:])  # not KEXINIT
    with pytest.raises(ProtocolError):
        ssh_kex.parse_kexinit(payload[:40])  # truncated
    with pytest.raises(ProtocolError):
        ssh_kex.parse_packet(struct.pack(">IB", 10**6, 4))


def test_policy_file_loads_and_classifies() -> None:
    policy = load_policy()
    assert policy.classify("cipher", "aes128-cbc")[0] == "weak"  # type: ignore[index]
    assert policy.classify("cipher", "aes128-ctr") is None
    assert policy.classify("mac", "hmac-sha1")[0] == "advisory"  # type: ignore[index]
    assert policy.classify("mac", "hmac-sha1-96")[0] == "weak"  # type: ignore[index]
    assert policy.classify("host_key", "ssh-rsa")[0] == "weak"  # type: ignore[index]
    assert policy.classify("host_key", "rsa-sha2-256") is None
    assert policy.classify("kex", "diffie-hellman-group14-sha1")[0] == "weak"  # type: ignore[index]
    assert policy.classify("kex", "diffie-hellman-group14-sha256")[0] == "advisory"  # type: ignore[index]
    assert policy.rsa_min_bits == 2048


def test_policy_errors_name_the_field() -> None:
    base: dict[str, Any] = {"version": 1, "rsa_min_bits": 2048}
    for cat in ("kex", "host_key", "cipher", "mac"):
        base[cat] = {"weak": [], "advisory": []}
    parse_policy(base)
    bad = {**base, "mac": {"weak": [{"match": "hmac-md5", "why": "md5"}], "advisory": []}}
    with pytest.raises(ProfileError, match=r"mac.weak\[0\]"):
        parse_policy(bad, "p.yaml")
    with pytest.raises(ProfileError, match="rsa_min_bits"):
        parse_policy({**base, "rsa_min_bits": 512})


def test_judge_strong_passes_with_advisories() -> None:
    verdict, _, ev = judge_ssh(KexInit("SSH-2.0-x", dict(STRONG)), None, load_policy())
    assert verdict is Verdict.passed
    assert "mac:hmac-sha1" in ev["advisories"] and "weak" not in ev


def test_judge_weak_fails_per_category() -> None:
    policy = load_policy()
    for cat, name in (("kex", "diffie-hellman-group1-sha1"), ("host_key", "ssh-dss"),
                      ("cipher_c2s", "3des-cbc"), ("mac_s2c", "hmac-md5")):  # fmt: skip
        lists = {k: list(v) for k, v in STRONG.items()}
        lists[cat].append(name)
        verdict, title, ev = judge_ssh(KexInit("SSH-2.0-x", lists), None, policy)
        assert verdict is Verdict.fail and name in title
        assert all(e["source"] for e in ev["weak"].values())


def test_judge_rsa_size() -> None:
    lists = {**STRONG, "host_key": ["rsa-sha2-512"]}
    policy = load_policy()
    assert judge_ssh(KexInit("SSH-2.0-x", lists), 1024, policy)[0] is Verdict.fail
    assert judge_ssh(KexInit("SSH-2.0-x", lists), 3072, policy)[0] is Verdict.passed
    # offered but not measured: no pass
    assert judge_ssh(KexInit("SSH-2.0-x", lists), None, policy)[0] is Verdict.inconclusive


def test_judge_unread_and_ssh1() -> None:
    policy = load_policy()
    assert judge_ssh(None, None, policy, "timeout")[0] is Verdict.inconclusive
    verdict, title, _ = judge_ssh(KexInit("SSH-1.5-old"), None, policy)
    assert verdict is Verdict.fail and "1.5" in title
    assert judge_ssh(KexInit("SSH-2.0-x", {"kex": ["curve25519-sha256"]}), None, policy)[0] is (
        Verdict.inconclusive
    )


# --- lab ---------------------------------------------------------------------------------------


@pytest.mark.lab
def test_lab_weak_and_control(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = device_of(lab_run, lab_bench, "acme-ipcam300")
    [weak] = results_of(lab_run, cam, "data.ssh-algorithms")
    assert weak.verdict is Verdict.fail and weak.target.port == 22
    assert {"kex:diffie-hellman-group1-sha1", "cipher:3des-cbc", "mac:hmac-md5",
            "host_key:ssh-rsa", "host_key:RSA-1024"} <= set(weak.evidence["weak"])  # fmt: skip
    hub = device_of(lab_run, lab_bench, "hubco-h1")
    [ok] = results_of(lab_run, hub, "data.ssh-algorithms")
    assert ok.verdict is Verdict.passed, ok.evidence
    plug = device_of(lab_run, lab_bench, "plugco-sp1")
    assert {r.verdict for r in results_of(lab_run, plug, "data.ssh-algorithms")} == {
        Verdict.not_applicable
    }


# --- real OpenSSH (Debian openssh-server) ------------------------------------------------------

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def openssh(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[int]:
    """Debian's sshd on 127.0.0.1 with its default algorithms, or with `extra` config lines."""
    require(os.path.exists(SSHD), "Debian's openssh-server (`make sysdeps` installs it)")
    require_root("sshd's privilege separation")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    keys = []
    for kind, bits in (("ed25519", []), ("rsa", ["-b", "3072"])):
        key = tmp_path / f"host_{kind}"
        subprocess.run(["ssh-keygen", "-q", "-t", kind, *bits, "-N", "", "-f", str(key)],
                       check=True, timeout=60)  # fmt: skip
        keys.append(key)
    port = _free_port()
    conf = tmp_path / "sshd_config"
    lines = [f"Port {port}", "ListenAddress 127.0.0.1", "PidFile none", "UsePAM no",
             *(f"HostKey {k}" for k in keys), *getattr(request, "param", [])]  # fmt: skip
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(conf)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None:
                pytest.fail(f"sshd exited with {proc.returncode}")
            asyncio.run(asyncio.sleep(0.1))
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _judge(port: int) -> tuple[Verdict, str, dict[str, Any]]:
    offer = await ssh_kex.read_kexinit("127.0.0.1", port, T)
    bits = await ssh_kex.rsa_key_bits("127.0.0.1", port, offer, T)
    return judge_ssh(offer, bits, load_policy())


@pytest.mark.realsw  # Debian's sshd
def test_debian_openssh_defaults_pass(openssh: int) -> None:
    verdict, _, ev = asyncio.run(_judge(openssh))
    assert ev["server"].startswith("SSH-2.0-OpenSSH_")
    assert verdict is Verdict.passed, ev
    assert ev["rsa_host_key_bits"] == 3072
    assert "mac:hmac-sha1" in ev["advisories"]  # Debian's default still offers it


@pytest.mark.realsw  # Debian's sshd
@pytest.mark.parametrize(
    "openssh",
    [["Ciphers +aes128-cbc,3des-cbc", "KexAlgorithms +diffie-hellman-group1-sha1",
      "MACs +hmac-md5", "HostKeyAlgorithms +ssh-rsa"]],
    indirect=True,
)  # fmt: skip
def test_debian_openssh_weakened_fails(openssh: int) -> None:
    verdict, _, ev = asyncio.run(_judge(openssh))
    assert verdict is Verdict.fail
    assert {"cipher:aes128-cbc", "cipher:3des-cbc", "kex:diffie-hellman-group1-sha1",
            "mac:hmac-md5", "host_key:ssh-rsa"} <= set(ev["weak"])  # fmt: skip
