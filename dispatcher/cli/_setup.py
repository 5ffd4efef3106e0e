"""``init``, ``bind`` and ``sandbox``: a starter campaign, setting up the account, the simulator."""

from __future__ import annotations

import argparse
import asyncio

from dispatcher.binding import bind_scenarios
from dispatcher.errors import ExitCode
from dispatcher.runner import open_client
from dispatcher.scenario_setup import set_up_scenarios
from dispatcher.starter import starter_message, write_starter

from ._campaign import campaign_for
from ._output import Output


def init_command(args: argparse.Namespace) -> int:
    write_starter(args.directory)
    message = starter_message(args.directory)
    fields = {"directory": str(args.directory), "message": message}
    Output.of(args).emit("starter_written", message.splitlines(), fields, redact=False)
    return ExitCode.OK


async def bind_command(args: argparse.Namespace) -> int:
    out = Output.of(args)
    async with campaign_for(args) as campaign, open_client(campaign) as client:
        if args.unbind:
            lines = await bind_scenarios(client, campaign.target, bind=False)
        else:
            lines = await set_up_scenarios(client, campaign.target)
        for line in lines:
            out.emit("bound", [line], {"message": line}, redact=False)  # the account, no rows
    return ExitCode.OK


def sandbox_command(args: argparse.Namespace) -> int:
    from dispatcher.sandbox import serve  # noqa: PLC0415 - only for this command

    asyncio.run(serve(port=args.port, workdir=args.workdir, latency_s=args.latency_s, tls=args.tls))
    return ExitCode.OK
