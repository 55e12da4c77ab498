"""Per-device material made at `up`: certificates, keys, manifests, mosquitto config, configs."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lanprobe.errors import LabError, ToolError
from lanprobe.lab import certs
from lanprobe.lab.keys import signing_key
from lanprobe.lab.models import UPNP_PORT, Model


def oui_mac(oui: str, ip: str) -> str:
    """A stable MAC: the model's real OUI + the last three octets of the device's address."""
    o = [int(x) for x in ip.split(".")]
    return f"{oui.lower()}:{o[1]:02x}:{o[2]:02x}:{o[3]:02x}"


def firmware_image(model: Model) -> bytes:
    """Deterministic bytes standing in for the firmware image the manifest points at."""
    head = f"LANPROBE-LAB-FIRMWARE {model.id} {model.latest_fw}\n".encode()
    return head + bytes(4096 - len(head))


class Provisioner:
    """Makes what the devices of one bench need, sharing material between twins of a group."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        for sub in ("certs", "configs", "pids", "logs", "mqtt", "fw", "ready", "keys", "snmp"):
            (state_dir / sub).mkdir(parents=True, exist_ok=True)
        self.ca = certs.LabCA(state_dir)
        self._shared: dict[str, Any] = {}

    def _cert(self, kind: str, model: Model, name: str, ip: str, group: int) -> dict[str, str]:
        out = self.dir / "certs"
        if kind == "ca":
            cert, key = self.ca.leaf(name, ip, out)
        elif kind == "expired":
            cert, key = self.ca.leaf(name, ip, out, expired=True)
        elif kind == "weak":
            cert, key = self.ca.weak_leaf(name, ip, out)
        elif kind == "selfsigned":
            shared = f"selfsigned-{model.id}-{group}"
            if shared not in self._shared:
                self._shared[shared] = certs.self_signed(f"{model.short}-shared-{group}", out)
            cert, key = self._shared[shared]
        elif kind == "selfsigned-ip":  # self-signed, its own address in the SAN: only trust fails
            cert, key = certs.self_signed(name, out, ip=ip)
        else:
            raise LabError(f"unknown certificate kind {kind!r}")
        return {"cert": str(cert), "key": str(key)}

    def _host_key(self, model: Model, name: str, group: int) -> str:
        # Twins (units > 1) share one host key per group: the flaw identification.shared-key finds.
        stem = f"{model.id}-{group}" if model.units > 1 else name
        path = self.dir / "keys" / f"ssh-{stem}"
        if not path.exists():
            weak = model.ssh is not None and model.ssh.algorithms == "weak"
            certs.ssh_host_key(path, rsa_bits=1024 if weak else None)
        return str(path)

    def _snmpd(self, model: Model, name: str, ip: str, serial: str, ip6: str) -> dict[str, str]:
        """snmpd.conf for the device's real net-snmp agent (started by lab/device.py)."""
        conf = model.snmp
        assert conf is not None
        base = self.dir / "snmp" / name
        base.mkdir(parents=True, exist_ok=True)
        v6 = conf.family == "ipv6"
        where = f"udp6:[{ip6}]:161" if v6 else f"udp:{ip}:161"
        lines = [f"agentAddress {where}", f"sysName {name}",
                 f"sysDescr {model.vendor} {model.model} firmware {model.fw}"]  # fmt: skip
        if model.expose_identifiers:
            # ENTITY-MIB entPhysicalSerialNum.1 (RFC 6933), where real devices put the serial
            lines.append(f"override 1.3.6.1.2.1.47.1.1.1.1.11.1 octet_str {serial}")
        six = "6" if v6 else ""  # net-snmp's rocommunity covers IPv4 sources only
        lines += [f"rocommunity{six} {c} default" for c in conf.ro]
        lines += [f"rwcommunity{six} {c} default" for c in conf.rw]
        if conf.v3_user:
            pw = model.lab_password()
            lines += [f'createUser {conf.v3_user} SHA "{pw}" AES "{pw}"',
                      f"rouser {conf.v3_user} priv"]  # fmt: skip
        path = base / "snmpd.conf"
        path.write_text("\n".join(lines) + "\n")
        return {"conf": str(path), "persistent_dir": str(base), "pid_file": str(base / "pid"),
                "ip": ip6 if v6 else ip}  # fmt: skip

    def _miniupnpd(self, model: Model, name: str, mac: str, serial: str) -> dict[str, str]:
        """miniupnpd.conf for the device's real IGD: SSDP and control on eth0 only; mappings (none
        are made) would be allowed only for lab addresses."""
        from lanprobe.lab.services.http import device_uuid

        base = self.dir / "upnp" / name
        base.mkdir(parents=True, exist_ok=True)
        lines = ["ext_ifname=eth0", "listening_ip=eth0", f"http_port={UPNP_PORT}",
                 "enable_natpmp=no", "enable_upnp=yes", "secure_mode=yes", "notify_interval=60",
                 f"uuid={device_uuid(mac)}", f"serial={serial}", f"model_number={model.model}",
                 f"friendly_name={model.vendor} {model.model}", "upnp_table_name=lanprobe_upnp",
                 "allow 1024-65535 198.18.0.0/16 1024-65535",
                 "deny 0-65535 0.0.0.0/0 0-65535"]  # fmt: skip
        path = base / "miniupnpd.conf"
        path.write_text("\n".join(lines) + "\n")
        return {"conf": str(path), "pid_file": str(base / "pid")}

    def _udp_dir(self, name: str) -> Path:
        """Where the device's TFTP root (empty) and chronyd files live."""
        base = self.dir / "udp" / name
        (base / "tftp").mkdir(parents=True, exist_ok=True)
        base.chmod(0o755)
        (base / "tftp").chmod(0o755)
        return base

    def _manifest(self, model: Model, ip: str) -> dict[str, str] | None:
        man = model.manifest
        if man is None:
            return None
        http = next(h for h in model.http if h.port == man.http_port)
        scheme = "https" if http.tls else "http"
        port = "" if man.http_port in (80, 443) else f":{man.http_port}"
        image = firmware_image(model)
        image_name = f"{model.id}-{model.latest_fw}.bin"
        image_file = self.dir / "fw" / image_name
        if not image_file.exists():
            image_file.write_bytes(image)
        body = json.dumps(
            {
                "model": model.model,
                "version": model.latest_fw,
                "url": f"{scheme}://{ip}{port}{man.prefix}/{image_name}",
                "sha256": hashlib.sha256(image).hexdigest(),
            },
            indent=2,
        ).encode()
        out: dict[str, str] = {"image_name": image_name, "image": str(image_file)}
        if man.garbled:  # a compressed, cut-off blob where the JSON should be
            body = b"\x1f\x8b\x08\x00" + hashlib.sha256(body).digest() + b"{truncated"
        mfile = self.dir / "fw" / f"manifest-{ip}.json"
        mfile.write_bytes(body)
        out["manifest"] = str(mfile)
        if man.signed:
            sig = signing_key(man.signed).sign(body)
            sfile = self.dir / "fw" / f"manifest-{ip}.json.sig"
            sfile.write_text(base64.b64encode(sig).decode() + "\n")
            out["signature"] = str(sfile)
        return out

    def _mosquitto(self, model: Model, name: str, ip: str, serial: str, group: int) -> dict:
        mq = model.mqtt
        assert mq is not None
        base = self.dir / "mqtt"
        lines = [
            f"pid_file {base / (name + '.pid')}",
            "user root",
            "persistence false",
            f"log_dest file {self.dir / 'logs' / (name + '-mosquitto.log')}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages true",
            "per_listener_settings true",
        ]
        pw_file = None
        if mq.users:
            pw_file = base / f"{name}.passwd"
            for i, (user, pw) in enumerate(mq.users.items()):
                args = ["mosquitto_passwd", "-b", str(pw_file), user, pw]
                if i == 0:
                    args.insert(1, "-c")
                try:
                    proc = subprocess.run(args, capture_output=True, text=True, timeout=20)
                except FileNotFoundError as exc:
                    raise ToolError(
                        "mosquitto_passwd is missing (apt-get install mosquitto)"
                    ) from exc
                if proc.returncode != 0:
                    raise LabError(f"mosquitto_passwd: {proc.stderr.strip()}")

        def listener(port: int, tls: dict[str, str] | None) -> list[str]:
            block = [f"listener {port} 0.0.0.0", f"allow_anonymous {str(mq.anonymous).lower()}"]
            if pw_file:
                block.append(f"password_file {pw_file}")
            if tls:
                block += [
                    f"certfile {tls['cert']}",
                    f"keyfile {tls['key']}",
                    f"cafile {self.ca.cert_file}",
                ]
                if mq.tls_ciphers:
                    block.append(f"ciphers {mq.tls_ciphers}")
                if mq.tls_min_version:
                    block.append(f"tls_version {mq.tls_min_version}")
            return block

        tls = None
        if mq.port:
            lines += listener(mq.port, None)
        if mq.tls_port:
            tls = self._cert(mq.tls_cert, model, f"{name}-mqtt", ip, group)
            lines += listener(mq.tls_port, tls)
        conf = base / f"{name}.conf"
        conf.write_text("\n".join(lines) + "\n")
        pub_user: str | None = None
        pub_pw: str | None = None
        if mq.users:
            pub_user, pub_pw = next(iter(mq.users.items()))
        # The device process publishes its state through its own broker (over loopback).
        return {
            "conf": str(conf),
            "pid_file": str(base / f"{name}.pid"),
            "publish": {
                "port": mq.port or mq.tls_port,
                "tls": mq.port is None,
                "user": pub_user,
                "password": pub_pw,
                "topic": mq.topic.format(vendor=model.vendor.lower(), serial=serial),
            },
        }

    def device(
        self,
        model: Model,
        *,
        name: str,
        ip: str,
        mac: str,
        serial: str,
        group: int,
        host_ip: str,
        ip6: str = "",
    ) -> dict[str, Any]:
        tls = {
            str(h.port): {
                **self._cert(h.tls.cert, model, name, ip, group),
                "min": h.tls.min_version,
                "max": h.tls.max_version,
                "ciphers": h.tls.ciphers,
            }
            for h in model.http
            if h.tls
        }
        now = dt.datetime.now(dt.UTC)
        cfg: dict[str, Any] = {
            "name": name,
            "ip": ip,
            "ip6": ip6,
            "mac": mac,
            "serial": serial,
            "host_ip": host_ip,
            "model": asdict(model),
            "tls": tls,
            "ca_file": str(self.ca.cert_file),
            "ssh_host_key": self._host_key(model, name, group) if model.ssh else None,
            "manifest": self._manifest(model, ip),
            "mqtt": self._mosquitto(model, name, ip, serial, group) if model.mqtt else None,
            "snmp": self._snmpd(model, name, ip, serial, ip6) if model.snmp else None,
            "udp_dir": str(self._udp_dir(name)) if model.tftp or model.ntp else None,
            "miniupnpd": self._miniupnpd(model, name, mac, serial) if model.miniupnpd else None,
            "security_txt_expires": (now + dt.timedelta(days=180)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "pid_file": str(self.dir / "pids" / f"{name}.pid"),
            "ready_file": str(self.dir / "ready" / name),
            "ports": device_ports(model),
        }
        path = self.dir / "configs" / f"{name}.json"
        path.write_text(json.dumps(cfg, indent=2))
        cfg["config_file"] = str(path)
        return cfg


def device_ports(model: Model) -> list[int]:
    """Every TCP port the device listens on (the bench waits for all before `up` returns)."""
    ports = [h.port for h in model.http if h.family == "ipv4"]
    for svc in (model.telnet, model.ssh, model.ftp):
        if svc and svc.family == "ipv4":  # the bench checks readiness over IPv4
            ports.append(svc.port)
    if model.debug_shell:
        ports.append(model.debug_shell)
    if model.mqtt:
        ports += [p for p in (model.mqtt.port, model.mqtt.tls_port) if p]
    if model.rtsp:
        ports.append(model.rtsp.port)
    if model.miniupnpd:
        ports.append(UPNP_PORT)
    ports += model.stall_ports
    return sorted(ports)
