"""The emulated device models, as data. Each flaw is a switch (a field) here.

lab/README.md is the contract that profiles and checks are written against; keep the two in step.
The bench turns a `Model` plus a unit index into a device config (lab/bench.py) and the device
process (lab/device.py) starts the services that config names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The bench's own (authorised) credentials: strong and unlike any default.
LAB_USER = "labadmin"

# Cipher strings for the stdlib ssl server contexts (OpenSSL 3.0 syntax).
STRONG_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
# Debian's OpenSSL 3.0 is built without `enable-weak-ssl-ciphers`: 3DES and RC4 do not exist in
# it at any security level, so the weak model offers static-RSA CBC-SHA suites instead.
WEAK_CIPHERS = "DEFAULT:AES128-SHA:AES256-SHA:CAMELLIA128-SHA:CAMELLIA256-SHA:@SECLEVEL=0"


@dataclass(frozen=True)
class Tls:
    """A TLS listener: which certificate (see lab/certs.py) and which versions and suites."""

    cert: str  # "ca" (valid, lab CA, IP SAN), "expired", "weak" (RSA-1024+SHA-1), "selfsigned"
    #            (shared by twins, no SAN), "selfsigned-ip" (the unit's own, its IP in the SAN)
    min_version: str = "TLSv1_2"  # ssl.TLSVersion member names
    max_version: str = "TLSv1_3"
    ciphers: str = STRONG_CIPHERS


@dataclass(frozen=True)
class Route:
    """One HTTP path: what it serves and whether it needs a login."""

    kind: str  # index login status config logs security manifest signature firmware upload
    #            security_txt upnp redirect meta script_redirect app_js json_login
    auth: bool = False
    # redirect: 302 to this path; meta / script_redirect: a 200 page whose meta refresh / script
    # sends the browser there; login: the form's action ("" = /login); app_js: the login API the
    # single-page app's script posts to
    to: str = ""


@dataclass(frozen=True)
class Http:
    port: int
    # basic | digest | form | any (Basic that takes any user/password) | token (a JSON login API
    # answering a token, sent back as `Authorization: Bearer`)
    auth: str = "basic"
    users: dict[str, str] = field(default_factory=dict)
    tls: Tls | None = None
    redirect_https: bool = False  # every request answers 301 to https://<ip>/<path>
    routes: dict[str, Route] = field(default_factory=dict)
    # Hostile firmware (off by default): "huge_header" answers every request with a 1 MB header
    # line; "endless_body" answers 200 and then sends body bytes until the client hangs up.
    hostile: str = ""
    # A single-page app's server (off by default): every unknown path answers 200 with the same
    # app page instead of 404, so a path's answer tells nothing by its status.
    catch_all: bool = False
    # Login forms (auth "form"): a hidden CSRF token tied to a pre-login cookie (a POST without
    # both is 403 "invalid CSRF token"); the status of a refused login (200: the page again with
    # its error, as much firmware answers).
    csrf: bool = False
    fail_status: int = 401
    family: str = "ipv4"  # or "ipv6": only on the unit's unique-local address (like Login's)


@dataclass(frozen=True)
class Login:
    """A login service (telnet, SSH, FTP) with its accounts."""

    port: int
    users: dict[str, str] = field(default_factory=dict)
    accept_any: bool = False
    # Hostile firmware (off by default). telnet: instead of a login prompt, an endless banner of
    # one byte every `banner_drip_s` that never becomes a prompt. "user": reset the connection
    # (TCP RST) right after the username arrives, mid-login (telnet and FTP).
    banner_drip_s: float = 0.0
    reset_after: str = ""
    # "ipv4" (the device's IPv4 address) or "ipv6" (only its unique-local address: on a
    # dual-stack bench, a service IPv4 filtering never sees)
    family: str = "ipv4"
    # SSH only: "strong" (curve25519/SHA-2 key exchange, Ed25519 host key, AEAD/CTR, SHA-2 MACs)
    # or "weak" (also SHA-1 key exchange, CBC and 3DES, MD5 and SHA-1 MACs, an RSA-1024 host
    # key offered as ssh-rsa).
    algorithms: str = "strong"


@dataclass(frozen=True)
class Mqtt:
    """A real mosquitto broker in the device's namespace, plus a retained-state publisher."""

    port: int | None = 1883  # cleartext listener, None = none
    tls_port: int | None = None  # MQTT over TLS listener
    tls_cert: str = "ca"
    tls_ciphers: str = (
        ""  # OpenSSL cipher list for TLS 1.2; "" = mosquitto's default (weak ones too)
    )
    tls_min_version: str = ""  # e.g. "tlsv1.2"; "" = mosquitto's default
    anonymous: bool = False
    users: dict[str, str] = field(default_factory=dict)
    topic: str = "{vendor}/{serial}/state"


@dataclass(frozen=True)
class Rtsp:
    """An RTSP camera endpoint (lab/services/rtsp.py): DESCRIBE of `path` answers an SDP."""

    port: int = 554
    path: str = "/live"
    auth: str = "none"  # none | basic | digest
    users: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Snmp:
    """A real Debian net-snmp agent (snmpd) in the device's namespace, on UDP 161.

    `ro`/`rw`: SNMPv1/v2c communities (read-only, read-write); `v3_user`: an SNMPv3 user with
    authPriv (SHA/AES, the model's lab password); no communities and a v3 user = v3 only."""

    ro: tuple[str, ...] = ()
    rw: tuple[str, ...] = ()
    v3_user: str = ""
    family: str = "ipv4"  # or "ipv6": only on the unit's unique-local address (like Login's)


@dataclass(frozen=True)
class Coap:
    """A CoAP server (lab/services/coap.py, aiocoap): resources open, or all 4.01 without auth."""

    port: int = 5683
    auth: bool = False


@dataclass(frozen=True)
class Limit:
    failures: int  # failed logins that trigger the ban or lockout...
    seconds: int  # ...which lasts this long
    window_s: int = 15  # failures older than this are forgotten (fail2ban's findtime)


@dataclass(frozen=True)
class Manifest:
    """A firmware update manifest (JSON: model, version, url, sha256) and its detached signature."""

    prefix: str  # URL path prefix: <prefix>/manifest.json, <prefix>/manifest.json.sig, image
    http_port: int  # which HTTP(S) server serves it
    signed: str | None = "good"  # "good" (lab/keys.py), "wrong" (the wrong key), None (no .sig)
    upload: str | None = None  # path of the upload endpoint, if any
    upload_auth: bool = True
    garbled: bool = False  # serve bytes that are no JSON manifest (a truncated, compressed blob)


@dataclass(frozen=True)
class Mdns:
    type: str  # e.g. "_http._tcp.local."
    port: int
    # Hostile firmware (off by default): besides its own record, multicast malformed and oversized
    # mDNS answers (lab/services/mdns.py: hostile_packets) every half second.
    hostile: bool = False


@dataclass(frozen=True)
class Cloud:
    """What a device sends on its own once DHCP gave it an address and DNS (gateway mode):
    lab/services/cloud.py. Names are `mqtt.<domain>`, `update.<domain>`, `api.<domain>`."""

    domain: str
    mqtt: bool = False  # MQTT in cleartext, serial as client id and user, MAC in the telemetry
    update_poll: str = ""  # path of an update poll ("{serial}", "{fw}" filled in), "" = none
    update_tls: bool = False  # the poll goes over HTTPS
    update_client: str = "validate"  # its TLS client, as `tls` below
    # HTTPS to its API: "tls1.0" | "accept_any" | "chain_only" | "validate" | "ecdsa_only" | ""
    tls: str = ""
    interval_s: float = 2.0
    # names it only looks up, never connects to ("{domain}", "{mac}" as 12 hex digits, "{serial}")
    lookups: tuple[str, ...] = ()
    raw_port: int = 0  # a TCP port of its cloud it sends a few bytes of its own protocol to
    raw_data: str = "HELLO {serial}\n"  # what it sends there; "" = connect and close


@dataclass(frozen=True)
class Model:
    id: str  # the profile id (lab/profiles/<id>.yaml)
    vendor: str
    model: str  # the model name devices expose (mDNS TXT model=, SSDP modelName, /api/status)
    serial_prefix: str
    fw: str  # the firmware the device runs
    latest_fw: str  # what its update manifest offers
    oui: str  # a real registered OUI (scapy's manuf table knows it)
    server: str  # HTTP Server header
    http: tuple[Http, ...] = ()
    telnet: Login | None = None
    ssh: Login | None = None
    ftp: Login | None = None
    debug_shell: int | None = None  # raw TCP root shell without login
    mqtt: Mqtt | None = None
    rtsp: Rtsp | None = None
    snmp: Snmp | None = None
    coap: Coap | None = None
    tftp: bool = False  # Debian tftpd-hpa on UDP 69, serving an empty directory (reads only)
    ntp: bool = False  # Debian chronyd on UDP 123 (-x: never touches the clock; no upstream)
    udp_family: str = "ipv4"  # tftpd and chronyd on "ipv4" or "ipv6" (the unique-local) only
    mdns: Mdns | None = None
    ssdp: bool = False
    ssdp_port: int = 80  # which HTTP(S) server has /upnp/description.xml
    ban: Limit | None = None  # ban the source address on every service after N failures
    lockout: Limit | None = None  # lock one username (HTTP 429 / SSH disconnect) after N failures
    manifest: Manifest | None = None
    security_txt: bool = False
    units: int = 1  # 2 = twins: the units share serial, TLS certificate/key and SSH host key
    expose_identifiers: bool = True  # False: no serial/model/fw on any interface
    # Hostile firmware (off by default): TCP ports that accept a connection, read what comes and
    # never answer (a TLS port stuck before its handshake, a hung MQTT broker).
    stall_ports: tuple[int, ...] = ()
    # The web UI's front page links to the update manifest (a link and a script string): how an
    # unknown device's update endpoint is found without a profile.
    ui_update_link: bool = False
    # Gateway mode: no static address; the device asks DHCP for one and then calls its cloud.
    dhcp: bool = False
    cloud: Cloud | None = None
    # A real Debian miniupnpd (package miniupnpd-nftables) as the unit's UPnP IGD: SSDP on the
    # device's eth0 only, control on UPNP_PORT; nftables rules only in the device's namespace.
    miniupnpd: bool = False

    @property
    def short(self) -> str:
        """`acme-ipcam200` -> `ipcam200` (device names, namespaces)."""
        return self.id.split("-", 1)[1]

    def lab_password(self) -> str:
        return LAB_PASSWORDS[self.id]


LAB_PASSWORDS = {
    "plugco-sp1": "Plug-Lab-7f3K9q!",
    "hubco-h1": "Hub-Lab-x8Vq2mT!",
    "acme-ipcam300": "Cam3-Lab-R4n8Wz!",
    "sentry-s3": "Sentry-Lab-p2Lk7H!",
    "dualstack-d1": "Duo-Lab-k3Vn8Qp!",
    "netgo-r1": "Netgo-Lab-v5Qs8Ld!",
    "quirk-q1": "Quirk-Lab-w6Tn3c!",
    "camco-c2": "Camco-Lab-t5Rk2v!",
    "routa-r7": "Routa-Lab-m8Hq4z!",
    "webctl-w0": "Webctl-Lab-c3Jw9n!",
}


def _lab(model_id: str) -> dict[str, str]:
    return {LAB_USER: LAB_PASSWORDS[model_id]}


R = Route

IPCAM200 = Model(
    id="acme-ipcam200",
    vendor="Acme",
    model="IPCAM-200",
    serial_prefix="ACM200",
    fw="1.0.3",
    latest_fw="1.2.0",
    oui="B8:27:EB",  # Raspberry Pi Foundation
    server="AcmeCam-httpd/1.0.3",
    http=(
        Http(
            port=80,
            auth="basic",
            users={"admin": "admin"},
            routes={
                "/": R("index", auth=True),
                "/api/status": R("status"),
                "/api/config": R("config"),
                "/logs": R("logs"),
                "/upnp/description.xml": R("upnp"),
                "/upnp/control/wanip": R("upnp_control"),  # IGD control without auth
            },
        ),
    ),
    telnet=Login(23, {"root": "xc3511"}),
    ftp=Login(21, {"admin": "admin"}),
    debug_shell=9999,
    rtsp=Rtsp(554, "/live", auth="none"),
    snmp=Snmp(ro=("public",), rw=("private",)),
    tftp=True,
    mdns=Mdns("_http._tcp.local.", 80),
    ssdp=True,
    ssdp_port=80,
    manifest=Manifest("/firmware", 80, signed=None, upload="/firmware/upload", upload_auth=False),
)

PLUGCO = Model(
    id="plugco-sp1",
    vendor="PlugCo",
    model="SP1",
    serial_prefix="SP1",
    fw="2.0.1",
    latest_fw="2.0.1",
    oui="24:0A:C4",  # Espressif Inc.
    server="PlugCo-SP1/2.0.1",
    http=(
        Http(
            port=80,
            auth="digest",
            users=_lab("plugco-sp1"),
            routes={
                "/": R("index", auth=True),
                "/api/status": R("status", auth=True),
                "/api/config": R("config", auth=True),
            },
        ),
    ),
    mqtt=Mqtt(port=1883, tls_port=8883, tls_cert="expired", anonymous=True),
    coap=Coap(5683, auth=False),
    mdns=Mdns("_plugco._tcp.local.", 80),
)

THERMA = Model(
    id="therma-t1",
    vendor="Therma",
    model="T1",
    serial_prefix="T1",
    fw="3.1.0",
    latest_fw="3.1.0",
    oui="00:12:4B",  # Texas Instruments
    server="ThermaWeb/3.1.0",
    http=(
        Http(port=80, redirect_https=True),
        Http(
            port=443,
            auth="form",
            users={"admin": "1234"},
            tls=Tls(cert="weak", min_version="TLSv1", max_version="TLSv1_3", ciphers=WEAK_CIPHERS),
            routes={
                "/": R("index", auth=True),
                "/login": R("login"),
                "/api/status": R("status", auth=True),
                "/api/config": R("config", auth=True),
                # the profile declares /api/security; the device answers 404 there
            },
        ),
    ),
    mqtt=Mqtt(port=1883, anonymous=False, users={"therma": "therma"}),
    mdns=Mdns("_therma._tcp.local.", 443),
    manifest=Manifest("/fw", 443, signed="wrong"),
)

HUBCO = Model(
    id="hubco-h1",
    vendor="HubCo",
    model="H1",
    serial_prefix="H1",
    fw="2.4.1",
    latest_fw="2.4.1",
    oui="DC:A6:32",  # Raspberry Pi Trading Ltd
    server="HubCo-H1",
    http=(
        Http(
            port=443,
            auth="form",
            users=_lab("hubco-h1"),
            tls=Tls(cert="ca"),
            routes={
                "/": R("index", auth=True),
                "/login": R("login"),
                "/api/status": R("status", auth=True),
                "/api/config": R("config", auth=True),
                "/api/security": R("security", auth=True),
                "/logs": R("logs", auth=True),
                "/.well-known/security.txt": R("security_txt"),
                "/upnp/description.xml": R("upnp"),
                "/upnp/control/wanip": R("upnp_control", auth=True),
            },
        ),
    ),
    ssh=Login(22, _lab("hubco-h1")),
    mqtt=Mqtt(
        port=None,
        tls_port=8883,
        tls_cert="ca",
        tls_ciphers="ECDHE+AESGCM:ECDHE+CHACHA20",
        tls_min_version="tlsv1.2",
        anonymous=False,
        users=_lab("hubco-h1"),
    ),
    snmp=Snmp(v3_user=LAB_USER),
    ntp=True,
    mdns=Mdns("_hubco._tcp.local.", 443),
    ssdp=True,
    ssdp_port=443,
    # A short window keeps the standard-depth scan quick; its profile documents it.
    lockout=Limit(failures=5, seconds=30, window_s=3),
    manifest=Manifest("/fw", 443, signed="good", upload="/fw/upload", upload_auth=True),
    security_txt=True,
)

IPCAM300 = Model(
    id="acme-ipcam300",
    vendor="Acme",
    model="IPCAM-300",
    serial_prefix="ACM300",
    fw="2.1.0",
    latest_fw="2.1.0",
    oui="E4:5F:01",  # Raspberry Pi Trading Ltd
    server="AcmeCam-httpd/2.1.0",
    http=(
        Http(
            port=443,
            auth="basic",
            users=_lab("acme-ipcam300"),
            tls=Tls(cert="selfsigned"),
            routes={"/": R("index", auth=True), "/api/status": R("status", auth=True)},
        ),
    ),
    ssh=Login(22, {"admin": "admin"}, algorithms="weak"),
    # RTSP asks for a Digest login; its documented default (admin:admin, like SSH) still works
    rtsp=Rtsp(8554, "/stream1", auth="digest", users={"admin": "admin", **_lab("acme-ipcam300")}),
    mdns=Mdns("_http._tcp.local.", 443),
    units=2,
)

SENTRY = Model(
    id="sentry-s3",
    vendor="Sentry",
    model="S3",
    serial_prefix="S3",
    fw="5.0.2",
    latest_fw="5.0.2",
    oui="D8:3A:DD",  # Raspberry Pi Trading Ltd
    server="Sentry-S3",
    http=(
        Http(
            port=80,
            auth="basic",
            users=_lab("sentry-s3"),
            routes={"/": R("index", auth=True), "/api/status": R("status", auth=True)},
        ),
    ),
    ftp=Login(21, _lab("sentry-s3")),
    ssh=Login(22, _lab("sentry-s3")),
    coap=Coap(5683, auth=True),  # the CoAP control: every resource 4.01 without auth
    ban=Limit(failures=3, seconds=20),
    expose_identifiers=False,
)

GIZMO = Model(
    id="gizmo-g1",
    vendor="Gizmo",
    model="G1",
    serial_prefix="G1",
    fw="0.9.0",
    latest_fw="0.9.0",
    oui="30:AE:A4",  # Espressif Inc.
    server="Gizmo-G1/0.9.0",
    http=(
        Http(
            port=80,
            auth="any",
            routes={
                "/": R("index", auth=True),
                "/api/status": R("status", auth=True),
                "/api/config": R("config", auth=True),
            },
        ),
    ),
    ftp=Login(21, accept_any=True),
    mdns=Mdns("_gizmo._tcp.local.", 80),
)

# Hostile firmware: every way a broken device can hurt a scanner, one service each (lab/README.md
# "Hostile models"). Not a default model: only tests bring it up (`--models hostile-x1`).
HOSTILE_X1 = Model(
    id="hostile-x1",
    vendor="Hostile",
    model="X1",
    serial_prefix="X1",
    fw="0.0.1",
    latest_fw="0.0.1",
    oui="EC:FA:BC",  # Espressif Inc.
    server="Hostile-X1/0.0.1",
    http=(
        Http(port=80, auth="basic", users={"admin": "hostile"}, hostile="huge_header"),
        Http(port=8080, auth="basic", users={"admin": "hostile"}, hostile="endless_body"),
    ),
    telnet=Login(23, {"root": "hostile"}, banner_drip_s=0.05),
    ftp=Login(21, {"admin": "hostile"}, reset_after="user"),
    stall_ports=(443, 8883),
    mdns=Mdns("_hostile._tcp.local.", 80, hostile=True),
)

# Devices that talk to their cloud once the gateway gives them an address (lab/README.md
# "Cloud models"). Not default models: only gateway tests bring them up (`--models cloudy-c1,...`).
CLOUDY_C1 = Model(
    id="cloudy-c1",
    vendor="Cloudy",
    model="C1",
    serial_prefix="C1",
    fw="1.4.2",
    latest_fw="1.4.2",
    oui="A4:CF:12",  # Espressif Inc.
    server="",
    dhcp=True,
    cloud=Cloud(
        domain="cloudy-iot.example",
        mqtt=True,
        update_poll="/fw/c1/manifest.json?serial={serial}&fw={fw}",
        tls="accept_any",
    ),
)

OLDTLS_O2 = Model(
    id="oldtls-o2",
    vendor="OldTls",
    model="O2",
    serial_prefix="O2",
    fw="0.8.1",
    latest_fw="0.8.1",
    oui="5C:CF:7F",  # Espressif Inc.
    server="",
    dhcp=True,
    cloud=Cloud(
        domain="oldtls-cloud.example",
        tls="tls1.0",
        update_poll="/ota/o2.json",
        update_tls=True,
        update_client="tls1.0",
    ),
)

SOUND_S1 = Model(
    id="sound-s1",
    vendor="Sound",
    model="S1",
    serial_prefix="SND1",
    fw="3.0.0",
    latest_fw="3.0.0",
    oui="18:FE:34",  # Espressif Inc.
    server="",
    dhcp=True,
    cloud=Cloud(
        domain="sound-cloud.example",
        update_poll="/ota/s1/latest.json",
        update_tls=True,
        tls="validate",
    ),
)

# Checks the certificate chain against the vendor's (the lab) CA, never the name: seen only when
# the gateway shows a certificate from that CA for another name (`probe gateway up --ca`).
LAXNAME_N3 = Model(
    id="laxname-n3",
    vendor="LaxName",
    model="N3",
    serial_prefix="N3",
    fw="2.1.0",
    latest_fw="2.1.0",
    oui="84:CC:A8",  # Espressif Inc.
    server="",
    dhcp=True,
    cloud=Cloud(domain="laxname-cloud.example", tls="chain_only"),
)

# Looks up its cloud's names and asks NTP, then connects to nothing in the window (waiting to be
# paired, say): what it would send once connected is unseen, so no data check may pass.
QUIET_Q1 = Model(
    id="quiet-q1",
    vendor="Quiet",
    model="Q1",
    serial_prefix="Q1",
    fw="1.0.0",
    latest_fw="1.0.0",
    oui="7C:9E:BD",  # Espressif Inc.
    server="",
    dhcp=True,
    cloud=Cloud(domain="quiet-cloud.example", lookups=("mqtt.{domain}", "update.{domain}")),
)

# Puts its MAC in the name it looks up (a per-unit host name): DNS in cleartext names the unit.
DNSTAG_T4 = Model(
    id="dnstag-t4",
    vendor="DnsTag",
    model="T4",
    serial_prefix="T4",
    fw="1.0.0",
    latest_fw="1.0.0",
    oui="C4:4F:33",  # Espressif Inc.
    server="",
    dhcp=True,
    cloud=Cloud(domain="dnstag-cloud.example", mqtt=True, lookups=("{mac}.devices.{domain}",)),
)

# Its update poll goes over HTTPS with a client that accepts any certificate.
LAXOTA_U5 = Model(
    id="laxota-u5",
    vendor="LaxOta",
    model="U5",
    serial_prefix="U5",
    fw="1.0.0",
    latest_fw="1.0.0",
    oui="08:3A:F2",  # Espressif Inc.
    server="",
    dhcp=True,
    cloud=Cloud(
        domain="laxota-cloud.example",
        update_poll="/fw/u5/latest.json",
        update_tls=True,
        update_client="accept_any",
    ),
)

# Talks to its cloud on a TCP port the sinkhole does not answer (9000): what it sends there, in
# the clear or in TLS, is never seen, so no data check may pass.
ODDPORT_P6 = Model(
    id="oddport-p6",
    vendor="OddPort",
    model="P6",
    serial_prefix="P6",
    fw="1.0.0",
    latest_fw="1.0.0",
    oui="A0:20:A6",  # Espressif Inc.
    server="",
    dhcp=True,
    cloud=Cloud(domain="oddport-cloud.example", raw_port=9000, tls="validate"),
)

# A connectivity check: connects to port 80 of its cloud and closes without a byte.
NETCHECK_C8 = Model(
    id="netcheck-c8",
    vendor="NetCheck",
    model="C8",
    serial_prefix="C8",
    fw="1.0.0",
    latest_fw="1.0.0",
    oui="3C:71:BF",  # Espressif Inc.
    server="",
    dhcp=True,
    cloud=Cloud(domain="netcheck-cloud.example", raw_port=80, raw_data=""),
)

# Its TLS client carries only ECDSA suites (TLS 1.2; an ECC-only cloud): the sinkhole's RSA
# certificate is never shown, so whether it validates one stays unknown.
ECCONLY_K7 = Model(
    id="ecconly-k7",
    vendor="EccOnly",
    model="K7",
    serial_prefix="K7",
    fw="1.0.0",
    latest_fw="1.0.0",
    oui="24:62:AB",  # Espressif Inc.
    server="",
    dhcp=True,
    cloud=Cloud(
        domain="ecconly-cloud.example",
        tls="ecdsa_only",
        update_poll="/ota/k7.json",
        update_tls=True,
        update_client="ecdsa_only",
    ),
)

# A device no profile describes whose web UI links to its update manifest (unsigned, over HTTP).
OTAWEB_W1 = Model(
    id="otaweb-w1",
    vendor="OtaWeb",
    model="W1",
    serial_prefix="W1",
    fw="1.0.0",
    latest_fw="1.1.0",
    oui="24:6F:28",  # Espressif Inc.
    server="OtaWeb-W1/1.0.0",
    http=(Http(port=80, auth="basic", users={"admin": "Ota-Lab-9xQ2!"}, routes={"/": R("index")}),),
    manifest=Manifest("/ota/w1", 80, signed=None),
    ui_update_link=True,
)


# Web logins reached the way real firmware leads to them (lab/README.md "Web login models"),
# each default past position 10 of the generic list (root:12345, 11th), each banning the source
# for 30 s after 3 failed logins within 30 s: a single-page camera app whose JSON login API is
# named only in its script (token answers, a refusal is 200 with an error body), a router UI
# reached through a meta refresh and a script redirect with a CSRF form (a refusal is 200 with
# the page again), and the control: both UIs, refusing everything, no ban.
WEB_DEFAULT = {"root": "12345"}
SPA_ROUTES = {
    "/static/app.js": R("app_js", to="/api/v1/auth/login"),
    "/api/v1/auth/login": R("json_login"),
    "/api/v1/device": R("status", auth=True),
}
ROUTER_ROUTES = {
    "/": R("meta", to="/cgi-bin/start.htm"),
    "/cgi-bin/start.htm": R("script_redirect", to="login.htm"),
    "/cgi-bin/login.htm": R("login", to="/cgi-bin/login.cgi"),
    "/cgi-bin/login.cgi": R("login", to="/cgi-bin/login.cgi"),
    "/api/config": R("config", auth=True),
}
WEB_BAN = Limit(failures=3, seconds=30, window_s=30)

CAMCO_C2 = Model(
    id="camco-c2",
    vendor="Camco",
    model="C2",
    serial_prefix="C2",
    fw="2.4.1",
    latest_fw="2.4.1",
    oui="B8:27:EB",  # Raspberry Pi Foundation
    server="Camco-C2",
    http=(
        Http(
            port=80,
            auth="token",
            users={**WEB_DEFAULT, **_lab("camco-c2")},
            catch_all=True,
            routes=SPA_ROUTES,
        ),
    ),
    ban=WEB_BAN,
)

ROUTA_R7 = Model(
    id="routa-r7",
    vendor="Routa",
    model="R7",
    serial_prefix="R7",
    fw="1.1.9",
    latest_fw="1.1.9",
    oui="D8:3A:DD",  # Raspberry Pi Trading Ltd
    server="Routa-R7-httpd",
    http=(
        Http(
            port=80,
            auth="form",
            users={**WEB_DEFAULT, **_lab("routa-r7")},
            csrf=True,
            fail_status=200,
            routes=ROUTER_ROUTES,
        ),
    ),
    ban=WEB_BAN,
)

WEBCTL_W0 = Model(
    id="webctl-w0",
    vendor="Webctl",
    model="W0",
    serial_prefix="W0",
    fw="1.0.0",
    latest_fw="1.0.0",
    oui="30:AE:A4",  # Espressif Inc.
    server="Webctl-W0",
    http=(
        Http(port=80, auth="token", users=_lab("webctl-w0"), catch_all=True, routes=SPA_ROUTES),
        Http(
            port=8080,
            auth="form",
            users=_lab("webctl-w0"),
            csrf=True,
            fail_status=200,
            routes=ROUTER_ROUTES,
        ),
    ),
)

# Quirks that verdicts must not mistake for a pass (lab/README.md "Quirk model"): a catch-all web
# app whose login page sits behind two redirects over plain HTTP, a self-signed HTTPS certificate,
# and an update manifest that is no JSON. Not a default model: tests bring it up by name.
QUIRK_Q1 = Model(
    id="quirk-q1",
    vendor="Quirk",
    model="Q1",
    serial_prefix="Q1",
    fw="1.0.0",
    latest_fw="1.0.0",
    oui="B8:27:EB",  # Raspberry Pi Foundation
    server="Quirk-Q1/1.0.0",
    http=(
        Http(
            port=80,
            auth="form",
            users=_lab("quirk-q1"),
            catch_all=True,
            routes={
                "/": R("redirect", to="/ui/"),
                "/ui/": R("redirect", to="/ui/login"),
                "/ui/login": R("login"),
                "/login": R("login"),
                "/api/status": R("status", auth=True),
            },
        ),
        Http(
            port=443,
            auth="basic",
            users=_lab("quirk-q1"),
            tls=Tls(cert="selfsigned-ip"),
            routes={"/": R("index", auth=True)},
        ),
    ),
    manifest=Manifest("/fw", 80, signed=None, garbled=True),
)

# Dual-stack (only on a bench brought up with ipv6=True; only when named, like the hostile model):
# its web UI on IPv4; its telnet, a TLS 1.0 admin UI, an SNMP agent (community public), TFTP and
# NTP only on IPv6, where an IPv4-only scan never looks (discovery and the checks must reach them
# there).
DUALSTACK_D1 = Model(
    id="dualstack-d1",
    vendor="Duo",
    model="D1",
    serial_prefix="D1",
    fw="1.0.0",
    latest_fw="1.0.0",
    oui="B8:27:EB",  # Raspberry Pi Foundation
    server="Duo-D1/1.0.0",
    http=(
        Http(
            port=80,
            auth="basic",
            users=_lab("dualstack-d1"),
            routes={"/": R("index", auth=True), "/api/status": R("status", auth=True)},
        ),
        Http(
            port=8443,
            auth="basic",
            users=_lab("dualstack-d1"),
            tls=Tls(cert="selfsigned", min_version="TLSv1", ciphers=WEAK_CIPHERS),
            routes={"/": R("index", auth=True)},
            family="ipv6",
        ),
    ),
    telnet=Login(23, {"root": "xc3511"}, family="ipv6"),  # the first Mirai pair
    snmp=Snmp(ro=("public",), family="ipv6"),
    tftp=True,
    ntp=True,
    udp_family="ipv6",
)

# A home router whose UPnP IGD is real miniupnpd (only when named): its control URL answers
# anyone on the LAN (UPnP has no authentication), which access.unauthenticated-interface fails.
UPNP_PORT = 5000
NETGO_R1 = Model(
    id="netgo-r1",
    vendor="Netgo",
    model="R1",
    serial_prefix="R1",
    fw="3.1.0",
    latest_fw="3.1.0",
    oui="00:14:6C",  # Netgear
    server="Netgo-R1/3.1.0",
    http=(
        Http(port=80, auth="basic", users=_lab("netgo-r1"), routes={"/": R("index", auth=True)}),
    ),
    miniupnpd=True,
)

# The order is the contract: addresses .10, .11, ... follow it (twins take two addresses).
MODELS: tuple[Model, ...] = (IPCAM200, PLUGCO, THERMA, HUBCO, IPCAM300, SENTRY, GIZMO, CAMCO_C2,
                             ROUTA_R7, WEBCTL_W0)  # fmt: skip
# brought up only when named
HOSTILE_MODELS: tuple[Model, ...] = (HOSTILE_X1, QUIRK_Q1, DUALSTACK_D1, NETGO_R1)
CLOUD_MODELS: tuple[Model, ...] = (
    CLOUDY_C1,
    OLDTLS_O2,
    SOUND_S1,
    OTAWEB_W1,
    LAXNAME_N3,
    QUIET_Q1,
    DNSTAG_T4,
    LAXOTA_U5,
    ODDPORT_P6,
    ECCONLY_K7,
    NETCHECK_C8,
)
BY_ID = {m.id: m for m in MODELS + HOSTILE_MODELS + CLOUD_MODELS}


def select(ids: list[str] | None) -> list[Model]:
    """The models named (profile id or short name), in contract order; all default models when
    None. Hostile and cloud models come only when named, after the default ones."""
    if not ids:
        return list(MODELS)
    known_models = MODELS + HOSTILE_MODELS + CLOUD_MODELS
    wanted = set()
    for raw in ids:
        name = raw.strip()
        found = [m for m in known_models if name in (m.id, m.short)]
        if not found:
            known = ", ".join(m.id for m in known_models)
            raise ValueError(f"unknown lab model {name!r} (known: {known})")
        wanted.add(found[0].id)
    return [m for m in known_models if m.id in wanted]


def plan(models: list[Model], devices: int | None) -> list[tuple[Model, int, int]]:
    """Round-robin over the models: (model, unit number 1.., pair/group number 1..) per device.

    Twins count as one model of `units` units; a group is one round of one model (the twins of a
    group share serial and keys). `devices` None = one round of every model.
    """
    rounds: list[tuple[Model, int, int]] = []
    counts: dict[str, int] = {}
    group = 0
    while devices is None or len(rounds) < devices:
        group += 1
        for m in models:
            for _ in range(m.units):
                if devices is not None and len(rounds) >= devices:
                    return rounds
                counts[m.id] = counts.get(m.id, 0) + 1
                rounds.append((m, counts[m.id], group))
        if devices is None:
            break
    return rounds
