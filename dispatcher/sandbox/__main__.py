"""``python -m dispatcher.sandbox``: serve the simulator standalone until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and serve; returns the exit code."""
    args = _parser().parse_args(argv)
    asyncio.run(
        serve(
            args.workdir,
            host=args.host,
            port=args.port,
            tls=args.tls,
            latency_s=args.latency_s,
            cap=args.cap,
            cap_retry_after=args.cap_retry_after,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
