"""`probe gateway up|down|status`: make the scan host the bench's network on one interface.

`up` starts three things, each bound to the bench interface's own address and nothing else:
dnsmasq (DHCP + DNS, every name -> the sinkhole), our service process (sinkhole listeners, NTP
responder, and a tcpdump capture of the interface, bounded in packets and time). Their pids,
configs, logs, the capture and the sinkhole's key live in /run/lanprobe/gateway/<iface>/.
`up` also records a snapshot of the host state it could affect (the interface's addresses and
routes, forwarding switches, firewall rules); `down` stops what `up` started, removes the state
directory and reports any difference from that snapshot, so "restored" is checked, not assumed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lanprobe.errors import ScopeError, ToolError
from lanprobe.gateway import sinkhole
from lanprobe.gateway.dnsmasq import DnsmasqConfig

STATE_ROOT = Path("/run/lanprobe/gateway")
READY_S = 10.0


@dataclass
class CaptureLimits:
    max_packets: int = 20_000
    snaplen: int = 2048
    max_s: float = 3600.0  # the capture stops after this, the gateway stays up


@dataclass
class GatewayState:
    iface: str
    address: str
    network: str
    state_dir: str
    started: str = ""
    upstream: bool = False
    ports: list[int] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)
    trusted_ca: str = ""  # `--ca`: the CA whose wrong-name certificate the sinkhole also shows
    capture: dict[str, Any] = field(default_factory=dict)
    host_before: dict[str, Any] = field(default_factory=dict)

    @property
    def dir(self) -> Path:
        return Path(self.state_dir)

    @property
    def pcap(self) -> Path:
        return self.dir / "capture.pcap"

    @property
    def events_file(self) -> Path:
        return self.dir / "events.jsonl"

    @property
    def dnsmasq_log(self) -> Path:
        return self.dir / "dnsmasq.log"

    @property
    def leases_file(self) -> Path:
        return self.dir / "dnsmasq.leases"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> GatewayState:
        return cls(**json.loads(text))


def state_dir(iface: str) -> Path:
    return STATE_ROOT / iface


def _ip_json(*args: str) -> Any:
    try:
        out = subprocess.run(
            ["ip", "-j", *args], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except FileNotFoundError as exc:
        raise ToolError("iproute2 `ip` is not installed") from exc
    return json.loads(out or "[]")


def interface_address(iface: str) -> tuple[str, ipaddress.IPv4Network]:
    """The interface's first IPv4 address and network; refuse the host's uplink."""
    if not iface or iface == "lo" or "/" in iface:
        raise ScopeError(f"interface {iface!r} refused for gateway mode")
    links = _ip_json("addr", "show", "dev", iface)
    if not links:
        raise ScopeError(f"no interface {iface!r}")
    for route in _ip_json("route", "show", "default") + _ip_json("-6", "route", "show", "default"):
        if route.get("dev") == iface:
            raise ScopeError(
                f"{iface} carries the host's default route: gateway mode would serve DHCP and "
                "DNS on the host's own network; use the bench's interface"
            )
    for a in links[0].get("addr_info", []):
        if a.get("family") == "inet":
            net = ipaddress.IPv4Network(f"{a['local']}/{a['prefixlen']}", strict=False)
            return a["local"], net
    raise ScopeError(f"{iface} has no IPv4 address: give the bench interface one first")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _tool_output(*cmd: str) -> str:
    if not shutil.which(cmd[0]):
        return ""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def host_snapshot(iface: str) -> dict[str, Any]:
    """What gateway mode could change on the host: the interface's addresses and routes, the
    forwarding switches, and the firewall rules (when nft/iptables exist)."""
    addrs = [
        (a.get("family"), a.get("local"), a.get("prefixlen"))
        for link in _ip_json("addr", "show", "dev", iface)
        for a in link.get("addr_info", [])
    ]
    routes = [
        json.dumps(r, sort_keys=True)
        for r in _ip_json("route", "show", "table", "all")
        + _ip_json("-6", "route", "show", "table", "all")
        if r.get("dev") == iface or r.get("dst") == "default"
    ]
    sysctls = {
        key: _read(Path("/proc/sys/net") / key).strip()
        for key in ("ipv4/ip_forward", "ipv6/conf/all/forwarding", f"ipv4/conf/{iface}/forwarding",
                    f"ipv4/conf/{iface}/proxy_arp")
    }  # fmt: skip
    return {
        "addresses": sorted(map(str, addrs)),
        "routes": sorted(routes),
        "sysctl": sysctls,
        "nft": _tool_output("nft", "list", "ruleset"),
        "iptables": _tool_output("iptables-save"),
        "ip6tables": _tool_output("ip6tables-save"),
    }


def snapshot_diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [f"{key} changed" for key in sorted(before) if before.get(key) != after.get(key)]


def _write_cert(
    sdir: Path, ca: tuple[Path, Path] | None = None, stem: str = "sinkhole"
) -> tuple[Path, Path]:
    """A certificate for a name no device asks for: self-signed (never trusted, never right),
    or with `ca` (cert, key files) issued by that CA (trusted by the units, the name wrong)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sinkhole.lanprobe.invalid")])
    issuer, signer = name, key
    if ca is not None:
        try:
            ca_cert = x509.load_pem_x509_certificate(ca[0].read_bytes())
            signer = serialization.load_pem_private_key(ca[1].read_bytes(), password=None)  # type: ignore[assignment]
        except (OSError, ValueError, TypeError) as exc:
            raise ScopeError(f"--ca {ca[0]} / --ca-key {ca[1]}: {exc}") from exc
        issuer = ca_cert.subject
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("sinkhole.lanprobe.invalid")]), critical=False
        )
        .sign(signer, hashes.SHA256())  # type: ignore[arg-type]
    )
    cert_file, key_file = sdir / f"{stem}.pem", sdir / f"{stem}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(key_file, 0o600)
    return cert_file, key_file


def _write_state(state: GatewayState) -> None:
    path = state.dir / "state.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.to_json())
    tmp.replace(path)


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def up(
    iface: str,
    *,
    upstream: bool = False,
    capture: CaptureLimits | None = None,
    ports: list[int] | None = None,
    trusted_ca: tuple[Path, Path] | None = None,
) -> GatewayState:
    """Start the bench's DHCP/DNS, sinkhole, NTP and capture on `iface`; return their state.
    `trusted_ca` (cert, key): a CA the units trust; the sinkhole also shows a certificate from it
    for another name, to see which clients check names."""
    address, network = interface_address(iface)
    if not shutil.which("dnsmasq"):
        raise ToolError("dnsmasq is not installed (Debian package dnsmasq-base)")
    if not shutil.which("tcpdump"):
        raise ToolError("tcpdump is not installed")
    sdir = state_dir(iface)
    if (sdir / "state.json").exists():
        raise ToolError(
            f"a gateway is already up on {iface} (run `probe gateway down --iface {iface}`)"
        )
    limits = capture or CaptureLimits()
    state = GatewayState(
        iface=iface,
        address=address,
        network=str(network),
        state_dir=str(sdir),
        started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        upstream=upstream,
        ports=sorted(ports or sinkhole.LISTENERS),
        capture=asdict(limits),
        host_before=host_snapshot(iface),
        trusted_ca=str(trusted_ca[0]) if trusted_ca else "",
    )
    try:
        if sdir.exists():
            shutil.rmtree(sdir)
        sdir.mkdir(parents=True)
        _write_state(state)  # from here on `down` knows the gateway, whatever happens
        cert_file, key_file = _write_cert(sdir)
        wrong = _write_cert(sdir, trusted_ca, "wrong-name") if trusted_ca else None
        _start_dnsmasq(state, network)
        _start_service(state, cert_file, key_file, limits, wrong)
        _write_state(state)
    except BaseException:
        down(iface)
        raise
    return state


def _start_dnsmasq(state: GatewayState, network: ipaddress.IPv4Network) -> None:
    cfg = DnsmasqConfig(
        iface=state.iface, address=state.address, network=network, state_dir=state.dir,
        upstream=state.upstream,
    )  # fmt: skip
    conf = state.dir / "dnsmasq.conf"
    conf.write_text(cfg.render())
    state.leases_file.touch()
    proc = subprocess.run(
        ["dnsmasq", f"--conf-file={conf}"], capture_output=True, text=True, timeout=10, check=False
    )
    if proc.returncode != 0:
        raise ToolError(f"dnsmasq did not start: {(proc.stderr or proc.stdout).strip()[:300]}")
    deadline = time.monotonic() + READY_S
    while (pid := _pid(state.dir / "dnsmasq.pid")) is None:
        if time.monotonic() > deadline:
            raise ToolError("dnsmasq wrote no pid file")
        time.sleep(0.05)
    state.pids["dnsmasq"] = pid


def _start_service(
    state: GatewayState,
    cert_file: Path,
    key_file: Path,
    limits: CaptureLimits,
    wrong_name: tuple[Path, Path] | None = None,
) -> None:
    sdir = state.dir
    cfg = {
        "iface": state.iface,
        "address": state.address,
        "ports": state.ports,
        "cert": str(cert_file),
        "key": str(key_file),
        "wrong_name": {"cert": str(wrong_name[0]), "key": str(wrong_name[1])}
        if wrong_name
        else None,
        "events_file": str(state.events_file),
        "pid_file": str(sdir / "service.pid"),
        "ready_file": str(sdir / "service.ready"),
        "capture": {
            **asdict(limits),
            "file": str(state.pcap),
            "log": str(sdir / "tcpdump.log"),
            "pid_file": str(sdir / "tcpdump.pid"),
        },
    }
    cfg_file = sdir / "service.json"
    cfg_file.write_text(json.dumps(cfg, indent=2))
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    with open(sdir / "service.log", "ab") as out:
        # `setsid -f` detaches it: it outlives this command until `gateway down`.
        subprocess.run(
            ["setsid", "-f", sys.executable, "-m", "lanprobe.gateway.service", str(cfg_file)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, check=True, timeout=10, env=env,
        )  # fmt: skip
    deadline = time.monotonic() + READY_S
    while not (sdir / "service.ready").exists():
        if time.monotonic() > deadline:
            log = _read(sdir / "service.log")[-300:]
            raise ToolError(f"gateway service not ready after {READY_S:.0f} s: {log}")
        time.sleep(0.05)
    for name in ("service", "tcpdump"):
        pid = _pid(sdir / f"{name}.pid")
        if pid:
            state.pids[name] = pid


def status(iface: str) -> GatewayState | None:
    try:
        return GatewayState.from_json((state_dir(iface) / "state.json").read_text())
    except (OSError, ValueError, TypeError):
        return None


def running(state: GatewayState) -> dict[str, bool]:
    return {name: _ours(pid, state.dir) for name, pid in state.pids.items()}


def _ours(pid: int, sdir: Path) -> bool:
    """Only a pid whose command line points into our state directory is ours to stop."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return str(sdir) in cmdline and stat.split(") ", 1)[1][0] != "Z"


def down(iface: str) -> tuple[list[str], list[str]]:
    """Stop what `up` started on `iface` and remove its state. Returns (what was stopped or
    removed, what differs from the host snapshot `up` took)."""
    sdir = state_dir(iface)
    state = status(iface)
    removed: list[str] = []
    pids: dict[str, int] = dict(state.pids) if state else {}
    for name in ("service", "tcpdump", "dnsmasq"):  # also what a crashed `up` left
        pid = _pid(sdir / f"{name}.pid")
        if pid:
            pids.setdefault(name, pid)
    # The service first: it stops its own capture cleanly (the pcap is complete).
    for name in ("service", "tcpdump", "dnsmasq"):
        pid = pids.get(name)
        if pid and _ours(pid, sdir):
            _stop(pid, sdir)
            removed.append(f"{name} (pid {pid})")
    differences: list[str] = []
    if state and state.host_before:
        differences = snapshot_diff(state.host_before, host_snapshot(iface))
    if sdir.exists():
        shutil.rmtree(sdir, ignore_errors=True)
        removed.append(str(sdir))
    return removed, differences


def _stop(pid: int, sdir: Path, grace_s: float = 5.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while _ours(pid, sdir) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _ours(pid, sdir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
