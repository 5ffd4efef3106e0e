"""``bind`` and ``sandbox``: setting up the account, and serving the simulator."""

from __future__ import annotations

import argparse
import asyncio

from dispatcher.binding import bind_scenarios
from dispatcher.errors import ExitCode
from dispatcher.runner import open_client

from ._campaign import campaign_for
from ._output import Output


async def bind_command(args: argparse.Namespace) -> int:
    out = Output.of(args)
    async with campaign_for(args) as campaign, open_client(campaign) as client:
        for message in await bind_scenarios(client, campaign.target, bind=not args.unbind):
            out.emit("bound", [message], {"message": message})
    return ExitCode.OK


def sandbox_command(args: argparse.Namespace) -> int:
    from dispatcher.sandbox import serve  # noqa: PLC0415 - only for this command

    asyncio.run(serve(port=args.port, workdir=args.workdir, latency_s=args.latency_s, tls=args.tls))
    return ExitCode.OK
