"""The keys that sign the tokens (docs/oidc.md: making them, rotating them): RSA (RS256) for every
client's ID tokens, and an EC P-256 key (ES256) for the JWT access tokens and for the ID tokens of the
clients that ask for it (FAPI 2.0 allows PS256 and ES256 only). P-256 signs in about 50 µs, a 3072-bit
RSA key in about 1 ms, which alone would hold the token endpoint under 1,000 client-credentials
tokens per CPU second (docs/performance.md).

Read by settings.py at start-up, so this module imports nothing from Django's app registry.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

KEY_BITS = 3072


def new_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def new_ec_private_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@cache
def ephemeral_private_key_pem() -> str:
    """One key per process, for when no key file exists (tests): made once, never written."""
    return new_private_key_pem()


@cache
def ephemeral_ec_private_key_pem() -> str:
    return new_ec_private_key_pem()


def load_private_key(path: Path) -> str:
    """The PEM in ``path``, or this process's ephemeral key when the file does not exist."""
    if path.is_file():
        return path.read_text()
    return ephemeral_private_key_pem()


def load_ec_private_key(path: Path) -> str:
    """The EC P-256 PEM in ``path``, or this process's ephemeral one when the file does not exist."""
    if path.is_file():
        return path.read_text()
    return ephemeral_ec_private_key_pem()


def load_old_keys(paths: str) -> list[str]:
    """Retired keys (comma-separated PEM files): published in the JWKS, never used to sign."""
    return [Path(p.strip()).read_text() for p in paths.split(",") if p.strip()]


def write_private_key(path: Path, *, ec_key: bool = False) -> bool:
    """Create the key file (mode 0600) if it is missing; True if it was created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(new_ec_private_key_pem() if ec_key else new_private_key_pem())
    return True
