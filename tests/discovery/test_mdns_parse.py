"""mDNS TXT decoding and type validation (hostile input becomes notes, never exceptions)."""

from __future__ import annotations

from lanprobe.discovery.mdns import decode_txt, txt_identifiers, valid_type


def _txt(*entries: bytes) -> bytes:
    return b"".join(bytes([len(e)]) + e for e in entries)


def test_decode_plain_txt() -> None:
    txt, notes = decode_txt(
        _txt(b"vendor=Acme", b"Model=IPCAM-200", b"serial=ACM200-0001", b"flag")
    )
    assert txt == {"vendor": "Acme", "model": "IPCAM-200", "serial": "ACM200-0001", "flag": ""}
    assert notes == []


def test_first_key_wins_and_empty_entries_are_skipped() -> None:
    txt, _ = decode_txt(b"\x00" + _txt(b"sn=1", b"SN=2", b"=nokey"))
    assert txt == {"sn": "1"}


def test_value_with_equals_sign_kept_whole() -> None:
    txt, _ = decode_txt(_txt(b"path=/a=b"))
    assert txt == {"path": "/a=b"}


def test_truncated_record_is_noted() -> None:
    txt, notes = decode_txt(_txt(b"a=1") + b"\x20short")
    assert txt == {"a": "1"}
    assert any("truncated" in n for n in notes)


def test_invalid_utf8_and_control_characters_are_neutralised() -> None:
    txt, notes = decode_txt(_txt(b"model=\xff\xfeX", b"fw=1.0\x1b[31m"))
    assert txt["model"] == "\ufffd\ufffdX"
    assert "\x1b" not in txt["fw"]
    assert any("not UTF-8" in n for n in notes)


def test_too_many_entries_are_capped() -> None:
    raw = _txt(*(f"k{i}=v".encode() for i in range(200)))
    txt, notes = decode_txt(raw)
    assert len(txt) == 64
    assert any("more than 64" in n for n in notes)


def test_oversized_or_binary_keys_are_dropped() -> None:
    txt, notes = decode_txt(_txt(b"k" * 100 + b"=v", b"\x01\x02=v", b"ok=1"))
    assert txt == {"ok": "1"}
    assert len(notes) == 2


def test_identifiers_from_txt_aliases() -> None:
    ids = txt_identifiers({"md": "T1", "sn": "X-9", "fwver": "2.0", "vendor": "Therma"}, "mdns:t")
    assert {k: v.value for k, v in ids.items()} == {
        "model": "T1",
        "serial": "X-9",
        "fw": "2.0",
        "manufacturer": "Therma",
    }
    assert all(v.source == "mdns:t" for v in ids.values())
    assert txt_identifiers({"model": "  "}, "s") == {}


def test_valid_type() -> None:
    assert valid_type("_http._tcp.local.")
    assert valid_type("_plugco._tcp.local.")
    assert not valid_type("_http._tcp.example.com.")
    assert not valid_type("_this-name-is-far-too-long-for-a-service._tcp.local.")
    assert not valid_type("_bad\x00type._tcp.local.")
    assert not valid_type("no-underscore._tcp.local.")


def test_unicast_answers_must_match_the_query() -> None:
    """mDNS unicast (mdns_unicast.py): only a response carrying the query's ID counts; junk,
    a query, or a response to another ID give no records."""
    from lanprobe.discovery.mdns_unicast import query, records
    from zeroconf import DNSOutgoing, DNSPointer

    asked = query(("_services._dns-sd._udp.local.", 12))
    qid = int.from_bytes(asked[:2], "big")

    def response(id_: int) -> bytes:
        out = DNSOutgoing(0x8400, multicast=False, id_=id_)
        out.add_answer_at_time(
            DNSPointer("_services._dns-sd._udp.local.", 12, 1, 120, "_http._tcp.local."), 0
        )
        return out.packets()[0]

    [ptr] = records(response(qid), asked)
    assert ptr.alias == "_http._tcp.local."
    assert records(response(qid ^ 1), asked) == []
    assert records(asked, asked) == []  # a query is no answer
    assert records(b"\x00\x01garbage", asked) == []
