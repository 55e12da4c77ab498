"""A CoAP device (aiocoap, a real CoAP server) on UDP 5683 with a CoRE resource directory.

`auth: false`: every resource answers GET (a relay actuator, its status, the device info).
`auth: true`: only /.well-known/core answers; every resource says 4.01 Unauthorized (as an
ACE/OSCORE-protected device does to a request without a token). PUT and POST are refused on
every resource (4.05): the lab never changes state, whatever a client sends.
"""

from __future__ import annotations

import json
from typing import Any

import aiocoap
import aiocoap.resource as resource
from lanprobe.lab.services.common import Device


class _Leaf(resource.Resource):
    def __init__(self, body: bytes, auth: bool, attrs: dict[str, str]) -> None:
        super().__init__()
        self.body, self.auth = body, auth
        self.rt = attrs.get("rt")
        if "if" in attrs:
            self.if_ = attrs["if"]  # aiocoap writes it as if="..." into /.well-known/core

    def get_link_description(self) -> dict[str, str]:
        out = dict(super().get_link_description())
        if getattr(self, "if_", None):
            out["if"] = self.if_
        return out

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        if self.auth:
            return aiocoap.Message(code=aiocoap.UNAUTHORIZED)
        return aiocoap.Message(payload=self.body, content_format=50)  # application/json

    async def render_put(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(code=aiocoap.METHOD_NOT_ALLOWED)

    render_post = render_put


async def start_coap(dev: Device, conf: dict[str, Any]) -> aiocoap.Context:
    m, cfg = dev.model, dev.cfg
    auth = bool(conf["auth"])
    info = {"vendor": m["vendor"], "model": m["model"], "fw": m["fw"]}
    if m["expose_identifiers"]:
        info["serial"] = cfg["serial"]
    site = resource.Site()
    wkc = resource.WKCResource(site.get_resources_as_linkheader)
    site.add_resource([".well-known", "core"], wkc)
    site.add_resource(["relay"], _Leaf(b'{"on": false}', auth, {"rt": "switch", "if": "core.a"}))
    status = _Leaf(b'{"power_w": 0.0}', auth, {"rt": "status", "if": "core.s"})
    site.add_resource(["status"], status)
    site.add_resource(["device"], _Leaf(json.dumps(info).encode(), auth, {"rt": "info"}))
    # UDP only (aiocoap would also serve CoAP over TCP on the same port number)
    return await aiocoap.Context.create_server_context(
        site, bind=(dev.ip, conf["port"]), transports=["udp6"]
    )
