"""Offline OUI vendor lookup."""

from __future__ import annotations

from lanprobe.discovery.oui import ManufTable, is_locally_administered, normalize_mac, vendor


def test_normalize_mac_accepts_common_spellings() -> None:
    assert normalize_mac("B8-27-EB-01-02-03") == "b8:27:eb:01:02:03"
    assert normalize_mac("b827.eb01.0203") == "b8:27:eb:01:02:03"
    assert normalize_mac("b8:27:eb:01:02") is None
    assert normalize_mac("") is None


def test_longest_prefix_wins() -> None:
    table = ManufTable.parse(
        "# comment\n"
        "00:1B:C5\tIEEERegi\tIEEE Registration Authority\n"
        "00:1B:C5:00:10:00/36\tOpenRBco\tOpenRB.com, Direct SIA\n"
        "70:B3:D5:10:00:00/28\tShort28\n"
        "garbage line\n"
        "ZZ:ZZ\tBad\tBad hex\n"
    )
    assert table.lookup("00:1b:c5:00:10:99") == "OpenRB.com, Direct SIA"
    assert table.lookup("00:1b:c5:00:20:99") == "IEEE Registration Authority"
    assert table.lookup("70:b3:d5:1f:ff:ff") == "Short28"  # no long name: the short one
    assert table.lookup("70:b3:d5:20:00:00") == ""
    assert table.lookup("not a mac") == ""


def test_vendor_from_the_installed_table() -> None:
    assert "Raspberry Pi" in vendor("b8:27:eb:12:34:56")
    assert "Espressif" in vendor("24:0A:C4:00:00:01")
    assert vendor("02:00:00:00:00:01") == ""  # locally administered, unregistered
    assert vendor(None) == ""


def test_scapy_bundled_table_parses() -> None:
    from scapy.libs.manuf import DATA

    table = ManufTable.parse(DATA)
    assert len(table) > 10000
    assert "Raspberry Pi" in table.lookup("b8:27:eb:00:00:01")


def test_locally_administered_bit() -> None:
    assert is_locally_administered("02:00:00:00:00:01")
    assert not is_locally_administered("b8:27:eb:00:00:01")
