"""Build, inspect and remove a virtual bench: bridge + one netns/veth/process per device.

Everything `up` makes is named from the bridge: the bridge `plabX`, the namespaces and host-side
veths `plabX-<host number>`, and the state directory /run/lanprobe/lab/plabX/. `down` finds
leftovers by those names, so it also cleans up after a crash or a half-finished `up`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lanprobe.errors import LabError, ScopeError
from lanprobe.lab import models as lab_models
from lanprobe.lab.netns import (
    alive,
    ip,
    ip_batch,
    kill_all,
    link_exists,
    links,
    namespaces,
    pids_in,
)
from lanprobe.lab.provision import Provisioner, oui_mac

STATE_ROOT = Path("/run/lanprobe/lab")
LAB_RANGE = ipaddress.IPv4Network("198.18.0.0/16")  # RFC 2544 range: all the lab may use
BRIDGE_RE = re.compile(r"^plab[a-z0-9]{0,7}$")
FIRST_HOST = 10  # devices get .10, .11, ...
MAX_DEVICES = 500
REPO_ROOT = Path(__file__).resolve().parent.parent


class BenchExists(LabError):
    """A bench (or the leftovers of one) already uses this bridge."""


@dataclass
class LabDevice:
    name: str
    model: str  # profile id
    netns: str
    ip: str
    mac: str
    serial: str
    pid: int | None = None
    veth: str = ""
    ports: list[int] = field(default_factory=list)
    mqtt_pid: int | None = None
    group: int = 1
    ip6: str = ""  # unique-local address on a dual-stack bench

    @property
    def alive(self) -> bool:
        return self.pid is not None and alive(self.pid)


@dataclass
class BenchState:
    bridge: str
    subnet: str
    host_ip: str
    state_dir: Path
    ca_file: Path
    devices: list[LabDevice] = field(default_factory=list)
    started: str = ""
    up_seconds: float = 0.0
    complete: bool = False
    # `up(..., ipv6=True)`: a unique-local /64 beside the IPv4 subnet (host ::1, devices ::<n>,
    # link-local addresses on every link); "" = the bench is IPv4 only.
    ipv6_prefix: str = ""

    @property
    def ca(self) -> tuple[Path, Path] | None:
        """(certificate, key) of the lab CA the units trust (gateway mode's wrong-name test)."""
        key = self.state_dir / "ca.key"  # lab/certs.py LabCA
        return (self.ca_file, key) if self.ca_file.is_file() and key.is_file() else None

    @property
    def host_ip6(self) -> str:
        return str(ipaddress.ip_network(self.ipv6_prefix)[1]) if self.ipv6_prefix else ""

    def to_json(self) -> str:
        data = asdict(self)
        data["state_dir"], data["ca_file"] = str(self.state_dir), str(self.ca_file)
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> BenchState:
        data: dict[str, Any] = json.loads(text)
        data["devices"] = [LabDevice(**d) for d in data.get("devices", [])]
        data["state_dir"], data["ca_file"] = Path(data["state_dir"]), Path(data["ca_file"])
        return cls(**data)

    def by_model(self, model: str) -> list[LabDevice]:
        return [d for d in self.devices if d.model == model]


def check_bridge(bridge: str) -> None:
    if not BRIDGE_RE.match(bridge):
        raise ScopeError(
            f"bridge name {bridge!r} refused: lab bridges are `plab` + up to 7 of [a-z0-9]"
        )


def check_subnet(subnet: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(subnet, strict=True)
    except ValueError as exc:
        raise ScopeError(f"subnet {subnet!r}: {exc}") from exc
    if not isinstance(net, ipaddress.IPv4Network) or not net.subnet_of(LAB_RANGE):
        raise ScopeError(f"subnet {subnet} refused: the lab only uses {LAB_RANGE}")
    return net


def state_dir(bridge: str) -> Path:
    return STATE_ROOT / bridge


def _prefix(bridge: str) -> str:
    return f"{bridge}-"


def _write_state(state: BenchState) -> None:
    path = state.state_dir / "state.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.to_json())
    tmp.replace(path)


def _read_pid(path: str | Path) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def _subnet_in_use(net: ipaddress.IPv4Network) -> str | None:
    """The link that already carries an address inside `net`, if any."""
    for entry in json.loads(ip("-j", "-4", "addr", "show") or "[]"):
        for a in entry.get("addr_info", []):
            try:
                other = ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False)
            except (KeyError, ValueError):
                continue
            if other.overlaps(net):
                return str(entry.get("ifname"))
    return None


def up(
    bridge: str = "plab0",
    subnet: str = "198.18.0.0/24",
    devices: int | None = None,
    models: list[str] | None = None,
    *,
    ready_timeout_s: float | None = None,
    ipv6: bool = False,
) -> BenchState:
    """Build the bench and return once every device's TCP ports accept connections.
    `ipv6`: the bench is dual-stack (ipv6_prefix_for(subnet))."""
    t0 = time.monotonic()
    check_bridge(bridge)
    net = check_subnet(subnet)
    chosen = lab_models.select(models)
    if devices is not None and not 1 <= devices <= MAX_DEVICES:
        raise LabError(f"--devices must be 1..{MAX_DEVICES}")
    plan = lab_models.plan(chosen, devices)
    if FIRST_HOST + len(plan) >= net.num_addresses - 1:
        raise LabError(f"{len(plan)} devices do not fit in {net} (first device is .{FIRST_HOST})")
    sdir = state_dir(bridge)
    if (sdir / "state.json").exists() or link_exists(bridge):
        raise BenchExists(
            f"a bench is already up on {bridge} (run `probe lab down --bridge {bridge}`)"
        )
    leftovers = namespaces(_prefix(bridge)) + links(_prefix(bridge))
    if leftovers:
        raise BenchExists(
            f"leftovers of a bench on {bridge}: {', '.join(leftovers[:5])} "
            f"(run `probe lab down --bridge {bridge}`)"
        )
    in_use = _subnet_in_use(net)
    if in_use:
        raise LabError(f"subnet {net} overlaps an address on {in_use}")

    host_ip = str(net.network_address + 1)
    state = BenchState(
        bridge=bridge,
        subnet=str(net),
        host_ip=host_ip,
        state_dir=sdir,
        ca_file=sdir / "ca.pem",
        started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        ipv6_prefix=ipv6_prefix_for(net) if ipv6 else "",
    )
    try:
        if sdir.exists():
            shutil.rmtree(sdir)
        sdir.mkdir(parents=True)
        _write_state(state)  # from here on `down` knows the bench, whatever happens
        prov = Provisioner(sdir)
        configs = []
        for i, (model, unit, group) in enumerate(plan):
            number = FIRST_HOST + i
            dev_ip = str(net.network_address + number)
            seq = group if model.units > 1 else unit
            serial = f"{model.serial_prefix}-{seq:04d}"
            name = f"{model.id}-{unit}"
            dev = LabDevice(
                name=name,
                model=model.id,
                netns=f"{bridge}-{number}",
                ip=dev_ip,
                mac=oui_mac(model.oui, dev_ip),
                serial=serial,
                veth=f"{bridge}-{number}",
                group=group,
            )
            state.devices.append(dev)
            dev.ip6 = device_ip6(state, dev_ip)
            cfg = prov.device(
                model, name=name, ip=dev_ip, mac=dev.mac, serial=serial, group=group,
                host_ip=host_ip, ip6=dev.ip6,
            )  # fmt: skip
            dev.ports = cfg["ports"]
            configs.append(cfg)
        _write_state(state)
        _build_network(state, net.prefixlen)
        for dev, cfg in zip(state.devices, configs, strict=True):
            _start_device(state, dev, cfg)
        timeout = ready_timeout_s or 30.0 + 1.0 * len(plan)
        _wait_ready(state, configs, timeout)
        for dev, cfg in zip(state.devices, configs, strict=True):
            dev.pid = _read_pid(cfg["pid_file"])
            if cfg["mqtt"]:
                dev.mqtt_pid = _read_pid(cfg["mqtt"]["pid_file"])
        state.complete = True
        state.up_seconds = round(time.monotonic() - t0, 2)
        _write_state(state)
    except BaseException:
        down(bridge)
        raise
    return state


def ipv6_prefix_for(net: ipaddress.IPv4Network) -> str:
    """The bench's unique-local /64 (RFC 4193), derived from its IPv4 subnet so that two benches
    never share one: 198.18.130.0/24 -> fd00:0:18:130::/64 (the octets read as hex digits)."""
    octets = str(net.network_address).split(".")
    return f"fd00:0:{octets[1]}:{octets[2]}::/64"


def device_ip6(state: BenchState, ip4: str) -> str:
    """A device's unique-local address: the prefix and the last octet of its IPv4 address."""
    if not state.ipv6_prefix:
        return ""
    net = ipaddress.ip_network(state.ipv6_prefix)
    return str(net[int(ip4.rsplit(".", 1)[1])])


def _build_network(state: BenchState, prefixlen: int) -> None:
    br = state.bridge
    ip("link", "add", br, "type", "bridge", "stp_state", "0", "forward_delay", "0",
       "mcast_snooping", "0")  # fmt: skip
    ip("addr", "add", f"{state.host_ip}/{prefixlen}", "dev", br)
    if state.ipv6_prefix:
        # Dual-stack: the bridge keeps IPv6, but sends no router solicitations, takes no RA and
        # runs no DAD (its link-local address is usable at once).
        for key, value in (("accept_ra", "0"), ("router_solicitations", "0"), ("accept_dad", "0")):
            _sysctl(f"net/ipv6/conf/{br}/{key}", value)
        ip("addr", "add", f"{state.host_ip6}/64", "dev", br, "nodad")
    else:
        # Keep the host side quiet and IPv4-only; failures here are cosmetic.
        _sysctl(f"net/ipv6/conf/{br}/disable_ipv6", "1")
    ip("link", "set", br, "up")
    ip_batch([f"netns add {d.netns}" for d in state.devices])
    lines = []
    for d in state.devices:
        lines += [
            f"link add {d.veth} type veth peer name eth0 netns {d.netns} address {d.mac}",
            f"link set {d.veth} master {br} up",
        ]
    ip_batch(lines)
    for d in state.devices:
        _sysctl(f"net/ipv6/conf/{d.veth}/disable_ipv6", "1")
        # A DHCP model starts without an address and asks the gateway (lab/services/cloud.py).
        dhcp = lab_models.BY_ID[d.model].dhcp
        ip_batch(
            [
                "link set lo up",
                *([] if dhcp else [f"addr add {d.ip}/{prefixlen} dev eth0"]),
                *(
                    [f"addr add {device_ip6(state, d.ip)}/64 dev eth0 nodad"]
                    if state.ipv6_prefix and not dhcp
                    else []
                ),
                "link set eth0 up",
                # No default route: the device reaches its own subnet and multicast, nothing else.
                "route add 224.0.0.0/4 dev eth0",
            ],
            netns=d.netns,
        )


def _sysctl(key: str, value: str) -> None:
    with contextlib.suppress(OSError):
        Path("/proc/sys", key).write_text(value)


def _start_device(state: BenchState, dev: LabDevice, cfg: dict[str, Any]) -> None:
    """Start the device process (and its mosquitto) detached: `setsid -f` double-forks, so the
    processes are nobody's children here and the pid files tell `down` what to stop."""
    logs = state.state_dir / "logs"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    if cfg["mqtt"]:
        with open(logs / f"{dev.name}-mosquitto.out", "ab") as out:
            subprocess.run(
                ["setsid", "-f", "ip", "netns", "exec", dev.netns,
                 "mosquitto", "-c", cfg["mqtt"]["conf"]],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, check=True, timeout=10,
            )  # fmt: skip
    with open(logs / f"{dev.name}.log", "ab") as out:
        subprocess.run(
            ["setsid", "-f", "ip", "netns", "exec", dev.netns,
             sys.executable, "-m", "lanprobe.lab.device", cfg["config_file"]],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, check=True, timeout=10,
            cwd=REPO_ROOT, env=env,
        )  # fmt: skip


def _port_open(ip_addr: str, port: int) -> bool:
    try:
        with socket.create_connection((ip_addr, port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_ready(state: BenchState, configs: list[dict[str, Any]], timeout_s: float) -> None:
    """Wait for each device's ready file and then for every TCP port to accept from the host."""
    deadline = time.monotonic() + timeout_s
    pending = {d.name: (d, c) for d, c in zip(state.devices, configs, strict=True)}
    open_ports: dict[str, set[int]] = {name: set() for name in pending}
    while pending:
        for name, (dev, cfg) in list(pending.items()):
            if not Path(cfg["ready_file"]).exists():
                continue
            for port in dev.ports:
                if port not in open_ports[name] and _port_open(dev.ip, port):
                    open_ports[name].add(port)
            if open_ports[name] >= set(dev.ports):
                del pending[name]
        if not pending:
            return
        if time.monotonic() > deadline:
            late = ", ".join(
                f"{n} (ports open {sorted(open_ports[n])} of {d.ports})"
                for n, (d, _) in list(pending.items())[:5]
            )
            raise LabError(
                f"{len(pending)} devices not ready after {timeout_s:.0f} s: {late}; "
                f"see {state.state_dir / 'logs'}"
            )
        time.sleep(0.1)


def restart(
    bridge: str, name: str, edit: Callable[[dict[str, Any]], None], *, timeout_s: float = 30.0
) -> LabDevice:
    """Restart one device's process with its config changed by `edit` (e.g. a flaw switched
    on), as a new firmware build would: same address, MAC and keys. Its mosquitto keeps running.
    """
    state = status(bridge)
    if state is None:
        raise LabError(f"no bench is up on {bridge}")
    dev = next((d for d in state.devices if d.name == name), None)
    if dev is None:
        raise LabError(f"no device {name!r} on {bridge}")
    cfg_file = state.state_dir / "configs" / f"{name}.json"
    cfg = json.loads(cfg_file.read_text())
    edit(cfg)
    cfg_file.write_text(json.dumps(cfg))
    pid = _read_pid(cfg["pid_file"])
    if pid is not None and _ours(pid, state.state_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    Path(cfg["ready_file"]).unlink(missing_ok=True)
    # The device process only: its mosquitto (cfg["mqtt"]) is still running.
    _start_device(state, dev, {**cfg, "mqtt": None, "config_file": str(cfg_file)})
    _wait_ready(dataclasses.replace(state, devices=[dev]), [cfg], timeout_s)
    dev.pid = _read_pid(cfg["pid_file"])
    _write_state(state)
    return dev


def status(bridge: str = "plab0") -> BenchState | None:
    """The bench on `bridge` as `up` recorded it, or None when there is none."""
    check_bridge(bridge)
    path = state_dir(bridge) / "state.json"
    try:
        return BenchState.from_json(path.read_text())
    except (OSError, ValueError, TypeError, KeyError):
        return None


def down(bridge: str = "plab0") -> list[str]:
    """Remove everything a bench on `bridge` made (recorded or found by name). Returns what."""
    check_bridge(bridge)
    removed: list[str] = []
    sdir = state_dir(bridge)
    ns = namespaces(_prefix(bridge))
    pids = [p for plist in pids_in(ns).values() for p in plist]
    # Processes whose namespace is already gone but which the state still records.
    for pid_file in [*sdir.glob("pids/*.pid"), *sdir.glob("mqtt/*.pid")]:
        pid = _read_pid(pid_file)
        if pid and pid not in pids and alive(pid) and _ours(pid, sdir):
            pids.append(pid)
    if pids:
        kill_all(pids)
        removed.append(f"{len(pids)} processes")
    if ns:
        ip_batch([f"netns del {n}" for n in ns], force=True)
        removed += ns
    stray = links(_prefix(bridge))
    if stray:
        ip_batch([f"link del {n}" for n in stray], force=True)
        removed += stray
    if link_exists(bridge):
        ip("link", "del", bridge, check=False)
        removed.append(bridge)
    if sdir.exists():
        shutil.rmtree(sdir, ignore_errors=True)
        removed.append(str(sdir))
    return removed


def _ours(pid: int, sdir: Path) -> bool:
    """Only kill a recorded pid if its command line still points into our state directory."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return str(sdir) in cmdline
