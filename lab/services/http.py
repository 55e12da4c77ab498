"""A small HTTP/1.1 server on asyncio streams: Basic, Digest and form logins, the API/status/
config/logs/security routes, security.txt, the firmware manifest + detached signature, the upload
endpoint, the UPnP description, HTTP 429 account lockout and the source-address ban."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lanprobe.lab.services.common import Device, check_login, close, peer_ip, reset

MAX_HEADER_BYTES = 16384
MAX_BODY_BYTES = 1 << 20
IDLE_S = 60.0  # generous: a loaded CI machine may pause a client between requests
# Hostile answers (Http.hostile): a header line this long; an endless body for at most this long.
HUGE_HEADER_BYTES = 1 << 20
ENDLESS_LIMIT_S = 300.0
ENDLESS_CHUNK = b"<p>" + b"lanprobe-lab-endless-body " * 630 + b"</p>\n"
REASONS = {
    200: "OK", 301: "Moved Permanently", 302: "Found", 400: "Bad Request", 401: "Unauthorized",
    404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large",
    429: "Too Many Requests", 500: "Internal Server Error",
}  # fmt: skip
DIGEST_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')


class Request:
    def __init__(self, method: str, target: str, version: str, headers: dict[str, str]) -> None:
        self.method = method
        self.target = target
        self.path = urlsplit(target).path or "/"
        self.version = version
        self.headers = headers
        self.body = b""
        self.too_large = False  # the body was over MAX_BODY_BYTES and was not read

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


class Response:
    def __init__(
        self,
        status: int,
        body: bytes | str = b"",
        ctype: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.headers = {"Content-Type": ctype, **(headers or {})}


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(data, indent=2) + "\n", "application/json", headers)


class HttpService:
    def __init__(self, dev: Device, conf: dict[str, Any], tls: Any | None) -> None:
        self.dev = dev
        self.conf = conf
        self.tls = tls  # ssl.SSLContext or None
        self.port: int = conf["port"]
        self.realm = f"{dev.model['vendor']} {dev.model['model']}"
        self.sessions: set[str] = set()
        self._nonce_key = secrets.token_bytes(16)
        self.users: dict[str, str] = conf.get("users") or {}
        man = dev.model.get("manifest")
        self.manifest = man if man and man["http_port"] == self.port else None

    async def start(self) -> asyncio.Server:
        # family "ipv6": only on the device's unique-local address (a dual-stack bench)
        host = self.dev.cfg["ip6"] if self.conf.get("family") == "ipv6" else self.dev.ip
        return await asyncio.start_server(self._client, host, self.port, limit=65536)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        src = peer_ip(writer)
        if self.dev.guard.banned(src):
            reset(writer)
            return
        try:
            if self.tls is not None:
                await writer.start_tls(self.tls, ssl_handshake_timeout=10)
            if self.conf.get("hostile"):
                await self._hostile(reader, writer)
                return
            while True:
                req = await asyncio.wait_for(_read_request(reader, writer), IDLE_S)
                if req is None:
                    break
                resp = await self._handle(req, src)
                keep = _keep_alive(req) and resp.status != 413
                await self._send(writer, req, resp, keep)
                if not keep or self.dev.guard.banned(src):
                    break
        except (TimeoutError, OSError, EOFError, asyncio.IncompleteReadError, ValueError):
            pass
        except Exception as exc:  # a broken handshake or a client that hung up mid-request
            if "SSL" not in type(exc).__name__:
                self.dev.event(f"http error {type(exc).__name__}: {exc}")
        finally:
            await close(writer)

    async def _hostile(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one request the way broken firmware does (see `Http.hostile`)."""
        req = await asyncio.wait_for(_read_request(reader, writer), IDLE_S)
        if req is None:
            return
        head = f"HTTP/1.1 200 OK\r\nServer: {self.dev.model['server']}\r\n".encode()
        mode = self.conf["hostile"]
        if mode == "huge_header":
            writer.write(head + b"X-Padding: " + b"a" * HUGE_HEADER_BYTES + b"\r\n")
            writer.write(b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        elif mode == "endless_body":
            writer.write(head + b"Content-Type: text/html\r\nConnection: close\r\n\r\n")
            async with asyncio.timeout(ENDLESS_LIMIT_S):
                while True:  # until the client hangs up (OSError) or the limit
                    writer.write(ENDLESS_CHUNK)
                    await writer.drain()

    async def _send(
        self, writer: asyncio.StreamWriter, req: Request, resp: Response, keep: bool
    ) -> None:
        head = [
            f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Unknown')}",
            f"Server: {self.dev.model['server']}",
            f"Date: {formatdate(usegmt=True)}",
            f"Content-Length: {len(resp.body)}",
            f"Connection: {'keep-alive' if keep else 'close'}",
        ]
        head += [f"{k}: {v}" for k, v in resp.headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if req.method != "HEAD":
            writer.write(resp.body)
        await writer.drain()

    # --- routing ------------------------------------------------------------------------------

    async def _handle(self, req: Request, src: str) -> Response:
        if req.too_large:
            return Response(413, "too large\n", "text/plain")
        if self.conf.get("redirect_https"):
            return Response(301, "", headers={"Location": f"https://{self.dev.ip}{req.target}"})
        route = self.conf["routes"].get(req.path)
        if route is None:
            resp = self._firmware(req, src)
            if resp.status == 404 and self.conf.get("catch_all"):
                return Response(200, APP_PAGE.format(title=self.realm))  # any path: the app
            return resp
        if route["kind"] == "redirect":
            return Response(302, "", headers={"Location": route["to"]})
        if route["kind"] in PAGES:  # meta refresh, script redirect, the app's script
            ctype = "application/javascript" if route["kind"] == "app_js" else "text/html"
            return Response(200, PAGES[route["kind"]].format(to=route["to"]), ctype)
        if route["kind"] == "login":
            return self._login(req, src, route["to"] or "/login")
        if route["kind"] == "json_login":
            return self._json_login(req, src)
        if route["auth"]:
            denied = self._authorise(req, src)
            if denied is not None:
                return denied
        return self._serve(route["kind"], req)

    def _serve(self, kind: str, req: Request) -> Response:
        m, cfg = self.dev.model, self.dev.cfg
        ident = m["expose_identifiers"]
        if kind == "index":
            title = f"{m['vendor']} {m['model']}" if ident else "Device"
            page = f"<html><head><title>{title} administration</title></head><body>"
            if m.get("ui_update_link") and m.get("manifest"):
                url = f"{m['manifest']['prefix']}/manifest.json"
                page += (f'<p><a href="{url}">Check for updates</a></p><script>'
                         f'function check() {{ return fetch("{url}"); }}</script>')  # fmt: skip
            return Response(200, page + f"<h1>{title}</h1><p>Status: ok</p></body></html>\n")
        if kind == "status":
            data: dict[str, Any] = {"state": "ok", "uptime_s": self._uptime()}
            if ident:
                data = {"model": m["model"], "vendor": m["vendor"], "serial": cfg["serial"],
                        "fw": m["fw"], **data}  # fmt: skip
            return _json(200, data)
        if kind == "config":
            return _json(200, {
                "hostname": self.dev.cfg["name"], "ntp": "198.18.0.1", "telnet": bool(m["telnet"]),
                "cloud_url": "https://cloud.invalid/api", "wifi_ssid": "lab-bench",
                "wifi_psk": "not-a-real-psk", "admin_user": next(iter(self.users), "admin"),
            })  # fmt: skip
        if kind == "logs":
            return Response(200, "\n".join(self.dev.log) + "\n", "text/plain; charset=utf-8")
        if kind == "security":
            guard = self.dev.guard
            return _json(200, {
                "state": "operating_as_expected", "fw": m["fw"],
                "failed_logins": guard.failed_total,
                # locked() forgets expired entries: iterate over a copy.
                "locked_accounts": sorted(u for u in list(guard.locked_until) if guard.locked(u)),
                "tls_only": True, "uptime_s": self._uptime(),
            })  # fmt: skip
        if kind == "security_txt":
            return Response(200, _security_txt(self.dev, self.port), "text/plain; charset=utf-8")
        if kind == "upnp":
            return Response(200, upnp_description(self.dev), "text/xml; charset=utf-8")
        if kind == "upnp_control":
            return upnp_control(req)
        return Response(404, "not found\n", "text/plain")

    def _firmware(self, req: Request, src: str) -> Response:
        man = self.manifest
        files = self.dev.cfg.get("manifest") or {}
        if not man or not req.path.startswith(man["prefix"] + "/"):
            return Response(404, "not found\n", "text/plain")
        leaf = req.path[len(man["prefix"]) + 1 :]
        if man.get("upload") and req.path == man["upload"]:
            if req.method not in ("POST", "PUT"):
                return Response(405, "use POST\n", "text/plain", {"Allow": "POST, PUT"})
            if man["upload_auth"]:
                denied = self._authorise(req, src)
                if denied is not None:
                    return denied
            self.dev.event(f"firmware upload of {len(req.body)} bytes from {src} (discarded)")
            return _json(200, {"status": "accepted", "bytes": len(req.body)})
        name = {"manifest.json": "manifest", "manifest.json.sig": "signature"}.get(leaf)
        if name is None and leaf == files.get("image_name"):
            name = "image"
        path = files.get(name or "")
        if not path:
            return Response(404, "not found\n", "text/plain")
        ctype = {"manifest": "application/json", "signature": "text/plain"}.get(
            name or "", "application/octet-stream"
        )
        return Response(200, Path(path).read_bytes(), ctype)

    def _uptime(self) -> int:
        return int(time.monotonic() - self.dev.started)

    # --- authentication -----------------------------------------------------------------------

    def _authorise(self, req: Request, src: str) -> Response | None:
        """None when the request carries a valid login, else the refusal to send."""
        scheme = self.conf["auth"]
        auth = req.header("authorization")
        if scheme == "form" and _cookie(req, "session") in self.sessions:
            return None
        if scheme == "token":
            if auth.lower().startswith("bearer ") and auth[7:].strip() in self.sessions:
                return None
            return _json(401, {"code": 401, "error": "token required"})
        if scheme == "digest":
            if auth.lower().startswith("digest "):
                user, ok = self._digest_ok(req, auth[7:])
                if self._outcome(src, user, ok):
                    return None
            return Response(401, "unauthorized\n", "text/plain", {
                "WWW-Authenticate": f'Digest realm="{self.realm}", qop="auth", '
                f'algorithm=MD5, nonce="{self._nonce()}", opaque="{self._nonce_key.hex()[:16]}"'
            })  # fmt: skip
        if auth.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return Response(400, "bad authorization\n", "text/plain")
            locked = self._locked(user)
            if locked is not None:
                return locked
            ok = check_login(self.users, scheme == "any", user, password)
            if self._outcome(src, user, ok):
                return None
        if scheme == "form":
            if req.path == "/":
                return Response(302, "", headers={"Location": "/login"})
            return _json(401, {"error": "login required"})
        return Response(401, "unauthorized\n", "text/plain",
                        {"WWW-Authenticate": f'Basic realm="{self.realm}"'})  # fmt: skip

    def _outcome(self, src: str, user: str, ok: bool) -> bool:
        if ok:
            self.dev.guard.success(src, user)
            self.dev.event(f"login ok user={user} from={src} service=http")
        else:
            self.dev.guard.failure(src, user)
            self.dev.event(f"login failed user={user} from={src} service=http")
        return ok

    def _locked(self, user: str) -> Response | None:
        left = self.dev.guard.locked(user)
        if not left:
            return None
        return Response(429, "account locked, try later\n", "text/plain",
                        {"Retry-After": str(int(left) + 1)})  # fmt: skip

    def _login(self, req: Request, src: str, action: str) -> Response:
        csrf = self.conf.get("csrf", False)
        if req.method in ("GET", "HEAD"):
            return self._login_page(action, csrf)
        if req.method != "POST":
            return Response(405, "use POST\n", "text/plain", {"Allow": "GET, POST"})
        form = parse_qs(req.body.decode("utf-8", "replace"))
        if csrf and not hmac.compare_digest(form.get("csrf_token", [""])[0],
                                            self._csrf(_cookie(req, "pre"))):  # fmt: skip
            return Response(403, "<p>Invalid CSRF token, reload the page</p>")
        user = form.get("username", [""])[0]
        password = form.get("password", [""])[0]
        locked = self._locked(user)
        if locked is not None:
            return locked
        if not self._outcome(src, user, check_login(self.users, False, user, password)):
            page = self._login_page(action, csrf)
            page.status = self.conf.get("fail_status", 401)
            page.body = page.body.replace(b"<form", b"<p class=error>Login failed</p><form")
            return page
        token = secrets.token_hex(16)
        self.sessions.add(token)
        secure = "; Secure" if self.tls is not None else ""
        return Response(302, "", headers={
            "Location": "/",
            "Set-Cookie": f"session={token}; Path=/; HttpOnly; SameSite=Strict{secure}",
        })  # fmt: skip

    def _login_page(self, action: str, csrf: bool) -> Response:
        """The login form; with CSRF, a pre-login cookie and the token tied to it."""
        page = LOGIN_FORM.format(title=self.realm).replace('action="/login"', f'action="{action}"')
        if not csrf:
            return Response(200, page)
        pre = secrets.token_hex(8)
        field = f'<input type="hidden" name="csrf_token" value="{self._csrf(pre)}">'
        return Response(200, page.replace("<input", field + "<input", 1),
                        headers={"Set-Cookie": f"pre={pre}; Path=/; HttpOnly"})  # fmt: skip

    def _csrf(self, pre: str) -> str:
        return hmac.new(self._nonce_key, b"csrf:" + pre.encode(), "sha256").hexdigest()[:32]

    def _json_login(self, req: Request, src: str) -> Response:
        """A single-page app's login API: JSON in; a token, or 200 with an error body."""
        if req.method != "POST":
            return _json(405, {"code": 405, "error": "use POST"}, {"Allow": "POST"})
        try:
            data = json.loads(req.body or b"{}")
        except ValueError:
            return _json(400, {"code": 400, "error": "bad request"})
        data = data if isinstance(data, dict) else {}
        user, password = str(data.get("username", "")), str(data.get("password", ""))
        if not self._outcome(src, user, check_login(self.users, False, user, password)):
            return _json(200, {"code": -1, "error": "invalid username or password"})
        token = secrets.token_hex(16)
        self.sessions.add(token)
        return _json(200, {"code": 0, "data": {"token": token, "expires_in": 3600}})

    def _nonce(self) -> str:
        stamp = f"{int(time.time()):x}"
        mac = hmac.new(self._nonce_key, stamp.encode(), "sha256").hexdigest()[:24]
        return f"{stamp}{mac}"

    def _digest_ok(self, req: Request, params: str) -> tuple[str, bool]:
        p = {k: (q if q else v) for k, q, v in DIGEST_PARAM.findall(params)}
        user = p.get("username", "")
        nonce = p.get("nonce", "")
        stamp, mac = nonce[:-24], nonce[-24:]
        good = hmac.new(self._nonce_key, stamp.encode(), "sha256").hexdigest()[:24]
        password = self.users.get(user)
        if password is None or not hmac.compare_digest(mac, good):
            return user, False

        def md5(s: str) -> str:
            return hashlib.md5(s.encode()).hexdigest()

        ha1 = md5(f"{user}:{self.realm}:{password}")
        ha2 = md5(f"{req.method}:{p.get('uri', '')}")
        if p.get("qop"):
            want = md5(f"{ha1}:{nonce}:{p.get('nc', '')}:{p.get('cnonce', '')}:{p['qop']}:{ha2}")
        else:
            want = md5(f"{ha1}:{nonce}:{ha2}")
        return user, hmac.compare_digest(want, p.get("response", ""))


APP_PAGE = """<html><head><title>{title}</title><script src="/static/app.js"></script></head>
<body><div id="app">Loading the {title} app, please wait.</div></body></html>
"""
# Pages that lead elsewhere on their own, and a single-page app's script (route "to" filled in).
PAGES = {
    "meta": '<html><head><meta http-equiv="refresh" content="0; URL={to}"></head></html>\n',
    "script_redirect": "<html><script>window.location.href = '{to}';</script></html>\n",
    "app_js": """var api = {{
  login: function (u, p) {{
    return fetch("{to}", {{method: "POST", headers: {{"Content-Type": "application/json"}},
      body: JSON.stringify({{username: u, password: p}})}})
      .then(function (r) {{ return r.json(); }});
  }},
  device: function (t) {{
    return fetch("/api/v1/device", {{headers: {{Authorization: "Bearer " + t}}}});
  }}
}};
""",
}
LOGIN_FORM = """<html><head><title>{title} login</title></head><body>
<form method="post" action="/login">
<input type="text" name="username"><input type="password" name="password">
<input type="submit" value="Log in"></form></body></html>
"""


def _cookie(req: Request, name: str) -> str:
    for part in req.header("cookie").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


def _keep_alive(req: Request) -> bool:
    conn = req.header("connection").lower()
    if req.version == "HTTP/1.0":
        return conn == "keep-alive"
    return conn != "close"


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> Request | None:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise
    except asyncio.LimitOverrunError as exc:
        raise ValueError("header too large") from exc
    if len(raw) > MAX_HEADER_BYTES:
        raise ValueError("header too large")
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise ValueError("bad request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    req = Request(parts[0].upper(), parts[1], parts[2], headers)
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
        req.body, req.too_large = body or b"", body is None
        return req
    length = int(headers.get("content-length", "0") or 0)
    if length > MAX_BODY_BYTES:
        req.too_large = True
        return req
    if length:
        req.body = await reader.readexactly(length)
    return req


async def _read_chunked(reader: asyncio.StreamReader) -> bytes | None:
    """A chunked body (None when it grows past MAX_BODY_BYTES); trailers are skipped."""
    body = bytearray()
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readline()).strip():
                pass
            return bytes(body) if len(body) <= MAX_BODY_BYTES else None
        if len(body) + size > MAX_BODY_BYTES:
            return None
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def _security_txt(dev: Device, port: int) -> str:
    scheme = "https" if port == 443 else "http"
    vendor = dev.model["vendor"].lower()
    return (
        f"Contact: mailto:security@{vendor}.example\n"
        f"Expires: {dev.cfg['security_txt_expires']}\n"
        "Preferred-Languages: en\n"
        f"Canonical: {scheme}://{dev.ip}/.well-known/security.txt\n"
        f"Policy: https://{vendor}.example/security/policy\n"
    )


def upnp_description(dev: Device) -> str:
    m, cfg = dev.model, dev.cfg
    return f"""<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
<specVersion><major>1</major><minor>0</minor></specVersion>
<device>
<deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType>
<friendlyName>{m["vendor"]} {m["model"]} ({cfg["name"]})</friendlyName>
<manufacturer>{m["vendor"]}</manufacturer>
<modelName>{m["model"]}</modelName>
<modelNumber>{m["fw"]}</modelNumber>
<serialNumber>{cfg["serial"]}</serialNumber>
<UDN>uuid:{device_uuid(cfg["mac"])}</UDN>{_upnp_services(dev)}
</device>
</root>
"""


WANIP = "urn:schemas-upnp-org:service:WANIPConnection:1"


def _upnp_services(dev: Device) -> str:
    """A WANIPConnection service (IGD) where the model has a control route for it."""
    paths = [p for h in dev.model["http"] for p, r in h["routes"].items()
             if r["kind"] == "upnp_control"]  # fmt: skip
    if not paths:
        return ""
    return (f"\n<serviceList><service><serviceType>{WANIP}</serviceType>"
            f"<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>"
            f"<controlURL>{paths[0]}</controlURL><eventSubURL>{paths[0]}/evt</eventSubURL>"
            f"<SCPDURL>/upnp/wanip.xml</SCPDURL></service></serviceList>")  # fmt: skip


def upnp_control(req: Request) -> Response:
    """IGD WANIPConnection:1 control, read actions only: GetExternalIPAddress answers a
    documentation address (RFC 5737, never contacted); GetGenericPortMappingEntry has no entry
    (713); every other action is refused (401 Invalid Action): the lab changes nothing."""
    action = req.header("soapaction").strip('"').rpartition("#")[2]
    if req.method != "POST":
        return Response(405, "use POST\n", "text/plain", {"Allow": "POST"})
    env = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
           's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>{}</s:Body>'
           "</s:Envelope>")  # fmt: skip
    if action == "GetExternalIPAddress":
        body = (f'<u:GetExternalIPAddressResponse xmlns:u="{WANIP}">'
                "<NewExternalIPAddress>203.0.113.7</NewExternalIPAddress>"
                "</u:GetExternalIPAddressResponse>")  # fmt: skip
        return Response(200, env.format(body), 'text/xml; charset="utf-8"')
    code, text = 401, "Invalid Action"
    if action == "GetGenericPortMappingEntry":
        code, text = 713, "SpecifiedArrayIndexInvalid"
    fault = ("<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring>"
             '<detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0">'
             f"<errorCode>{code}</errorCode><errorDescription>{text}</errorDescription>"
             "</UPnPError></detail></s:Fault>")  # fmt: skip
    return Response(500, env.format(fault), 'text/xml; charset="utf-8"')


def device_uuid(mac: str) -> str:
    """A stable UPnP UUID from the MAC (UUID v5-like layout over a SHA-1 of it)."""
    h = hashlib.sha1(b"lanprobe-lab:" + mac.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-a{h[17:20]}-{h[20:32]}"
