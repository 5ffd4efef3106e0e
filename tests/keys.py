"""Throw-away RSA keys and credentials files for tests (never a real key in the repo)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@cache
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem() -> str:
    return (
        private_key()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def write_credentials(directory: Path, **overrides: object) -> Path:
    data: dict[str, object] = {
        "account_email": "ops@example.invalid",
        "account_id": 1,
        "key_id": "test-key",
        "private_key": private_pem(),
    }
    data.update(overrides)
    path = directory / "credentials.json"
    path.write_text(json.dumps({k: v for k, v in data.items() if v is not None}))
    path.chmod(0o600)
    return path
