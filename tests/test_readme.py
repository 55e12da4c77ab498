"""The README's first screen tells a new user what a scan covers and what its exit codes mean,
and says it truthfully: the numbers are the CLI's, the coverage what discovery does."""

from __future__ import annotations

import re
from pathlib import Path

from lanprobe.cli import common
from lanprobe.discovery.udp import UdpOptions

README = Path(__file__).resolve().parents[1] / "README.md"
FIRST_SCREEN = 45  # lines


def _first_screen() -> str:
    return "\n".join(README.read_text(encoding="utf-8").splitlines()[:FIRST_SCREEN])


def test_the_first_two_commands_stay() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines[2:6] == ["```", "make demo", "make test", "```"]


def test_first_screen_gives_every_exit_code_of_the_cli() -> None:
    text = " ".join(_first_screen().split())
    codes = {
        common.EXIT_OK: "every device conforms",
        common.EXIT_NONCONFORM: "a device does not conform",
        common.EXIT_USAGE: "usage or scope error",
        common.EXIT_CANNOT_RUN: "the scan could not run",
        common.EXIT_ERRORS: "the scan ran but some checks broke: `error` results",
    }
    for code, meaning in codes.items():
        assert re.search(rf"`{code}` {re.escape(meaning)}", text), (code, meaning)
    assert "Only `--fail-on never` turns an `error` into 0" in text


def test_first_screen_says_what_a_scan_covers() -> None:
    text = " ".join(_first_screen().split())
    assert "IPv6 where the scope names IPv6 networks" in text
    assert "TCP: nmap's 100 most common ports" in text
    assert f"UDP (IPv4 and IPv6 addresses): SNMP on {UdpOptions().snmp_port}" in text
    assert "TFTP on 69" in text and "NTP on 123" in text and "CoAP on 5683" in text


def test_what_it_says_about_coverage_is_what_the_code_does() -> None:
    """If discovery learns IPv6 or more UDP, this fails until the README says so."""
    import inspect

    from lanprobe import discovery
    from lanprobe.cli import scan

    assert "neighbours6" in inspect.getsource(discovery)  # IPv6 neighbour discovery
    sig = inspect.signature(scan.scan_command)
    assert sig.parameters["top_ports"].default == 100
    udp = inspect.getsource(discovery.udp.udp_discovery)
    asked = {n for n in ("snmp", "tftp", "ntp", "coap", "mdns", "bacnet") if f"{n}_service" in udp}
    assert asked == {"snmp", "tftp", "ntp", "coap"}, (
        "UDP discovery asks other protocols now: update the README's 'What a scan covers'"
    )
