"""MQTT connects (aiomqtt over paho-mqtt 2.x): anonymous or with a login, and a look at '#'.

One connect is one login attempt. After an accepted connect the client may subscribe to `#` and
wait a few seconds for one message: what an anonymous client can read is the evidence. `#` does
not cover `$SYS/#`, so broker statistics are not mistaken for device data.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
from lanprobe.checks.clients.http import probe_ssl_context
from lanprobe.checks.clients.login import PASSWORD_MARK, LoginAttempt, Stopwatch, os_error_sign
from lanprobe.options import Timeouts

# CONNACK refusals that mean "wrong or missing credentials": MQTT 3.1.1 codes 4 and 5 and
# their MQTT 5 reason codes 134 and 135 (paho reports both as reason-code objects).
REFUSED_CODES = frozenset({4, 5, 134, 135})
MAX_TOPICS = 20
URL_IN_PAYLOAD = re.compile(r"""https?://[^\s"'<>]{1,300}""")


@dataclass
class MqttOutcome:
    accepted: bool | None  # None: no CONNACK verdict (unreachable, timeout, other refusal)
    answer: str = ""
    reason_code: int | None = None
    error: str = ""
    sign: str = ""
    latency_s: float = 0.0
    subscribed: bool = False
    topics: list[str] = field(default_factory=list)  # seen on '#', in arrival order, capped
    messages: int = 0
    urls: list[str] = field(default_factory=list)  # http(s) URLs in the payloads, capped


class _TrackingContext(ssl.SSLContext):
    """A client context that remembers the sockets it wraps.

    paho-mqtt (2.1, `_ssl_wrap_socket`) leaves its TLS socket open when the handshake fails or
    times out (a port that accepts TCP and never answers), for the garbage collector to find;
    `connect` closes whatever is left once it is done.
    """

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        sock = super().wrap_socket(*args, **kwargs)
        self.__dict__.setdefault("wrapped", []).append(sock)
        return sock

    def close_wrapped(self) -> None:
        for sock in self.__dict__.pop("wrapped", []):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a handshake blocked in paho's thread
            with contextlib.suppress(OSError):
                sock.close()


def _code(rc: object) -> int | None:
    value = getattr(rc, "value", rc)
    return value if isinstance(value, int) else None


async def connect(
    ip: str,
    port: int,
    *,
    tls: bool,
    timeouts: Timeouts,
    user: str | None = None,
    password: str | None = None,
    subscribe_wait_s: float = 0.0,
) -> MqttOutcome:
    """Connect (anonymous when `user` is None); if accepted and asked, subscribe to '#' and
    collect topics for up to `subscribe_wait_s` (stops at the first message's burst)."""
    out = MqttOutcome(accepted=None)
    watch = Stopwatch()
    ctx = probe_ssl_context(_TrackingContext) if tls else None
    client = aiomqtt.Client(
        ip,
        port,
        username=user,
        password=password,
        identifier=f"lanprobe-{uuid.uuid4().hex[:8]}",
        timeout=timeouts.connect_s + timeouts.read_s,
        tls_context=ctx,
        tls_insecure=True if tls else None,
    )
    try:
        async with asyncio.timeout(timeouts.connect_s + timeouts.read_s + subscribe_wait_s + 2):
            async with client:
                out.latency_s = watch.elapsed
                out.accepted = True
                out.answer = "CONNACK accepted"
                out.reason_code = 0
                if subscribe_wait_s > 0:
                    await _collect(client, out, subscribe_wait_s)
    except aiomqtt.MqttCodeError as exc:
        out.latency_s = out.latency_s or watch.elapsed
        code = _code(exc.rc)
        out.reason_code = code
        if out.accepted:  # refused later, at the subscription
            out.error = f"after connect: {exc}"
        else:
            out.answer = f"CONNACK refused: {exc}"[:120]
            out.accepted = False if code in REFUSED_CODES else None
            if out.accepted is None:
                out.error = out.answer
    except TimeoutError:
        out.latency_s = out.latency_s or watch.elapsed
        if not out.accepted:
            out.error, out.sign = "no answer in time", "no answer in time"
    except aiomqtt.MqttError as exc:
        out.latency_s = out.latency_s or watch.elapsed
        if not out.accepted:
            out.error = str(exc)[:200]
            cause = exc.__cause__ or exc.__context__
            out.sign = (os_error_sign(cause) if cause else "") or _sign_from_text(str(exc))
    finally:
        if isinstance(ctx, _TrackingContext):
            ctx.close_wrapped()
    return out


def _sign_from_text(text: str) -> str:
    low = text.lower()
    if "refused" in low:
        return "connection refused"
    if "reset" in low:
        return "connection reset"
    return ""


async def _collect(client: aiomqtt.Client, out: MqttOutcome, wait_s: float) -> None:
    await client.subscribe("#")
    out.subscribed = True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    messages = aiter(client.messages)
    while (left := deadline - loop.time()) > 0 and len(out.topics) < MAX_TOPICS:
        try:
            msg = await asyncio.wait_for(anext(messages), left)
        except TimeoutError:
            return
        out.messages += 1
        if isinstance(msg.payload, bytes | str) and len(out.urls) < MAX_TOPICS:
            text = (
                msg.payload
                if isinstance(msg.payload, str)
                else msg.payload[:4096].decode("utf-8", "replace")
            )
            out.urls.extend(URL_IN_PAYLOAD.findall(text)[: MAX_TOPICS - len(out.urls)])
        topic = str(msg.topic)
        if topic not in out.topics:
            out.topics.append(topic)
        if out.messages == 1:  # one message proves it; keep what arrives in the next moment
            deadline = min(deadline, loop.time() + 0.5)


async def login(
    ip: str, port: int, user: str, password: str, *, tls: bool, timeouts: Timeouts
) -> LoginAttempt:
    """One CONNECT with a user and password, as a login attempt."""
    out = await connect(ip, port, tls=tls, timeouts=timeouts, user=user, password=password)
    return LoginAttempt(
        user,
        password,
        out.accepted,
        latency_s=out.latency_s,
        sign=out.sign,
        request=f"CONNECT username={user!r} password={PASSWORD_MARK}",
        answer=out.answer,
        error=out.error,
        details={"reason_code": out.reason_code} if out.reason_code is not None else {},
    )
