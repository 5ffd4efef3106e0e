"""Shared fixtures: a real sandbox server on 127.0.0.1 and campaigns that point at it."""

from __future__ import annotations

import asyncio
import csv
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from dispatcher import logs
from dispatcher.config import Campaign, load_campaign
from dispatcher.sandbox import Sandbox, make_credentials, start_sandbox
from tests.processes import Children


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Leave the process's logging as it was for the next test (the CLI configures it)."""
    yield
    logs.reset()


@pytest.fixture
def cli() -> Iterator[Children]:
    """Command-line processes started by the test, each killed and reaped at its end."""
    children = Children()
    try:
        yield children
    finally:
        children.close()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One credentials file per module: RSA key generation is the slow part of a start."""
    path = tmp_path_factory.mktemp("sandbox")
    make_credentials(path)
    return path


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    """A fresh simulator with a new throw-away key, on a free loopback port."""
    async with start_sandbox(tmp_path / "sandbox") as server:
        yield server


class NoWait:
    """An injected sleep: records the waits, yields to the loop, never waits on the clock."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(value)


def write_campaign(
    directory: Path,
    sandbox: Sandbox | None,
    rows: Iterable[Mapping[str, str]] | None = None,
    *,
    sections: Mapping[str, Mapping[str, Any]] | None = None,
    csv_text: str | None = None,
    count: int = 0,
) -> Path:
    """A campaign file + CSV in ``directory``; default target: the sandbox's rule 10."""
    directory.mkdir(parents=True, exist_ok=True)
    csv_path = directory / "targets.csv"
    if csv_text is not None:
        csv_path.write_text(csv_text, encoding="utf-8")
    else:
        rows = (
            list(rows)
            if rows is not None
            else [{"id": f"row-{i}", "name": f"Person {i}"} for i in range(count)]
        )
        with csv_path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["id", "name"])
            writer.writeheader()
            writer.writerows(rows)
    merged: dict[str, dict[str, Any]] = {
        "api": {},
        "target": {"rule_id": 10, "bind_before_run": False},
        "columns": {"key_columns": ["id"]},
        "dispatch": {"concurrency": 20, "backoff_initial_s": 0.001, "backoff_max_s": 0.01},
        # Drawing report.html at the end of every test run would add a third to the suite's
        # time; tests/test_report_html.py turns it on where the page is under test.
        "report": {"html": False},
    }
    if sandbox is not None:
        merged["api"] = {"base_url": sandbox.url, "credentials": str(sandbox.credentials_path)}
    for name, values in (sections or {}).items():
        merged.setdefault(name, {}).update(values)
    lines = ['name = "test"', 'csv = "targets.csv"', 'output_dir = "out"']
    for name, values in merged.items():
        lines.append(f"[{name}]")
        lines.extend(
            f"{key} = {toml_value(value)}" for key, value in values.items() if value is not None
        )
    path = directory / "campaign.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def campaign_at(path: Path) -> Campaign:
    return load_campaign(path)


def started_ids(sandbox: Sandbox) -> Counter[str]:
    """How many times each row id was started, from the sandbox's own ledger."""
    return Counter(json.loads(entry.script_custom_data)["id"] for entry in sandbox.ledger)


def read_results(campaign: Campaign) -> list[dict[str, str]]:
    with (campaign.output_dir / "results.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_attempts(campaign: Campaign) -> list[dict[str, str]]:
    with (campaign.output_dir / "attempts.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC


class FakeTime:
    """One clock for the sandbox, the tokens and the run; sleeping moves it forward at once.

    Calls then last as long as the simulation says, without a test waiting for them.
    """

    def __init__(self, start: float = T0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)
