"""Vendor from a MAC address's OUI, offline.

The table is Wireshark's `manuf` file: Debian's libwireshark-data copy when present (it also has
the /28 and /36 MA-M/MA-S blocks), else the copy bundled with scapy. Nothing is downloaded.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

MANUF_PATHS = (Path("/usr/share/wireshark/manuf"), Path("/usr/local/share/wireshark/manuf"))

_HEX = re.compile(r"[^0-9a-fA-F]")


def normalize_mac(mac: str) -> str | None:
    """`02:AA:bb...`, `02-aa-..`, `02aa.bb..` -> `02:aa:bb:cc:dd:ee`; None when not a MAC."""
    digits = _HEX.sub("", mac or "")
    if len(digits) != 12:
        return None
    digits = digits.lower()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def is_locally_administered(mac: str) -> bool:
    norm = normalize_mac(mac)
    return norm is not None and bool(int(norm[:2], 16) & 0x02)


class ManufTable:
    """Prefix -> vendor, longest prefix first (a /36 block beats its parent /24)."""

    def __init__(self) -> None:
        self._by_bits: dict[int, dict[int, str]] = {}

    def add(self, prefix: str, name: str) -> None:
        bits = 24
        if "/" in prefix:
            prefix, _, length = prefix.partition("/")
            bits = int(length)
        digits = _HEX.sub("", prefix)
        if not digits or bits <= 0 or bits > 48:
            return
        value = int(digits.ljust(12, "0")[:12], 16) >> (48 - bits)
        self._by_bits.setdefault(bits, {})[value] = name

    def lookup(self, mac: str) -> str:
        norm = normalize_mac(mac)
        if norm is None:
            return ""
        value = int(norm.replace(":", ""), 16)
        for bits in sorted(self._by_bits, reverse=True):
            name = self._by_bits[bits].get(value >> (48 - bits))
            if name:
                return name
        return ""

    def __len__(self) -> int:
        return sum(len(t) for t in self._by_bits.values())

    @classmethod
    def parse(cls, text: str) -> ManufTable:
        table = cls()
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 2)
            if len(parts) < 2:
                continue
            short = parts[1]
            long = parts[2].split("#", 1)[0].strip() if len(parts) > 2 else ""
            try:
                table.add(parts[0], long or short)
            except ValueError:
                continue  # a malformed line costs one entry, not the table
        return table


@functools.cache
def manuf_table() -> ManufTable:
    for path in MANUF_PATHS:
        if path.is_file():
            return ManufTable.parse(path.read_text(encoding="utf-8", errors="replace"))
    from scapy.libs.manuf import DATA  # bundled copy; importing it does not load all of scapy

    return ManufTable.parse(DATA)


def vendor(mac: str | None) -> str:
    """The registered vendor of the MAC's OUI, or "" when unknown (e.g. locally administered)."""
    if not mac:
        return ""
    # Some old registrations carry the locally-administered bit (02:60:8c 3Com): look them up too.
    return manuf_table().lookup(mac)
