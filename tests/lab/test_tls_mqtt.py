"""TLS versions, suites and certificates, and the mosquitto brokers (paho-mqtt 2.x)."""

from __future__ import annotations

import socket
import ssl
import time
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from lanprobe.lab.bench import BenchState
from lanprobe.lab.models import LAB_PASSWORDS, LAB_USER

from tests.lab.conftest import client_ctx, device

pytestmark = pytest.mark.lab
V = ssl.TLSVersion


def handshake(ip: str, port: int, ctx: ssl.SSLContext) -> tuple[str, str, x509.Certificate]:
    with (
        socket.create_connection((ip, port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=ip) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        cipher = tls.cipher()
        assert der is not None and cipher is not None
        return str(tls.version()), cipher[0], x509.load_der_x509_certificate(der)


def refuses(ip: str, port: int, ctx: ssl.SSLContext) -> bool:
    try:
        handshake(ip, port, ctx)
    except (ssl.SSLError, ConnectionResetError):
        return True
    return False


def test_therma_accepts_old_tls_and_weak_suites(bench: BenchState) -> None:
    ip = device(bench, "therma-t1").ip
    assert handshake(ip, 443, client_ctx(V.TLSv1))[0] == "TLSv1"
    assert handshake(ip, 443, client_ctx(V.TLSv1_1))[0] == "TLSv1.1"
    assert handshake(ip, 443, client_ctx(V.TLSv1_3))[0] == "TLSv1.3"
    _, cipher, cert = handshake(ip, 443, client_ctx(V.TLSv1_2, "AES128-SHA"))
    assert cipher == "AES128-SHA"
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 1024
    assert cert.signature_hash_algorithm is not None
    assert cert.signature_hash_algorithm.name == "sha1"
    assert "CN=lanprobe lab CA" in cert.issuer.rfc4514_string()


def test_hubco_tls12_plus_strong_suites_valid_cert(bench: BenchState) -> None:
    ip = device(bench, "hubco-h1").ip
    assert refuses(ip, 443, client_ctx(V.TLSv1))
    assert refuses(ip, 443, client_ctx(V.TLSv1_1))
    assert refuses(ip, 443, client_ctx(V.TLSv1_2, "AES128-SHA"))
    version, cipher, _ = handshake(ip, 443, client_ctx(V.TLSv1_2))
    assert (version == "TLSv1.2" and "GCM" in cipher) or "CHACHA" in cipher
    # verifies against the lab CA, with the unit's IP as the checked name
    version, _, cert = handshake(ip, 443, client_ctx(cafile=str(bench.ca_file)))
    assert version == "TLSv1.3"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ip in [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    assert handshake(ip, 8883, client_ctx(cafile=str(bench.ca_file)))[0] == "TLSv1.3"


def test_plugco_mqtts_cert_is_expired(bench: BenchState) -> None:
    ip = device(bench, "plugco-sp1").ip
    _, _, cert = handshake(ip, 8883, client_ctx())
    assert cert.not_valid_after_utc < datetime.now(UTC)
    assert "lanprobe lab CA" in cert.issuer.rfc4514_string()
    assert refuses(ip, 8883, client_ctx(cafile=str(bench.ca_file)))


def test_twins_share_a_self_signed_cert(bench: BenchState) -> None:
    a, b = bench.by_model("acme-ipcam300")[:2]
    _, _, ca = handshake(a.ip, 443, client_ctx())
    _, _, cb = handshake(b.ip, 443, client_ctx())
    assert ca == cb
    assert ca.issuer == ca.subject
    assert refuses(a.ip, 443, client_ctx(cafile=str(bench.ca_file)))


def mqtt_session(
    ip: str,
    port: int,
    *,
    user: str | None = None,
    password: str | None = None,
    tls: ssl.SSLContext | None = None,
    topic: str = "#",
    wait_s: float = 3.0,
) -> tuple[int, list[mqtt.MQTTMessage]]:
    """Connect, subscribe to `topic`, collect messages. Returns (CONNACK reason value, msgs)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    got: dict[str, object] = {}
    msgs: list[mqtt.MQTTMessage] = []

    def on_connect(c: mqtt.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        got["rc"] = rc
        if not rc.is_failure:  # type: ignore[attr-defined]
            c.subscribe(topic)

    client.on_connect = on_connect
    client.on_message = lambda _c, _u, m: msgs.append(m)
    if user is not None:
        client.username_pw_set(user, password)
    if tls is not None:
        client.tls_set_context(tls)
    client.connect(ip, port, keepalive=10)
    deadline = time.monotonic() + wait_s
    try:
        while time.monotonic() < deadline:
            client.loop(timeout=0.1)
            rc = got.get("rc")
            if rc is not None and (rc.is_failure or msgs):  # type: ignore[attr-defined]
                break
    finally:
        client.disconnect()
        client.loop(timeout=0.1)
    rc = got.get("rc")
    return (rc.value if rc is not None else -1), msgs  # type: ignore[attr-defined]


def test_plugco_anonymous_subscribe_gets_retained_state(bench: BenchState) -> None:
    plug = device(bench, "plugco-sp1")
    rc, msgs = mqtt_session(plug.ip, 1883)
    assert rc == 0
    assert msgs and msgs[0].topic == f"plugco/{plug.serial}/state"
    rc, msgs = mqtt_session(plug.ip, 8883, tls=client_ctx())  # anonymous over TLS too
    assert rc == 0 and msgs


def test_hubco_refuses_anonymous_accepts_lab_login(bench: BenchState) -> None:
    hub = device(bench, "hubco-h1")
    ctx = client_ctx(cafile=str(bench.ca_file))
    rc, msgs = mqtt_session(hub.ip, 8883, tls=ctx)
    assert rc == 135 and not msgs  # "not authorized"
    rc, msgs = mqtt_session(
        hub.ip, 8883, user=LAB_USER, password=LAB_PASSWORDS["hubco-h1"], tls=ctx
    )
    assert rc == 0 and msgs[0].topic == f"hubco/{hub.serial}/state"


def test_therma_default_mqtt_login(bench: BenchState) -> None:
    therma = device(bench, "therma-t1")
    assert mqtt_session(therma.ip, 1883)[0] == 135
    assert mqtt_session(therma.ip, 1883, user="therma", password="wrong")[0] == 135
    rc, msgs = mqtt_session(therma.ip, 1883, user="therma", password="therma")
    assert rc == 0 and msgs
