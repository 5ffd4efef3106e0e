"""Throw-away secrets for the sandbox: a service-account credentials file and a TLS cert.

``credentials.json`` has the same flat shape as the file the Voximplant control panel
generates (account_email, account_id, key_id, private_key as PKCS#8 PEM), so the client
reads it exactly as it reads a real one. Nothing here is ever valid against the real API.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CREDENTIALS_FILE = "credentials.json"
CERT_FILE = "sandbox-cert.pem"
KEY_FILE = "sandbox-key.pem"


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """What the server needs from a credentials file to check tokens."""

    account_id: int
    key_id: str
    public_key: rsa.RSAPublicKey


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)  # also when the file already existed
        handle.write(data)


def make_credentials(directory: Path, account_id: int = 1, key_id: str | None = None) -> Path:
    """Write ``credentials.json`` (mode 0600) with a fresh RSA 2048 key; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    document = {
        "account_email": f"sandbox-{account_id}@vox-dispatch.invalid",
        "account_id": account_id,
        "key_id": key_id or str(uuid.uuid4()),
        "private_key": pem,
    }
    path = directory / CREDENTIALS_FILE
    _write_private(path, json.dumps(document, indent=2).encode("utf-8"))
    return path


def load_verification_key(path: Path) -> VerificationKey:
    """The account id, key id and public key of a credentials file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        # The key is one this module generated: skipping the (slow) RSA consistency check
        # keeps a sandbox start fast, and a bad key would still fail every signature.
        private = serialization.load_pem_private_key(
            document["private_key"].encode("ascii"),
            password=None,
            unsafe_skip_rsa_key_validation=True,
        )
        account_id, key_id = int(document["account_id"]), str(document["key_id"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path}: not a usable credentials file ({exc}); delete it and the sandbox "
            "will generate a new one"
        ) from exc
    if not isinstance(private, rsa.RSAPrivateKey):
        raise TypeError(f"{path}: private_key must be an RSA key (RS256)")
    return VerificationKey(account_id, key_id, private.public_key())


def make_tls_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed cert for 127.0.0.1/localhost and its key; the cert is its own CA bundle."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vox-dispatch sandbox")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(_subject_alt_names(), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(key_path, key_bytes)
    return cert_path, key_path


def _subject_alt_names() -> x509.SubjectAlternativeName:
    return x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    )


def _key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
