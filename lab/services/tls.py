"""Server-side TLS contexts with the versions, suites and certificate a model asks for."""

from __future__ import annotations

import ssl
import warnings
from typing import Any


def server_context(conf: dict[str, Any]) -> ssl.SSLContext:
    """`conf`: cert, key, min, max (ssl.TLSVersion names), ciphers (OpenSSL string).

    TLS 1.0/1.1 and the RSA-1024 + SHA-1 certificate need `@SECLEVEL=0` in the cipher string with
    Debian's OpenSSL 3.0; the stdlib warns that TLSv1/TLSv1_1 are deprecated, which is the point.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion[conf["min"]]
        ctx.maximum_version = ssl.TLSVersion[conf["max"]]
    ctx.set_ciphers(conf["ciphers"])
    ctx.load_cert_chain(conf["cert"], conf["key"])
    ctx.options |= ssl.OP_NO_COMPRESSION
    return ctx
