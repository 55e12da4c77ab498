"""The stable check ids of DESIGN.md "Check ids": reports, diffs and history key on them."""

DESIGN_CHECK_IDS = frozenset(
    {
        "identification.identifier",
        "identification.duplicate-identifier",
        "identification.shared-key",
        "configuration.default-login",
        "access.unexpected-port",
        "access.unauthenticated-interface",
        "access.anonymous-mqtt",
        "access.cleartext-admin",
        "access.no-lockout",
        "data.tls-required",
        "data.tls-protocol",
        "data.tls-cipher",
        "data.tls-certificate",
        "update.transport",
        "update.signature",
        "update.currency",
        "update.unauthenticated-upload",
        "state.exposed-status",
        "state.reporting",
        "declarations.vulnerability-contact",
        "declarations.support-period",
        "declarations.foundational",
        "data.ssh-algorithms",
        "data.client-tls",
        "data.cleartext-outbound",
    }
)
