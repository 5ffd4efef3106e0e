"""``stop``, ``pause`` and ``resume``: the operator's brake (see ``dispatcher.control``)."""

from __future__ import annotations

import argparse
import asyncio

from dispatcher.control import describe_mark, hang_up, set_mode
from dispatcher.errors import ExitCode

from ._campaign import campaign_of
from ._output import Output

_MODES = {"stop": "stopped", "pause": "paused", "resume": "running"}


def brake_command(args: argparse.Namespace) -> int:
    campaign = campaign_of(args)
    output = Output.of(args)
    mark = set_mode(campaign, _MODES[args.command], args.reason)
    fields = {"campaign": campaign.name, "mode": mark.mode, "by": mark.by, "reason": mark.reason}
    if args.command == "resume":
        line = f"campaign {campaign.name} resumed by {mark.by}: the next run sends again"
        output.emit("resumed", [line], fields, redact=False)
        return ExitCode.OK
    line = describe_mark(mark) + "; a run in progress stops taking rows within a second"
    output.emit(
        args.command + ("ped" if args.command == "stop" else "d"), [line], fields, redact=False
    )
    if getattr(args, "hangup", False):
        hangups = asyncio.run(hang_up(campaign))
        output.emit("hung_up", [hangups.line()], dict(hangups.results), redact=False)
    return ExitCode.OK
