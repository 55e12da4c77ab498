"""lanprobe: NIST IR 8259A baseline probe for IoT test benches."""

__version__ = "0.2.0"
