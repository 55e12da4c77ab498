"""pytest plugin: per-device-model check suites (see issue 7)."""
