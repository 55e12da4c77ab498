"""The login methods: one registry of (method, the service kinds it logs in on, an attempt).

`configuration.default-login` and `access.no-lockout` reach every protocol through here: a new
login interface is a client (checks/clients/) and one `@login_method(...)` registration below,
not edits across modules. HTTP is the one kind with several methods (Basic, Digest, forms): its
interface is found on the device (campaign.find_interface), the others by kind.

An attempt function makes ONE attempt and returns the measured `LoginAttempt` (never judged
here, never guarded here: the campaign holds the guard and the pacer).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lanprobe.checks.clients import ftp as ftp_client
from lanprobe.checks.clients import http as http_client
from lanprobe.checks.clients import mqtt as mqtt_client
from lanprobe.checks.clients import rtsp as rtsp_client
from lanprobe.checks.clients import ssh as ssh_client
from lanprobe.checks.clients import telnet as telnet_client
from lanprobe.checks.clients.login import LoginAttempt, Prompts
from lanprobe.checks.context import CheckContext, DeviceSession
from lanprobe.profile_schema import HttpLogin


@dataclass
class LoginInterface:
    """How to log in on one service: the method and, for HTTP, where."""

    kind: str
    method: str  # a registered method: basic | digest | form | telnet | ssh | ftp | mqtt | ...
    port: int
    tls: bool
    ip: str = ""  # "" = the device address; an IPv6 one for a port open over IPv6 only
    path: str = ""
    form: HttpLogin | None = None
    realm: str = ""
    how: tuple[str, ...] = ()  # how the login was found (web logins: the pages and scripts)
    # What the device itself showed of this login (an HTTP challenge, a password form): the
    # login is observed even if no attempt is made. "" when it is declared or inferred only.
    seen: str = ""

    def describe(self) -> str:
        if self.method in HTTP_METHODS:
            return f"HTTP {self.method} login on {self.kind}/{self.port} {self.path}"
        if self.method == "rtsp":
            return f"RTSP {self.realm} login on port {self.port} {self.path}"
        return f"{self.method} login on port {self.port}"


AttemptFn = Callable[[CheckContext, LoginInterface, str, str], Awaitable[LoginAttempt]]


@dataclass(frozen=True)
class LoginMethod:
    name: str
    kinds: tuple[str, ...]  # service kinds found by kind alone; () = found another way (HTTP)
    attempt: AttemptFn
    tls_kinds: tuple[str, ...] = ()  # of those, the kinds that are TLS by definition


METHODS: dict[str, LoginMethod] = {}
HTTP_METHODS = ("basic", "digest", "form", "json")


def login_method(
    name: str, kinds: tuple[str, ...] = (), tls_kinds: tuple[str, ...] = ()
) -> Callable[[AttemptFn], AttemptFn]:
    """Register an attempt function as login method `name` for service `kinds`."""

    def register(fn: AttemptFn) -> AttemptFn:
        if name in METHODS:
            raise ValueError(f"login method {name!r} registered twice")
        taken = [k for k in kinds if method_for_kind(k) is not None]
        if taken:
            raise ValueError(f"login method {name!r}: kinds {taken} already have a method")
        METHODS[name] = LoginMethod(name=name, kinds=kinds, attempt=fn, tls_kinds=tls_kinds)
        return fn

    return register


def method_for_kind(kind: str) -> LoginMethod | None:
    """The method that logs in on a service of `kind` (not HTTP: that one is found)."""
    for method in METHODS.values():
        if kind in method.kinds:
            return method
    return None


def login_kinds() -> tuple[str, ...]:
    """Every service kind some method logs in on, HTTP included."""
    kinds = ["http", "https"]
    for method in METHODS.values():
        kinds += [k for k in method.kinds if k not in kinds]
    return tuple(kinds)


async def attempt(
    ctx: CheckContext, iface: LoginInterface, user: str, password: str
) -> LoginAttempt:
    """One login attempt through the interface's method (no guard here: callers hold it)."""
    method = METHODS.get(iface.method)
    if method is None:
        raise ValueError(f"unknown login method {iface.method}")
    return await method.attempt(ctx, iface, user, password)


def login_prompts(ctx: CheckContext) -> Prompts:
    """Telnet prompts and the failure/lockout/token messages of logins (a data file)."""
    return Prompts.load(ctx.options.data_file("login-prompts.txt"))


def record_host_key(session: DeviceSession, port: int, key: ssh_client.HostKey) -> None:
    """facts["ssh_host_keys"][port] = SHA-256 fingerprint (the form identification.py keeps):
    every login attempt sees the host key, so the bench-wide shared-key check gets it for free."""
    session.facts.setdefault("ssh_host_keys", {})[port] = key.fingerprint


# --- the built-in methods -------------------------------------------------------------------------


def _where(ctx: CheckContext, iface: LoginInterface) -> str:
    """The address the interface was found on, else where its port is reached (IPv6 only too)."""
    return iface.ip or ctx.address(iface.port)


@login_method("basic")
@login_method("digest")
async def _http_auth(ctx: CheckContext, iface: LoginInterface, user: str, pw: str) -> LoginAttempt:
    """HTTP Basic or Digest (the interface's method says which)."""
    ip = _where(ctx, iface)
    return await http_client.auth_login(ip, iface.port, iface.path, user, pw, kind=iface.method,
                                        tls=iface.tls, timeouts=ctx.timeouts,
                                        prompts=login_prompts(ctx))  # fmt: skip


@login_method("form")
@login_method("json")
async def _web(ctx: CheckContext, iface: LoginInterface, user: str, pw: str) -> LoginAttempt:
    """A form or JSON login (the interface's `form` says which)."""
    assert iface.form is not None
    ip = _where(ctx, iface)
    return await http_client.web_login(ip, iface.port, iface.form, user, pw, tls=iface.tls,
                                       timeouts=ctx.timeouts,
                                       prompts=login_prompts(ctx))  # fmt: skip


@login_method("telnet", kinds=("telnet",))
async def _telnet(ctx: CheckContext, iface: LoginInterface, user: str, pw: str) -> LoginAttempt:
    return await telnet_client.login(
        _where(ctx, iface), iface.port, user, pw, prompts=login_prompts(ctx), timeouts=ctx.timeouts
    )


@login_method("ftp", kinds=("ftp",))
async def _ftp(ctx: CheckContext, iface: LoginInterface, user: str, pw: str) -> LoginAttempt:
    return await ftp_client.login(_where(ctx, iface), iface.port, user, pw, timeouts=ctx.timeouts)


@login_method("mqtt", kinds=("mqtt", "mqtts"), tls_kinds=("mqtts",))
async def _mqtt(ctx: CheckContext, iface: LoginInterface, user: str, pw: str) -> LoginAttempt:
    return await mqtt_client.login(
        _where(ctx, iface), iface.port, user, pw, tls=iface.tls, timeouts=ctx.timeouts
    )


@login_method("ssh", kinds=("ssh",))
async def _ssh(ctx: CheckContext, iface: LoginInterface, user: str, pw: str) -> LoginAttempt:
    result, key = await ssh_client.login(
        _where(ctx, iface), iface.port, user, pw, timeouts=ctx.timeouts
    )
    if key is not None:
        record_host_key(ctx.session, iface.port, key)
    return result


@login_method("rtsp", kinds=("rtsp",))
async def _rtsp(ctx: CheckContext, iface: LoginInterface, user: str, pw: str) -> LoginAttempt:
    """DESCRIBE with Basic or Digest on the stream path campaign.find_interface found."""
    return await rtsp_client.login(_where(ctx, iface), iface.port, iface.path, user, pw,
                                   ctx.timeouts)  # fmt: skip
