"""IPv6: the scope's IPv6 rules, neighbour-table parsing, and a dual-stack bench of its own
($LANPROBE_IPV6_BRIDGE / $LANPROBE_IPV6_SUBNET, default plab6d / 198.18.146.0/24) whose
dualstack-d1 serves telnet, a TLS 1.0 HTTPS UI, SNMP, TFTP and NTP (real snmpd, tftpd-hpa,
chronyd) on its unique-local address only: discovery ties the IPv6 addresses to the device by
MAC, scans them (TCP with nmap -6, UDP with our probes), access.unexpected-port reports the
IPv6-only ports, and the login, community, TFTP, lockout and TLS checks reach them over IPv6
(their results name the address).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lanprobe.discovery.ipv6 import parse_neighbours, preferred
from lanprobe.errors import ScopeError
from lanprobe.lab.bench import BenchState, ipv6_prefix_for
from lanprobe.scope import Scope

from tests.requires import require_root

BRIDGE = os.environ.get("LANPROBE_IPV6_BRIDGE", "plab6d")
SUBNET = os.environ.get("LANPROBE_IPV6_SUBNET", "198.18.146.0/24")


def test_scope_ipv6_rules() -> None:
    scope = Scope.build(["198.18.0.0/24", "fd00:0:18:0::/64", "fe80::/64"], ["plab0"])
    assert scope.contains("fd00:0:18:0::10") and scope.contains("fe80::1%plab0")
    assert not scope.contains("fd00:0:18:1::10")
    assert len(scope.hosts()) == 254  # IPv6 is never swept host by host
    for outside in ("2001:db8::/64", "fc00::/64", "2a00::/48"):
        with pytest.raises(ScopeError, match="outside fd00::/8"):
            Scope.build([outside])
    Scope.build(["2001:db8::/64"], allow_public=True)


def test_neighbour_table_parsing() -> None:
    scope = Scope.build(["198.18.0.0/24", "fd00:0:18:0::/64", "fe80::/64"], ["plab0"])
    table = json.dumps([
        {"dst": "fe80::ba27:ebff:fe12:a", "lladdr": "B8:27:EB:12:00:0A", "state": ["REACHABLE"]},
        {"dst": "fd00:0:18:0::a", "lladdr": "b8:27:eb:12:00:0a", "state": ["STALE"]},
        {"dst": "fd00:0:99::1", "lladdr": "02:00:00:00:00:01", "state": ["REACHABLE"]},  # out
        {"dst": "fd00:0:18:0::b", "state": ["FAILED"]},
        {"dst": "ff02::1", "lladdr": "33:33:00:00:00:01", "state": ["NOARP"]},
    ])  # fmt: skip
    assert parse_neighbours(table, "plab0", scope) == [
        ("fe80::ba27:ebff:fe12:a%plab0", "b8:27:eb:12:00:0a"),
        ("fd00:0:18:0::a", "b8:27:eb:12:00:0a"),
    ]
    assert preferred(["fe80::1%plab0", "fd00::a"]) == ["fd00::a"]
    assert preferred(["fe80::1%plab0"]) == ["fe80::1%plab0"]


def test_bench_prefix_is_unique_local() -> None:
    import ipaddress

    prefix = ipaddress.ip_network(ipv6_prefix_for(ipaddress.IPv4Network("198.18.130.0/24")))
    assert str(prefix) == "fd00:0:18:130::/64"
    assert prefix.subnet_of(ipaddress.ip_network("fd00::/8"))


@pytest.fixture(scope="module")
def dual_bench() -> Iterator[BenchState]:
    require_root("the lab bench uses network namespaces")
    from lanprobe.lab import bench

    bench.down(BRIDGE)
    try:
        yield bench.up(BRIDGE, SUBNET, models=["dualstack-d1"], ipv6=True)
    finally:
        bench.down(BRIDGE)


@pytest.mark.lab
def test_dual_stack_device(dual_bench: BenchState, tmp_path: Path) -> None:
    [lab_dev] = dual_bench.devices
    out = tmp_path / "scan"
    cmd = [sys.executable, "-m", "lanprobe.cli", "scan", "--lab", "--bridge", BRIDGE,
           "--out", str(out), "--format", "json", "--top-ports", "0", "--no-iot-ports",
           "--ports", "23,80,8443",
           "--check", "access.unexpected-port", "--check", "access.cleartext-admin",
           "--check", "configuration.default-login", "--check", "access.no-lockout",
           "--check", "data.tls-protocol", "--check", "data.tls-cipher",
           "--check", "access.unauthenticated-interface"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)
    assert (out / "run.json").exists(), proc.stderr
    run = json.loads((out / "run.json").read_text())
    [dev] = run["devices"]
    # one device, tied by MAC: its IPv4, unique-local and link-local addresses
    assert dev["mac"] == lab_dev.mac.lower()
    assert lab_dev.ip in dev["ips"] and lab_dev.ip6 in dev["ips"]
    assert any(ip.startswith("fe80::") for ip in dev["ips"])
    services = {(s["port"], s["transport"]): s for s in dev["services"]}
    telnet, web = services[(23, "tcp")], services[(80, "tcp")]
    assert telnet["addresses"] == [lab_dev.ip6]  # IPv6 only
    assert services[(8443, "tcp")]["addresses"] == [lab_dev.ip6]
    for udp_port in (161, 69, 123):  # UDP discovery over IPv6
        assert services[(udp_port, "udp")]["addresses"] == [lab_dev.ip6], udp_port
    assert lab_dev.ip in web["addresses"]
    [v6] = [r for r in run["results"]
            if r["check_id"] == "access.unexpected-port" and r["target"]["port"] == 23]  # fmt: skip
    assert v6["verdict"] == "fail" and v6["severity"] == "high"
    assert v6["evidence"]["family"] == "ipv6" and v6["evidence"]["addresses"] == [lab_dev.ip6]
    admin = {r["target"]["port"] for r in run["results"]
             if r["check_id"] == "access.cleartext-admin" and r["verdict"] == "fail"}  # fmt: skip
    assert admin == {23, 69}  # telnet and TFTP, both over IPv6 only
    # the checks reach the IPv6-only telnet on its IPv6 address: its default login is found
    logins = [r for r in run["results"] if r["check_id"] == "configuration.default-login"]
    [login] = [r for r in logins if r["target"]["port"] == 23]
    assert login["verdict"] == "fail", login["evidence"]
    assert login["evidence"]["accepted"]["user"] == "root"
    assert login["target"]["address"] == lab_dev.ip6
    # every result about an IPv6-only port names the address it was reached on, and the device
    # answered there: the Basic login refused the tries, TLS 1.0 was seen
    on_v6 = [r for r in run["results"] if r["target"]["port"] in (23, 8443, 161, 69)]
    assert {r["target"]["address"] for r in on_v6} == {lab_dev.ip6}
    by = {(r["check_id"], r["target"]["port"]): r for r in on_v6}
    tftp = by[("access.unauthenticated-interface", 69)]  # a read answered over IPv6
    assert tftp["verdict"] == "fail" and tftp["target"]["transport"] == "udp", tftp
    community = by[("configuration.default-login", 161)]
    assert community["verdict"] == "fail" and community["target"]["transport"] == "udp", community
    basic = by[("configuration.default-login", 8443)]  # refusals seen (the budget may end it)
    assert basic["verdict"] != "fail" and basic["evidence"]["guard"]["failures"] >= 2, basic
    assert by[("data.tls-protocol", 8443)]["verdict"] == "fail"
    assert by[("data.tls-cipher", 8443)]["verdict"] in ("pass", "fail")  # suites were read
    lockout = by[("access.no-lockout", 23)]  # quick depth: too few failures to judge, but seen
    assert lockout["evidence"]["guard"]["failures"] >= 1, lockout
    web_results = [r for r in run["results"] if r["target"]["port"] == 80]
    assert web_results and not any(r["target"]["address"] for r in web_results)  # IPv4
