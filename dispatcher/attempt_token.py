"""The attempt token: a short random value added to each attempt's custom data.

It makes every attempt's ``script_custom_data`` unique, so an attempt whose answer was lost can
be looked up in call history by its exact custom data (``reconcile``). It costs
``token_bytes(key)`` of the custom data's byte limit (17 bytes with the default key ``_vd``):
``,"_vd":"Ab3dEf9h"``. A campaign can switch it off (``reconcile.token = false``); uncertain
attempts then cannot be resolved automatically.
"""

from __future__ import annotations

import base64
import os
import random
import re

TOKEN_CHARS = 8
"""48 random bits, URL-safe base64: unique across every attempt a campaign will ever make."""
KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,15}")

# The token needs to be unique, not secret (it travels in the custom data): a generator seeded
# once from the OS is as unique and costs no system call per row (``secrets`` cost 3 % of a
# run's CPU).
_random = random.Random(os.urandom(32))  # noqa: S311 - unique, not secret (above)
# A forked child must not repeat its parent's sequence.
os.register_at_fork(after_in_child=lambda: _random.seed(os.urandom(32)))


def new_token() -> str:
    return base64.urlsafe_b64encode(_random.getrandbits(48).to_bytes(6, "big")).decode()


def token_bytes(key: str) -> int:
    """What the token adds to a non-empty JSON object, in bytes."""
    return len(f',"{key}":"') + TOKEN_CHARS + len('"')


def with_token(custom_data: str, key: str, token: str) -> str:
    """``custom_data`` (a JSON object) with ``"key":"token"`` added as its last member."""
    body = custom_data.rstrip()
    if not body.endswith("}"):
        raise ValueError("custom data must be a JSON object")
    separator = "" if body[:-1].rstrip().endswith("{") else ","
    return f'{body[:-1]}{separator}"{key}":"{token}"}}'
