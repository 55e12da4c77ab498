"""Send hostile mDNS answers from inside a bench namespace (run as a script in the netns).

    python hostile_mdns.py SRC_IP DURATION_S

Every 0.2 s it multicasts: a service type with a NUL byte in it, an instance whose TXT record
is truncated and not UTF-8, an instance name with a terminal escape in it, a packet with a
compression-pointer loop, and plain garbage. Discovery must skip what it cannot use and still
find every other device.
"""

from __future__ import annotations

import socket
import struct
import sys
import time

GROUP = ("224.0.0.251", 5353)


def name(*labels: bytes) -> bytes:
    return b"".join(bytes([len(lab)]) + lab for lab in labels) + b"\x00"


def rr(owner: bytes, rtype: int, rdata: bytes, ttl: int = 120) -> bytes:
    return owner + struct.pack("!HHIH", rtype, 0x8001, ttl, len(rdata)) + rdata


def response(*records: bytes) -> bytes:
    return struct.pack("!HHHHHH", 0, 0x8400, 0, len(records), 0, 0) + b"".join(records)


def packets(src_ip: str) -> list[bytes]:
    services = name(b"_services", b"_dns-sd", b"_udp", b"local")
    bad_type = name(b"_bad\x00type", b"_tcp", b"local")
    evil_type = name(b"_evil", b"_tcp", b"local")
    evil = name(b"evil unit", b"_evil", b"_tcp", b"local")
    ctrl = name(b"ctrl \x1b[31m unit", b"_evil", b"_tcp", b"local")
    host = name(b"evil-host", b"local")
    txt = b"\x0bmodel=EVIL\xff" + b"\x04sn=1" + b"\x40short"  # last entry truncated
    srv = struct.pack("!HHH", 0, 0, 80) + host
    loop = struct.pack("!HHHHHH", 0, 0x8400, 0, 1, 0, 0) + b"\xc0\x0c" + b"\x00\x0c\x00\x01"
    return [
        response(rr(services, 12, bad_type)),
        response(
            rr(services, 12, evil_type),
            rr(evil_type, 12, evil),
            rr(evil_type, 12, ctrl),
            rr(ctrl, 33, srv),
            rr(evil, 33, srv),
            rr(evil, 16, txt),
            rr(host, 1, socket.inet_aton(src_ip)),
        ),
        loop,
        b"\xde\xad\xbe\xef" * 7,
    ]


def main() -> None:
    src_ip, duration_s = sys.argv[1], float(sys.argv[2])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src_ip))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    # The device's own responder holds 5353 in this namespace: share the port as it does.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((src_ip, 5353))
    end = time.monotonic() + min(duration_s, 60.0)
    while time.monotonic() < end:
        for pkt in packets(src_ip):
            sock.sendto(pkt, GROUP)
        time.sleep(0.2)
    sock.close()


if __name__ == "__main__":
    main()
