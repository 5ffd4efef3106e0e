"""A campaign's targets file, opened the same way by every command that reads it.

The attempt token's bytes are reserved in each row's custom-data limit, and a CSV column that
would collide with the token's key is refused, so ``validate``, ``run --dry-run`` and ``run``
accept and reject exactly the same rows.
"""

from __future__ import annotations

from dispatcher.attempt_token import token_bytes
from dispatcher.config import Campaign
from dispatcher.errors import ConfigError
from dispatcher.source import ReadPosition, TargetReader


def reserved_bytes(campaign: Campaign) -> int:
    """Custom-data bytes each attempt adds to the row's own (the attempt token)."""
    settings = campaign.reconcile
    return token_bytes(settings.token_key) if settings.token else 0


def open_targets(campaign: Campaign, resume: ReadPosition | None = None) -> TargetReader:
    """The campaign's CSV as a ``TargetReader``; raises ``ConfigError`` before any row."""
    reader = TargetReader(
        campaign.csv, campaign.columns, resume=resume, reserve_bytes=reserved_bytes(campaign)
    )
    key = campaign.reconcile.token_key
    sent = campaign.columns.custom_data_columns or reader.header
    if campaign.reconcile.token and key in sent:
        reader.close()
        raise ConfigError(
            f"{campaign.file}: the column {key!r} is sent as custom data, but "
            f"reconcile.token_key = {key!r} is where each attempt's token goes: rename the "
            "column, or set another reconcile.token_key"
        )
    return reader
