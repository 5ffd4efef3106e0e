"""What a run tells people: live counters, the CSV files, the summary, the campaign's facts.

``RunStats`` is what the run counts as it goes; everything else is derived from the state
through its own reads, so ``report`` can rebuild it at any time and an interrupted run leaves
the same files as a finished one. ``report.html`` is drawn by ``dispatcher.charts`` from data
read here.
"""

from ._files import write_atomically, write_attempts, write_rejects, write_results
from ._html import (
    HTML_REPORT_FILE,
    bucket_width,
    plotting_missing,
    report_data,
    run_report_path,
    write_html_report,
    write_run_report,
)
from ._latency import LatencySketch
from ._outputs import (
    ATTEMPTS_FILE,
    REJECTS_FILE,
    RESULTS_FILE,
    SUMMARY_FILE,
    Outputs,
    WrittenFile,
    campaign_facts,
    files_note,
    output_paths,
    write_outputs,
)
from ._stats import LATENCY_BUCKETS_S, RunStats
from ._status import campaign_status
from ._summary import Summary, iso, stats_fields, summary_lines, write_summary

__all__ = [
    "ATTEMPTS_FILE",
    "HTML_REPORT_FILE",
    "LATENCY_BUCKETS_S",
    "REJECTS_FILE",
    "RESULTS_FILE",
    "SUMMARY_FILE",
    "LatencySketch",
    "Outputs",
    "RunStats",
    "Summary",
    "WrittenFile",
    "bucket_width",
    "campaign_facts",
    "campaign_status",
    "files_note",
    "iso",
    "output_paths",
    "plotting_missing",
    "report_data",
    "run_report_path",
    "stats_fields",
    "summary_lines",
    "write_atomically",
    "write_attempts",
    "write_html_report",
    "write_outputs",
    "write_rejects",
    "write_results",
    "write_run_report",
    "write_summary",
]
