"""Tier 2 TLS scan of one port with sslyze: what the stdlib cannot offer.

sslyze carries its own legacy OpenSSL, so it can try SSLv2/SSLv3 and RC4, 3DES and EXPORT suites
that the system OpenSSL no longer has, and it tests Heartbleed and ROBOT. It enumerates suites one
handshake each, so it is slow next to tier 1 (measured on the lab bench: 0.2-1.0 s a port against
10-40 ms); it runs in a child process, with at most `connections` parallel connections to the
device, killed at its deadline.

Mozilla's intermediate profile is judged offline by sslyze's checker on the same scan result.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import sys
import time
import warnings
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

from lanprobe.cancel import spawn
from lanprobe.checks.clients.tls import broken_reason

# sslyze result field -> our version name
_SUITE_COMMANDS = {
    "ssl_2_0_cipher_suites": "SSLv2",
    "ssl_3_0_cipher_suites": "SSLv3",
    "tls_1_0_cipher_suites": "TLSv1.0",
    "tls_1_1_cipher_suites": "TLSv1.1",
    "tls_1_2_cipher_suites": "TLSv1.2",
    "tls_1_3_cipher_suites": "TLSv1.3",
}


@dataclass
class DeepObservation:
    """Tier 2 facts of one port. `ok` False: sslyze could not finish (see `error`)."""

    ip: str
    port: int
    ok: bool = False
    error: str = ""
    versions: dict[str, bool] = field(default_factory=dict)
    accepted: dict[str, list[str]] = field(default_factory=dict)  # version -> IANA suite names
    heartbleed: bool | None = None
    robot: str = ""  # sslyze's RobotScanResultEnum name
    mozilla_intermediate: dict[str, str] = field(default_factory=dict)  # issue -> text; {} = fits
    mozilla_checked: bool = False
    duration_s: float = 0.0

    def broken_suites(self) -> dict[str, str]:
        """Accepted suites that are broken, with the reason."""
        out: dict[str, str] = {}
        for suites in self.accepted.values():
            for suite in suites:
                reason = broken_reason(suite)
                if reason:
                    out[suite] = reason
        return out

    def no_forward_secrecy(self) -> list[str]:
        """Accepted suites below TLS 1.3 with static RSA or DH key exchange."""
        out: list[str] = []
        for version, suites in self.accepted.items():
            if version == "TLSv1.3":
                continue
            out.extend(
                s
                for s in suites
                if s.startswith(("TLS_RSA_", "TLS_DH_", "TLS_ECDH_")) and s not in out
            )
        return out

    def evidence(self) -> dict[str, Any]:
        return {
            "versions": dict(self.versions),
            "accepted": {k: v for k, v in self.accepted.items() if v},
            "heartbleed": self.heartbleed,
            "robot": self.robot,
            "mozilla_intermediate": dict(self.mozilla_intermediate)
            if self.mozilla_checked
            else None,
            "duration_s": round(self.duration_s, 2),
            "error": self.error or None,
        }


def _scan_blocking(
    ip: str, port: int, *, connections: int, network_timeout_s: int, mozilla: bool
) -> DeepObservation:
    # Imported here: sslyze loads nassl's two OpenSSLs, a cost only tier 2 should pay.
    from sslyze import (
        ScanCommand,
        Scanner,
        ServerNetworkConfiguration,
        ServerNetworkLocation,
        ServerScanRequest,
        ServerScanStatusEnum,
    )
    from sslyze.mozilla_tls_profile.tls_config_checker import (
        SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
        MozillaTlsConfiguration,
        ServerNotCompliantWithTlsConfiguration,
        ServerScanResultIncomplete,
        TlsConfigurationEnum,
        check_server_against_tls_configuration,
    )

    obs = DeepObservation(ip=ip, port=port)
    start = time.monotonic()
    commands = {
        ScanCommand.SSL_2_0_CIPHER_SUITES,
        ScanCommand.SSL_3_0_CIPHER_SUITES,
        ScanCommand.TLS_1_0_CIPHER_SUITES,
        ScanCommand.TLS_1_1_CIPHER_SUITES,
        ScanCommand.TLS_1_2_CIPHER_SUITES,
        ScanCommand.TLS_1_3_CIPHER_SUITES,
        ScanCommand.HEARTBLEED,
        ScanCommand.ROBOT,
    }
    if mozilla:
        commands |= SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER
    # ip_address given: sslyze resolves nothing. SNI carries the address (no name is known).
    location = ServerNetworkLocation(hostname=ip, port=port, ip_address=ip)
    network = ServerNetworkConfiguration(
        tls_server_name_indication=ip, network_timeout=network_timeout_s, network_max_retries=1
    )
    # sslyze tries every suite of every version on its own connection (~530 handshakes a port).
    # A version the server refuses outright with every suite offered at once needs none of them.
    refused = _refused_versions(location, network)
    commands -= set(refused)
    request = ServerScanRequest(
        server_location=location, network_configuration=network, scan_commands=commands
    )
    scanner = Scanner(
        per_server_concurrent_connections_limit=connections, concurrent_server_scans_limit=1
    )
    scanner.queue_scans([request])
    for result in scanner.get_results():
        if result.scan_status != ServerScanStatusEnum.COMPLETED or result.scan_result is None:
            trace = result.connectivity_error_trace
            obs.error = str(trace).strip().splitlines()[-1] if trace else "no TLS connectivity"
            break
        result = _with_refused(result, refused)
        attempts = result.scan_result
        for field_name, version in _SUITE_COMMANDS.items():
            attempt = getattr(attempts, field_name)
            if attempt.result is None:
                continue
            obs.versions[version] = attempt.result.is_tls_version_supported
            obs.accepted[version] = [
                a.cipher_suite.name for a in attempt.result.accepted_cipher_suites
            ]
        if attempts.heartbleed.result is not None:
            obs.heartbleed = attempts.heartbleed.result.is_vulnerable_to_heartbleed
        if attempts.robot.result is not None:
            obs.robot = attempts.robot.result.robot_result.name
        obs.ok = True
        if mozilla:
            config = MozillaTlsConfiguration.get(TlsConfigurationEnum.MOZILLA_INTERMEDIATE)
            try:
                check_server_against_tls_configuration(result, config)
                obs.mozilla_checked = True
            except ServerNotCompliantWithTlsConfiguration as exc:
                obs.mozilla_intermediate = dict(exc.issues)
                obs.mozilla_checked = True
            except ServerScanResultIncomplete as exc:
                obs.mozilla_intermediate = {"incomplete": str(exc)}
    obs.duration_s = time.monotonic() - start
    return obs


# Versions whose suites the pre-check may spare (sslyze's legacy OpenSSL offers all of their
# suites in one ClientHello). TLS 1.2 and 1.3 are always enumerated.
_PRECHECKED = ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites",
               "tls_1_1_cipher_suites")  # fmt: skip


def _refused_versions(location: Any, network: Any) -> dict[Any, Any]:
    """ScanCommand -> TlsVersionEnum of the old versions the server refuses outright.

    One handshake per version, offering every suite the legacy OpenSSL has. Only a handshake the
    server rejects (an alert, a reset or a close after the ClientHello: what sslyze itself counts
    as a rejected suite) spares the enumeration; a timeout or anything odd leaves it to sslyze.
    """
    from sslyze import ScanCommand
    from sslyze.connection_helpers.tls_connection import SslConnection
    from sslyze.errors import ServerRejectedTlsHandshake
    from sslyze.server_connectivity import TlsVersionEnum

    out: dict[Any, Any] = {}
    for name in _PRECHECKED:
        command = ScanCommand(name)
        version = TlsVersionEnum[name.removesuffix("_cipher_suites").upper()]
        try:
            conn = SslConnection(
                server_location=location,
                network_configuration=network,
                tls_version=version,
                should_ignore_client_auth=True,
                should_use_legacy_openssl=True,
            )
            conn.ssl_client.set_cipher_list("ALL:COMPLEMENTOFALL")
        except Exception:
            continue
        try:
            conn.connect(should_retry_connection=False)
        except ServerRejectedTlsHandshake:
            out[command] = version
        except Exception:
            pass  # accepted or undecided: sslyze enumerates this version
        finally:
            conn.close()
    return out


def _with_refused(result: Any, refused: dict[Any, Any]) -> Any:
    """The scan result with a completed, all-rejected attempt for each pre-checked version, as
    sslyze's enumeration would have found it (the Mozilla checker needs every attempt)."""
    if not refused:
        return result
    import dataclasses

    from sslyze.plugins.openssl_cipher_suites._test_cipher_suite import CipherSuiteRejectedByServer
    from sslyze.plugins.openssl_cipher_suites.cipher_suites import CipherSuitesRepository
    from sslyze.plugins.openssl_cipher_suites.implementation import CipherSuitesScanResult
    from sslyze.scanner.models import CipherSuitesScanAttempt
    from sslyze.scanner.scan_command_attempt import ScanCommandAttemptStatusEnum

    changes = {}
    for command, version in refused.items():
        suites = CipherSuitesRepository.get_all_cipher_suites(version)
        changes[command.value] = CipherSuitesScanAttempt(
            status=ScanCommandAttemptStatusEnum.COMPLETED,
            error_reason=None,
            error_trace=None,
            result=CipherSuitesScanResult(
                tls_version_used=version,
                accepted_cipher_suites=[],
                rejected_cipher_suites=[
                    CipherSuiteRejectedByServer(cipher_suite=s, error_message="version refused")
                    for s in sorted(suites, key=lambda s: s.name)
                ],
            ),
        )
    attempts = dataclasses.replace(result.scan_result, **changes)
    return dataclasses.replace(result, scan_result=attempts)


async def deep_scan(
    ip: str,
    port: int,
    *,
    connections: int = 2,
    network_timeout_s: int = 3,
    deadline_s: float = 120.0,
    mozilla: bool = True,
) -> DeepObservation:
    """Tier 2 of one port in a child process, killed at `deadline_s`.

    A child rather than a thread: a deadline can then really stop sslyze (a thread cannot be
    stopped, and the event loop's shutdown would wait for it), and a crash in nassl's C code ends
    the child, not the scan. Inside `worker_pool()` the child is a long-lived worker of the pool
    (sslyze imported once), otherwise a one-shot child.
    """
    start = time.monotonic()
    args = [ip, str(port), str(connections), str(network_timeout_s), "1" if mozilla else "0"]
    pool = _POOL.get()
    if pool is not None and not pool.closed:
        return await pool.scan(args, deadline_s)
    proc = await spawn(  # not create_subprocess_exec: cancelled while starting, it can hang
        sys.executable,
        "-m",
        "lanprobe.checks.clients.tls_deep",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(deadline_s):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.communicate()
        return DeepObservation(
            ip=ip,
            port=port,
            error=f"sslyze did not finish within {deadline_s:g} s",
            duration_s=time.monotonic() - start,
        )
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    try:
        data = json.loads(out.decode())
        return DeepObservation(**data)
    except (ValueError, TypeError):
        last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return DeepObservation(
            ip=ip,
            port=port,
            error=f"sslyze failed (exit {proc.returncode}): {last[0][:200]}",
            duration_s=time.monotonic() - start,
        )


class WorkerPool:
    """Long-lived sslyze children, one scan at a time each: importing sslyze and nassl costs
    ~0.3 s of CPU per child, which one child per TLS port paid again and again (measured: 37 TLS
    ports on a 50-device bench, ~11 s of CPU on a 2-core machine). A worker that runs past a
    deadline, or dies, is killed and replaced on demand; `close()` ends them all."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.closed = False
        self._idle: list[asyncio.subprocess.Process] = []
        self._all: set[asyncio.subprocess.Process] = set()
        self._slots = asyncio.Semaphore(self.size)

    async def _spawn(self) -> asyncio.subprocess.Process:
        proc = await spawn(  # not create_subprocess_exec: cancelled while starting, it can hang
            sys.executable,
            "-m",
            "lanprobe.checks.clients.tls_deep",
            "--serve",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,  # sslyze's chatter; errors come back as JSON
        )
        self._all.add(proc)
        return proc

    async def _kill(self, proc: asyncio.subprocess.Process) -> None:
        self._all.discard(proc)
        if proc.returncode is None:
            proc.kill()
        await proc.wait()

    async def scan(self, args: list[str], deadline_s: float) -> DeepObservation:
        ip, port = args[0], int(args[1])
        start = time.monotonic()
        async with self._slots:
            proc = self._idle.pop() if self._idle else await self._spawn()
            try:
                async with asyncio.timeout(deadline_s):
                    assert proc.stdin is not None and proc.stdout is not None
                    proc.stdin.write((json.dumps(args) + "\n").encode())
                    await proc.stdin.drain()
                    line = await proc.stdout.readline()
            except TimeoutError:
                await self._kill(proc)
                return DeepObservation(
                    ip=ip,
                    port=port,
                    error=f"sslyze did not finish within {deadline_s:g} s",
                    duration_s=time.monotonic() - start,
                )
            except (asyncio.CancelledError, ConnectionError, OSError):
                await self._kill(proc)
                raise
            try:
                obs = DeepObservation(**json.loads(line.decode()))
            except (ValueError, TypeError):
                await self._kill(proc)
                return DeepObservation(
                    ip=ip,
                    port=port,
                    error=f"sslyze worker failed (exit {proc.returncode})",
                    duration_s=time.monotonic() - start,
                )
            if self.closed:
                await self._kill(proc)
            else:
                self._idle.append(proc)
            return obs

    async def close(self) -> None:
        self.closed = True
        for proc in list(self._all):
            if proc.stdin is not None and proc.returncode is None:
                proc.stdin.close()  # a worker ends at end of input
        for proc in list(self._all):
            try:
                async with asyncio.timeout(2):
                    await proc.wait()
            except TimeoutError:
                pass
            await self._kill(proc)
        self._idle.clear()


_POOL: contextvars.ContextVar[WorkerPool | None] = contextvars.ContextVar(
    "tls_deep_pool", default=None
)


@contextlib.asynccontextmanager
async def worker_pool(size: int) -> AsyncIterator[WorkerPool]:
    """While the block runs, `deep_scan` in this context (and the tasks it starts) uses a pool
    of at most `size` long-lived sslyze workers; they end with the block."""
    pool = WorkerPool(size)
    token = _POOL.set(pool)
    try:
        yield pool
    finally:
        _POOL.reset(token)
        await asyncio.shield(pool.close())


def _run_one(argv: list[str]) -> DeepObservation:
    ip, port, connections, timeout_s, mozilla = argv
    try:
        return _scan_blocking(
            ip,
            int(port),
            connections=int(connections),
            network_timeout_s=int(timeout_s),
            mozilla=mozilla == "1",
        )
    except Exception as exc:  # sslyze/nassl internals: report, never hide the tier-1 results
        return DeepObservation(ip=ip, port=int(port), error=f"sslyze failed: {exc!r}"[:300])


def serve() -> int:
    """The pool's worker: one JSON argument list a line in, one observation a line out."""
    warnings.simplefilter("ignore")
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but our answers may reach the parent's pipe
    for line in sys.stdin:
        try:
            argv = [str(a) for a in json.loads(line)]
            obs = _run_one(argv)
        except (ValueError, TypeError) as exc:
            obs = DeepObservation(ip="", port=0, error=f"bad request: {exc}"[:200])
        out.write(json.dumps(asdict(obs)) + "\n")
        out.flush()
    return 0


def main(argv: list[str]) -> int:
    """The child: `python -m checks.clients.tls_deep IP PORT CONNECTIONS TIMEOUT_S MOZILLA`,
    or `--serve` (a pool worker)."""
    if argv == ["--serve"]:
        return serve()
    ip, port, connections, timeout_s, mozilla = argv
    warnings.simplefilter("ignore")  # sslyze's trust store has a root cryptography warns about
    try:
        obs = _scan_blocking(
            ip,
            int(port),
            connections=int(connections),
            network_timeout_s=int(timeout_s),
            mozilla=mozilla == "1",
        )
    except Exception as exc:  # sslyze/nassl internals: report, never hide the tier-1 results
        obs = DeepObservation(ip=ip, port=int(port), error=f"sslyze failed: {exc!r}"[:300])
    print(json.dumps(asdict(obs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
