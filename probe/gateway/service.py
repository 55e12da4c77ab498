"""The gateway's own process: `python -m lanprobe.gateway.service CONFIG.json`.

Runs the sinkhole listeners and the NTP responder on the bench address, and the packet capture
(tcpdump, a child of this process, bounded in packets, snap length and time). Every event is a
JSON line in the state directory's events file. Writes its ready file once listening; on SIGTERM
stops the capture and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from lanprobe.gateway import ntp, sinkhole

MAX_EVENTS = 50_000  # events written in all; the rest are counted, not kept


class EventLog:
    def __init__(self, path: Path) -> None:
        self.fh = path.open("a", encoding="utf-8", buffering=1)
        self.written = 0
        self.dropped = 0

    def __call__(self, event: dict[str, Any]) -> None:
        if self.written >= MAX_EVENTS:
            self.dropped += 1
            return
        self.fh.write(json.dumps(event, default=str) + "\n")
        self.written += 1


def capture_command(cfg: dict[str, Any]) -> list[str]:
    cap = cfg["capture"]
    return [
        "tcpdump", "-i", cfg["iface"], "-n", "-U", "-Z", "root",
        "-s", str(cap["snaplen"]), "-c", str(cap["max_packets"]), "-w", cap["file"],
    ]  # fmt: skip


async def run(cfg: dict[str, Any]) -> None:
    record = EventLog(Path(cfg["events_file"]))
    wrong = cfg.get("wrong_name")
    servers = await sinkhole.serve(
        cfg["address"], cfg["ports"], cfg["cert"], cfg["key"], record,
        (wrong["cert"], wrong["key"]) if wrong else None,
    )  # fmt: skip
    ntp_transport = None
    try:
        ntp_transport = await ntp.serve(cfg["address"], record)
    except OSError as exc:
        record({"kind": "listener", "port": 123, "error": str(exc)})
    with open(cfg["capture"]["log"], "ab") as capture_log:
        capture = await asyncio.create_subprocess_exec(
            *capture_command(cfg), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=capture_log,
        )  # fmt: skip
    Path(cfg["capture"]["pid_file"]).write_text(str(capture.pid))
    # tcpdump says "listening on" once its socket is open; give it up to 3 s before ready.
    log = Path(cfg["capture"]["log"])
    for _ in range(60):
        if "listening on" in log.read_text(errors="replace") or capture.returncode is not None:
            break
        await asyncio.sleep(0.05)
    Path(cfg["ready_file"]).write_text(str(os.getpid()))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # The capture's time bound: stop it (not the gateway) after max_s.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(cfg["capture"]["max_s"]):
            await asyncio.wait(
                [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(capture.wait())],
                return_when=asyncio.FIRST_COMPLETED,
            )
    if capture.returncode is None:
        capture.terminate()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(3):
                await capture.wait()
        if capture.returncode is None:
            capture.kill()
            await capture.wait()
    await stop.wait()
    for srv in servers:
        srv.close()
    if ntp_transport is not None:
        ntp_transport.close()
    if record.dropped:
        record.written = 0
        record({"kind": "dropped", "events": record.dropped})


def main(argv: list[str]) -> int:
    cfg = json.loads(Path(argv[1]).read_text())
    Path(cfg["pid_file"]).write_text(str(os.getpid()))
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda _loop, _ctx: None)  # clients that vanish are normal here
    try:
        loop.run_until_complete(run(cfg))
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
