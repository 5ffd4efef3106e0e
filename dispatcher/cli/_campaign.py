"""Loading the campaign a command names, with ``--sandbox`` pointing it at a local simulator."""

from __future__ import annotations

import argparse
import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from dispatcher import logs
from dispatcher.config import Campaign, load_campaign

from ._parser import overrides

log = logging.getLogger("dispatcher")


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
        async with start_sandbox(Path(workdir)) as sandbox:
            target = campaign.target
            # The uploaded scenario (scenario_file) is the run's own to create: not made here.
            sandbox.account.ensure(
                target.application_id or target.application_name,
                target.rule_id or target.rule_name,
                tuple(s for s in target.scenarios if s != target.scenario_name),
                default_scenario=None if target.scenario_file else "campaign",
            )
            logs.event(log, logging.INFO, "sandbox_started", url=sandbox.url)
            local = {"api.base_url": sandbox.url, "api.credentials": str(sandbox.credentials_path)}
            yield load_campaign(args.campaign, {**overrides(args), **local})
