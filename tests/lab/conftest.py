"""Helpers for the lab tests: pick devices of a model from the session bench."""

from __future__ import annotations

import ssl
import warnings

import pytest
from lanprobe.lab.bench import BenchState, LabDevice


def device(bench: BenchState, model: str, unit: int = 0) -> LabDevice:
    found = bench.by_model(model)
    assert found, f"no {model} on the bench"
    return found[unit]


def client_ctx(
    version: ssl.TLSVersion | None = None, ciphers: str | None = None, cafile: str | None = None
) -> ssl.SSLContext:
    """A client context pinned to one TLS version (like the probe's tier-1 TLS client)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if version is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = version
            ctx.maximum_version = version
    if version is not None and version < ssl.TLSVersion.TLSv1_3:
        ctx.set_ciphers((ciphers or "DEFAULT") + ":@SECLEVEL=0")
    elif ciphers:
        ctx.set_ciphers(ciphers + ":@SECLEVEL=0")
    return ctx


@pytest.fixture
def bench(lab_bench: BenchState) -> BenchState:
    return lab_bench
