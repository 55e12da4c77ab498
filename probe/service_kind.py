"""The kind of a service (http, https, telnet, ssh, ...): one mapping for discovery, profiles,
the session, the checks and the device API."""

from __future__ import annotations

from lanprobe.model import Service
from lanprobe.profile_schema import Profile

# nmap service names (and our profiles' names) -> the kinds checks ask for.
_KIND_BY_NAME = {
    "http": "http",
    "http-alt": "http",
    "http-proxy": "http",
    "http-mgmt": "http",
    "upnp": "http",
    "https": "https",
    "https-alt": "https",
    "ssl/http": "https",
    "ssl/https": "https",
    "ssl/http-alt": "https",
    "telnet": "telnet",
    "ssh": "ssh",
    "ftp": "ftp",
    "mqtt": "mqtt",
    "mqtts": "mqtts",
    "secure-mqtt": "mqtts",
    "ssl/mqtt": "mqtts",
    "rtsp": "rtsp",
}


def service_kind(svc: Service, declared: str = "") -> str:
    """The kind of a service: http, https, telnet, ssh, ftp, mqtt, mqtts, rtsp, tls or its name."""
    name = (declared or svc.name).lower()
    kind = _KIND_BY_NAME.get(name, name)
    if svc.tls and kind == "http":
        return "https"
    if svc.tls and kind == "mqtt":
        return "mqtts"
    if svc.tls and kind not in ("https", "mqtts"):
        return "tls"
    return kind or "unknown"


def profile_kind(profile: Profile, svc: Service) -> str:
    """The kind of a service on a device of `profile`: the service the profile declares for its
    port first (the checks' session and the device API alike)."""
    declared = profile.allowed_port(svc.port, svc.transport)
    return service_kind(svc, declared.service if declared else "")
