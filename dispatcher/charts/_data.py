"""The report's data model: every number the HTML campaign report can show, and nothing else.

Values only, built by whoever reads the state (the ``report --html`` command) and handed to
``render_html``. Every section is optional: ``None`` or an empty sequence means the page simply
has no such section (a campaign that has not placed a call yet has no outcome charts, not empty
frames). Times are POSIX epochs in seconds (UTC). The model deliberately holds no phone numbers
and no custom data: reject examples are line numbers, never row contents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Headline:
    """Where the campaign's rows are now; the numbers at the top of the page.

    The row states are meant to be disjoint (a row is in exactly one); ``not_reached`` splits
    the rows whose last call ended without reaching the person by outcome class
    (``busy``, ``no_answer``, ``voicemail``, ...).
    """

    rows: int
    reached: int
    not_reached: Mapping[str, int] = field(default_factory=dict)
    live: int = 0
    """Rows with a call in progress right now."""
    waiting: int = 0
    """Rows waiting for their calling window to open or for their next redial."""
    pending: int = 0
    """Rows not attempted yet."""
    failed: int = 0
    uncertain: int = 0
    """Rows whose request may or may not have placed a call (never re-sent automatically)."""
    rejected: int = 0
    """Input rows that could not be sent (invalid)."""
    suppressed: int = 0
    """Rows not called on purpose (do-not-call list, frequency cap)."""
    cost: float | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class MinutePoint:
    """What the dispatcher did in one wall-clock minute (``minute`` = epoch of its start)."""

    minute: float
    starts: int
    """Calls started (successful StartScenarios)."""
    requests: int
    """API requests sent, retries included."""
    throttled: int
    """Requests the API answered with a throttling error (429 and its codes)."""
    latency_mean_s: float | None = None
    latency_p95_s: float | None = None


@dataclass(frozen=True, slots=True)
class FunnelStep:
    """Attempt ``attempt`` (1 = first call): how many rows got it, and how many were reached."""

    attempt: int
    rows: int
    reached: int


@dataclass(frozen=True, slots=True)
class RejectReason:
    """One reason input rows were rejected, with the CSV line numbers of a few of them."""

    reason: str
    count: int
    example_lines: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class RunRow:
    """One ``vox-dispatch run`` of the campaign (``finished_at`` is None while it runs)."""

    run: int
    started_at: float
    finished_at: float | None
    exit_code: int | None
    reason: str
    sent: int


OutcomeCounts = Mapping[str, int]
"""Rows by outcome class, e.g. ``{"answered": 812, "busy": 40}``."""


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything one report page shows. Only ``campaign`` and ``generated_at`` are required.

    ``outcomes_over_time`` holds ``(bucket start, counts)`` pairs of ``outcomes_bucket_s``
    seconds each (by when the call ended); ``outcomes_by_local_hour`` maps the hour of the
    called person's own day (0..23) to counts; ``waiting_by_opening`` holds ``(bucket start,
    rows)`` pairs of ``waiting_bucket_s`` seconds, by when each waiting row may next be called.
    """

    campaign: str
    generated_at: float
    headline: Headline | None = None
    minutes: Sequence[MinutePoint] = ()
    outcomes_over_time: Sequence[tuple[float, OutcomeCounts]] = ()
    outcomes_bucket_s: float = 3600.0
    outcomes_by_local_hour: Mapping[int, OutcomeCounts] = field(default_factory=dict)
    attempts_funnel: Sequence[FunnelStep] = ()
    waiting_by_opening: Sequence[tuple[float, int]] = ()
    waiting_bucket_s: float = 3600.0
    rejects: Sequence[RejectReason] = ()
    runs: Sequence[RunRow] = ()

    def __post_init__(self) -> None:
        if self.outcomes_bucket_s <= 0 or self.waiting_bucket_s <= 0:
            raise ValueError("bucket widths must be positive numbers of seconds")
