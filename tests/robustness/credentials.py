"""Log in to every lab device with its right credentials (lab/models.py), through the probe's
own clients: HTTP Basic/Digest/form, telnet, FTP, SSH and MQTT. Used to show that scans lock no
device out."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from pathlib import Path

from lanprobe.checks.clients import ftp, http, mqtt, ssh, telnet
from lanprobe.checks.clients.login import LoginAttempt
from lanprobe.checks.context import Timeouts
from lanprobe.lab.bench import BenchState, LabDevice
from lanprobe.lab.models import BY_ID, LAB_USER, Http, Login, Model
from lanprobe.profile_schema import HttpLogin

PROMPTS = telnet.Prompts.load(
    Path(__file__).resolve().parents[2] / "profiles" / "data" / "login-prompts.txt"
)
TIMEOUTS = Timeouts(connect_s=3.0, read_s=5.0)
FORM = HttpLogin(kind="form", path="/login", success_status=[302, 303],
                 failure_marker="Login failed")  # fmt: skip


@dataclass
class Outcome:
    device: str
    service: str
    port: int
    user: str
    attempt: LoginAttempt

    def __str__(self) -> str:
        a = self.attempt
        return (f"{self.device} {self.service}/{self.port} {self.user}: accepted={a.accepted} "
                f"{a.answer or a.error} {a.sign}".strip())  # fmt: skip


def _pairs(users: dict[str, str], accept_any: bool) -> list[tuple[str, str]]:
    if accept_any or not users:
        return [(LAB_USER, "any-" + secrets.token_hex(4))] if accept_any else []
    return list(users.items())


def _login_pairs(login: Login) -> list[tuple[str, str]]:
    return _pairs(login.users, login.accept_any)


def _web_login(web: Http) -> HttpLogin | None:
    """How a form or JSON-token web UI of the lab takes a login (its routes say where), or None
    for Basic/Digest."""
    if web.auth == "token":
        path = next(p for p, r in web.routes.items() if r.kind == "json_login")
        return HttpLogin(kind="json", path=path)
    if web.auth != "form":
        return None
    page, route = next(((p, r) for p, r in web.routes.items() if r.kind == "login"), ("", None))
    if route is None:
        return FORM
    return FORM.model_copy(update={"page": page, "path": route.to or page})


async def _device(dev: LabDevice, model: Model) -> list[Outcome]:
    out: list[Outcome] = []

    async def record(service: str, port: int, user: str, attempt: LoginAttempt) -> None:
        out.append(Outcome(dev.name, service, port, user, attempt))

    for web in model.http:
        tls = web.tls is not None
        api = _web_login(web)
        for user, password in _pairs(web.users, web.auth == "any"):
            if api is not None:
                a = await http.web_login(dev.ip, web.port, api, user, password, tls=tls,
                                          timeouts=TIMEOUTS)  # fmt: skip
            else:
                kind = "digest" if web.auth == "digest" else "basic"
                a = await http.auth_login(dev.ip, web.port, "/", user, password, kind=kind,
                                          tls=tls, timeouts=TIMEOUTS)  # fmt: skip
            await record(f"http-{web.auth}", web.port, user, a)
    if model.telnet:
        for user, password in _login_pairs(model.telnet):
            a = await telnet.login(dev.ip, model.telnet.port, user, password, prompts=PROMPTS,
                                   timeouts=TIMEOUTS)  # fmt: skip
            await record("telnet", model.telnet.port, user, a)
    if model.ftp:
        for user, password in _login_pairs(model.ftp):
            a = await ftp.login(dev.ip, model.ftp.port, user, password, timeouts=TIMEOUTS)
            await record("ftp", model.ftp.port, user, a)
    if model.ssh:
        for user, password in _login_pairs(model.ssh):
            a, _key = await ssh.login(dev.ip, model.ssh.port, user, password, timeouts=TIMEOUTS)
            await record("ssh", model.ssh.port, user, a)
    if model.mqtt:
        mq = model.mqtt
        for port, tls in ((mq.port, False), (mq.tls_port, True)):
            if port is None:
                continue
            if mq.anonymous:
                got = await mqtt.connect(dev.ip, port, tls=tls, timeouts=TIMEOUTS)
                a = LoginAttempt("", "", got.accepted, answer=got.answer, error=got.error)
                await record("mqtt-anonymous", port, "", a)
            for user, password in mq.users.items():
                a = await mqtt.login(dev.ip, port, user, password, tls=tls, timeouts=TIMEOUTS)
                await record("mqtt", port, user, a)
    return out


async def right_logins(bench: BenchState) -> list[Outcome]:
    """One login with the right credentials on every login service of every device."""
    per_device = await asyncio.gather(*(_device(d, BY_ID[d.model]) for d in bench.devices))
    return [o for outcomes in per_device for o in outcomes]


def refused_right_logins(bench: BenchState) -> tuple[list[Outcome], list[Outcome]]:
    """(every login made, those not accepted)."""
    outcomes = asyncio.run(right_logins(bench))
    return outcomes, [o for o in outcomes if o.attempt.accepted is not True]
