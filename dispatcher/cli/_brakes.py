"""``stop``, ``pause`` and ``resume``: the operator's brake (see ``dispatcher.control``)."""

from __future__ import annotations

import argparse
import asyncio

from dispatcher.control import describe_mark, hang_up, set_mode
from dispatcher.errors import ExitCode

from ._campaign import campaign_of

_MODES = {"stop": "stopped", "pause": "paused", "resume": "running"}


def brake_command(args: argparse.Namespace) -> int:
    campaign = campaign_of(args)
    mark = set_mode(campaign, _MODES[args.command], args.reason)
    if args.command == "resume":
        print(f"campaign {campaign.name} resumed by {mark.by}: the next run sends again")
        return ExitCode.OK
    print(describe_mark(mark) + "; a run in progress stops taking rows within a second")
    if getattr(args, "hangup", False):
        print(asyncio.run(hang_up(campaign)).line())
    return ExitCode.OK
