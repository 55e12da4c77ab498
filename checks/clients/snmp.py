"""SNMP over UDP, read-only: v1/v2c GetRequest and v3 engine discovery, with a small BER codec.

Our own encoder rather than pysnmp: three message shapes (RFC 3416 GetRequest, RFC 3412/3414
engine discovery, RFC 3416 SetRequest for the write proof) and one decoder, a few dozen lines,
no MIB machinery. Every request is one datagram with a bounded number of retries and a timeout;
nothing here changes an agent's state (see `write_probe` for why the SET changes nothing).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from lanprobe.checks.clients import datagram

SNMP_PORT = 161
SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
SYS_LOCATION = "1.3.6.1.2.1.1.6.0"
ENT_SERIAL = "1.3.6.1.2.1.47.1.1.1.1.11.1"  # ENTITY-MIB entPhysicalSerialNum.1 (RFC 6933)
MAX_DATAGRAM = datagram.MAX_DATAGRAM

# BER tags (X.690) and SNMP PDU tags (RFC 3416 section 3).
INTEGER, OCTETS, NULL, OID, SEQUENCE = 0x02, 0x04, 0x05, 0x06, 0x30
GET, RESPONSE, SET, REPORT = 0xA0, 0xA2, 0xA3, 0xA8
# RFC 3416 section 3 error-status values we name in evidence.
ERRORS = {0: "noError", 1: "tooBig", 2: "noSuchName", 3: "badValue", 4: "readOnly", 5: "genErr",
          6: "noAccess", 7: "wrongType", 8: "wrongLength", 9: "wrongEncoding", 10: "wrongValue",
          11: "noCreation", 12: "inconsistentValue", 13: "resourceUnavailable",
          14: "commitFailed", 15: "undoFailed", 16: "authorizationError", 17: "notWritable",
          18: "inconsistentName"}  # fmt: skip


# --- BER -----------------------------------------------------------------------------------------


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _length(len(value)) + value


def integer(n: int) -> bytes:
    return tlv(INTEGER, n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True))


def octets(b: bytes) -> bytes:
    return tlv(OCTETS, b)


def oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    out = bytearray()
    for p in [parts[0] * 40 + parts[1], *parts[2:]]:  # X.690 8.19: base 128, high bit = more
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        out += bytes(reversed(chunk))
    return tlv(OID, bytes(out))


def seq(*items: bytes, tag: int = SEQUENCE) -> bytes:
    return tlv(tag, b"".join(items))


@dataclass
class Node:
    tag: int
    value: bytes
    children: list[Node] = field(default_factory=list)

    def int(self) -> int:
        return int.from_bytes(self.value, "big", signed=True)

    def oid(self) -> str:
        subids: list[int] = []
        n = 0
        for byte in self.value:
            n = (n << 7) | (byte & 0x7F)
            if not byte & 0x80:
                subids.append(n)
                n = 0
        if not subids:
            return ""
        first = subids[0]
        head = [first // 40, first % 40] if first < 80 else [2, first - 80]
        return ".".join(str(p) for p in head + subids[1:])


def decode(data: bytes, depth: int = 0) -> list[Node]:
    """Every TLV in `data`; constructed types (bit 0x20) decoded recursively. ValueError if bad."""
    if depth > 12:
        raise ValueError("BER nested too deep")
    out: list[Node] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise ValueError("BER truncated")
        tag, first = data[pos], data[pos + 1]
        pos += 2
        if first & 0x80:
            n = first & 0x7F
            if n == 0 or n > 4 or pos + n > len(data):
                raise ValueError("BER length unsupported")
            length = int.from_bytes(data[pos : pos + n], "big")
            pos += n
        else:
            length = first
        if pos + length > len(data):
            raise ValueError("BER value runs past the data")
        value = data[pos : pos + length]
        pos += length
        node = Node(tag, value)
        if tag & 0x20:
            node.children = decode(value, depth + 1)
        out.append(node)
    return out


# --- messages ------------------------------------------------------------------------------------


def get_request(community: bytes, version: int, request_id: int, oids: list[str]) -> bytes:
    """v1 (version 0) or v2c (version 1) GetRequest of `oids` (RFC 1157 / RFC 3416)."""
    binds = seq(*(seq(oid(o), tlv(NULL, b"")) for o in oids))
    pdu = seq(integer(request_id), integer(0), integer(0), binds, tag=GET)
    return seq(integer(version), octets(community), pdu)


def write_probe(community: bytes, version: int, request_id: int) -> bytes:
    """A SetRequest that proves write access and cannot change anything.

    It sets sysLocation.0 (a DisplayString, RFC 3418) to an INTEGER: the wrong type. An agent
    checks access before the value (RFC 3416 section 4.2.5 steps 1-2): a read-only or unknown
    community gets noAccess / authorizationError / readOnly or no answer at all; a write community
    gets wrongType (v2c) or badValue (v1). Either way no variable is altered: a SET with an error
    in any binding alters none (RFC 3416 section 4.2.5, RFC 1157 section 4.1.5), and a wrong-typed
    value can never be stored.
    """
    binds = seq(seq(oid(SYS_LOCATION), integer(0)))
    pdu = seq(integer(request_id), integer(0), integer(0), binds, tag=SET)
    return seq(integer(version), octets(community), pdu)


def engine_discovery(msg_id: int) -> bytes:
    """SNMPv3 discovery (RFC 3414 section 4): noAuthNoPriv, empty engine ID and user, reportable;
    the agent answers a Report carrying its authoritative engine ID."""
    header = seq(integer(msg_id), integer(MAX_DATAGRAM), octets(b"\x04"), integer(3))
    usm = seq(octets(b""), integer(0), integer(0), octets(b""), octets(b""), octets(b""))
    pdu = seq(integer(msg_id), integer(0), integer(0), seq(), tag=GET)
    scoped = seq(octets(b""), octets(b""), pdu)
    return seq(integer(3), header, octets(usm), scoped)


@dataclass
class SnmpAnswer:
    version: int
    request_id: int = 0
    pdu: int = 0
    error_status: int = 0
    values: dict[str, Any] = field(default_factory=dict)  # oid -> str | int | bytes
    engine_id: str = ""  # v3: the authoritative engine ID, hex

    @property
    def error(self) -> str:
        return ERRORS.get(self.error_status, str(self.error_status))


def _value(node: Node) -> Any:
    if node.tag == OCTETS:
        text = node.value.decode("utf-8", "replace")
        return text if text.isprintable() or "\n" in text else node.value.hex()
    if node.tag == OID:
        return node.oid()
    if node.tag in (INTEGER, 0x41, 0x42, 0x43, 0x46):  # Counter32, Gauge32, TimeTicks, Counter64
        return int.from_bytes(node.value, "big", signed=node.tag == INTEGER)
    if node.tag in (0x80, 0x81, 0x82):  # noSuchObject, noSuchInstance, endOfMibView
        return None
    return node.value.hex()


def parse_message(data: bytes) -> SnmpAnswer:
    """An agent's answer (v1/v2c Response, v3 Report); ValueError when it is not one."""
    nodes = decode(data)
    msg = nodes[0] if nodes else None
    if msg is None or msg.tag != SEQUENCE or len(msg.children) < 3:
        raise ValueError("not an SNMP message")
    version = msg.children[0].int()
    if version == 3:
        if len(msg.children) < 4:
            raise ValueError("short SNMPv3 message")
        usm = decode(msg.children[2].value)
        engine = usm[0].children[0].value.hex() if usm and usm[0].children else ""
        scoped = msg.children[3]
        pdu = scoped.children[2] if len(scoped.children) > 2 else None
        ans = SnmpAnswer(version=3, engine_id=engine, pdu=pdu.tag if pdu else 0)
        return ans
    pdu = msg.children[2]
    if pdu.tag not in (RESPONSE, REPORT) or len(pdu.children) < 4:
        raise ValueError("not an SNMP response PDU")
    ans = SnmpAnswer(version=version, request_id=pdu.children[0].int(), pdu=pdu.tag,
                     error_status=pdu.children[1].int())  # fmt: skip
    for bind in pdu.children[3].children:
        if len(bind.children) == 2:
            ans.values[bind.children[0].oid()] = _value(bind.children[1])
    return ans


# --- transport -----------------------------------------------------------------------------------


async def exchange(
    ip: str, port: int, message: bytes, *, timeout_s: float = 1.0, retries: int = 1
) -> bytes | None:
    """Send one datagram, wait for one answer; resend up to `retries` times. None: silence."""
    got = await datagram.exchange(ip, port, message, timeout_s=timeout_s, retries=retries)
    return got[0] if got is not None else None


async def get(
    ip: str, community: bytes, version: int, oids: list[str], *, port: int = SNMP_PORT,
    timeout_s: float = 1.0, retries: int = 1,
) -> SnmpAnswer | None:  # fmt: skip
    """GetRequest; None when the agent stays silent (a wrong community is dropped silently)."""
    rid = secrets.randbelow(2**31 - 1)
    data = await exchange(ip, port, get_request(community, version, rid, oids),
                          timeout_s=timeout_s, retries=retries)  # fmt: skip
    if data is None:
        return None
    ans = parse_message(data)
    return ans if ans.request_id == rid else None


async def can_write(
    ip: str, community: bytes, version: int, *, port: int = SNMP_PORT, timeout_s: float = 1.0,
    retries: int = 1,
) -> SnmpAnswer | None:  # fmt: skip
    """The write probe's answer (see `write_probe`); None when the agent stays silent."""
    rid = secrets.randbelow(2**31 - 1)
    data = await exchange(ip, port, write_probe(community, version, rid),
                          timeout_s=timeout_s, retries=retries)  # fmt: skip
    if data is None:
        return None
    ans = parse_message(data)
    return ans if ans.request_id == rid else None


# Error statuses that say "you may write here, but not this value": write access proven.
WRITE_ALLOWED = frozenset({3, 7, 8, 9, 10, 12})  # badValue wrongType wrongLength ... inconsistent
