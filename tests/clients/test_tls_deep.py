"""TLS tier 2 (sslyze in a child process) against local servers made here."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from lanprobe.checks.clients.tls_deep import deep_scan

from tests.clients.test_tls_facts import _serve, _server_ctx, make_ca, make_leaf, write_pair

pytestmark = pytest.mark.realsw  # sslyze in worker processes


@pytest.fixture
async def weak_and_silent(tmp_path: Path) -> AsyncIterator[dict[str, int]]:
    ca = make_ca()
    leaf, key = make_leaf(ca, key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    cert, key_file = write_pair(leaf, key, tmp_path, "leaf")
    weak = await _serve(_server_ctx(cert, key_file, old=True, ciphers="ALL:@SECLEVEL=0"))
    silent = await _serve(None)
    try:
        yield {"weak": weak[1], "silent": silent[1]}
    finally:
        weak[0].close()
        silent[0].close()
        await asyncio.sleep(0)


async def test_deep_scan_sees_versions_suites_and_mozilla_issues(
    weak_and_silent: dict[str, int],
) -> None:
    obs = await deep_scan("127.0.0.1", weak_and_silent["weak"], deadline_s=60)
    assert obs.ok, obs.error
    assert obs.versions["TLSv1.0"] and not obs.versions["SSLv3"]
    assert "TLS_RSA_WITH_AES_128_CBC_SHA" in obs.no_forward_secrecy()
    assert any("anon" in s for s in obs.broken_suites())
    assert obs.heartbleed is False
    assert obs.mozilla_checked and "tls_versions" in obs.mozilla_intermediate
    assert obs.evidence()["accepted"]["TLSv1.3"]


async def test_deep_scan_is_killed_at_its_deadline(weak_and_silent: dict[str, int]) -> None:
    start = time.monotonic()
    obs = await deep_scan("127.0.0.1", weak_and_silent["silent"], deadline_s=1.5)
    assert time.monotonic() - start < 3
    assert not obs.ok
    assert "did not finish within 1.5 s" in obs.error


async def test_worker_pool_reuses_its_workers_and_ends_them(
    weak_and_silent: dict[str, int],
) -> None:
    from lanprobe.checks.clients.tls_deep import worker_pool

    async with worker_pool(1) as pool:
        first = await deep_scan("127.0.0.1", weak_and_silent["weak"], deadline_s=60)
        (worker,) = pool._all
        second = await deep_scan("127.0.0.1", weak_and_silent["weak"], deadline_s=60)
        assert pool._all == {worker}  # the same child served both scans
        assert first.ok and second.ok and first.versions == second.versions
        # A worker past its deadline is killed and replaced on the next scan.
        late = await deep_scan("127.0.0.1", weak_and_silent["silent"], deadline_s=1.5)
        assert not late.ok and "did not finish within 1.5 s" in late.error
        assert worker.returncode is not None and pool._all == set()  # the same, killed
        assert (await deep_scan("127.0.0.1", weak_and_silent["weak"], deadline_s=60)).ok
        (replacement,) = pool._all
    assert replacement.returncode is not None and pool._all == set()
