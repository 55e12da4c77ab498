"""Gateway mode against the lab's cloud models (real dnsmasq, real TLS and MQTT clients):
every finding, the control's passes, nothing leaves the bench, and `gateway down` restores the
host. The bench is $LANPROBE_GATEWAY_BRIDGE / $LANPROBE_GATEWAY_SUBNET (default plabgw /
198.18.157.0/24), one per test: a unit's boot-time DHCP is part of what is observed."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lanprobe.gateway import control
from lanprobe.lab.bench import BenchState
from lanprobe.lab.models import BY_ID
from lanprobe.model import ScanRun, Verdict

from tests.requires import require, require_root

pytestmark = pytest.mark.lab

BRIDGE = os.environ.get("LANPROBE_GATEWAY_BRIDGE", "plabgw")
SUBNET = os.environ.get("LANPROBE_GATEWAY_SUBNET", "198.18.157.0/24")
# otaweb-w1 has a static address and no cloud: it starts nothing, it only answers the scan.
# quiet-q1 and dnstag-t4 only look names up (dnstag-t4's carries its MAC).
MODELS = [
    "cloudy-c1",
    "oldtls-o2",
    "sound-s1",
    "otaweb-w1",
    "laxname-n3",
    "quiet-q1",
    "dnstag-t4",
    "laxota-u5",
    "oddport-p6",
    "ecconly-k7",
    "netcheck-c8",
]
DHCP_MODELS = [m for m in MODELS if BY_ID[m].dhcp]
PROBE = [sys.executable, "-m", "lanprobe.cli"]


@pytest.fixture
def bench() -> Iterator[BenchState]:
    require_root("gateway mode runs dnsmasq and a capture on a lab bridge")
    require(bool(shutil.which("dnsmasq")), "Debian's dnsmasq-base (`make sysdeps` installs it)")
    from lanprobe.lab import bench as lab_bench

    control.down(BRIDGE)
    lab_bench.down(BRIDGE)
    try:
        yield lab_bench.up(BRIDGE, SUBNET, models=MODELS)
    finally:
        control.down(BRIDGE)
        lab_bench.down(BRIDGE)


def probe(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PROBE, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def other_interfaces() -> list[str]:
    """Every interface of the host that is not a lab bench nor loopback: where a packet would
    leave the machine. (On lo the kernel tells itself "host unreachable" when dnsmasq pings a
    free address before offering it: that never leaves the host.)"""
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True)
    names = [line.split(": ")[1].split("@")[0] for line in out.stdout.splitlines()]
    return [n for n in names if not n.startswith("plab") and n != "lo"]


class LeakWatch:
    """tcpdump on every other interface for anything from or to the bench's subnet, or DHCP
    from anywhere: none of it may appear there while the gateway runs. (DNS is not watched here:
    other sessions on the host may resolve names; that dnsmasq forwarded nothing is read from
    its own query log, `no_dns_forwarded`.)"""

    def __init__(self, tmp: Path) -> None:
        self.procs = []
        for name in other_interfaces():
            pcap = tmp / f"leak-{name}.pcap"
            self.procs.append((name, pcap, subprocess.Popen(
                ["tcpdump", "-i", name, "-n", "-U", "-w", str(pcap), "-c", "1000",
                 f"net {SUBNET} or udp port 67 or udp port 68"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )))  # fmt: skip
        time.sleep(1.0)  # tcpdump opens its socket

    def packets(self) -> dict[str, int]:
        counts = {}
        for name, pcap, proc in self.procs:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)
            read = subprocess.run(["tcpdump", "-r", str(pcap), "-n"], capture_output=True,
                                  text=True, timeout=30, check=False)  # fmt: skip
            counts[name] = len(read.stdout.splitlines())
        return counts


def wait_for_leases(state: control.GatewayState, n: int, timeout_s: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = state.leases_file.read_text() if state.leases_file.exists() else ""
        if len(text.splitlines()) >= n:
            return text.splitlines()
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} leases after {timeout_s} s")


def test_gateway_findings_and_restore(bench: BenchState, tmp_path: Path) -> None:
    """`gateway up`, the units join and talk, `scan --gateway` judges them, `gateway down`."""
    before = control.host_snapshot(BRIDGE)
    leak = LeakWatch(tmp_path)
    # The units trust the lab CA: with it the sinkhole also shows a wrong-name certificate.
    ca = ("--ca", str(bench.ca_file), "--ca-key", str(bench.state_dir / "ca.key"))
    up = probe("gateway", "up", "--lab", "--bridge", BRIDGE, *ca)
    assert up.returncode == 0, up.stderr
    assert "offline" in up.stdout and "wrong-name certificate" in up.stdout
    state = control.status(BRIDGE)
    assert state is not None and state.address == bench.host_ip
    assert all(control.running(state).values()), control.running(state)

    # dnsmasq's sockets: the bench address, or bound to the bench interface; nothing else.
    ss = subprocess.run(["ss", "-H", "-lnup"], capture_output=True, text=True, check=True).stdout
    ss += subprocess.run(["ss", "-H", "-lntp"], capture_output=True, text=True, check=True).stdout
    mine = [line.split()[3] for line in ss.splitlines() if f"pid={state.pids['dnsmasq']}," in line]
    assert mine, ss
    for local in mine:
        assert local.startswith((f"{bench.host_ip}:", f"0.0.0.0%{BRIDGE}:")), mine

    leases = wait_for_leases(state, len(DHCP_MODELS))
    assert {line.split()[2] for line in leases} == {
        d.ip for d in bench.devices if d.model in DHCP_MODELS
    }
    status = probe("gateway", "status", "--lab", "--bridge", BRIDGE)
    assert status.returncode == 0 and f"leases {len(DHCP_MODELS)}" in status.stdout, status.stdout

    out = tmp_path / "out"
    # The hook power-cycles one unit as the window opens: its boot (DHCP again) is observed.
    hook = " ".join([*PROBE, "lab", "restart", "cloudy-c1-1", "--bridge", BRIDGE])
    res = probe(
        "scan", "--lab", "--bridge", BRIDGE, "--gateway", "--observe", "6s", "--out", str(out),
        "--observe-hook", hook, "--format", "json", "--fail-on", "never",
        "--check", "data", "--check", "update", timeout=240,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert control.status(BRIDGE) is not None  # the scan used the gateway that was up
    run = ScanRun.read(out / "run.json")
    assert any("observe hook" in n and "exited 0" in n for n in run.notes), run.notes
    check_findings(run, bench, out)
    cloudy = next(d for d in run.devices if d.mac == bench.by_model("cloudy-c1")[0].mac)
    assert cloudy.traffic and cloudy.traffic.dhcp
    assert cloudy.traffic.dhcp.messages.count("DHCPACK") >= 2  # before and after the restart

    no_dns_forwarded(state, bench.host_ip)
    down = probe("gateway", "down", "--lab", "--bridge", BRIDGE)
    assert down.returncode == 0, down.stdout + down.stderr  # 3 if the host differs
    assert not control.state_dir(BRIDGE).exists()
    for pid in state.pids.values():
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert control.host_snapshot(BRIDGE) == before
    assert leak.packets() == dict.fromkeys(other_interfaces(), 0)


def no_dns_forwarded(state: control.GatewayState, sinkhole_ip: str) -> None:
    """dnsmasq's query log (log-queries=extra): every name the units asked for was answered from
    its own config with the sinkhole, none was forwarded upstream or answered from a reply."""
    lines = state.dnsmasq_log.read_text().splitlines()
    assert [x for x in lines if " query[A] " in x], "no DNS query logged"
    assert not [x for x in lines if " forwarded " in x or " reply " in x]
    answers = {x.rsplit(" is ", 1)[1] for x in lines if " config " in x and " is " in x}
    assert {a for a in answers if a[:1].isdigit()} == {sinkhole_ip}, answers


def check_findings(run: ScanRun, bench: BenchState, out: Path) -> None:
    assert run.gateway is not None and not run.gateway.started_by_scan
    assert Path(run.gateway.pcap) == out / "gateway.pcap" and (out / "gateway.pcap").stat().st_size
    by_model = {d.model: run.device(d.mac) for d in bench.devices}
    assert all(by_model.values()), [d.key for d in run.devices]

    def verdicts(model: str, check_id: str) -> dict[Verdict, list[str]]:
        dev = by_model[model]
        assert dev is not None
        found: dict[Verdict, list[str]] = {}
        for r in run.results_for(dev.key):
            if r.check_id == check_id:
                found.setdefault(r.verdict, []).append(r.title)
        return found

    cloudy = by_model["cloudy-c1"]
    assert cloudy is not None and cloudy.traffic is not None
    t = cloudy.traffic
    assert {"mqtt.cloudy-iot.example", "update.cloudy-iot.example"} <= set(t.names)
    assert t.dhcp is not None and "DHCPACK" in t.dhcp.messages and t.dhcp.hostname == "cloudy-c1-1"
    assert t.ntp is not None and t.ntp.requests >= 1
    assert any(d.port == 1883 and d.bytes > 0 for d in t.destinations)
    assert t.pcap == str(out / "gateway.pcap")

    (clear,) = verdicts("cloudy-c1", "data.cleartext-outbound")[Verdict.fail]
    assert "identifier mac" in clear and "C1-0001" in clear and "telemetry" in clear
    assert "http port 80" in clear and "serial= in the request" in clear  # its update poll
    # The evidence points at the packets: its capture filter selects the MQTT in the kept pcap.
    (found,) = [r for r in run.results_for(cloudy.key) if r.check_id == "data.cleartext-outbound"]
    shown = subprocess.run(
        ["tcpdump", "-r", str(out / "gateway.pcap"), "-n", "-A", found.evidence["pcap_filter"]],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    packets = [line for line in shown.splitlines() if " IP " in line]
    assert packets and "C1-0001" in shown, found.evidence["pcap_filter"]
    assert all(f" {t.dhcp.lease_ip}." in line for line in packets), packets[:3]
    (tls,) = verdicts("cloudy-c1", "data.client-tls")[Verdict.fail]
    assert "accepted an untrusted certificate" in tls
    update = verdicts("cloudy-c1", "update.transport")
    assert any("plain HTTP" in x for x in update[Verdict.fail]), update

    (old,) = verdicts("oldtls-o2", "data.client-tls")[Verdict.fail]
    assert "offers TLSv1.0" in old and "untrusted" not in old and "another name" not in old

    # Checks the chain, not the name: refused the untrusted certificate, took the wrong-name one.
    (lax,) = verdicts("laxname-n3", "data.client-tls")[Verdict.fail]
    assert "accepted a trusted CA's certificate for another name" in lax, lax
    assert "untrusted" not in lax

    # The control: TLS 1.2+, validates, nothing in cleartext, update poll over sound TLS.
    (sound,) = verdicts("sound-s1", "data.client-tls")[Verdict.passed]
    assert "and a trusted CA's certificate for another name" in sound, sound
    assert set(verdicts("sound-s1", "data.cleartext-outbound")) == {Verdict.passed}
    assert set(verdicts("sound-s1", "update.transport")) == {Verdict.passed}
    assert set(verdicts("oldtls-o2", "data.cleartext-outbound")) == {Verdict.passed}

    # A unit that only answered the scan is not judged (it passed cleartext-outbound once).
    for check_id in ("data.cleartext-outbound", "data.client-tls"):
        (quiet,) = verdicts("otaweb-w1", check_id)[Verdict.inconclusive]
        assert "started nothing of its own" in quiet, quiet

    # Names looked up, no connection opened: no pass over the empty set (it passed
    # cleartext-outbound once, "0 TLS connection kinds, 0 cleartext without data").
    for check_id in ("data.cleartext-outbound", "data.client-tls"):
        (lookups,) = verdicts("quiet-q1", check_id)[Verdict.inconclusive]
        assert "looked up 2 names" in lookups and "opened no connection" in lookups, lookups
        assert "asked NTP" in lookups, lookups
    (upd,) = verdicts("quiet-q1", "update.transport")[Verdict.inconclusive]
    assert "looked up the update host update.quiet-cloud.example" in upd, upd
    # Its MAC in a name it looked up: DNS is cleartext that names the unit.
    tag = bench.by_model("dnstag-t4")[0].mac.replace(":", "")
    (dns,) = verdicts("dnstag-t4", "data.cleartext-outbound")[Verdict.fail]
    assert f"dns port 53: looked up {tag}.devices.dnstag-cloud.example" in dns, dns
    assert "identifier mac" in dns, dns
    # Connections, none of them TLS: client-tls does not apply to what was seen.
    (no_tls,) = verdicts("dnstag-t4", "data.client-tls")[Verdict.not_applicable]
    assert "opened no TLS connection" in no_tls, no_tls

    # Update polls over HTTPS: one accepting any certificate, one offering TLS 1.0.
    (lax,) = verdicts("laxota-u5", "update.transport")[Verdict.fail]
    assert "accepted our certificate for another name" in lax, lax
    old_poll = verdicts("oldtls-o2", "update.transport")[Verdict.fail]
    assert any("update client offers TLSv1.0" in x for x in old_poll), old_poll

    # A port the sinkhole does not answer: what went there was never seen.
    for check_id in ("data.cleartext-outbound", "data.client-tls"):
        (odd,) = verdicts("oddport-p6", check_id)[Verdict.inconclusive]
        assert "tcp/9000" in odd, odd

    # No shared suite: the certificate was never shown, so its validation is not known.
    (ecc,) = verdicts("ecconly-k7", "data.client-tls")[Verdict.inconclusive]
    assert "certificate validation not shown" in ecc, ecc
    # A connection with nothing sent on it is no evidence of what it would send.
    (empty,) = verdicts("netcheck-c8", "data.cleartext-outbound")[Verdict.inconclusive]
    assert "opened tcp/80 but sent nothing" in empty, empty
    (ecc_poll,) = verdicts("ecconly-k7", "update.transport")[Verdict.inconclusive]
    assert "certificate checks not shown" in ecc_poll, ecc_poll


@pytest.fixture
def ota_bench() -> Iterator[BenchState]:
    require_root("the lab bench uses network namespaces")
    from lanprobe.lab import bench as lab_bench

    require(bool(shutil.which("dnsmasq")), "Debian's dnsmasq-base (`make sysdeps` installs it)")
    control.down(BRIDGE)
    lab_bench.down(BRIDGE)
    try:
        yield lab_bench.up(BRIDGE, SUBNET, models=["otaweb-w1"])
    finally:
        control.down(BRIDGE)
        lab_bench.down(BRIDGE)


def test_update_endpoint_of_an_unknown_device_from_its_web_ui(
    ota_bench: BenchState, tmp_path: Path
) -> None:
    """No profile describes otaweb-w1: its manifest is found through the link on its front page
    (unsigned, over HTTP) and judged. The scan starts its own gateway (no window: otaweb-w1 has
    a static address and no cloud), with the lab CA for the wrong-name test, and stops it."""
    res = probe(
        "scan", "--lab", "--bridge", BRIDGE, "--check", "update", "--out", str(tmp_path),
        "--format", "json", "--fail-on", "never", "--gateway", "--observe", "0s", timeout=180,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    run = ScanRun.read(tmp_path / "run.json")
    assert run.gateway is not None and run.gateway.started_by_scan
    assert run.gateway.trusted_ca == str(ota_bench.ca_file)
    assert not control.state_dir(BRIDGE).exists()  # stopped after the scan
    (dev,) = run.devices
    assert dev.profile == "generic"
    got = {r.check_id: r for r in run.results}
    transport, signature = got["update.transport"], got["update.signature"]
    assert transport.verdict == Verdict.fail and "plain HTTP" in transport.title
    assert transport.evidence["source"].startswith("found on the device: web UI")
    assert transport.evidence["manifest_url"].endswith("/ota/w1/manifest.json")
    assert signature.verdict == Verdict.fail and "unsigned" in signature.title


def test_pytest_plugin_gateway_mode(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """`--probe-gateway` in a QA team's suite: the session's scan judges what the units sent;
    the gateway it starts on a lab bench shows the lab CA's wrong-name certificate too."""
    require_root("gateway mode runs dnsmasq and a capture on a lab bridge")
    require(bool(shutil.which("dnsmasq")), "Debian's dnsmasq-base (`make sysdeps` installs it)")
    from lanprobe.lab import bench as lab_bench

    control.down(BRIDGE)
    lab_bench.down(BRIDGE)
    pytester.makepyfile(
        """
        def test_cloud_client(device):
            assert device.raw.traffic is not None and device.raw.traffic.dhcp is not None
            tls = device.result("data.client-tls")
            assert tls.failed
            if device.raw.mac.startswith("a4:cf:12"):  # cloudy-c1
                assert device.result("data.cleartext-outbound").failed
            else:  # laxname-n3: shown the lab CA's certificate for another name
                assert "another name (the name is not checked)" in " ".join(tls.titles), tls
        """
    )
    try:
        # In a subprocess: an in-process run would leave the check modules it imported out of
        # sys.modules while the catalogue keeps them (a later import registers them twice).
        result = pytester.runpytest_subprocess(
            "--probe-lab", f"--probe-bridge={BRIDGE}", f"--probe-subnet={SUBNET}",
            "--probe-lab-models=cloudy-c1,laxname-n3", "--probe-gateway", "--probe-observe=8s",
            "--probe-check=data", f"--probe-out={tmp_path / 'out'}",
        )  # fmt: skip
    finally:
        control.down(BRIDGE)
        lab_bench.down(BRIDGE)
    result.assert_outcomes(passed=2)
    assert (tmp_path / "out" / "gateway.pcap").stat().st_size > 0
    assert not control.state_dir(BRIDGE).exists()  # the session's gateway is down again


def test_gateway_refuses_the_uplink() -> None:
    shown = subprocess.run(["ip", "-j", "route", "show", "default"], capture_output=True, text=True)
    route = json.loads(shown.stdout or "[]")
    if not route:
        # Nothing to refuse: the refusal is of the interface that carries the default route.
        pytest.skip(
            "this host has no default route, so there is no uplink for `gateway up` to refuse"
        )
    res = probe("gateway", "up", "--iface", route[0]["dev"])
    assert res.returncode == 2 and "default route" in res.stderr
    assert not control.state_dir(route[0]["dev"]).exists()


def test_capture_bounds_and_down_names_what_differs_from_before_up(tmp_path: Path) -> None:
    """The capture's bounds hold (packets, then time), and `down` compares the host with the
    snapshot `up` took, so "restored" is checked: a change made while the gateway ran (an extra
    address on the bench interface) is named and `probe gateway down` exits 3. (A bare bridge:
    no units needed.)"""
    require_root("gateway mode runs dnsmasq and a capture on a bench bridge")
    require(bool(shutil.which("dnsmasq")), "Debian's dnsmasq-base (`make sysdeps` installs it)")
    from lanprobe.lab import bench as lab_bench

    control.down(BRIDGE)
    lab_bench.down(BRIDGE)
    net = ipaddress.ip_network(SUBNET)
    first, second = list(net.hosts())[:2]

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)

    ip("link", "add", BRIDGE, "type", "bridge")
    try:
        ip("addr", "add", f"{first}/{net.prefixlen}", "dev", BRIDGE)
        ip("link", "set", BRIDGE, "up")
        # The capture's size bound: 20 broadcasts on the bench, 5 packets kept, tcpdump done.
        state = control.up(BRIDGE, capture=control.CaptureLimits(max_packets=5, max_s=60))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, BRIDGE.encode())
            for _ in range(20):
                sock.sendto(b"lanprobe capture bound test", (str(net.broadcast_address), 9))
        deadline = time.monotonic() + 10
        while control.running(state)["tcpdump"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not control.running(state)["tcpdump"]
        kept = subprocess.run(["tcpdump", "-r", str(state.pcap), "-n"], capture_output=True,
                              text=True, timeout=30, check=True).stdout.splitlines()  # fmt: skip
        assert len(kept) == 5, kept
        control.down(BRIDGE)

        # The capture's time bound: tcpdump stops after max_s, the gateway stays up.
        state = control.up(BRIDGE, capture=control.CaptureLimits(max_packets=50, max_s=1.0))
        assert control.running(state)["tcpdump"]
        deadline = time.monotonic() + 10
        while control.running(state)["tcpdump"] and time.monotonic() < deadline:
            time.sleep(0.1)
        alive = control.running(state)
        assert not alive["tcpdump"] and alive["service"] and alive["dnsmasq"], alive
        before = state.host_before
        assert f"{first}" in str(before["addresses"]) and before["routes"], before
        assert before["sysctl"]["ipv4/ip_forward"] in ("0", "1")
        ip("addr", "add", f"{second}/32", "dev", BRIDGE)
        down = probe("gateway", "down", "--iface", BRIDGE)
        assert down.returncode == 3, down.stdout + down.stderr
        assert "addresses changed" in down.stderr
        assert not control.state_dir(BRIDGE).exists()  # stopped and removed all the same
        assert not any(control.running(state).values())
    finally:
        control.down(BRIDGE)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, timeout=10)
