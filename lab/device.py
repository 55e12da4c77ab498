"""One emulated device: `ip netns exec NS python -m lab.device CONFIG.json`.

Runs every service the model names in one asyncio loop and imports only the modules those
services need (50 of these share two cores). Writes its pid file, then its ready file once every
TCP listener is bound; exits on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lanprobe.lab.services import udpready
from lanprobe.lab.services.common import Device, Guard


async def run(cfg: dict[str, Any]) -> None:
    model = cfg["model"]
    dev = Device(cfg, Guard(ban=model["ban"], lockout=model["lockout"]))
    dev.guard.on_event = dev.event
    servers: list[asyncio.AbstractServer] = []
    background: list[asyncio.Task[Any]] = []
    closers: list[Any] = []

    for http in model["http"]:
        from lanprobe.lab.services.http import HttpService

        ctx = None
        if http["tls"]:
            from lanprobe.lab.services.tls import server_context

            ctx = server_context(cfg["tls"][str(http["port"])])
        servers.append(await HttpService(dev, http, ctx).start())
    if model["telnet"]:
        from lanprobe.lab.services.telnet import TelnetService

        servers.append(await TelnetService(dev, model["telnet"]).start())
    if model["debug_shell"]:
        from lanprobe.lab.services.telnet import DebugShell

        servers.append(await DebugShell(dev, model["debug_shell"]).start())
    if model["ftp"]:
        from lanprobe.lab.services.ftp import FtpService

        servers.append(await FtpService(dev, model["ftp"]).start())
    if model["ssh"]:
        from lanprobe.lab.services.ssh import start_ssh

        servers.append(await start_ssh(dev, model["ssh"], cfg["ssh_host_key"]))
    if model.get("rtsp"):
        from lanprobe.lab.services.rtsp import RtspService

        servers.append(await RtspService(dev, model["rtsp"]).start())
    for port in model.get("stall_ports") or ():
        from lanprobe.lab.services.stall import StallService

        servers.append(await StallService(dev, port).start())
    if cfg["mqtt"]:
        from lanprobe.lab.services.mqtt import publish_forever

        background.append(asyncio.create_task(publish_forever(dev, cfg["mqtt"]["publish"])))
    if model.get("cloud"):
        from lanprobe.lab.services.cloud import run_cloud

        background.append(asyncio.create_task(run_cloud(dev, model["cloud"])))
    if model["ssdp"]:
        from lanprobe.lab.services.ssdp import start_ssdp

        closers.append(await start_ssdp(dev))
    if model["mdns"]:
        from lanprobe.lab.services.mdns import MdnsAdvertiser

        adv = MdnsAdvertiser(dev)
        background.append(asyncio.create_task(adv.start()))
        closers.append(adv)

    if model.get("coap"):
        from lanprobe.lab.services.coap import start_coap

        closers.append(_CoapCloser(await start_coap(dev, model["coap"])))
    daemons = [await start_snmpd(cfg)] if cfg.get("snmp") else []
    if model.get("tftp"):
        daemons.append(await start_tftpd(cfg))
    if model.get("ntp"):
        daemons.append(await start_chronyd(cfg))
    if cfg.get("miniupnpd"):
        daemons.append(await start_miniupnpd(cfg))

    Path(cfg["ready_file"]).write_text(str(os.getpid()))
    dev.event(f"device {cfg['name']} up")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()

    for srv in servers:
        srv.close()
    for task in background:
        task.cancel()
    for closer in closers:
        await closer.stop()
    for proc in daemons:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


class _CoapCloser:
    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    async def stop(self) -> None:
        await self.ctx.shutdown()


def _die_with_parent() -> None:
    """In the daemon's keeper: SIGTERM when the device process dies (PR_SET_PDEATHSIG)."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


# The daemon's keeper: a root shell that keeps the parent-death signal (the daemons lose theirs
# when they drop privileges: tftpd to nobody, chronyd to _chrony; a setuid clears it) and on
# SIGTERM, from the device's stop or its death, ends the daemon and reaps it. So a killed or
# crashed device takes its snmpd/tftpd/chronyd along, as a real unit would.
KEEPER = (
    'child=""; trap \'[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait; exit 0\' '
    'TERM INT HUP; "$@" & child=$!; wait "$child"'
)


async def _daemon(
    argv: list[str], ready: Callable[[], Awaitable[bool]], env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    """A real Debian daemon in the device's namespace, under its keeper; returns once `ready()`
    or after ~10 s."""
    proc = await asyncio.create_subprocess_exec(
        "sh", "-c", KEEPER, "keeper", *argv, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=env,
        preexec_fn=_die_with_parent,
    )  # fmt: skip
    for _ in range(40):
        if proc.returncode is not None or await ready():
            break
    return proc


async def start_snmpd(cfg: dict[str, Any]) -> asyncio.subprocess.Process:
    """net-snmp's agent; ready when it answers an SNMPv3 engine discovery (every setup does)."""

    conf = cfg["snmp"]
    env = {**os.environ, "SNMP_PERSISTENT_DIR": conf["persistent_dir"], "MIBS": ""}
    argv = [
        "snmpd",
        "-f",
        "-Lf",
        str(Path(conf["persistent_dir"]) / "snmpd.log"),
        "-C",
        "-c",
        conf["conf"],
        "-p",
        conf["pid_file"],
        "-I",
        "-smux",
    ]  # no SMUX on TCP 199

    async def ready() -> bool:
        return await udpready.answers(conf["ip"], 161, udpready.SNMP_V3_DISCOVERY)

    return await _daemon(argv, ready, env)


def _udp_ip(cfg: dict[str, Any]) -> str:
    """Where the model's tftpd and chronyd listen: its IPv4 or its unique-local address."""
    return str(cfg["ip6"] if cfg["model"].get("udp_family") == "ipv6" else cfg["ip"])


async def start_tftpd(cfg: dict[str, Any]) -> asyncio.subprocess.Process:
    root = str(Path(cfg["udp_dir"]) / "tftp")
    ip = _udp_ip(cfg)
    where = f"[{ip}]:69" if ":" in ip else f"{ip}:69"
    argv = ["in.tftpd", "--foreground", "--listen", "--address", where,
            "--secure", "--user", "nobody", root]  # fmt: skip

    async def ready() -> bool:
        return await udpready.answers(ip, 69, udpready.TFTP_READ, any_port=True)

    return await _daemon(argv, ready)


async def start_chronyd(cfg: dict[str, Any]) -> asyncio.subprocess.Process:
    base = Path(cfg["udp_dir"])
    conf = base / "chrony.conf"
    conf.write_text(
        f"bindaddress {_udp_ip(cfg)}\nport 123\nallow all\nlocal stratum 8\ncmdport 0\n"
        f"pidfile {base / 'chronyd.pid'}\n"
    )
    # -x: never adjust the clock; no `server` line: it asks nobody.
    family = ["-6"] if ":" in _udp_ip(cfg) else []  # else it also binds IPv4's any address
    argv = ["chronyd", "-d", "-x", *family, "-f", str(conf)]

    async def ready() -> bool:
        return await udpready.answers(_udp_ip(cfg), 123, udpready.NTP_CLIENT)

    return await _daemon(argv, ready)


async def start_miniupnpd(cfg: dict[str, Any]) -> asyncio.subprocess.Process:
    """Debian's miniupnpd (-d: in the foreground) in the device's namespace: its nftables
    table lives there, never on the host."""
    from lanprobe.lab.models import UPNP_PORT

    conf = cfg["miniupnpd"]
    argv = ["miniupnpd", "-d", "-f", conf["conf"], "-P", conf["pid_file"]]

    async def ready() -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(cfg["ip"], UPNP_PORT), 0.25)
        except (OSError, TimeoutError):
            await asyncio.sleep(0.25)
            return False
        writer.close()
        return True

    return await _daemon(argv, ready)


def _quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # Broken TLS handshakes and clients that vanish are the daily life of a lab device.
    exc = context.get("exception")
    if isinstance(exc, (OSError, asyncio.CancelledError)) or "SSL" in str(context.get("message")):
        return
    loop.default_exception_handler(context)


def main(argv: list[str]) -> int:
    cfg = json.loads(Path(argv[1]).read_text())
    Path(cfg["pid_file"]).write_text(str(os.getpid()))
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(_quiet)
    try:
        loop.run_until_complete(run(cfg))
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
