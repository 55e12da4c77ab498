"""The profile schema: one device model as its maker and its QA team know it.

A profile plays the part of the ICS and IXIT of ETSI TS 103 701: what the model exposes, what
must require auth, its documented defaults, its update mechanism, its declarations, and the checks
that do not apply with the reason. Profiles are data only: no code, no expressions. Unknown keys are
refused so that a typo is an error, not a silently ignored setting.

Loading, `extends:` and matching live in probe/profiles.py.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Transport = Literal["tcp", "udp"]
_MAC = re.compile(r"[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Match(_Strict):
    """How to recognise the model. The most specific hit wins and is recorded with its strength;
    an OUI or a service banner alone never selects a model (hints only: a radio module's maker,
    or software such as dropbear, is in many products).
    """

    mdns_types: list[str] = Field(default_factory=list)  # e.g. "_acme-cam._tcp.local."
    mdns_txt: dict[str, str] = Field(default_factory=dict)  # TXT key -> exact value, all must hold
    ssdp_models: list[str] = Field(default_factory=list)  # UPnP modelName
    oui: list[str] = Field(default_factory=list)  # "02:1a:2b" prefixes: a hint, never enough
    http_server: list[str] = Field(default_factory=list)  # substrings of the Server header
    # Service kind (ssh, rtsp, snmp, ftp, telnet, ... or "any") -> substrings of what that
    # service announced (SSH version string, RTSP Server, SNMP sysDescr, FTP greeting): a hint
    # that counts only beside another identifier.
    banners: dict[str, list[str]] = Field(default_factory=dict)
    # A bench's own units: exact MACs, or addresses / CIDRs (e.g. "198.18.0.13", "10.1.2.0/28").
    macs: list[str] = Field(default_factory=list)
    addresses: list[str] = Field(default_factory=list)

    @field_validator("macs")
    @classmethod
    def _macs(cls, value: list[str]) -> list[str]:
        for i, mac in enumerate(value):
            if not _MAC.fullmatch(mac):
                raise ValueError(f"macs[{i}] {mac!r} is not a MAC address (aa:bb:cc:dd:ee:ff)")
        return [m.lower().replace("-", ":") for m in value]

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for i, addr in enumerate(value):
            try:
                ipaddress.ip_network(addr, strict=False)
            except ValueError as exc:
                raise ValueError(f"addresses[{i}] {addr!r}: {exc}") from None
        return value


class Port(_Strict):
    """A port the model may expose."""

    port: int = Field(ge=1, le=65535)
    transport: Transport = "tcp"
    service: str = ""  # http, https, telnet, ssh, ftp, mqtt, mqtts, rtsp, ...
    tls: bool = False  # TLS is expected on this port
    # The interface must require authentication; null: not known (`profile init` writes it
    # where the run showed neither a refusal nor an open answer).
    auth: bool | None = True


class HttpLogin(_Strict):
    """How the web admin logs in."""

    # json: a single-page admin's login API (POST a JSON object; token or cookie answers)
    kind: Literal["basic", "digest", "form", "json"] = "basic"
    port: int | None = None  # default: every HTTP(S) port of the device
    path: str = "/"  # where the login is sent (a form's action)
    page: str = ""  # form logins: the page that shows the form ("" = path); read for its
    # cookies, hidden fields and CSRF token before each attempt
    user_field: str = "username"  # form logins
    password_field: str = "password"
    success_status: list[int] = Field(default_factory=lambda: [200, 302, 303])
    failure_marker: str = ""  # text a refused form login shows; "" = judge by status/cookie
    # form/json logins: fixed fields sent with every attempt (e.g. an OAuth client_id)
    extra_fields: dict[str, str] = Field(default_factory=dict)
    # json logins: how the fields are posted (an OAuth 2.0 token endpoint takes a form body)
    body: Literal["json", "form"] = "json"
    # form/json logins: a path that refuses without a login and answers after one (the proof
    # that a login worked; "" = found on the device, else the answer to the login is judged)
    protected: str = ""


class Credential(_Strict):
    user: str
    password: str
    services: list[str] = Field(default_factory=list)  # [] = every login service
    source: str = ""  # e.g. "user manual p.12"


class Lockout(_Strict):
    """The model's documented reaction to failed logins (LAI-3)."""

    threshold: int = Field(ge=1, le=100)  # failures after which it slows or refuses
    # "account": locks the account tried (the probe may test it with a throwaway user);
    # "source": bans the client address (the probe stays below threshold, or it locks itself out)
    scope: Literal["account", "source"] = "account"
    penalty_s: float = Field(default=60.0, ge=0.0)
    # Failures further apart than this are forgotten (fail2ban's findtime; 600 s is its default).
    window_s: float = Field(default=600.0, gt=0.0, le=86400.0)


Depth = Literal["quick", "standard", "deep"]


class Window(_Strict):
    """The failure limits the probe keeps when the profile documents no lockout (issue 12).

    Nothing known of the device: stay under common thresholds (fail2ban maxretry 5 in 600 s, PAM
    faillock deny=3, many web UIs 5): at most `per_account` failures of one username across the
    device and `per_service` on one service in one burst, a burst ending after `window_s` without
    a failure. `null` in a profile: the maker documents that the model locks and bans nothing.
    """

    per_account: int = Field(default=2, ge=1, le=100)
    per_service: int = Field(default=4, ge=1, le=100)
    window_s: float = Field(default=600.0, gt=0.0, le=86400.0)


class Credentials(_Strict):
    defaults: list[Credential] = Field(default_factory=list)  # documented by the maker: tried first
    lists: list[str] = Field(default_factory=list)  # names in profiles/credentials/, in order
    max_attempts: int = Field(default=6, ge=1, le=100)  # per service, wrong-password probe included
    pacing_s: float = Field(default=0.2, ge=0.0, le=60.0)
    lockout: Lockout | None = None
    # Pacing when no lockout is documented (ignored when `lockout` is given); null: none needed.
    window: Window | None = Field(default_factory=Window)
    # quick: max_attempts per service; standard: every candidate that fits, paced under the
    # lockout limits; deep: standard plus the large lists. `probe scan --depth` overrides it.
    depth: Depth | None = None
    lab: Credential | None = None  # authorised credentials for the bench's own unit


class Interfaces(_Strict):
    """HTTP paths by role. Each must require auth; found open they are findings."""

    admin_paths: list[str] = Field(default_factory=list)  # config / admin / API
    status_paths: list[str] = Field(default_factory=list)  # security state, logs
    upload_paths: list[str] = Field(default_factory=list)  # firmware upload
    public_paths: list[str] = Field(default_factory=list)  # meant to be open (e.g. /, /login)
    http_login: HttpLogin | None = None


class Update(_Strict):
    """The model's update mechanism (IXIT)."""

    manifest_url: str = ""  # path or URL; "{ip}" is replaced with the device address
    port: int | None = None
    scheme: Literal["http", "https", ""] = ""
    signature_url: str = ""  # detached signature; "" = inside the manifest ("signature" field)
    public_key: str = ""  # PEM (Ed25519, ECDSA or RSA)
    latest_firmware: str = ""
    firmware_sources: list[str] = Field(default_factory=list)  # where the unit reports its fw


class StateReporting(_Strict):
    """How an authorised party reads the device's security state (CSA-1, CSA-3)."""

    port: int | None = None
    path: str = ""
    scheme: Literal["http", "https"] = "https"


class Foundational(_Strict):
    """NIST IR 8259 pre-sale questions the maker answers."""

    customers: str = ""
    use_cases: str = ""
    environment: str = ""
    dependencies: str = ""
    misuse: str = ""
    data: str = ""
    support: str = ""
    end_of_life: str = ""
    problem_reporting: str = ""


class Declarations(_Strict):
    """The maker's statements (NIST IR 8259/8259B), and what the network cannot show (ICS)."""

    support_end: date | None = None
    end_of_life: str = ""
    vulnerability_contact: str = ""  # URL or mailto
    foundational: Foundational = Field(default_factory=Foundational)
    # 8259A elements or features the network cannot verify, with the maker's statement:
    # listed in reports as `declared`, never counted as a pass.
    declared: dict[str, str] = Field(default_factory=dict)


class Profile(_Strict):
    id: str
    version: str = "1"
    extends: str | None = None
    vendor: str = ""
    model: str = ""
    description: str = ""
    match: Match = Field(default_factory=Match)
    ports: list[Port] = Field(default_factory=list)
    strict_ports: bool = True  # False (generic): report unknown ports, graded by service
    interfaces: Interfaces = Field(default_factory=Interfaces)
    credentials: Credentials = Field(default_factory=Credentials)
    tls_ca_file: str = ""  # CA the model's certificates chain to; relative to the profile
    update: Update = Field(default_factory=Update)
    state: StateReporting | None = None
    declarations: Declarations = Field(default_factory=Declarations)
    # check id -> reason: the check is `not_applicable` for this model, with that reason
    not_applicable: dict[str, str] = Field(default_factory=dict)

    def allowed_port(self, port: int, transport: str = "tcp") -> Port | None:
        for p in self.ports:
            if p.port == port and p.transport == transport:
                return p
        return None
