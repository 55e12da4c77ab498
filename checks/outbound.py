"""Data protection as the device sends it (NIST IR 8259A DP-1, DP-2): what a device says on its
own while lanprobe is its network (gateway mode, probe/gateway), judged from `Device.traffic`.

Verdict rules:
- gateway mode off: `not_applicable` (nothing the device sends on its own was observed).
- the device started nothing of its own in the window (no name, no NTP, no connection to a
  unicast address; its answers to the scan do not count): `inconclusive` (silence is no evidence).
- data.client-tls: `fail` when a TLS connection offers a version below TLS 1.2 or a broken
  suite, or completes the handshake with the sinkhole's self-signed certificate for a name it did
  not ask for (the device does not validate certificates). `pass` when every TLS connection
  offers TLS 1.2+ without broken suites and stopped with a certificate alert, and no connection
  went to a TCP port the sinkhole does not answer (a TLS client there was not seen). A connection
  that stopped for another reason (no alert, decrypt_error, access_denied...) leaves the
  certificate question `inconclusive`. Connections, none of them TLS: `not_applicable`.
- data.cleartext-outbound: `fail` when HTTP, MQTT, FTP or telnet in cleartext carries a login,
  one of the unit's identifiers (MAC, serial, MQTT client id) or telemetry (a payload). `pass`
  only when what the device sent was seen whole: connections to TCP ports the sinkhole does not
  answer, or UDP other than DNS/DHCP/NTP/mDNS/SSDP, make it `inconclusive`, and so do
  connections it sent nothing on (no TLS, no cleartext read: a connectivity check).
- the device looked up names (or asked NTP/DHCP) but opened no connection: both data checks
  `inconclusive`, naming what was seen (a pass over connections never made is no pass). A name
  it looked up that carries its MAC or serial is cleartext that names it: data.cleartext-outbound
  `fail`.
- update.transport (software_update.py calls `update_poll_verdicts`): an observed update poll
  over plain HTTP, or over TLS that accepted the sinkhole's certificate or offers TLS < 1.2,
  fails; one over TLS 1.2+ that refused the certificate passes; an update host it looked up
  (`update.vendor.example`) but did not poll in the window is `inconclusive`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from lanprobe.checks.context import CheckContext
from lanprobe.checks.registry import Cost, check

# The judges live in checks/traffic_findings.py (update.transport shares them); named here too.
from lanprobe.checks.traffic_findings import (
    as_result,
    judge_cleartext,
    judge_client_tls,
)
from lanprobe.checks.traffic_findings import update_poll_verdicts as update_poll_verdicts
from lanprobe.model import Capability, Result


@check("data.client-tls", Capability.data_protection, cost=Cost(requests=0))
async def client_tls(ctx: CheckContext) -> AsyncIterator[Result]:
    """As a TLS client the device offers TLS < 1.2 or broken suites, or accepts any certificate."""
    yield as_result(ctx, judge_client_tls(ctx.device.traffic), "tls-client")


@check("data.cleartext-outbound", Capability.data_protection, cost=Cost(requests=0))
async def cleartext_outbound(ctx: CheckContext) -> AsyncIterator[Result]:
    """The device sends logins, identifiers or telemetry in cleartext on its own."""
    yield as_result(ctx, judge_cleartext(ctx.device.traffic))
