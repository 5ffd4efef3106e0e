"""The campaign file (TOML) plus CLI overrides → one frozen, validated ``Campaign``.

This package is the only place that knows the campaign file's layout and defaults: the
converters every value goes through (``_convert``), the sections (``_sections``), and the
campaign with its cross-checks and loading (``_campaign``). Every value is checked here, once,
so the rest of the package can trust its settings. Relative paths resolve against the campaign
file's folder. Durations end in ``_s``.
"""

from ._campaign import Campaign, apply_overrides, load_campaign
from ._convert import (
    API_CONCURRENCY_LIMIT,
    CREDENTIALS_ENV,
    DEFAULT_API_URL,
    MAX_ATTEMPTS_LIMIT,
    TOKEN_LIFETIME_S,
)
from ._sections import (
    ApiSettings,
    AttemptSettings,
    CsvSettings,
    DispatchSettings,
    ReconcileSettings,
    ReportSettings,
    SandboxSettings,
    TargetSettings,
    TrackingSettings,
)

__all__ = [
    "API_CONCURRENCY_LIMIT",
    "CREDENTIALS_ENV",
    "DEFAULT_API_URL",
    "MAX_ATTEMPTS_LIMIT",
    "TOKEN_LIFETIME_S",
    "ApiSettings",
    "AttemptSettings",
    "Campaign",
    "CsvSettings",
    "DispatchSettings",
    "ReconcileSettings",
    "ReportSettings",
    "SandboxSettings",
    "TargetSettings",
    "TrackingSettings",
    "apply_overrides",
    "load_campaign",
]
