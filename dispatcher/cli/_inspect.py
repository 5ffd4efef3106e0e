"""``validate``, ``status`` and ``report`` (files, or the HTML page): reading a campaign
without sending anything."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from dispatcher import lock, logs
from dispatcher.config import Campaign
from dispatcher.errors import ConfigError, DispatcherError, ExitCode
from dispatcher.report import (
    HTML_REPORT_FILE,
    campaign_status,
    summary_lines,
    write_html_report,
    write_outputs,
)
from dispatcher.source import TargetReader
from dispatcher.state import StateReader
from dispatcher.validation import validate

from ._campaign import campaign_of
from ._output import Output

log = logging.getLogger("dispatcher")


def validate_command(args: argparse.Namespace) -> int:
    report = validate(campaign_of(args))
    out = Output.of(args)
    out.emit("validation", report.lines(out.redaction), report.as_dict(out.redaction))
    return ExitCode.OK if report.valid else ExitCode.NOTHING_VALID


def _json_wanted(args: argparse.Namespace) -> bool:
    """``--format json``, or JSON logs: then every line on stdout is JSON too."""
    return bool(args.format == "json" or Output.of(args).json_lines)


def _state_of(campaign: Campaign) -> StateReader:
    if not campaign.state_path.exists():
        raise ConfigError(f"{campaign.state_path}: no state yet: this campaign has not run")
    return StateReader(campaign.state_path)


def status_command(args: argparse.Namespace) -> int:
    campaign = campaign_of(args)
    with _state_of(campaign) as reader:
        status = campaign_status(reader)
    if _json_wanted(args):
        document = {"campaign": campaign.name, **(status or {"run": None})}
        print(json.dumps(document, ensure_ascii=False))
        return ExitCode.OK
    if status is None:
        print("no run recorded yet")
        return ExitCode.OK
    for line in _status_lines(campaign.name, status):
        print(line)
    return ExitCode.OK


def _status_lines(name: str, status: dict[str, Any]) -> list[str]:
    totals: dict[str, int] = status["totals"]
    lines = [f"campaign {name}, run {status['run']}: {sum(totals.values())} rows"]
    lines += [f"  {state:<12} {count}" for state, count in totals.items()]
    if status.get("outcomes"):
        listed = ", ".join(f"{k} {v}" for k, v in status["outcomes"].items())
        lines.append(f"outcomes: {listed}")
    if status.get("attempts_funnel"):
        steps = ", ".join(
            f"#{step['attempt']} {step['rows']} rows ({step['answered']} answered)"
            for step in status["attempts_funnel"]
        )
        lines.append(f"attempts: {steps}")
    if status.get("next_due_at"):
        lines.append(f"next attempt due at {status['next_due_at']}")
    if "reading_stopped_after_line" in status:
        lines.append(_reading_line(status))

    if status.get("reconciliation"):
        done = status["reconciliation"]
        lines.append(
            f"uncertain attempts: {done['found']} found in history, {done['released']} proven "
            f"absent, {done['still_uncertain']} still uncertain"
        )
    mark = status.get("control")
    if mark:
        lines.append(
            f"campaign {mark['mode']} by {mark['by']} at {mark['since']}: "
            f"{mark['reason'] or 'no reason given'} (`vox-dispatch resume` to go on)"
        )
    if status.get("hangups"):
        listed = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in status["hangups"].items())
        lines.append(f"hang-ups requested by stop --hangup: {listed}")
    if status["uncertain"]:
        lines.append("uncertain rows (the call may have started; not re-sent automatically):")
        lines += [
            f"  line {row['line']}  key {row['key']}  {row['error'] or ''}"
            for row in status["uncertain"]
        ]
    return lines


def _reading_line(status: dict[str, Any]) -> str:
    line = status["reading_stopped_after_line"]
    if not status["run_finished"]:
        return f"reading the file: registered up to line {line} so far (a run is going on)"
    counted = status["not_read_yet"]
    return (
        f"reading stopped after line {line}"
        + (f": {counted} rows not read yet, counted as pending" if counted else "")
        + "; the next run reads on from there"
    )


def _csv_header(campaign: Campaign) -> tuple[str, ...] | None:
    """The input's header, for rejects.csv; None if the CSV cannot be read any more."""
    try:
        with TargetReader(campaign.csv, campaign.columns) as reader:
            return reader.header
    except (DispatcherError, OSError):
        return None


def _rebuild(campaign: Campaign, access_urls: bool) -> dict[str, Any]:
    """Every file from the state (the run's own function); the latest summary and totals."""
    header = _csv_header(campaign)
    with _state_of(campaign) as reader:
        latest = reader.latest_run()
        if latest is None:
            raise ConfigError(f"{campaign.state_path}: no run recorded yet")
        outputs = write_outputs(
            reader, latest.gen, campaign.output_dir, header, access_urls=access_urls
        )
        return {
            "campaign": campaign.name,
            "run": latest.run,
            "totals": reader.totals(latest.gen),
            "summary": reader.stored_summary(latest.run),
            "results_csv": {"path": str(outputs.results.path), "rows": outputs.results.rows},
            "attempts_csv": {"path": str(outputs.attempts.path), "rows": outputs.attempts.rows},
            "rejects_csv": None
            if outputs.rejects is None
            else {"path": str(outputs.rejects.path), "rows": outputs.rejects.rows},
        }


def _html_path(campaign: Campaign, value: str | bool) -> Path:
    """``--html``'s PATH: the output directory's report.html by default; in a directory given."""
    if value is True:
        return campaign.output_dir / HTML_REPORT_FILE
    path = Path(str(value)).expanduser().resolve()
    return path / HTML_REPORT_FILE if path.is_dir() else path


def _html_report(args: argparse.Namespace) -> int:
    campaign = campaign_of(args)
    path = _html_path(campaign, args.html)
    with _state_of(campaign) as reader:
        if reader.latest_run() is None:
            raise ConfigError(f"{campaign.state_path}: no run recorded yet")
        try:
            size = write_html_report(reader, campaign.name, path, now=time.time())
        except OSError as exc:
            raise ConfigError(
                f"{path}: cannot write the report ({exc.strerror}); give --html a path you "
                "may write to"
            ) from None
    if _json_wanted(args):
        print(json.dumps({"campaign": campaign.name, "html": {"path": str(path), "bytes": size}}))
    else:
        print(f"HTML report: {size / 1000:,.0f} kB -> {path}")
    return ExitCode.OK


def _say_if_a_run_is_going_on(campaign: Campaign) -> str | None:
    """The files are still written (each atomically, under its own temporary name), but they
    are a snapshot of a moving state: say so, and that the run rewrites them when it ends."""
    running = lock.holder(campaign.output_dir)
    if running is not None:
        logs.event(
            log,
            logging.WARNING,
            "run_in_progress",
            holder=running,
            message="a run of this campaign is going on: these files show the state now, and "
            "the run rewrites them when it ends",
        )
    return running


def report_command(args: argparse.Namespace) -> int:
    if args.html is not None:
        return _html_report(args)
    campaign = campaign_of(args)
    running = _say_if_a_run_is_going_on(campaign)
    report = {**_rebuild(campaign, args.with_access_urls), "run_in_progress": running}
    if _json_wanted(args):
        print(json.dumps(report, ensure_ascii=False))
        return ExitCode.OK
    if report["summary"] is not None:
        print("\n".join(summary_lines(report["summary"])))
    else:
        print(
            f"run {report['run']} has not finished (still running, or stopped by a crash): "
            "no summary yet"
        )
    counts = " ".join(f"{s}={n}" for s, n in report["totals"].items())
    print(f"totals now: {counts}")
    for name in ("results_csv", "attempts_csv"):
        print(
            f"{name.replace('_csv', '.csv')}: {report[name]['rows']} rows -> {report[name]['path']}"
        )
    if report["rejects_csv"] is None:
        print("rejects.csv: not rebuilt: the CSV file cannot be read (its header is needed)")
    else:
        print(
            f"rejects.csv: {report['rejects_csv']['rows']} rows -> {report['rejects_csv']['path']}"
        )
    return ExitCode.OK
