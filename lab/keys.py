"""Fixed Ed25519 test keys that sign the lab's firmware update manifests.

These keys are public test material (the private halves are in this file on purpose): they only
prove that a check can tell a manifest signed by the expected key from one signed by another.
Profiles copy the public PEMs below into their update section.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# The manufacturer's update key: acme-ipcam200 has no signature at all, hubco-h1 signs with this.
SIGNING_KEY_SEED = bytes.fromhex("21b9773fd6bfddc96ebc91799182b878f66db5e98c1b1d2331f3bb44b3415993")
SIGNING_PUBLIC_PEM = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAEQ6uTeBWnLkE7MTO4AgJJggfJgFopqAB4o9ZDxwYhI0=
-----END PUBLIC KEY-----
"""

# The "wrong" key: therma-t1 signs its manifest with this one while its profile names the one above.
WRONG_KEY_SEED = bytes.fromhex("6e0f79ca91a5df4329f3c2f1df67227f26c649603afb79d6fe64131349af8c14")
WRONG_PUBLIC_PEM = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAYRu13niQv7S4svksKBU+uP/WOKBPEVMIjmxMoUAtP6A=
-----END PUBLIC KEY-----
"""


def signing_key(which: str = "good") -> Ed25519PrivateKey:
    """The private key for `good` (SIGNING_*) or `wrong` (WRONG_*)."""
    seed = SIGNING_KEY_SEED if which == "good" else WRONG_KEY_SEED
    return Ed25519PrivateKey.from_private_bytes(seed)
