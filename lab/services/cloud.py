"""A device that talks to its "cloud" on its own, once the network gives it an address.

The device starts with no address (lab/bench.py skips it for `dhcp` models): it asks for one over
DHCP (scapy, on eth0), takes the DNS and NTP servers the answer names, asks NTP for the time,
and then, every `interval_s`, resolves its cloud's names over that DNS and does what its model
says: MQTT in cleartext with its serial as client id, an HTTP update poll, HTTPS to its API with
a TLS 1.0 client, a client that accepts any certificate, one that checks the chain but not the
name, or one that validates (the control); a model may only look names up (`Cloud.lookups`).
Clients are the stdlib's (http.client, ssl) and paho-mqtt; every operation has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import ipaddress
import logging
import random
import socket
import ssl
import struct
import subprocess
import time
import warnings
from dataclasses import dataclass
from typing import Any

from lanprobe.lab.services.common import Device

log = logging.getLogger("lab.cloud")
OP_S = 3.0  # each client operation


@dataclass
class Network:
    ip: str
    prefixlen: int
    dns: str
    ntp: str


def dhcp(mac: str, want_ip: str, hostname: str, timeout_s: float = 4.0) -> Network | None:
    """One DISCOVER/OFFER/REQUEST/ACK exchange on eth0; None when nobody answered. (dnsmasq
    pings an address for ~3 s before it offers it: hence the 4 s, as RFC 2131 4.1 retransmits.)"""
    from scapy.all import BOOTP, DHCP, IP, UDP, Ether, conf, srp1

    conf.checkIPaddr = False  # the answer comes from the server's address, not broadcast
    conf.verb = 0
    chaddr = bytes.fromhex(mac.replace(":", "")) + b"\x00" * 10
    xid = random.randint(1, 2**31)
    base = Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255")
    base = base / UDP(sport=68, dport=67)
    params = [1, 3, 6, 15, 42]  # netmask, router, DNS, domain, NTP
    discover = base / BOOTP(chaddr=chaddr, xid=xid, flags=0x8000) / DHCP(
        options=[("message-type", "discover"), ("requested_addr", want_ip),
                 ("hostname", hostname), ("param_req_list", params), "end"]
    )  # fmt: skip
    offer = srp1(discover, iface="eth0", timeout=timeout_s)
    if offer is None or DHCP not in offer:
        return None
    opts = {o[0]: o[1:] for o in offer[DHCP].options if isinstance(o, tuple)}
    yiaddr = offer[BOOTP].yiaddr
    request = base / BOOTP(chaddr=chaddr, xid=xid, flags=0x8000) / DHCP(
        options=[("message-type", "request"), ("requested_addr", yiaddr),
                 ("server_id", opts["server_id"][0]), ("hostname", hostname),
                 ("param_req_list", params), "end"]
    )  # fmt: skip
    ack = srp1(request, iface="eth0", timeout=timeout_s)
    if ack is None or DHCP not in ack:
        return None
    opts = {o[0]: o[1:] for o in ack[DHCP].options if isinstance(o, tuple)}
    if opts.get("message-type", [0])[0] != 5:  # ACK
        return None
    mask = opts.get("subnet_mask", ["255.255.255.0"])[0]
    prefix = ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen
    server = opts["server_id"][0]
    return Network(
        ip=ack[BOOTP].yiaddr,
        prefixlen=prefix,
        dns=(opts.get("name_server") or [server])[0],
        ntp=(opts.get("NTP_server") or [server])[0],
    )


def resolve(name: str, server: str) -> str | None:
    """An A query over UDP to the DHCP-given server (never the host's resolver)."""
    qid = random.randint(0, 0xFFFF)
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + b"\x00\x01\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(OP_S)
        sock.sendto(query, (server, 53))
        data = sock.recv(512)
    if len(data) < 12 or int.from_bytes(data[:2], "big") != qid:
        return None
    answers = int.from_bytes(data[6:8], "big")
    pos = 12 + len(qname) + 4
    for _ in range(answers):
        pos += 2 if data[pos] & 0xC0 == 0xC0 else len(qname)
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", data[pos : pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            return socket.inet_ntoa(data[pos : pos + 4])
        pos += rdlen
    return None


def ntp_query(server: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(OP_S)
        sock.sendto(bytes([0x23]) + b"\x00" * 47, (server, 123))  # NTPv4, client mode
        return len(sock.recv(128)) >= 48


def mqtt_publish(ip: str, serial: str, mac: str, topic: str) -> None:
    """paho-mqtt in cleartext: the serial is the client id and the user, the MAC is in the data."""
    import paho.mqtt.client as paho

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=serial)
    client.username_pw_set(serial, f"token-{serial}")
    client.connect(ip, 1883, keepalive=10)
    client.loop_start()
    try:
        client.publish(topic, f'{{"serial": "{serial}", "mac": "{mac}", "temp": 21.5}}', qos=0)
        time.sleep(0.3)
    finally:
        client.disconnect()
        client.loop_stop()


def raw_send(ip: str, port: int, data: bytes) -> None:
    """A few bytes of the device's own protocol to a port (refused when nothing listens)."""
    with socket.create_connection((ip, port), timeout=OP_S) as sock:
        if data:  # none: a connectivity check, closed at once
            sock.sendall(data)


def http_get(ip: str, host: str, path: str, ctx: ssl.SSLContext | None) -> int:
    conn: http.client.HTTPConnection
    if ctx is None:
        conn = http.client.HTTPConnection(ip, 80, timeout=OP_S)
    else:
        conn = _HTTPS(ip, host, ctx)
    try:
        conn.request("GET", path, headers={"Host": host, "User-Agent": "lab-cloud/1.0"})
        return conn.getresponse().status
    finally:
        conn.close()


class _HTTPS(http.client.HTTPSConnection):
    """HTTPS to an address, with the name for SNI and certificate checks."""

    def __init__(self, ip: str, host: str, ctx: ssl.SSLContext) -> None:
        super().__init__(ip, 443, timeout=OP_S, context=ctx)
        self._sni = host

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self._sni)  # type: ignore[attr-defined]


def tls_context(kind: str, ca_file: str) -> ssl.SSLContext:
    """`tls1.0`: a TLS 1.0-only client that validates; `accept_any`: TLS 1.2+, checks nothing;
    `chain_only`: TLS 1.2+, checks the chain against the vendor's CA but not the name;
    `validate`: TLS 1.2+ against the vendor's CA with the name checked (the control);
    `ecdsa_only`: as `validate`, TLS 1.2 with ECDSA suites only."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if kind == "tls1.0":
        with warnings.catch_warnings():  # the flaw this model has
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.load_verify_locations(ca_file)
    elif kind == "accept_any":
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif kind == "ecdsa_only":  # validates, but offers only ECDSA suites (an ECC-only cloud)
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384")
        ctx.load_verify_locations(ca_file)
    elif kind == "chain_only":  # the classic missing validation: the chain, never the name
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_verify_locations(ca_file)
        ctx.check_hostname = False
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_verify_locations(ca_file)
    return ctx


def one_round(dev: Device, net: Network, cloud: dict[str, Any]) -> None:
    """What the device does every `interval_s`; each step on its own (a failure is normal)."""
    domain, cfg = cloud["domain"], dev.cfg
    serial = cfg["serial"]
    if cloud["mqtt"]:
        _step(f"mqtt.{domain}", net, lambda ip: mqtt_publish(
            ip, serial, cfg["mac"], f"{domain}/{serial}/telemetry"))  # fmt: skip
    if cloud["update_poll"]:
        path = cloud["update_poll"].format(serial=serial, fw=cfg["model"]["fw"])
        kind = cloud.get("update_client", "validate")
        ctx = tls_context(kind, cfg["ca_file"]) if cloud["update_tls"] else None
        _step(f"update.{domain}", net, lambda ip: http_get(ip, f"update.{domain}", path, ctx))
    if cloud["tls"]:
        api = tls_context(cloud["tls"], cfg["ca_file"])
        _step(f"api.{domain}", net, lambda ip: http_get(ip, f"api.{domain}", "/v1/hello", api))
    if cloud.get("raw_port"):
        port = cloud["raw_port"]
        data = cloud.get("raw_data", "").format(serial=serial).encode()
        _step(f"data.{domain}", net, lambda ip: raw_send(ip, port, data))
    mac = cfg["mac"].replace(":", "").lower()
    for name in cloud.get("lookups", ()):
        _step(name.format(domain=domain, mac=mac, serial=serial), net, lambda ip: None)


def _step(name: str, net: Network, call: Any) -> None:
    try:
        ip = resolve(name, net.dns)
        if ip:
            call(ip)
    except (OSError, ssl.SSLError, http.client.HTTPException, ValueError) as exc:
        log.debug("%s: %s", name, exc)


async def run_cloud(dev: Device, cloud: dict[str, Any]) -> None:
    """DHCP until answered, then NTP once, then the cloud rounds forever."""
    cfg = dev.cfg
    net = None
    while net is None:
        net = await asyncio.to_thread(dhcp, cfg["mac"], cfg["ip"], cfg["name"])
    subprocess.run(
        ["ip", "addr", "add", f"{net.ip}/{net.prefixlen}", "dev", "eth0"],
        check=False, capture_output=True, timeout=10,
    )  # fmt: skip
    dev.event(f"DHCP gave {net.ip}/{net.prefixlen}, DNS {net.dns}, NTP {net.ntp}")
    with contextlib.suppress(OSError):
        await asyncio.to_thread(ntp_query, net.ntp)
    while True:
        await asyncio.to_thread(one_round, dev, net, cloud)
        await asyncio.sleep(cloud["interval_s"])
