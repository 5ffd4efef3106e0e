"""Service-account credentials → one cached RS256 JWT, refreshed ahead of expiry.

Owns the credentials file and the token. Signing RSA per request would cost more CPU than the
request itself, so one token is cached and re-signed only when it nears its expiry (or when the
API says it is no longer accepted), under a lock so concurrent workers sign it once.
The private key and the token never leave this module except as the ``Authorization`` value
handed to the client; ``repr`` hides them.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock
from time import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from dispatcher.errors import ConfigError

log = logging.getLogger(__name__)

CLOCK_SKEW_S = 5
"""``iat`` is back-dated by this much so a server clock slightly behind ours accepts the token."""
MAX_TOKEN_LIFETIME_S = 3600
"""The API refuses ``exp`` later than ``iat + 3600`` (error 454)."""
REFRESH_MARGIN = 0.2
"""Re-sign once this fraction of the lifetime is left, so no request leaves with a stale token."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """A service-account key; ``repr`` never shows the key."""

    account_id: int
    key_id: str
    private_key: RSAPrivateKey = field(repr=False)


def _require(data: dict[str, Any], name: str, path: Path) -> Any:
    if name not in data or data[name] in (None, ""):
        raise ConfigError(
            f"{path}: the credentials JSON has no {name!r}; download a fresh key file for the "
            "service account from the Voximplant control panel"
        )
    return data[name]


def _parse_key(pem: Any, path: Path) -> RSAPrivateKey:
    if not isinstance(pem, str):
        raise ConfigError(f"{path}: 'private_key' must be a PEM string")
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        # The library's message may quote key material: say only what is wrong.
        raise ConfigError(
            f"{path}: 'private_key' is not a readable unencrypted PEM private key; "
            "download a fresh key file for the service account"
        ) from None
    if not isinstance(key, RSAPrivateKey):
        raise ConfigError(f"{path}: 'private_key' must be an RSA key (the API signs with RS256)")
    return key


def _on_read_only_mount(path: Path) -> bool:
    return bool(os.statvfs(path).f_flag & os.ST_RDONLY)


def exposure_advice(
    path: Path, mode: int, owner: int, euid: int, *, read_only_mount: bool
) -> str | None:
    """What to do about a key file other users can read; None when there is nothing to do.

    A file this user does not own on a read-only mount is a Kubernetes Secret (root-owned and
    group-readable through ``fsGroup`` whatever its ``defaultMode``) or a container's ``:ro``
    bind mount of someone else's file: the platform set its mode, and nobody can change it
    from here, so a warning would only teach operators to ignore warnings.
    """
    if not mode & (stat.S_IRWXG | stat.S_IRWXO):
        return None
    if owner == euid and read_only_mount:
        return (
            "it is on a read-only mount: make it 0600 where it comes from "
            "(the host's file, or the Secret's defaultMode: 0400)"
        )
    if owner == euid:
        return f"run chmod 600 {path}"
    if read_only_mount:
        return None
    return f"make the file this user's own (uid {euid}), then run chmod 600 {path}"


def _warn_if_exposed(path: Path) -> None:
    info = path.stat()
    read_only = _on_read_only_mount(path)
    advice = exposure_advice(
        path, info.st_mode, info.st_uid, os.geteuid(), read_only_mount=read_only
    )
    if advice is None:
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.debug(
                "credentials_mode_set_by_platform path=%s mode=%s owner=%s: read-only mount",
                path,
                oct(info.st_mode & 0o777),
                info.st_uid,
            )
        return
    log.warning(
        "credentials_exposed path=%s mode=%s: other users can read the key; %s",
        path,
        oct(info.st_mode & 0o777),
        advice,
    )


def load_credentials(path: Path) -> Credentials:
    """Read ``credentials.json`` (account_id, key_id, private_key) or raise ``ConfigError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: credentials file not found; set [api] credentials in the campaign file or "
            "VOXIMPLANT_CREDENTIALS"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: cannot read the credentials file ({exc.__class__.__name__})"
        ) from None
    _warn_if_exposed(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON (line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object with account_id, key_id, private_key")
    account = _require(data, "account_id", path)
    try:
        account_id = int(account)
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: 'account_id' must be a number, got {account!r}") from None
    key_id = str(_require(data, "key_id", path))
    key = _parse_key(_require(data, "private_key", path), path)
    return Credentials(account_id=account_id, key_id=key_id, private_key=key)


class TokenSource:
    """Hands out ``Authorization`` header values from one cached token.

    Thread-safe and cheap on the hot path: a read of two attributes unless a refresh is due.
    """

    def __init__(
        self,
        credentials: Credentials,
        lifetime_s: float = 600.0,
        clock: Callable[[], float] = time,
    ) -> None:
        self._credentials = credentials
        self._lifetime_s = int(min(max(lifetime_s, 30), MAX_TOKEN_LIFETIME_S - CLOCK_SKEW_S))
        self._clock = clock
        self._lock = Lock()
        self._header = ""
        self._refresh_at = 0.0
        self.signed = 0
        """How many tokens were signed (a metric, and how tests see the cache work)."""

    def __repr__(self) -> str:
        return (
            f"<TokenSource account={self._credentials.account_id} signed={self.signed} "
            f"refresh_at={self._refresh_at:.0f}>"
        )

    def header(self) -> str:
        """The current ``Bearer`` value, signing a new token when the cached one is due."""
        if self._clock() >= self._refresh_at:
            with self._lock:
                if self._clock() >= self._refresh_at:
                    self._sign()
        return self._header

    def invalidate(self, rejected: str) -> None:
        """Drop the token the API rejected, unless another worker already replaced it."""
        with self._lock:
            if rejected == self._header:
                self._refresh_at = 0.0

    def _sign(self) -> None:
        issued = int(self._clock()) - CLOCK_SKEW_S
        claims = {
            "iss": str(self._credentials.account_id),  # as the official Python client sends it
            "iat": issued,
            "exp": issued + self._lifetime_s,
        }
        token = jwt.encode(
            claims,
            self._credentials.private_key,
            algorithm="RS256",
            headers={"kid": self._credentials.key_id},
        )
        self._header = f"Bearer {token}"
        self._refresh_at = issued + CLOCK_SKEW_S + self._lifetime_s * (1 - REFRESH_MARGIN)
        self.signed += 1
