"""Merge logic: sightings from ARP, mDNS, SSDP and nmap become one Device per unit."""

from __future__ import annotations

from lanprobe.discovery.inventory import Sighting, merge
from lanprobe.model import Identifier, MdnsService, Service

MAC_A = "B8:27:EB:00:00:0A"
MAC_B = "24:0a:c4:00:00:0b"


def _vendor(mac: str | None) -> str:
    return {"b8:27:eb:00:00:0a": "Raspberry Pi Foundation"}.get(mac or "", "")


def test_sightings_of_one_mac_become_one_device() -> None:
    mdns = MdnsService(type="_http._tcp.local.", name="cam._http._tcp.local.", port=80)
    devices = merge(
        [
            Sighting(source="arp", ip="198.18.0.10", mac=MAC_A),
            Sighting(
                source="mdns",
                ip="198.18.0.10",
                hostname="cam-1.local",
                mdns=mdns,
                identifiers={"serial": Identifier(value="S-1", source="mdns:_http._tcp.local.")},
            ),
            Sighting(
                source="ssdp",
                ip="198.18.0.10",
                ssdp={"UDN": "uuid:1", "modelName": "CAM"},
                identifiers={"udn": Identifier(value="uuid:1", source="ssdp:http://x/d.xml")},
            ),
            Sighting(source="nmap", ip="198.18.0.10", services=[Service(port=80, name="http")]),
            Sighting(source="arp", ip="198.18.0.11", mac=MAC_B),
        ],
        vendor_of=_vendor,
    )
    assert [d.key for d in devices] == ["b8:27:eb:00:00:0a", "24:0a:c4:00:00:0b"]
    cam = devices[0]
    assert cam.mac == "b8:27:eb:00:00:0a"
    assert cam.ips == ["198.18.0.10"]
    assert cam.vendor == "Raspberry Pi Foundation"
    assert cam.seen_by == ["arp", "mdns", "ssdp", "nmap"]
    assert cam.identifier("serial") == "S-1"
    assert cam.identifiers["serial"].source == "mdns:_http._tcp.local."
    assert cam.identifier("udn") == "uuid:1"
    assert cam.identifiers["hostname"] == Identifier(value="cam-1.local", source="mdns")
    assert cam.hostname == "cam-1.local"
    assert cam.ssdp["modelName"] == "CAM"
    assert [m.name for m in cam.mdns] == ["cam._http._tcp.local."]
    assert cam.service(80) is not None
    assert devices[1].vendor == ""


def test_mac_learned_late_still_joins_the_device() -> None:
    """An mDNS sighting that arrives before the nmap one that knows the MAC joins it anyway."""
    devices = merge(
        [
            Sighting(source="mdns", ip="198.18.0.12", hostname="plug.local"),
            Sighting(source="nmap", ip="198.18.0.12", mac=MAC_B),
        ]
    )
    assert len(devices) == 1
    assert devices[0].key == MAC_B.lower()
    assert devices[0].hostname == "plug.local"


def test_no_mac_means_the_address_is_the_key() -> None:
    devices = merge(
        [Sighting(source="nmap", ip="198.18.5.7"), Sighting(source="mdns", ip="198.18.5.7")]
    )
    assert len(devices) == 1
    assert devices[0].key == "198.18.5.7"
    assert devices[0].mac is None
    assert devices[0].seen_by == ["mdns", "nmap"]


def test_one_mac_two_addresses_is_one_device_first_address_first() -> None:
    devices = merge(
        [
            Sighting(source="arp", ip="198.18.0.20", mac=MAC_A),
            Sighting(source="arp", ip="198.18.0.9", mac=MAC_A),
        ]
    )
    assert len(devices) == 1
    assert devices[0].ips == ["198.18.0.20", "198.18.0.9"]
    assert devices[0].ip == "198.18.0.20"


def test_address_claimed_by_two_macs_is_noted_not_split() -> None:
    notes: list[str] = []
    devices = merge(
        [
            Sighting(source="arp", ip="198.18.0.30", mac=MAC_A),
            Sighting(source="nmap", ip="198.18.0.30", mac=MAC_B),
        ],
        notes=notes,
    )
    assert len(devices) == 1
    assert devices[0].key == MAC_A.lower()
    assert any("198.18.0.30" in n and MAC_B.lower() in n for n in notes)


def test_conflicting_identifiers_keep_the_first_and_say_so() -> None:
    notes: list[str] = []
    devices = merge(
        [
            Sighting(
                source="mdns",
                ip="198.18.0.10",
                mac=MAC_A,
                identifiers={"serial": Identifier(value="A-1", source="mdns:_x._tcp.local.")},
            ),
            Sighting(
                source="ssdp",
                ip="198.18.0.10",
                identifiers={"serial": Identifier(value="B-2", source="ssdp:http://d")},
            ),
            Sighting(
                source="ssdp",
                ip="198.18.0.10",
                identifiers={"model": Identifier(value="M", source="ssdp:http://d")},
            ),
        ],
        notes=notes,
    )
    dev = devices[0]
    assert dev.identifier("serial") == "A-1"
    assert dev.identifier("model") == "M"
    assert len(notes) == 1 and "'A-1'" in notes[0] and "'B-2'" in notes[0]


def test_services_merge_fills_gaps_and_never_forgets_tls() -> None:
    devices = merge(
        [
            Sighting(
                source="nmap",
                ip="198.18.0.10",
                services=[Service(port=443, name="https", tls=True), Service(port=22)],
            ),
            Sighting(
                source="nmap",
                ip="198.18.0.10",
                services=[Service(port=443, name="http", product="lighttpd", tls=False)],
            ),
            Sighting(source="nmap", ip="198.18.0.10", services=[Service(port=53, transport="udp")]),
        ]
    )
    svc = devices[0].service(443)
    assert svc is not None
    assert (svc.name, svc.product, svc.tls) == ("https", "lighttpd", True)
    assert [(s.transport, s.port) for s in devices[0].services] == [
        ("tcp", 22),
        ("tcp", 443),
        ("udp", 53),
    ]


def test_devices_sorted_numerically_and_mdns_deduplicated() -> None:
    svc = MdnsService(type="_a._tcp.local.", name="x._a._tcp.local.")
    devices = merge(
        [
            Sighting(source="mdns", ip="198.18.0.100", mdns=svc),
            Sighting(source="mdns", ip="198.18.0.100", mdns=svc),
            Sighting(source="mdns", ip="198.18.0.9"),
        ]
    )
    assert [d.ip for d in devices] == ["198.18.0.9", "198.18.0.100"]
    assert len(devices[1].mdns) == 1


def test_merged_device_serialises_like_run_json() -> None:
    devices = merge([Sighting(source="arp", ip="198.18.0.10", mac=MAC_A)])
    data = devices[0].model_dump(mode="json")
    assert data["key"] == data["mac"] == "b8:27:eb:00:00:0a"
    assert data["ips"] == ["198.18.0.10"]
    assert data["vendor"]  # from the offline OUI table
