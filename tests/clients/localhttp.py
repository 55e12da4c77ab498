"""A tiny real HTTP/1.1 server on 127.0.0.1 for check tests that need a server the lab lacks
(a catch-all that answers 200 everywhere, a Basic login that refuses everything)."""

from __future__ import annotations

import asyncio
import base64
import socketserver
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress

Handler = Callable[[str, str, dict[str, str], bytes], tuple[int, bytes, dict[str, str]]]


async def _serve(handler: Handler, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:  # fmt: skip
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        length = int(headers.get("content-length", "0"))
        request_body = await reader.readexactly(length) if length else b""
        status, body, extra = handler(method, path, headers, request_body)
        out = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
        out += [f"{k}: {v}" for k, v in extra.items()]
        writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + body)
        await writer.drain()
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        writer.close()
        with suppress(OSError):
            await writer.wait_closed()


@asynccontextmanager
async def http_server(handler: Handler, host: str = "127.0.0.1") -> AsyncIterator[int]:
    """Serve `handler` on 127.0.0.1 (or `host`, e.g. ::1); yields the port."""
    server = await asyncio.start_server(lambda r, w: _serve(handler, r, w), host, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        await server.wait_closed()


def basic_user(headers: dict[str, str]) -> tuple[str, str] | None:
    auth = headers.get("authorization", "")
    if not auth.lower().startswith("basic "):
        return None
    user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
    return user, password


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[int]:
    """A stdlib server (http.server's) in a thread for the block; yields its port. Its shutdown()
    waits up to one poll interval, half a second by default: a short one keeps teardown quick."""
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]  # type: ignore[misc]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
