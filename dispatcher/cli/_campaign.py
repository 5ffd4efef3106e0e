"""Loading the campaign a command names, with ``--sandbox`` pointing it at a local simulator."""

from __future__ import annotations

import argparse
import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from dispatcher import logs
from dispatcher.config import Campaign, load_campaign
from dispatcher.errors import ConfigError

from ._parser import overrides

if TYPE_CHECKING:
    from dispatcher.sandbox import CallModel

log = logging.getLogger("dispatcher")

_LOOKS_BACK = frozenset({"collect", "reconcile"})
"""Commands that look up sessions earlier runs started."""


def campaign_of(args: argparse.Namespace) -> Campaign:
    return load_campaign(args.campaign, overrides(args))


@contextlib.asynccontextmanager
async def campaign_for(args: argparse.Namespace) -> AsyncIterator[Campaign]:
    """The campaign of ``args``; with ``--sandbox``, pointed at an in-process simulator."""
    campaign = campaign_of(args)
    if not args.sandbox:
        yield campaign
        return
    from dispatcher.sandbox import start_sandbox  # noqa: PLC0415 - only for --sandbox

    with tempfile.TemporaryDirectory(prefix="vox-sandbox-") as workdir:
        async with start_sandbox(
            Path(workdir), latency_s=campaign.sandbox.latency_s, call_model=_call_model(campaign)
        ) as sandbox:
            target = campaign.target
            # The uploaded scenario (scenario_file) is the run's own to create: not made here.
            sandbox.account.ensure(
                target.application_id or target.application_name,
                target.rule_id or target.rule_name,
                tuple(s for s in target.scenarios if s != target.scenario_name),
                default_scenario=None if target.scenario_file else "campaign",
            )
            logs.event(log, logging.INFO, "sandbox_started", url=sandbox.url)
            if args.command in _LOOKS_BACK and campaign.state_path.exists():
                logs.event(
                    log,
                    logging.WARNING,
                    "sandbox_is_new",
                    message=f"`{args.command} --sandbox` starts a new simulator that knows no "
                    "session an earlier run started: live rows stay live and uncertain ones "
                    "cannot be found. To rehearse it across processes, serve the simulator on "
                    "its own (`vox-dispatch sandbox`) and point the campaign at it",
                )
            local = {"api.base_url": sandbox.url, "api.credentials": str(sandbox.credentials_path)}
            yield load_campaign(args.campaign, {**overrides(args), **local})


def _call_model(campaign: Campaign) -> CallModel:
    """The campaign's ``[sandbox]`` section as the simulator's call model."""
    from dispatcher.sandbox import CallModel  # noqa: PLC0415 - only for --sandbox

    settings = campaign.sandbox
    try:
        return CallModel(
            outcomes=dict(settings.outcomes),
            ring_s=settings.ring_s,
            talk_s=settings.talk_s,
            history_delay_s=settings.history_delay_s,
            seed=settings.seed,
        )
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{campaign.file}: [sandbox]: {exc}") from None
