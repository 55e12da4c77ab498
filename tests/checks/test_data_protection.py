"""Data protection checks against the lab bench, and a hung TLS port against the real runner."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from lanprobe.baseline import load_baseline
from lanprobe.checks.context import DeviceSession, RunOptions, Timeouts
from lanprobe.checks.registry import load_all
from lanprobe.checks.snmp import SnmpObservation
from lanprobe.model import Device, ScanRun, Service, Verdict
from lanprobe.profile_schema import Credentials, HttpLogin, Interfaces, Port, Profile
from lanprobe.runner import run_check
from lanprobe.scope import Scope

from tests.checks.conftest import device_of, results_of, verdicts_of
from tests.checks.recorded import device, run, session
from tests.clients.localhttp import http_server
from tests.clients.test_tls_facts import NOW, make_ca, make_leaf, write_pair

lab = pytest.mark.lab


def by_port(run: ScanRun, dev: Device, check_id: str) -> dict[int | None, Any]:
    return {r.target.port: r for r in results_of(run, dev, check_id)}


@lab
def test_tls_protocol(lab_run: ScanRun, lab_bench: Any) -> None:
    therma = by_port(lab_run, device_of(lab_run, lab_bench, "therma-t1"), "data.tls-protocol")
    assert therma[443].verdict == Verdict.fail
    assert therma[443].evidence["old_versions"] == ["TLSv1.0", "TLSv1.1"]
    hub = by_port(lab_run, device_of(lab_run, lab_bench, "hubco-h1"), "data.tls-protocol")
    assert {p: r.verdict for p, r in hub.items()} == {443: Verdict.passed, 8883: Verdict.passed}
    assert hub[443].evidence["tier2"]["versions"]["SSLv3"] is False
    plug = by_port(lab_run, device_of(lab_run, lab_bench, "plugco-sp1"), "data.tls-protocol")
    assert plug[8883].verdict == Verdict.passed
    gizmo = device_of(lab_run, lab_bench, "gizmo-g1")
    assert verdicts_of(lab_run, gizmo, "data.tls-protocol") == {Verdict.not_applicable}


@lab
def test_tls_cipher(lab_run: ScanRun, lab_bench: Any) -> None:
    therma = by_port(lab_run, device_of(lab_run, lab_bench, "therma-t1"), "data.tls-cipher")
    assert therma[443].verdict == Verdict.fail
    # the weak model's static-RSA CBC-SHA suites, seen by both tiers
    assert "TLS_RSA_WITH_AES_128_CBC_SHA" in therma[443].evidence["no_forward_secrecy"]
    assert therma[443].evidence["tier2"]["heartbleed"] is False
    hub = by_port(lab_run, device_of(lab_run, lab_bench, "hubco-h1"), "data.tls-cipher")
    assert hub[443].verdict == Verdict.passed
    assert hub[443].evidence["broken"] == {} and hub[443].evidence["no_forward_secrecy"] == []
    cam = device_of(lab_run, lab_bench, "acme-ipcam300")
    assert verdicts_of(lab_run, cam, "data.tls-cipher") == {Verdict.passed}


@lab
def test_tls_cipher_control_mqtts(lab_run: ScanRun, lab_bench: Any) -> None:
    hub = by_port(lab_run, device_of(lab_run, lab_bench, "hubco-h1"), "data.tls-cipher")
    assert hub[8883].verdict == Verdict.passed


@lab
def test_tls_certificate(lab_run: ScanRun, lab_bench: Any) -> None:
    therma = by_port(lab_run, device_of(lab_run, lab_bench, "therma-t1"), "data.tls-certificate")
    problems = therma[443].evidence["problems"]
    assert therma[443].verdict == Verdict.fail
    assert "RSA key of 1024 bits (< 2048)" in problems and "signed with SHA1" in problems
    assert not any("not chained" in p for p in problems)  # SHA-1, but from the lab CA
    plug = by_port(lab_run, device_of(lab_run, lab_bench, "plugco-sp1"), "data.tls-certificate")
    assert plug[8883].verdict == Verdict.fail
    assert plug[8883].evidence["problems"][0].startswith("expired on ")
    for unit in (0, 1):
        cam = by_port(
            lab_run, device_of(lab_run, lab_bench, "acme-ipcam300", unit), "data.tls-certificate"
        )
        assert cam[443].verdict == Verdict.fail  # its names match neither address nor host
        # the lab CA does not cover a self-signed certificate: its trust is not judged
        assert cam[443].evidence["trust"]["state"] == "unknown"
        assert cam[443].evidence["trust"]["reason"].startswith("self-signed: no CA given")
    hub = by_port(lab_run, device_of(lab_run, lab_bench, "hubco-h1"), "data.tls-certificate")
    assert {p: r.verdict for p, r in hub.items()} == {443: Verdict.passed, 8883: Verdict.passed}
    assert hub[443].evidence["certificate"]["ip_names"] == [
        device_of(lab_run, lab_bench, "hubco-h1").ip
    ]


@lab
def test_tls_required(lab_run: ScanRun, lab_bench: Any) -> None:
    cam = by_port(lab_run, device_of(lab_run, lab_bench, "acme-ipcam200"), "data.tls-required")
    assert {p: r.verdict for p, r in cam.items()} == {
        21: Verdict.fail,
        23: Verdict.fail,
        80: Verdict.fail,
        554: Verdict.fail,  # RTSP carries credentials and streams in cleartext, like telnet
        161: Verdict.fail,  # SNMPv1/v2c (udp): the community and the values in cleartext
    }
    assert "Basic" in cam[80].evidence["login"]
    assert "rtsp without TLS on port 554" in cam[554].title
    twin = by_port(lab_run, device_of(lab_run, lab_bench, "acme-ipcam300"), "data.tls-required")
    assert twin[8554].verdict == Verdict.fail
    plug = by_port(lab_run, device_of(lab_run, lab_bench, "plugco-sp1"), "data.tls-required")
    assert plug[1883].verdict == Verdict.fail and plug[80].verdict == Verdict.fail
    # therma's port 80 only redirects to HTTPS: only its cleartext MQTT fails
    therma = by_port(lab_run, device_of(lab_run, lab_bench, "therma-t1"), "data.tls-required")
    assert set(therma) == {1883}
    hub = device_of(lab_run, lab_bench, "hubco-h1")
    assert verdicts_of(lab_run, hub, "data.tls-required") == {Verdict.passed}


# --- a port that accepts TCP and never answers a handshake ---------------------------------------


async def test_hung_tls_port_is_inconclusive_within_its_deadline() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                while await reader.read(1024):
                    pass
        except (TimeoutError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        device = Device(
            key="02:00:00:00:00:01",
            ips=["127.0.0.1"],
            services=[Service(port=port, name="https", tls=True)],
        )
        options = RunOptions(timeouts=Timeouts(connect_s=1.0, read_s=1.0, check_s=8.0))
        session = DeviceSession(
            device=device,
            profile=Profile(id="test"),
            scope=Scope.build(["127.0.0.1/32"]),
            options=options,
        )
        specs = load_all()
        baseline = load_baseline()
        start = time.monotonic()
        for check_id in ("data.tls-protocol", "data.tls-cipher", "data.tls-certificate"):
            results = await run_check(specs[check_id], session, baseline, deadline_s=8.0)
            assert [r.verdict for r in results] == [Verdict.inconclusive], results
            assert results[0].target.port == port
        # one measurement shared by the three checks, bounded by the handshake timeout
        assert time.monotonic() - start < 4.0
    finally:
        server.close()
        await asyncio.sleep(0)


ISSUE5_CHECKS = (
    "data.tls-protocol",
    "data.tls-cipher",
    "data.tls-certificate",
    "data.tls-required",
    "update.transport",
    "update.signature",
    "update.currency",
    "update.unauthenticated-upload",
    "identification.identifier",
    "identification.duplicate-identifier",
    "identification.shared-key",
    "state.exposed-status",
    "state.reporting",
    "declarations.vulnerability-contact",
    "declarations.support-period",
    "declarations.foundational",
)


@lab
def test_control_passes_every_check(lab_run: ScanRun, lab_bench: Any) -> None:
    hub = device_of(lab_run, lab_bench, "hubco-h1")
    for check_id in ISSUE5_CHECKS:
        results = results_of(lab_run, hub, check_id)
        assert results, check_id
        for res in results:
            assert res.verdict == Verdict.passed, (check_id, res.title)


async def test_cleartext_where_the_profile_expects_tls_fails() -> None:
    async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.read(1024), 3)
            writer.write(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        except (TimeoutError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(plain_http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        session = DeviceSession(
            device=Device(
                key="02:00:00:00:00:02", ips=["127.0.0.1"], services=[Service(port=port)]
            ),
            profile=Profile(id="test", ports=[Port(port=port, service="https", tls=True)]),
            scope=Scope.build(["127.0.0.1/32"]),
            options=RunOptions(timeouts=Timeouts(connect_s=1.0, read_s=1.0, check_s=8.0)),
        )
        spec = load_all()["data.tls-required"]
        [res] = await run_check(spec, session, load_baseline(), deadline_s=8.0)
        assert res.verdict == Verdict.fail, res
        assert res.target.port == port
        assert "expects TLS" in res.title
    finally:
        server.close()
        await asyncio.sleep(0)


# --- data.tls-required on recorded devices and local servers --------------------------------------

LOGIN_PAGE = b'<html><form method="post"><input name="u"><input type="password" name="p"></form>'


def _redirecting_ui(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
    """`/` -> `/ui/` -> `/ui/login.html` (a password form), all over plain HTTP."""
    hops = {"/": "/ui/", "/ui/": "/ui/login.html"}
    if path in hops:
        return 302, b"", {"Location": hops[path]}
    if path == "/ui/login.html":
        return 200, LOGIN_PAGE, {"Content-Type": "text/html"}
    return 404, b"not found", {}


async def test_login_page_behind_redirects_is_a_cleartext_login() -> None:
    async with http_server(_redirecting_ui) as port:
        sess = session(device(services=[Service(port=port, name="http")]))
        [res] = await run("data.tls-required", sess)
    assert res.verdict == Verdict.fail, res.title
    assert "reached by redirects: / -> /ui/ -> /ui/login.html" in res.title


async def test_redirect_to_https_is_no_cleartext_login() -> None:
    def to_tls(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        return 301, b"", {"Location": f"https://127.0.0.1{path}"}

    async with http_server(to_tls) as port:
        sess = session(device(services=[Service(port=port, name="http")]))
        [res] = await run("data.tls-required", sess)
    assert res.verdict == Verdict.passed, res.title
    assert res.evidence["examined"] == [f"{port}/http: redirect"]


async def test_a_login_the_campaign_found_counts_though_the_front_page_is_open() -> None:
    def front(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        return 200, b"<html>welcome</html>", {}

    async with http_server(front) as port:
        sess = session(device(services=[Service(port=port, name="http")]))
        sess.facts["login_interfaces"] = {
            port: {"interface": f"HTTP form login on http/{port} /cgi/login", "method": "form",
                   "tls": False, "path": "/cgi/login", "answered": True}
        }  # fmt: skip
        [res] = await run("data.tls-required", sess)
    assert res.verdict == Verdict.fail, res.title
    assert "found by the login campaign" in res.title


@pytest.mark.parametrize("kind", ["rtsp", "telnet", "ftp", "mqtt"])
async def test_protocols_that_carry_credentials_in_cleartext_fail(kind: str) -> None:
    sess = session(device(services=[Service(port=554, name=kind)]))
    [res] = await run("data.tls-required", sess)
    assert res.verdict == Verdict.fail and res.target.port == 554
    assert "in cleartext" in res.title


async def test_nothing_examined_is_no_pass() -> None:
    # only a UDP service: nothing for this check to examine
    sess = session(device(services=[Service(port=1900, transport="udp", name="ssdp")]))
    [res] = await run("data.tls-required", sess)
    assert res.verdict == Verdict.not_applicable
    assert res.evidence["not_examined"] == ["1900/udp (ssdp): not TCP"]
    [res] = await run("data.tls-required", session(device(services=[])))
    assert res.verdict == Verdict.not_applicable


async def test_nothing_examined_says_what_the_scan_covered() -> None:
    """A device with no TCP service: not_applicable said nothing of where the scan looked, so a
    device whose only service sat on a port it never named read as having none. Discovery now
    records what it covered (run.json `coverage`), and the check names it."""
    from lanprobe.discovery import DiscoveryOptions, scan_coverage
    from lanprobe.discovery.inventory import Inventory
    from lanprobe.runner import scan

    from tests.checks.recorded import BUILTIN_PROFILES, FAST

    scope = Scope.build(["127.0.0.0/24"])
    covered = scan_coverage(scope, DiscoveryOptions(), named=[8443], scanned=range(1, 132))
    assert covered.describe() == (
        "TCP: 131 ports (nmap's top 100, the IoT port list, the ports profiles or --ports name) "
        "on IPv4; UDP: 161/snmp, 69/tftp, 123/ntp, 5683/coap"
    )
    ntp = Device(key="02:cc:00:00:00:03", mac="02:cc:00:00:00:03", ips=["127.0.0.3"],
                 services=[Service(port=123, transport="udp", name="ntp")])  # fmt: skip

    async def discover(scope: Scope, *, ports: list[int] | None = None) -> Inventory:
        return Inventory(devices=[ntp.model_copy(deep=True)], coverage=covered)

    options = RunOptions(timeouts=FAST, profiles_dir=BUILTIN_PROFILES)
    done = await scan(scope, options, discover_fn=discover, checks=["data.tls-required"])
    assert done.coverage == covered  # kept in run.json
    [res] = [r for r in done.results if r.check_id == "data.tls-required"]
    assert res.verdict == Verdict.not_applicable
    assert res.title == (
        "no TCP service found on the device on the 131 TCP ports the scan covered: "
        "nothing to examine"
    )
    assert res.evidence["scan_covered"] == covered.describe()
    assert res.evidence["not_examined"] == ["123/udp (ntp): not TCP"]
    # A session without a record (a replayed case, a caller of its own) says so.
    [res] = await run("data.tls-required", session(device(services=[])))
    assert res.evidence["scan_covered"] == "not recorded by this run"
    no_ports = scan_coverage(Scope.build(["fd00::/64"], interfaces=["lo"]),
                             DiscoveryOptions(services=False), named=[], scanned=[])  # fmt: skip
    assert no_ports.describe() == "TCP: none; UDP: none"
    assert no_ports.families == ["IPv6"]


async def test_an_unidentified_cleartext_port_leaves_it_undecided() -> None:
    async def chatty(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HELLO 1.0 ready\r\n")
        with contextlib.suppress(OSError):
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(chatty, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        sess = session(device(services=[Service(port=22, name="ssh"), Service(port=port)]))
        [res] = await run("data.tls-required", sess)
    finally:
        server.close()
        await server.wait_closed()
    assert res.verdict == Verdict.inconclusive, res.title
    assert res.evidence["examined"] == ["22/ssh: encrypted protocol"]
    assert "not identified" in res.evidence["reason"]


async def test_ssh_alone_is_examined() -> None:
    [res] = await run("data.tls-required", session(device(services=[Service(port=22, name="ssh")])))
    assert res.verdict == Verdict.passed
    assert res.evidence["examined"] == ["22/ssh: encrypted protocol"]


# --- data.tls-certificate: trust needs an anchor that covers the issuer --------------------------


@contextlib.asynccontextmanager
async def tls_port(cert: Path, key: Path) -> AsyncIterator[int]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(TimeoutError, OSError, ssl.SSLError):
            async with asyncio.timeout(3):
                while await reader.read(1024):
                    pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await asyncio.sleep(0)


def _pem(cert: x509.Certificate, tmp: Path, stem: str) -> Path:
    path = tmp / f"{stem}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


async def _certificate_verdict(
    tmp: Path, leaf: Any, *, cas: tuple[Path, ...] = (), profile_ca: Path | None = None
) -> Any:
    cert, key = write_pair(*leaf, tmp, "leaf")
    profile = Profile(id="m", tls_ca_file=str(profile_ca) if profile_ca else "")
    async with tls_port(cert, key) as port:
        dev = device(services=[Service(port=port, name="https", tls=True)])
        [res] = await run("data.tls-certificate", session(dev, profile, trusted_ca_files=cas))
    return res


async def test_no_ca_given_leaves_trust_inconclusive_and_names_the_issuer(tmp_path: Path) -> None:
    res = await _certificate_verdict(tmp_path, make_leaf(make_ca()))
    assert res.verdict == Verdict.inconclusive, res.title
    assert "issued by CN=test CA: no CA given for this issuer; pass --ca" in res.title
    assert res.evidence["trust"]["state"] == "unknown"
    res = await _certificate_verdict(tmp_path, make_leaf())  # self-signed
    assert res.verdict == Verdict.inconclusive and "self-signed: no CA given" in res.title


async def test_a_ca_that_covers_the_issuer_decides_trust(tmp_path: Path) -> None:
    ca = make_ca()
    res = await _certificate_verdict(tmp_path, make_leaf(ca), cas=(_pem(ca[0], tmp_path, "ca"),))
    assert res.verdict == Verdict.passed and "trusted (chains to a given CA" in res.title
    # a CA of the same name that did not sign it: the issuer is covered, the signature fails
    forged = _pem(make_ca()[0], tmp_path, "forged")
    res = await _certificate_verdict(tmp_path, make_leaf(ca), cas=(forged,))
    assert res.verdict == Verdict.fail and "not chained to a trusted CA" in res.title


async def test_a_ca_for_another_issuer_verifies_nothing(tmp_path: Path) -> None:
    ca = make_ca()
    lab_ca, lab_key = make_ca()
    renamed = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench CA")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench CA")]))
        .public_key(lab_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(lab_ca.not_valid_before_utc)
        .not_valid_after(lab_ca.not_valid_after_utc)
        .sign(lab_key, hashes.SHA256())
    )
    res = await _certificate_verdict(
        tmp_path, make_leaf(ca), cas=(_pem(renamed, tmp_path, "bench"),)
    )
    assert res.verdict == Verdict.inconclusive and "no CA given for this issuer" in res.title


async def test_the_profiles_ca_is_the_models_anchor(tmp_path: Path) -> None:
    ca = make_ca()
    res = await _certificate_verdict(
        tmp_path, make_leaf(), profile_ca=_pem(ca[0], tmp_path, "maker")
    )
    assert res.verdict == Verdict.fail and "self-signed, not chained to the profile's CA" in (
        res.title
    )


async def test_expired_stays_a_fail_without_a_ca(tmp_path: Path) -> None:
    old = make_leaf(make_ca(), start=NOW - dt.timedelta(days=30), end=NOW - dt.timedelta(days=1))
    res = await _certificate_verdict(tmp_path, old)
    assert res.verdict == Verdict.fail and "expired on" in res.title
    assert res.evidence["problems_not_judged"][0].startswith("trust: issued by CN=test CA")


async def test_a_login_only_the_campaign_saw_is_judged_from_its_record() -> None:
    """A login API that only answers a POST: `/` is an open page and a GET of the login path
    shows no form; the default-login campaign's refusals are the observation."""

    def api(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if path == "/api/login" and method == "POST":
            return 401, b'{"error": "Login failed"}', {"Content-Type": "application/json"}
        if path == "/api/login":
            return 405, b"", {"Allow": "POST"}
        return 200, b"<html>status: ok</html>", {}

    async with http_server(api) as port:
        login = HttpLogin(kind="form", port=port, path="/api/login", failure_marker="Login failed")
        profile = Profile(id="m", interfaces=Interfaces(http_login=login),
                          credentials=Credentials(max_attempts=2, pacing_s=0.0))  # fmt: skip
        sess = session(device(services=[Service(port=port, name="http")]), profile)
        logins = await run("configuration.default-login", sess)
        assert [r.verdict for r in logins] != [Verdict.error], logins
        assert sess.facts["login_interfaces"][port]["answered"] is True
        [res] = await run("data.tls-required", sess)
    assert res.verdict == Verdict.fail, res.title
    assert "found by the login campaign" in res.title


async def test_a_silent_snmp_agent_is_not_examined() -> None:
    sess = session(device(services=[Service(port=161, transport="udp", name="snmp")]))

    async def silent() -> SnmpObservation:  # recorded: nothing came back to any request
        return SnmpObservation(port=161, tried=["public", "private"])

    await sess.observe("snmp:161", silent)
    [res] = await run("data.tls-required", sess)
    assert res.verdict == Verdict.not_applicable, res.title
    assert res.evidence["not_examined"] == ["161/udp (snmp): the agent did not answer"]


async def test_a_challenge_the_campaign_saw_counts_though_it_made_no_attempt() -> None:
    """`/` is an open page; the campaign found a Basic challenge on an admin path but its budget
    let it try nothing (max_attempts 1: the proof attempt is reserved). The challenge it saw is
    the observation of a cleartext login, with or without an answer to a password."""

    def admin(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if path == "/admin":
            return 401, b"", {"WWW-Authenticate": 'Basic realm="admin"'}
        return 200, b"<html>status: ok</html>", {}

    async with http_server(admin) as port:
        profile = Profile(id="m", interfaces=Interfaces(admin_paths=["/admin"]),
                          credentials=Credentials(max_attempts=1, pacing_s=0.0))  # fmt: skip
        sess = session(device(services=[Service(port=port, name="http")]), profile)
        await run("configuration.default-login", sess)
        seen = sess.facts["login_interfaces"][port]
        assert (seen["method"], seen["answered"]) == ("basic", False)  # found, nothing tried
        [res] = await run("data.tls-required", sess)
    assert res.verdict == Verdict.fail, res.title
    assert "found by the login campaign" in res.title and "/admin" in res.title


async def test_without_a_campaign_the_check_still_looks_past_the_front_page() -> None:
    """Only data.tls-required runs (`--check data`, or a model whose default-login is not
    applicable): `/` is an open page, yet an admin path answers a Basic challenge and a login
    page sits on a common path. The campaign's own search (GETs, no login attempt) finds them;
    judged from `/` alone, the port passed."""

    def admin(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if path == "/admin":
            return 401, b"", {"WWW-Authenticate": 'Basic realm="admin"'}
        return 200, b"<html>status: ok</html>", {}

    def login_page(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if path == "/login.html":
            return 200, LOGIN_PAGE, {"Content-Type": "text/html"}
        return (200, b"<html>status: ok</html>", {}) if path == "/" else (404, b"", {})

    profile = Profile(id="m", interfaces=Interfaces(admin_paths=["/admin"]))
    async with http_server(admin) as port:
        sess = session(device(services=[Service(port=port, name="http")]), profile)
        [res] = await run("data.tls-required", sess)
    assert res.verdict == Verdict.fail, res.title
    assert res.title == (
        f"HTTP basic login on http/{port} /admin (HTTP basic challenge at /admin) over plain "
        f"HTTP on port {port}"
    )
    async with http_server(login_page) as port:
        sess = session(device(services=[Service(port=port, name="http")]))
        [res] = await run("data.tls-required", sess)
    assert res.verdict == Verdict.fail and "(password form at /login.html)" in res.title
    # Nothing past `/` either: still a pass.
    async with http_server(lambda *_: (200, b"<html>status: ok</html>", {})) as port:
        sess = session(device(services=[Service(port=port, name="http")]))
        [res] = await run("data.tls-required", sess)
    assert res.verdict == Verdict.passed, res.title
