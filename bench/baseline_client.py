"""The baseline: the official ``voximplant-apiclient`` in a thread pool, one call per row.

Runs in the benchmark's own venv (never the project's), started by ``bench/run.py``:

    python baseline_client.py CREDENTIALS HOST:PORT ROWS THREADS RULE_ID

It does what a user's loop around the official client does: ``VoximplantAPI.start_scenarios``
per row from ``THREADS`` threads. The client builds the URL as ``https://{endpoint}/platform_api``
with ``cmd`` as a form field, which the sandbox serves, so ``endpoint = "127.0.0.1:PORT"`` points
it at the sandbox unchanged; it trusts the sandbox's self-signed CA through
``REQUESTS_CA_BUNDLE`` (set by the caller). Prints one JSON line: ok, errors, wall_s.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from voximplant.apiclient import VoximplantAPI, VoximplantException  # type: ignore[import-not-found]


def main() -> int:
    credentials, endpoint, rows, threads, rule_id = sys.argv[1:6]
    api = VoximplantAPI(credentials, endpoint=endpoint)
    errors: list[str] = []

    def one(index: int) -> None:
        data = json.dumps({"id": f"base-{index:07d}", "name": f"Person {index}"})
        try:
            api.start_scenarios(rule_id=int(rule_id), script_custom_data=data)
        except VoximplantException as exc:  # an API error: counted, the loop goes on
            errors.append(str(exc))

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=int(threads)) as pool:
        # list() re-raises transport errors: a baseline that cannot connect must say so.
        list(pool.map(one, range(int(rows))))
    wall_s = time.monotonic() - started
    print(json.dumps({"ok": int(rows) - len(errors), "errors": errors[:5], "wall_s": wall_s}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
