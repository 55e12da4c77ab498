"""Telnet negotiation and prompt reading (checks/clients/telnet.py) on arbitrary device bytes.

The client answers option requests, strips commands and reads until a prompt, with a byte cap.
Whatever the device sends: no exception but ours (ProtocolError over the cap), replies only
refuse (WONT/DONT), and a stream parsed in arbitrary chunks reads the same as in one piece.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from lanprobe.checks.clients.telnet import (
    DO,
    DONT,
    IAC,
    SB,
    SE,
    WILL,
    WONT,
    Prompts,
    TelnetConnection,
    parse,
)
from lanprobe.errors import ProtocolError

from tests.fuzz.common import FUZZ

PROMPTS = Prompts.load(Path(__file__).resolve().parents[2] / "profiles/data/login-prompts.txt")

# Telnet-shaped bytes: commands, options, subnegotiations, text and prompts mixed.
_piece = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"login: ", b"Password: ", b"# ", b"Login incorrect\r\n", b"\r\n"]),
    st.tuples(st.sampled_from([DO, DONT, WILL, WONT]), st.integers(0, 255)).map(
        lambda t: bytes((IAC, t[0], t[1]))
    ),
    st.binary(max_size=20).map(lambda b: bytes((IAC, SB)) + b + bytes((IAC, SE))),
    st.sampled_from([bytes((IAC,)), bytes((IAC, IAC)), bytes((IAC, SB)), bytes((IAC, 241))]),
)
telnet_bytes = st.lists(_piece, max_size=30).map(b"".join)


@FUZZ
@given(telnet_bytes)
def test_parse_whole(buf: bytes) -> None:
    text, replies, rest = parse(buf)
    assert buf.endswith(rest)
    assert len(text) <= len(buf)
    # We only ever refuse: IAC WONT x or IAC DONT x, three bytes each.
    assert len(replies) % 3 == 0
    for i in range(0, len(replies), 3):
        assert replies[i] == IAC and replies[i + 1] in (WONT, DONT)


@FUZZ
@given(telnet_bytes, st.lists(st.integers(0, 400), max_size=6))
def test_parse_in_chunks_reads_the_same(buf: bytes, cuts: list[int]) -> None:
    """What arrives in pieces (any TCP segmentation) reads exactly as what arrives at once."""
    whole_text, whole_replies, whole_rest = parse(buf)
    bounds = sorted({min(c, len(buf)) for c in cuts} | {0, len(buf)})
    text, replies, rest = b"", b"", b""
    for lo, hi in itertools.pairwise(bounds):
        t, r, rest = parse(rest + buf[lo:hi])
        text += t
        replies += r
    assert (text, replies, rest) == (whole_text, whole_replies, whole_rest)


class _Writer:
    """Just enough of a StreamWriter: collects what the client sends."""

    def __init__(self) -> None:
        self.sent = bytearray()

    def write(self, data: bytes) -> None:
        self.sent += data

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        return None

    async def wait_closed(self) -> None:
        return None


async def _read(data: bytes, max_bytes: int) -> tuple[str | None, str]:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    conn = TelnetConnection(reader, _Writer(), "fuzz:23")  # type: ignore[arg-type]
    try:
        return await conn.read_until(PROMPTS, ("shell", "password", "login"), 2.0, max_bytes)
    finally:
        await conn.close()


@FUZZ
@given(telnet_bytes, st.integers(16, 4096))
def test_read_until_never_raises_but_ours(data: bytes, max_bytes: int) -> None:
    try:
        kind, text = asyncio.run(_read(data, max_bytes))
    except ProtocolError:
        assert len(data) > max_bytes
        return
    assert kind in (None, "shell", "password", "login")
    assert isinstance(text, str)


@FUZZ
@given(st.text(max_size=2000))
def test_prompt_match_on_any_text(text: str) -> None:
    assert PROMPTS.match(text, ("login", "password", "shell", "failure")) in (
        None,
        "login",
        "password",
        "shell",
        "failure",
    )
