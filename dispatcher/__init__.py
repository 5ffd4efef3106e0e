"""vox-dispatch: outbound call campaigns on Voximplant from a CSV file, one call per row, once."""

from dispatcher.config import Campaign, load_campaign
from dispatcher.errors import ConfigError, DispatcherError, ExitCode, FatalApiError, LockHeld
from dispatcher.runner import RunOptions, execute

__all__ = [
    "Campaign",
    "ConfigError",
    "DispatcherError",
    "ExitCode",
    "FatalApiError",
    "LockHeld",
    "RunOptions",
    "execute",
    "load_campaign",
]
