"""Bearer-JWT verification as the Management API does it (RS256, ``kid``, iss/iat/exp).

A token's signature is checked once and the outcome cached by token string; the time
checks (TTL, issued in the future, expired) run on every request against the injected
clock, so a cached token still expires.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jwt
from jwt.types import Options

from ._credentials import VerificationKey
from ._ledger import Stats
from ._params import ApiFailure

MAX_TTL_S = 3600
ISSUED_AHEAD_TOLERANCE_S = 5.0
_CACHE_LIMIT = 8192
_DECODE_OPTIONS: Options = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_iat": False,
    "verify_nbf": False,
    "verify_iss": False,
    "verify_aud": False,
}


class _Window(NamedTuple):
    """A token with a good signature: its validity window, checked on every use."""

    iat: float
    exp: float


class _Rejection(NamedTuple):
    """A token that can never pass (bad format, key or signature)."""

    code: int
    msg: str


_Verdict = _Window | _Rejection
_AUTH_FAILED = _Rejection(100, "Authorization failed")
_BAD_FORMAT = _Rejection(447, "Invalid token format.")


class TokenVerifier:
    """Checks ``Authorization: Bearer <jwt>`` headers against the sandbox's key."""

    def __init__(self, key: VerificationKey, now: Callable[[], float], stats: Stats) -> None:
        self._key = key
        self._now = now
        self._stats = stats
        self._cache: dict[str, _Verdict] = {}

    def __repr__(self) -> str:
        return f"<TokenVerifier kid={self._key.key_id} cached={len(self._cache)}>"

    def check(self, authorization: str | None) -> None:
        """Raise ``ApiFailure`` unless the header carries a currently valid token."""
        try:
            self._check(authorization)
        except ApiFailure:
            self._stats.auth_failures += 1
            raise

    def _check(self, authorization: str | None) -> None:
        if not authorization:
            raise ApiFailure(*_AUTH_FAILED)
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiFailure(*_BAD_FORMAT)
        token = token.strip()
        verdict = self._cache.get(token)
        if verdict is None:
            self._stats.note_token(token)
            verdict = self._verify(token)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()  # crude bound; a re-verification is only a cache miss
            self._cache[token] = verdict
        if isinstance(verdict, _Rejection):
            raise ApiFailure(verdict.code, verdict.msg)
        self._check_times(verdict)

    def _check_times(self, window: _Window) -> None:
        now = self._now()
        if window.exp - window.iat > MAX_TTL_S:
            raise ApiFailure(454, "The token TTL exceeds the maximum limit.")
        if window.iat > now + ISSUED_AHEAD_TOLERANCE_S:
            raise ApiFailure(455, "Token issued in the future.")
        if window.exp <= now:
            raise ApiFailure(456, "The token has expired.")

    def _verify(self, token: str) -> _Verdict:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            return _BAD_FORMAT
        if header.get("kid") != self._key.key_id:
            return _Rejection(433, "Invalid key id.")
        try:
            claims = jwt.decode(
                token, self._key.public_key, algorithms=["RS256"], options=_DECODE_OPTIONS
            )
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError):
            return _AUTH_FAILED
        except jwt.InvalidTokenError:
            return _BAD_FORMAT
        return self._claims_verdict(claims)

    def _claims_verdict(self, claims: dict[str, object]) -> _Verdict:
        iat, exp = _number(claims.get("iat")), _number(claims.get("exp"))
        if iat is None or exp is None:
            return _BAD_FORMAT
        if str(claims.get("iss")) != str(self._key.account_id):
            return _AUTH_FAILED
        return _Window(iat, exp)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
