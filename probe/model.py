"""Core types. Everything downstream of a scan reads a `ScanRun` and nothing else.

The JSON form of a `ScanRun` is run.json (schema_version 1, see docs/architecture.md). Fields may
be added freely; renaming or removing one needs a new `SCHEMA_VERSION`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class Capability(StrEnum):
    """The six device capabilities of NIST IR 8259A, plus the maker's declarations (8259/8259B)."""

    device_identification = "device_identification"
    device_configuration = "device_configuration"
    data_protection = "data_protection"
    logical_access = "logical_access"
    software_update = "software_update"
    cybersecurity_state_awareness = "cybersecurity_state_awareness"
    declarations = "declarations"


class Verdict(StrEnum):
    """Verdicts after ETSI TS 103 701, plus `error` for a check that broke."""

    passed = "pass"
    fail = "fail"
    inconclusive = "inconclusive"
    not_applicable = "not_applicable"
    error = "error"


class Severity(StrEnum):
    info = "info"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.info: 0,
    Severity.low: 1,
    Severity.medium: 2,
    Severity.high: 3,
    Severity.critical: 4,
}


class DeviceVerdict(StrEnum):
    conforms = "conforms"
    does_not_conform = "does_not_conform"
    inconclusive = "inconclusive"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Service(_Model):
    """One open port as discovery saw it."""

    port: int
    transport: str = "tcp"
    name: str = ""
    product: str = ""
    version: str = ""
    banner: str = ""
    tls: bool = False
    # The device addresses the port was found open on (IPv4 and IPv6); [] when not recorded.
    addresses: list[str] = Field(default_factory=list)

    @property
    def ipv6_only(self) -> bool:
        """Found only on IPv6 addresses: IPv4 filtering or an IPv4-only scan never sees it."""
        return bool(self.addresses) and all(":" in a for a in self.addresses)


class MdnsService(_Model):
    type: str
    name: str
    port: int = 0
    txt: dict[str, str] = Field(default_factory=dict)
    addresses: list[str] = Field(default_factory=list)


class Identifier(_Model):
    """A value that identifies the unit (serial, model, fw, udn...) and where it was seen."""

    value: str
    source: str


class Destination(_Model):
    """Where a device sent packets on its own during the gateway's observation window."""

    address: str
    port: int | None = None
    transport: str = "tcp"
    protocol: str = (
        ""  # what was seen there (http, tls, mqtt, dns, ntp...) or guessed from the port
    )
    name: str = ""  # the name the device asked for (SNI, HTTP Host) where one was seen
    packets: int = 0
    bytes: int = 0


class TlsClientFacts(_Model):
    """One TLS connection the device opened to the sinkhole (gateway mode)."""

    port: int
    sni: str = ""
    versions: list[str] = Field(default_factory=list)  # offered, highest first
    suites: list[str] = Field(default_factory=list)  # offered, IANA names
    weak_suites: list[str] = Field(default_factory=list)
    handshake: str = ""  # completed | refused | no ClientHello | not TLS: ...
    reason: str = ""  # why the client stopped (its alert), when it did
    # which certificate it was shown: "untrusted" (self-signed) or "wrong name" (from a CA the
    # units trust, `probe gateway up --ca`, for a name it did not ask for)
    certificate: str = "untrusted"
    # accepted the certificate it was shown; None: the handshake never got that far
    accepted_untrusted_cert: bool | None = None
    sent_data: bool = False  # application data after the handshake with our certificate
    negotiated: str = ""
    connections: int = 1


class CleartextUse(_Model):
    """A cleartext protocol the device used on its own, and what it carried."""

    protocol: str  # http, mqtt, ftp, telnet
    port: int
    summary: str = ""
    credentials: list[str] = Field(default_factory=list)  # what kind (never the secret itself)
    identifiers: list[str] = Field(default_factory=list)  # which of the unit's identifiers
    telemetry: bool = False  # a payload (MQTT publish, HTTP body) went out
    connections: int = 1


class UpdatePoll(_Model):
    """A request the device made on its own that looks for firmware (gateway mode)."""

    url: str
    transport: str  # http | https
    validated_certificate: bool | None = None  # https: True = refused our untrusted cert
    tls_versions: list[str] = Field(default_factory=list)
    weak_suites: list[str] = Field(default_factory=list)  # broken suites its client offers
    source: str = ""  # what made it an update poll (a path word, an SNI name)


class DhcpBehaviour(_Model):
    messages: list[str] = Field(default_factory=list)
    requested_options: list[str] = Field(default_factory=list)
    vendor_class: str = ""
    hostname: str = ""
    lease_ip: str = ""


class NtpBehaviour(_Model):
    requests: int = 0
    versions: list[int] = Field(default_factory=list)
    server: str = ""


def _unicast(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not (ip.is_multicast or ip.is_unspecified or str(ip) == "255.255.255.255")


class DeviceTraffic(_Model):
    """What the device sent on its own while lanprobe was its network (gateway mode)."""

    window_s: float = 0.0
    names: list[str] = Field(default_factory=list)  # DNS names it resolved
    destinations: list[Destination] = Field(default_factory=list)
    tls: list[TlsClientFacts] = Field(default_factory=list)
    cleartext: list[CleartextUse] = Field(default_factory=list)
    update_polls: list[UpdatePoll] = Field(default_factory=list)
    # names it looked up that look like update hosts (`update.vendor.example`), polled or not
    update_names: list[str] = Field(default_factory=list)
    # connections to the sinkhole whose cleartext it could not read ("tcp/1883: 9 bytes, ...")
    unread: list[str] = Field(default_factory=list)
    dhcp: DhcpBehaviour | None = None
    ntp: NtpBehaviour | None = None
    packets: int = 0  # packets it sent in the window (from the capture)
    pcap: str = ""  # the capture file the evidence points at
    capture_filter: str = ""  # the unit's packets in it: "ether host M or host IP ..."

    @property
    def silent(self) -> bool:
        """Started nothing of its own: no name looked up, no NTP, no connection to a unicast
        address. `packets` is no evidence: it counts the unit's answers to the scan's probes, and
        flows to multicast (mDNS, SSDP) include answers to the scan's discovery queries."""
        return not (
            self.names
            or self.tls
            or self.cleartext
            or self.ntp
            or any(_unicast(d.address) for d in self.destinations)
        )

    def summary_lines(self) -> list[tuple[str, str]]:
        """(label, text) lines for the reports: what the device did on its own."""
        out = [("window", f"{self.window_s:g} s, {self.packets} packets sent")]
        if self.names:
            out.append(("names resolved", ", ".join(self.names[:12])))
        for d in self.destinations[:12]:
            name = f" ({d.name})" if d.name else ""
            where = f"{d.address}:{d.port}/{d.transport} {d.protocol}{name}"
            out.append(("destination", f"{where}: {d.packets} packets, {d.bytes} bytes"))
        for c in self.tls:
            shown = "untrusted" if c.certificate == "untrusted" else "trusted-CA, wrong-name"
            cert = {
                True: f"ACCEPTED our {shown} certificate",
                False: f"refused our {shown} certificate",
                None: f"handshake {c.handshake}",
            }[c.accepted_untrusted_cert]
            weak = f", broken suites {', '.join(c.weak_suites[:3])}" if c.weak_suites else ""
            offers = f"offers {', '.join(c.versions)} ({len(c.suites)} suites){weak}"
            out.append(("TLS client", f"port {c.port} SNI {c.sni or '-'}: {offers}; {cert}"))
        for u in self.cleartext:
            carried = [*u.credentials, *u.identifiers, *(["telemetry"] if u.telemetry else [])]
            extra = f" [{'; '.join(carried)}]" if carried else ""
            out.append(("cleartext", f"{u.protocol}/{u.port}: {u.summary}{extra}"))
        for p in self.update_polls:
            out.append(("update poll", f"{p.url} ({p.source})"))
        for u in self.unread[:5]:
            out.append(("not read", u))
        if self.dhcp:
            dhcp = self.dhcp
            asked = ", ".join(dhcp.requested_options[:8])
            out.append(
                (
                    "DHCP",
                    f"{' '.join(dhcp.messages[-4:])}; lease {dhcp.lease_ip}; "
                    f"host name {dhcp.hostname or '-'}; asked for {asked}",
                )
            )
        if self.ntp:
            out.append(("NTP", f"{self.ntp.requests} requests, version {self.ntp.versions}"))
        if self.pcap:
            where = f" (filter: {self.capture_filter})" if self.capture_filter else ""
            out.append(("capture", f"{self.pcap}{where}"))
        return out


class ProfileMatch(_Model):
    """How a device's profile was chosen (issue 11: an OUI alone never selects a model).

    strength: `strong` (a model identifier: mDNS TXT, SSDP model, a bench's MAC or address list,
    or two different identifiers agreeing), `weak` (one lesser identifier alone: an HTTP Server
    header, a service banner, a bare mDNS type), `none` (no profile matched: generic).
    """

    strength: Literal["strong", "weak", "none"] = "none"
    identifiers: list[str] = Field(default_factory=list)  # what the device showed that agreed
    hints: list[str] = Field(default_factory=list)  # "<profile>: OUI <prefix>", not acted on
    conflicts: list[str] = Field(default_factory=list)  # "<profile>: <identifier>" disagreeing

    @property
    def doubtful(self) -> bool:
        """Worth a reader's attention: a weak or conflicting match."""
        return self.strength == "weak" or bool(self.conflicts)

    @property
    def flags(self) -> str:
        """ "weak", "conflicting", both, or "" for a strong match (reports' short label)."""
        out = ["weak"] if self.strength == "weak" else []
        if self.conflicts:
            out.append("conflicting")
        return ", ".join(out)


class Device(_Model):
    key: str
    ips: list[str] = Field(default_factory=list)
    mac: str | None = None
    vendor: str = ""
    hostname: str = ""
    mdns: list[MdnsService] = Field(default_factory=list)
    ssdp: dict[str, str] = Field(default_factory=dict)
    services: list[Service] = Field(default_factory=list)
    identifiers: dict[str, Identifier] = Field(default_factory=dict)
    profile: str | None = None
    profile_reason: str = ""
    profile_match: ProfileMatch | None = None  # None: a run written before it was recorded
    seen_by: list[str] = Field(default_factory=list)
    # What the unit said it is, as observed on the network (identifiers "model" and "fw"):
    # the fleet view and history group runs by these; "" when the unit did not say.
    model: str = ""
    firmware: str = ""
    traffic: DeviceTraffic | None = None  # gateway mode only

    @property
    def ip(self) -> str:
        """The address checks talk to: the first one discovery saw."""
        return self.ips[0] if self.ips else ""

    def service(self, port: int, transport: str = "tcp") -> Service | None:
        for svc in self.services:
            if svc.port == port and svc.transport == transport:
                return svc
        return None

    def identifier(self, name: str) -> str | None:
        ident = self.identifiers.get(name)
        return ident.value if ident else None

    def record_observed(self) -> None:
        """Copy the observed model and firmware identifiers into `model` and `firmware`."""
        self.model = self.identifier("model") or self.model
        self.firmware = self.identifier("fw") or self.firmware


class Target(_Model):
    port: int | None = None
    transport: str = "tcp"
    service: str = ""
    address: str = ""  # where the check reached it, when not the device's address (IPv6 only)


class Result(_Model):
    check_id: str
    device: str
    capability: Capability
    verdict: Verdict
    severity: Severity
    title: str
    target: Target = Field(default_factory=Target)
    evidence: dict[str, Any] = Field(default_factory=dict)
    references: list[str] = Field(default_factory=list)
    duration_s: float = 0.0


class CapabilityScore(_Model):
    score: float | None = None  # None when nothing weighted was decided
    coverage: float = 0.0  # % of the capability's 8259A elements verified over the network
    passed: int = 0
    failed: int = 0
    inconclusive: int = 0
    not_applicable: int = 0
    declared: list[str] = Field(default_factory=list)
    min_coverage: float = 0.0  # the baseline's minimum for a `conforms` verdict
    unverified: list[str] = Field(default_factory=list)  # elements no decided check verified


class DeviceScore(_Model):
    device: str
    verdict: DeviceVerdict
    score: float | None = None
    coverage: float = 0.0  # % of the baseline's elements verified over the network (0-100)
    capabilities: dict[str, float | None] = Field(default_factory=dict)
    details: dict[str, CapabilityScore] = Field(default_factory=dict)
    baseline_version: str = ""
    profile: str | None = None
    profile_version: str = ""
    # Why the verdict is not `conforms`: the grave fails, the grave checks left undecided, the
    # capabilities below their minimum coverage. Empty for a conforming device.
    reasons: list[str] = Field(default_factory=list)
    lacking_evidence: list[str] = Field(default_factory=list)  # capabilities below the minimum


class ToolInfo(_Model):
    name: str = "lanprobe"
    version: str = ""


class HostInfo(_Model):
    """The machine the probe ran on (one bench host among many in a fleet)."""

    hostname: str = ""
    platform: str = ""
    python: str = ""


class ScanCoverage(_Model):
    """What discovery looked for on every device it found: the TCP ports scanned on each of its
    addresses, the UDP services asked, the address families swept. A check that finds nothing
    to judge says what was looked for (a device's only service may sit on a port not covered)."""

    tcp_ports: int = 0  # ports scanned per address; 0: no port scan
    tcp: str = ""  # where they come from: "nmap's top 100, the IoT port list, ...", "all 65535"
    udp: list[str] = Field(default_factory=list)  # "161/snmp", "69/tftp", ...
    families: list[str] = Field(default_factory=list)  # "IPv4", "IPv6"

    def describe(self) -> str:
        """One line: "TCP: 131 ports (...) on IPv4; UDP: 161/snmp, 69/tftp"."""
        on = f" on {' and '.join(self.families)}" if self.families else ""
        tcp = f"TCP: {self.tcp_ports} ports ({self.tcp}){on}" if self.tcp_ports else "TCP: none"
        return f"{tcp}; UDP: {', '.join(self.udp) or 'none'}"


class ScopeInfo(_Model):
    interfaces: list[str] = Field(default_factory=list)
    cidrs: list[str] = Field(default_factory=list)
    lab: bool = False

    def same_as(self, other: ScopeInfo) -> bool:
        """The same interfaces and networks (in any order): runs that can be compared."""
        return (
            sorted(self.interfaces) == sorted(other.interfaces)
            and sorted(self.cidrs) == sorted(other.cidrs)
            and self.lab == other.lab
        )

    def label(self) -> str:
        """Short and stable, for tables: "lab plab0 198.18.0.0/24", "eth1 10.9.0.0/24"."""
        parts = (["lab"] if self.lab else []) + sorted(self.interfaces) + sorted(self.cidrs)
        return " ".join(parts) or "-"


def digest(data: Any) -> str:
    """A short fingerprint of JSON-able data (a profile, the baseline): a diff can tell that
    the expectations changed even when nobody raised their version."""
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def utcnow() -> datetime:
    return datetime.now(UTC)


class GatewayInfo(_Model):
    """Gateway mode as it ran for this scan (probe/gateway)."""

    iface: str
    address: str
    window_s: float
    upstream: bool = False
    pcap: str = ""  # kept under --out; evidence points at it
    started_by_scan: bool = False
    trusted_ca: str = ""  # the CA whose wrong-name certificate was shown too ("": names untested)


class ScanRun(_Model):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    started: datetime = Field(default_factory=utcnow)
    finished: datetime | None = None
    interrupted: bool = False
    partial: bool = False  # discovery was limited (no root: no ARP, no -sS)
    tool: ToolInfo = Field(default_factory=ToolInfo)
    bench: str = ""  # the bench's name (--bench; the probe host's name by default)
    # Where this run's HTML report is published (probe scan --report-url, e.g. the CI job's
    # artifact URL): the fleet page links this run there. Empty: its --report-url template.
    report_url: str = ""
    host: HostInfo = Field(default_factory=HostInfo)
    scope: ScopeInfo = Field(default_factory=ScopeInfo)
    coverage: ScanCoverage | None = None  # what discovery looked for (None: not recorded)
    baseline: dict[str, str] = Field(default_factory=dict)  # id, version
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)  # id -> version, declarations
    devices: list[Device] = Field(default_factory=list)
    results: list[Result] = Field(default_factory=list)
    scores: dict[str, DeviceScore] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    # Wall time of each phase (discovery, checks, bench, and discovery's own sub-phases).
    timings_s: dict[str, float] = Field(default_factory=dict)
    gateway: GatewayInfo | None = None

    def device(self, key: str) -> Device | None:
        for dev in self.devices:
            if dev.key == key:
                return dev
        return None

    def results_for(self, device_key: str) -> list[Result]:
        return [r for r in self.results if r.device == device_key]

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> ScanRun:
        data = json.loads(text)
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            from lanprobe.errors import ProbeError

            raise ProbeError(f"run.json schema_version {version!r} is not {SCHEMA_VERSION}")
        return cls.model_validate(data)

    def write(self, path: Path) -> None:
        """Write atomically, so an interrupted write never leaves half a run.json."""
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> ScanRun:
        return cls.from_json(path.read_text(encoding="utf-8"))
