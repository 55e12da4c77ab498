"""security.txt (RFC 9116): parse the file and say what is wrong with it.

A security.txt is `Field: value` lines; `#` starts a comment; field names are case-insensitive.
`Contact` (one or more) and `Expires` (exactly one, an RFC 3339 date-time) are required, and an
expired file must be treated as stale. The file may be wrapped in an OpenPGP cleartext signature;
we read the signed text and do not verify the signature (RFC 9116 makes signing optional).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

MAX_BYTES = 32 * 1024  # RFC 9116 sets no limit; real files are a few hundred bytes
WELL_KNOWN = "/.well-known/security.txt"
LEGACY = "/security.txt"  # RFC 9116 section 3: the top-level path, for legacy compatibility

_PGP_BEGIN = "-----BEGIN PGP SIGNED MESSAGE-----"
_PGP_SIG = "-----BEGIN PGP SIGNATURE-----"


@dataclass
class SecurityTxt:
    fields: dict[str, list[str]] = field(default_factory=dict)  # lower-case name -> values
    signed: bool = False
    notes: list[str] = field(default_factory=list)  # lines that are not fields

    @property
    def contacts(self) -> list[str]:
        return self.fields.get("contact", [])

    def expires(self) -> datetime | None:
        values = self.fields.get("expires", [])
        return parse_datetime(values[0]) if len(values) == 1 else None

    def problems(self, now: datetime | None = None) -> list[str]:
        """Why the file does not meet RFC 9116's requirements; [] when it does."""
        now = now or datetime.now(UTC)
        out: list[str] = []
        if not self.contacts:
            out.append("no Contact field")
        for contact in self.contacts:
            if not contact.lower().startswith(("mailto:", "https://", "tel:", "http://")):
                out.append(f"Contact {contact!r} is not a URI (mailto:, https:, tel:)")
        values = self.fields.get("expires", [])
        if not values:
            out.append("no Expires field")
        elif len(values) > 1:
            out.append("Expires appears more than once")
        else:
            when = parse_datetime(values[0])
            if when is None:
                out.append(f"Expires {values[0]!r} is not an RFC 3339 date-time")
            elif when <= now:
                out.append(f"expired on {when.date().isoformat()}")
        return out

    def advice(self, now: datetime | None = None) -> list[str]:
        """RFC 9116 recommendations (not requirements)."""
        now = now or datetime.now(UTC)
        when = self.expires()
        if when is not None and when - now > timedelta(days=366):
            return ["Expires is more than a year ahead (RFC 9116 recommends less)"]
        return []

    def summary(self) -> dict[str, object]:
        when = self.expires()
        return {
            "contact": self.contacts,
            "expires": when.isoformat() if when else self.fields.get("expires"),
            "policy": self.fields.get("policy", []),
            "signed": self.signed,
        }


def parse_datetime(text: str) -> datetime | None:
    """An RFC 3339 date-time (a `Z` or numeric offset; naive times are taken as UTC)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _signed_body(lines: list[str]) -> list[str]:
    """The text of an OpenPGP cleartext-signed message, dash-escaping undone."""
    out: list[str] = []
    i = 1
    while i < len(lines) and lines[i].strip():  # armor headers ("Hash: SHA256") up to a blank
        i += 1
    for line in lines[i + 1 :]:
        if line.startswith(_PGP_SIG):
            break
        out.append(line[2:] if line.startswith("- ") else line)
    return out


def parse(text: str) -> SecurityTxt:
    """Parse a security.txt. Never raises: what is not a field goes to `notes`."""
    result = SecurityTxt()
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[0].lstrip("\ufeff").strip() == _PGP_BEGIN:
        result.signed = True
        lines = _signed_body(lines)
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or " " in name.strip():
            result.notes.append(line[:120])
            continue
        result.fields.setdefault(name.strip().lower(), []).append(value.strip())
    return result
