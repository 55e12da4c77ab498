"""One exception tree for lanprobe.

    ProbeError
    ├── ScopeError        a target or interface outside what may be touched
    ├── ProfileError      a profile or baseline file is invalid (file, line, field)
    ├── ToolError         an external tool is missing or failed (nmap, ip, mosquitto)
    ├── LabError          the virtual bench could not be built or torn down
    └── TargetError       the device's doing; a check that meets one is `inconclusive`
        ├── Unreachable   refused, reset, no route
        ├── ProbeTimeout  a network operation ran out of time
        └── ProtocolError the peer spoke something we could not parse, or too much of it

Library exceptions are translated at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations


class ProbeError(Exception):
    """Base of every error lanprobe raises on purpose."""


class ScopeError(ProbeError):
    """A target, network or interface is outside the scan's scope."""


class ProfileError(ProbeError):
    """A profile is invalid. The message reads ``file:line: field: message``."""

    def __init__(self, message: str, *, file: str = "", line: int | None = None, field: str = ""):
        self.file = file
        self.line = line
        self.field = field
        where = file
        if line is not None:
            where = f"{where}:{line}"
        parts = [p for p in (where, field) if p]
        super().__init__(": ".join([*parts, message]))


class ToolError(ProbeError):
    """An external tool is missing or failed."""


class LabError(ProbeError):
    """The virtual test bench could not be built, inspected or removed."""


class TargetError(ProbeError):
    """The target misbehaved. Carries the target it happened on."""

    def __init__(self, message: str, *, target: str = ""):
        self.target = target
        super().__init__(f"{target}: {message}" if target else message)


class Unreachable(TargetError):
    """Connection refused, reset or no route to the target."""


class ProbeTimeout(TargetError):
    """A network operation on the target ran out of time."""


class ProtocolError(TargetError):
    """The target sent something we could not parse, or more than we read."""
