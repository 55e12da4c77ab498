"""RFC 9116 parsing and judging (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lanprobe.checks.clients.securitytxt import parse, parse_datetime

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def test_valid_file_has_no_problems() -> None:
    txt = parse(
        "# our policy\n"
        "Contact: mailto:security@example.com\n"
        "Contact: https://example.com/report\n"
        "Expires: 2025-12-31T23:59:59Z\n"
        "Policy: https://example.com/policy\n"
    )
    assert txt.contacts == ["mailto:security@example.com", "https://example.com/report"]
    assert txt.expires() == datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert txt.problems(NOW) == []
    assert txt.summary()["policy"] == ["https://example.com/policy"]


def test_field_names_are_case_insensitive_and_crlf_is_fine() -> None:
    txt = parse("CONTACT: mailto:a@b.c\r\nexpires: 2026-01-01T00:00:00+01:00\r\n")
    assert txt.problems(NOW) == []


def test_missing_fields_are_named() -> None:
    assert parse("Policy: https://x/\n").problems(NOW) == ["no Contact field", "no Expires field"]


def test_expired_file_is_stale() -> None:
    problems = parse("Contact: mailto:a@b.c\nExpires: 2024-01-01T00:00:00Z\n").problems(NOW)
    assert problems == ["expired on 2024-01-01"]


def test_two_expires_and_bad_date_and_bad_contact() -> None:
    two = parse("Contact: mailto:a@b.c\nExpires: 2026-01-01T00:00:00Z\nExpires: 2027-01-01Z\n")
    assert "Expires appears more than once" in two.problems(NOW)
    bad = parse("Contact: security@example.com\nExpires: next year\n").problems(NOW)
    assert any("not a URI" in p for p in bad)
    assert any("not an RFC 3339" in p for p in bad)


def test_pgp_signed_file_reads_the_signed_text() -> None:
    text = (
        "-----BEGIN PGP SIGNED MESSAGE-----\n"
        "Hash: SHA256\n"
        "\n"
        "Contact: mailto:psirt@example.com\n"
        "- Expires: 2025-09-01T00:00:00Z\n"
        "-----BEGIN PGP SIGNATURE-----\n"
        "iQIzBAEBCAAdFiEE\n"
        "-----END PGP SIGNATURE-----\n"
    )
    txt = parse(text)
    assert txt.signed
    assert txt.problems(NOW) == []
    assert "iQIzBAEBCAAdFiEE" not in str(txt.fields)


def test_garbage_goes_to_notes_never_raises() -> None:
    txt = parse("<html><body>Not found</body></html>\n\x00\x01")
    assert txt.contacts == []
    assert txt.notes
    assert "no Contact field" in txt.problems(NOW)


def test_far_expiry_is_advice_not_a_problem() -> None:
    far = (NOW + timedelta(days=800)).strftime("%Y-%m-%dT%H:%M:%SZ")
    txt = parse(f"Contact: mailto:a@b.c\nExpires: {far}\n")
    assert txt.problems(NOW) == []
    assert txt.advice(NOW)


def test_parse_datetime() -> None:
    assert parse_datetime("2025-01-02T03:04:05Z") == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_datetime("2025-01-02T03:04:05") == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_datetime("tomorrow") is None
