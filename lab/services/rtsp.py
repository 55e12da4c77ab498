"""An RTSP camera endpoint (RFC 2326): OPTIONS and DESCRIBE, with no auth, Basic or Digest.

DESCRIBE of the stream path answers an SDP description (RFC 4566) of one H.264 video track;
SETUP and PLAY are refused (454/455): the lab never streams, the probe only ever describes.
Failed logins count on the device's guard like every other login service.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import re
import secrets
from typing import Any

from lanprobe.lab.services.common import Device, check_login, close, peer_ip, reset

_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]+))')
MAX_REQUEST = 8192


def sdp(dev: Device, path: str) -> str:
    m = dev.model
    return (
        "v=0\r\n"
        f"o=- 0 0 IN IP4 {dev.ip}\r\n"
        f"s={m['vendor']} {m['model']} live\r\n"
        f"c=IN IP4 {dev.ip}\r\n"
        "t=0 0\r\n"
        "m=video 0 RTP/AVP 96\r\n"
        "a=rtpmap:96 H264/90000\r\n"
        f"a=control:rtsp://{dev.ip}{path}/trackID=1\r\n"
    )


class RtspService:
    def __init__(self, dev: Device, conf: dict[str, Any]) -> None:
        self.dev, self.conf = dev, conf
        self.realm = f"{dev.model['vendor']} {dev.model['model']}"
        self._key = secrets.token_bytes(16)

    async def start(self) -> asyncio.AbstractServer:
        return await asyncio.start_server(self._client, self.dev.ip, self.conf["port"])

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        src = peer_ip(writer)
        if self.dev.guard.banned(src):
            reset(writer)
            return
        try:
            for _ in range(20):  # requests on one connection
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                if len(head) > MAX_REQUEST:
                    break
                writer.write(self._answer(head.decode("latin-1"), src).encode("latin-1"))
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            pass
        finally:
            await close(writer)

    def _answer(self, head: str, src: str) -> str:
        lines = head.split("\r\n")
        method, _, rest = lines[0].partition(" ")
        url = rest.rsplit(" ", 1)[0]
        headers = {}
        for line in lines[1:]:
            key, sep, value = line.partition(":")
            if sep:
                headers[key.strip().lower()] = value.strip()
        cseq = headers.get("cseq", "0")
        base = f"CSeq: {cseq}\r\nServer: {self.dev.model['server']}\r\n"
        if method == "OPTIONS":
            return (
                f"RTSP/1.0 200 OK\r\n{base}Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n"
            )
        if method != "DESCRIBE":
            return f"RTSP/1.0 455 Method Not Valid in This State\r\n{base}\r\n"
        path = "/" + url.split("://", 1)[-1].partition("/")[2]
        if path.rstrip("/") != self.conf["path"].rstrip("/"):
            return f"RTSP/1.0 404 Not Found\r\n{base}\r\n"
        refusal = self._authorise(method, url, headers.get("authorization", ""), src)
        if refusal:
            return f"RTSP/1.0 401 Unauthorized\r\n{base}{refusal}\r\n\r\n"
        body = sdp(self.dev, path)
        return (
            f"RTSP/1.0 200 OK\r\n{base}Content-Base: {url}/\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        )

    def _authorise(self, method: str, url: str, auth: str, src: str) -> str:
        """ "" when allowed, else the WWW-Authenticate header line to send."""
        scheme = self.conf["auth"]
        if scheme == "none":
            return ""
        user, ok = "", False
        if scheme == "basic" and auth.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode("utf-8").partition(":")
                ok = check_login(self.conf["users"], False, user, password)
            except (binascii.Error, UnicodeDecodeError):
                ok = False
        elif scheme == "digest" and auth.lower().startswith("digest "):
            user, ok = self._digest_ok(method, auth[7:])
        if user:
            if ok:
                self.dev.guard.success(src, user)
                self.dev.event(f"login ok user={user} from={src} service=rtsp")
                return ""
            self.dev.guard.failure(src, user)
            self.dev.event(f"login failed user={user} from={src} service=rtsp")
        if scheme == "basic":
            return f'WWW-Authenticate: Basic realm="{self.realm}"'
        return f'WWW-Authenticate: Digest realm="{self.realm}", nonce="{self._nonce()}"'

    def _nonce(self) -> str:
        stamp = secrets.token_hex(4)
        return stamp + hmac.new(self._key, stamp.encode(), "sha256").hexdigest()[:24]

    def _digest_ok(self, method: str, params: str) -> tuple[str, bool]:
        p = {k: (q if q else v) for k, q, v in _PARAM.findall(params)}
        user, nonce = p.get("username", ""), p.get("nonce", "")
        good = hmac.new(self._key, nonce[:-24].encode(), "sha256").hexdigest()[:24]
        password = self.conf["users"].get(user)
        if password is None or not hmac.compare_digest(nonce[-24:], good):
            return user, False

        def md5(s: str) -> str:
            return hashlib.md5(s.encode()).hexdigest()

        ha1 = md5(f"{user}:{self.realm}:{password}")
        ha2 = md5(f"{method}:{p.get('uri', '')}")
        want = md5(f"{ha1}:{nonce}:{ha2}")
        return user, hmac.compare_digest(want, p.get("response", ""))
