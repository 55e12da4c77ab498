"""SNMP: our BER codec on answers recorded from Debian's net-snmp, every verdict branch of the
community and cleartext judges, the real snmpd (communities, the write probe that writes nothing,
v3 only) and the lab scan (acme-ipcam200 public/private, hubco-h1 SNMPv3 only).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lanprobe.checks import snmp as snmp_checks
from lanprobe.checks.clients import snmp
from lanprobe.checks.snmp import SnmpObservation, judge_cleartext, judge_communities
from lanprobe.discovery.udp import RateLimit
from lanprobe.model import ScanRun, Severity, Verdict

from tests.checks.conftest import device_of, results_of
from tests.requires import require

# Recorded from net-snmp 5.9.3 (Debian bookworm snmpd) on the lab camera and hub.
V2C_RESPONSE = bytes.fromhex(
    "306102010104067075626c6963a254020210920201000201003048302906082b06010201010100041d41636d65"
    "20495043414d2d323030206669726d7761726520312e302e33301b060c2b060102012f010101010b01040b4143"
    "4d3230302d30303031"
)
V3_REPORT = bytes.fromhex(
    "306b020103300e02014d020300ffe30401000201030421301f041180001f888088a53d1433a10f6b0000000002"
    "010102012e0400040004003033041180001f888088a53d1433a10f6b000000000400a81c02014d020100020100"
    "3011300f060a2b060106030f01010400410104"
)
WRITE_PROBE_ANSWER = bytes.fromhex(
    "3029020101040770726976617465a21b020210f7020107020101300f300d06082b06010201010600020100"
)


def test_codec_round_trip() -> None:
    for dotted in ("1.3.6.1.2.1.1.1.0", "1.3.6.1.4.1.8072.3.2.10", "2.999.16383.1"):
        [node] = snmp.decode(snmp.oid(dotted))
        assert node.oid() == dotted
    for n in (0, 1, 127, 128, 255, 256, -1, -129, 2**31 - 1):
        [node] = snmp.decode(snmp.integer(n))
        assert node.int() == n
    big = snmp.octets(b"x" * 300)  # long-form length
    assert snmp.decode(big)[0].value == b"x" * 300
    with pytest.raises(ValueError):
        snmp.decode(b"\x30\x05\x02\x01")  # runs past the data


def test_request_shapes() -> None:
    msg = snmp.decode(snmp.get_request(b"public", 1, 7, [snmp.SYS_DESCR]))[0]
    version, community, pdu = msg.children
    assert version.int() == 1 and community.value == b"public" and pdu.tag == snmp.GET
    assert pdu.children[3].children[0].children[0].oid() == snmp.SYS_DESCR
    probe = snmp.decode(snmp.write_probe(b"private", 1, 9))[0].children[2]
    assert probe.tag == snmp.SET
    [bind] = probe.children[3].children
    assert bind.children[0].oid() == snmp.SYS_LOCATION and bind.children[1].tag == snmp.INTEGER
    v3 = snmp.decode(snmp.engine_discovery(5))[0]
    assert v3.children[0].int() == 3 and v3.children[1].children[2].value == b"\x04"


def test_parse_recorded_answers() -> None:
    ans = snmp.parse_message(V2C_RESPONSE)
    assert ans.version == 1 and ans.request_id == 4242 and ans.error == "noError"
    assert ans.values[snmp.SYS_DESCR] == "Acme IPCAM-200 firmware 1.0.3"
    assert ans.values[snmp.ENT_SERIAL] == "ACM200-0001"
    report = snmp.parse_message(V3_REPORT)
    assert report.version == 3 and report.pdu == snmp.REPORT
    assert report.engine_id == "80001f888088a53d1433a10f6b00000000"
    write = snmp.parse_message(WRITE_PROBE_ANSWER)
    assert write.error == "wrongType" and write.error_status in snmp.WRITE_ALLOWED
    with pytest.raises(ValueError):
        snmp.parse_message(b"\x04\x00")


def test_communities_file() -> None:
    communities = snmp_checks.load_communities()
    assert communities[:2] == ["public", "private"]
    assert len(communities) <= snmp_checks.MAX_COMMUNITIES


def _obs(**kw: Any) -> SnmpObservation:
    obs = SnmpObservation(port=161, tried=["public", "private", "admin"])
    for k, v in kw.items():
        setattr(obs, k, v)
    return obs


def test_judge_communities_branches() -> None:
    verdict, title, ev = judge_communities(
        _obs(readable={"public": ["v2c"], "private": ["v2c"]}, writable={"private": "wrongType"},
             refused_write={"public": "noAccess"}, engine_id="80"),
        lambda c: "*" * len(c),
    )  # fmt: skip
    assert verdict is Verdict.fail and "read-write" in title
    assert [c["community"] for c in ev["communities"]] == ["******", "*******"]
    assert [c["write"] for c in ev["communities"]] == [False, True]
    verdict, title, _ = judge_communities(_obs(readable={"public": ["v1"]}))
    assert verdict is Verdict.fail and "read-only" in title
    assert judge_communities(_obs(engine_id="80", alive_after=True))[0] is Verdict.passed
    # Answered SNMPv3 before the communities, silent after: a device gone, not a refusal.
    verdict, title, ev = judge_communities(_obs(engine_id="80"))
    assert verdict is Verdict.inconclusive and "went silent" in title and ev["reason"]
    assert judge_communities(_obs())[0] is Verdict.inconclusive  # silent agent: no pass
    any_ = _obs(readable={"public": ["v2c"]}, any_community=True)
    assert judge_communities(any_)[0] is Verdict.not_applicable


def test_judge_cleartext() -> None:
    judged = judge_cleartext(_obs(readable={"public": ["v2c", "v1"]}))
    assert (
        judged is not None and judged[0] is Verdict.fail and judged[2]["versions"] == ["v1", "v2c"]
    )
    assert judge_cleartext(_obs(engine_id="80")) is None


async def test_rate_limit_spreads_sends() -> None:
    rate = RateLimit(per_second=100)
    start = time.monotonic()
    for _ in range(11):
        await rate.wait()
    assert time.monotonic() - start >= 0.09  # 10 gaps of 10 ms


# --- real net-snmp on 127.0.0.1 ---------------------------------------------------------------

SNMPD = shutil.which("snmpd") or "/usr/sbin/snmpd"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_snmpd(tmp_path: Path, lines: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_udp_port()
    conf = tmp_path / "snmpd.conf"
    conf.write_text("\n".join([f"agentAddress udp:127.0.0.1:{port}", *lines]) + "\n")
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(tmp_path), "MIBS": ""}
    proc = subprocess.Popen([SNMPD, "-f", "-Lf", str(tmp_path / "log"), "-C", "-c", str(conf),
                             "-I", "-smux"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip

    async def ready() -> bool:
        for _ in range(40):
            if await snmp.exchange("127.0.0.1", port, snmp.engine_discovery(1), timeout_s=0.25):
                return True
        return False

    if not asyncio.run(ready()):
        proc.terminate()
        pytest.fail("snmpd did not answer")
    return proc, port


@pytest.fixture
def snmpd(tmp_path: Path) -> Iterator[int]:
    require(os.path.exists(SNMPD), "Debian's snmpd (`make sysdeps` installs it)")
    lines = ["rocommunity public 127.0.0.1", "rwcommunity private 127.0.0.1",
             "sysLocation lab rack 1"]  # fmt: skip
    proc, port = _start_snmpd(tmp_path, lines)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.realsw  # Debian's snmpd
def test_real_snmpd_communities_and_write_probe(snmpd: int) -> None:
    async def run() -> tuple[SnmpObservation, Any, Any]:
        before = await snmp.get("127.0.0.1", b"public", 1, [snmp.SYS_LOCATION], port=snmpd)
        obs = await snmp_checks.measure("127.0.0.1", snmpd, [("public", "l"), ("private", "l"),
                                                              ("nope", "l")])  # fmt: skip
        after = await snmp.get("127.0.0.1", b"public", 1, [snmp.SYS_LOCATION], port=snmpd)
        return obs, before, after

    obs, before, after = asyncio.run(run())
    assert obs.readable == {"public": ["v2c", "v1"], "private": ["v2c", "v1"]}
    assert set(obs.writable) == {"private"} and obs.refused_write["public"] in (
        "noAccess",
        "notWritable",
    )
    assert not obs.any_community and obs.engine_id
    # the write probe wrote nothing
    assert before.values == after.values == {snmp.SYS_LOCATION: "lab rack 1"}
    assert judge_communities(obs)[0] is Verdict.fail


@pytest.mark.realsw  # Debian's snmpd
def test_real_snmpd_v3_only(tmp_path: Path) -> None:
    require(os.path.exists(SNMPD), "Debian's snmpd (`make sysdeps` installs it)")
    proc, port = _start_snmpd(tmp_path, ['createUser u3 SHA "a-long-pass-1" AES "a-long-pass-1"',
                                         "rouser u3 priv"])  # fmt: skip
    try:
        obs = asyncio.run(
            snmp_checks.measure("127.0.0.1", port, [("public", "l"), ("private", "l")])
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert obs.engine_id and obs.alive_after and not obs.readable
    assert judge_communities(obs)[0] is Verdict.passed and judge_cleartext(obs) is None


# --- the lab scan ------------------------------------------------------------------------------


@pytest.mark.lab
def test_lab_snmp(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = device_of(lab_run, lab_bench, "acme-ipcam200")
    svc = cam.service(161, "udp")
    assert svc is not None and svc.name == "snmp" and "v2c" in svc.product
    assert cam.identifiers["snmp_sysdescr"].value.startswith("Acme IPCAM-200")
    [login] = [r for r in results_of(lab_run, cam, "configuration.default-login")
               if r.target.transport == "udp"]  # fmt: skip
    assert login.verdict is Verdict.fail and login.severity is Severity.critical
    assert [c["write"] for c in login.evidence["communities"]] == [False, True]
    clear = [
        r for r in results_of(lab_run, cam, "data.tls-required") if r.target.transport == "udp"
    ]
    assert [r.verdict for r in clear] == [Verdict.fail]
    hub = device_of(lab_run, lab_bench, "hubco-h1")
    assert hub.service(161, "udp") is not None
    [ok] = [r for r in results_of(lab_run, hub, "configuration.default-login")
            if r.target.transport == "udp"]  # fmt: skip
    assert ok.verdict is Verdict.passed and ok.evidence["snmpv3_engine_id"]
    assert not [r for r in results_of(lab_run, hub, "data.tls-required")
                if r.verdict is Verdict.fail]  # fmt: skip
