"""``python -m dispatcher.sandbox``: serve the simulator standalone until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path

from ._callmodel import DEFAULT_TIMEZONE, OUTCOMES, CallModel
from ._server import serve


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dispatcher.sandbox",
        description="Serve a local Voximplant Management API simulator. Prints one JSON line "
        '({"url", "credentials", "ca_bundle", "pid"}) once it listens.',
    )
    parser.add_argument("--workdir", type=Path, required=True, help="where secrets are kept")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a self-signed cert")
    parser.add_argument("--latency-s", type=float, default=0.0, help="delay per API answer")
    parser.add_argument("--cap", type=int, default=200, help="concurrent requests before 429")
    parser.add_argument(
        "--cap-retry-after", type=float, default=None, help="Retry-After seconds on cap 429s"
    )
    _add_call_model(parser.add_argument_group("call model (what placed calls do)"))
    return parser


def _add_call_model(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--outcomes",
        default="answered=1",
        metavar="NAME=WEIGHT,...",
        help=f"relative outcome weights, e.g. answered=0.6,busy=0.2,no_answer=0.2 "
        f"(outcomes: {', '.join(OUTCOMES)}; default answered=1)",
    )
    for name, what in (("ring", "ringing before answer or failure"), ("talk", "talk if answered")):
        group.add_argument(
            f"--{name}-s",
            nargs=2,
            type=float,
            default=(0.0, 0.0),
            metavar=("MIN", "MAX"),
            help=f"seconds of {what}, drawn uniformly (default 0 0)",
        )
    group.add_argument(
        "--overhead-s", type=float, default=0.0, help="session time beyond ring and talk"
    )
    group.add_argument(
        "--history-delay-s",
        type=float,
        default=0.0,
        help="seconds after a session ends before GetCallHistory lists it (default 0)",
    )
    group.add_argument("--seed", type=int, default=0, help="seed of the outcome draws")
    group.add_argument(
        "--timezone",
        default=DEFAULT_TIMEZONE,
        help=f"the account's zone, used when GetCallHistory gets no timezone "
        f"(default {DEFAULT_TIMEZONE}, deliberately not UTC)",
    )
    group.add_argument(
        "--history-search",
        choices=("exact", "partial"),
        default="exact",
        help="how GetCallHistory matches call_session_history_custom_data (default exact)",
    )
    group.add_argument(
        "--roles",
        default="Owner",
        metavar="ROLE,...",
        help="the service account's roles, e.g. CallsSMS to forbid GetCallHistory (104)",
    )


def _weights(text: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--outcomes item {item!r} needs the form name=weight")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--outcomes weight of {name!r} is not a number: {value!r}") from None
    return weights


def call_model_from_args(args: argparse.Namespace) -> CallModel:
    """The call model the flags describe; ValueError with the flag's problem if one is bad."""
    model = CallModel(
        outcomes=_weights(args.outcomes),
        ring_s=tuple(args.ring_s),
        talk_s=tuple(args.talk_s),
        overhead_s=args.overhead_s,
        history_delay_s=args.history_delay_s,
        seed=args.seed,
        timezone=args.timezone,
        history_search=args.history_search,
        roles=tuple(role.strip() for role in args.roles.split(",") if role.strip()),
    )
    model.zone()
    return model


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and serve; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        call_model = call_model_from_args(args)
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))
    asyncio.run(
        serve(
            args.workdir,
            host=args.host,
            port=args.port,
            tls=args.tls,
            latency_s=args.latency_s,
            cap=args.cap,
            cap_retry_after=args.cap_retry_after,
            call_model=call_model,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
