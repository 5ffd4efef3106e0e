"""Running a campaign: ``execute`` is the whole run; ``open_client`` serves set-up commands."""

from ._control import CampaignRun, RunMode, RunOptions, StopState
from ._execute import execute, open_client

__all__ = ["CampaignRun", "RunMode", "RunOptions", "StopState", "execute", "open_client"]
