"""The charts, drawn with matplotlib as SVG text; the only module that imports matplotlib.

Imported lazily by the renderer (matplotlib is the optional ``report`` extra). Figures are
created directly (no pyplot: no global figure registry, no backend switch, nothing left behind
between calls) and every style setting is applied inside ``rc_context`` for one chart only.
Each drawn data series carries an element id (``gid``) such as ``series-starts`` so tests and
readers can find its marks. Text stays text (``svg.fonttype = none``): smaller files, and the
page's fonts are used. Mathtext is off because legend labels come from user data.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from ._data import FunnelStep
from ._series import MinuteSeries, StackedBins

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

_INK = "#1f2937"
_MUTED = "#6b7280"
_GRID = "#e5e7eb"
_STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "text.usetex": False,
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#9ca3af",
    "axes.labelcolor": _INK,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": _GRID,
    "grid.linewidth": 0.8,
    "xtick.color": _MUTED,
    "ytick.color": _MUTED,
    "legend.frameon": False,
    "timezone": "UTC",
    "path.simplify": True,
}
_SIZE_IN = (9.0, 3.4)


@contextmanager
def _figure(key: str, size: tuple[float, float] = _SIZE_IN) -> Iterator[tuple[Figure, Axes]]:
    # The hash salt makes matplotlib's internal ids deterministic and different per chart.
    with mpl.rc_context({**_STYLE, "svg.hashsalt": key}):
        figure = Figure(figsize=size, layout="constrained")
        yield figure, figure.add_subplot()


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _time_axis(axes: Axes) -> None:
    # matplotlib's stubs leave these constructors unannotated.
    locator = mdates.AutoDateLocator(tz=UTC, minticks=4, maxticks=10)  # type: ignore[no-untyped-call]
    formatter = mdates.ConciseDateFormatter(locator, tz=UTC)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(formatter)
    axes.set_xlabel("time (UTC)", color=_MUTED)


def _dates(epochs: Sequence[float]) -> np.ndarray[Any, np.dtype[np.datetime64]]:
    # Millisecond precision keeps the middle of odd-length steps exact.
    return np.asarray([round(t * 1000) for t in epochs], dtype="datetime64[ms]")


def _legend_above(axes: Axes, handles: Sequence[object] | None = None) -> None:
    kwargs = {"handles": handles} if handles is not None else {}
    axes.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncols=5, borderaxespad=0.2, **kwargs)


def _legend_label(name: str) -> str:
    # "no_answer" reads as "no answer"; it also keeps labels from starting with "_", which
    # matplotlib would hide (a user's outcome class may).
    return name.replace("_", " ")


def _integer_y(axes: Axes) -> None:
    axes.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10], min_n_ticks=3))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axes.set_ylim(bottom=0)


def _show_lonely_points(axes: Axes, x: np.ndarray[Any, np.dtype[np.datetime64]]) -> None:
    """A point with no neighbour on its line (a run that sent for one minute between idle
    hours, or a one-minute campaign) draws nothing as a line: it gets a marker. A single
    minute gets a few minutes of axis around it (matplotlib would widen one date to years)."""
    for line in axes.get_lines():
        finite = np.isfinite(np.asarray(line.get_ydata(), dtype=float))
        before = np.concatenate(([False], finite[:-1]))
        after = np.concatenate((finite[1:], [False]))
        lonely = np.flatnonzero(finite & ~before & ~after)
        if lonely.size:
            line.set_marker("o")
            line.set_markersize(4)
            line.set_markevery(lonely.tolist())
    if len(x) == 1:
        axes.set_xlim(x[0] - np.timedelta64(5, "m"), x[0] + np.timedelta64(5, "m"))


def starts_chart(series: MinuteSeries) -> str:
    """Calls started per minute; the busiest minute of each step, API requests, throttling."""
    x = _dates(series.times)
    with _figure("starts") as (figure, axes):
        if series.step_min > 1:
            axes.plot(x, series.starts_peak, color="#93c5fd", lw=0.8, label="busiest minute")[
                0
            ].set_gid("series-starts-peak")
        if series.requests != series.starts:
            axes.plot(x, series.requests, color="#9ca3af", lw=1.0, label="API requests")[0].set_gid(
                "series-requests"
            )
        axes.plot(x, series.starts, color="#1d4ed8", lw=1.5, label="calls started")[0].set_gid(
            "series-starts"
        )
        if any(series.throttled):
            axes.plot(x, series.throttled, color="#dc2626", lw=1.0, label="throttled")[0].set_gid(
                "series-throttled"
            )
        _show_lonely_points(axes, x)
        _time_axis(axes)
        axes.set_ylabel("per minute")
        axes.set_ylim(bottom=0)
        _legend_above(axes)
        return _svg(figure)


def latency_chart(series: MinuteSeries) -> str:
    """API latency over time: the mean and the 95th percentile, in seconds."""
    x = _dates(series.times)
    with _figure("latency") as (figure, axes):
        axes.plot(x, series.latency_p95_s, color="#f59e0b", lw=1.0, label="p95")[0].set_gid(
            "series-latency-p95"
        )
        axes.plot(x, series.latency_mean_s, color="#7c3aed", lw=1.5, label="mean")[0].set_gid(
            "series-latency-mean"
        )
        _show_lonely_points(axes, x)
        _time_axis(axes)
        axes.set_ylabel("seconds")
        axes.set_ylim(bottom=0)
        _legend_above(axes)
        return _svg(figure)


def stacked_time_chart(
    key: str, bins: StackedBins, colors: Mapping[str, str], ids: Mapping[str, str], y_label: str
) -> str:
    """Counts per time bucket stacked by series, one filled step outline per series."""
    edges = _dates(bins.edges)
    with _figure(key) as (figure, axes):
        baseline = np.zeros(len(bins.edges) - 1)
        for name, values in bins.series.items():
            top = baseline + np.asarray(values, dtype=float)
            axes.stairs(top, edges, baseline=baseline, fill=True, color=colors[name], lw=0).set_gid(
                ids[name]
            )
            baseline = top
        handles = [Patch(color=colors[name], label=_legend_label(name)) for name in bins.series]
        _time_axis(axes)
        axes.set_ylabel(y_label)
        _integer_y(axes)
        if len(handles) > 1:
            _legend_above(axes, handles)
        return _svg(figure)


def _bars(axes: Axes, rects: list[Rectangle], color: str, gid: str) -> None:
    # One collection per series: one element id, and one SVG group instead of a patch per bar.
    collection = PatchCollection(rects, facecolor=color, edgecolor="none", gid=gid)
    axes.add_collection(collection)


def hours_chart(
    hours: Mapping[int, Mapping[str, int]],
    order: Sequence[str],
    colors: Mapping[str, str],
    ids: Mapping[str, str],
) -> str:
    """Outcomes by the hour of the called person's own day, stacked by outcome class."""
    with _figure("hours") as (figure, axes):
        bottom = [0] * 24
        for name in order:
            rects = []
            for hour in range(24):
                count = hours.get(hour, {}).get(name, 0)
                if count > 0:
                    rects.append(Rectangle((hour - 0.4, bottom[hour]), 0.8, count))
                    bottom[hour] += count
            if rects:
                _bars(axes, rects, colors[name], ids[name])
        axes.set_xlim(-0.7, 23.7)
        axes.set_ylim(0, max(bottom) * 1.05)
        axes.set_xticks(range(0, 24, 2), [f"{h:02d}:00" for h in range(0, 24, 2)])
        axes.set_xlabel("hour of the day where the called person is (their local time)")
        axes.set_ylabel("calls")
        axes.grid(axis="x", visible=False)
        _integer_y(axes)
        handles = [Patch(color=colors[name], label=_legend_label(name)) for name in order]
        _legend_above(axes, handles)
        return _svg(figure)


def funnel_chart(steps: Sequence[FunnelStep]) -> str:
    """Rows per attempt (1st call, 1st redial, ...) with how many each attempt reached."""
    height = 1.2 + 0.45 * len(steps)
    with _figure("funnel", (_SIZE_IN[0], height)) as (figure, axes):
        widest = max(step.rows for step in steps)
        rows = [Rectangle((0, i - 0.38), s.rows, 0.76) for i, s in enumerate(steps)]
        reached = [Rectangle((0, i - 0.38), s.reached, 0.76) for i, s in enumerate(steps)]
        _bars(axes, [r for r in rows if r.get_width() > 0], "#cbd5e1", "series-funnel-rows")
        _bars(axes, [r for r in reached if r.get_width() > 0], "#009E73", "series-funnel-reached")
        for i, step in enumerate(steps):
            share = f" ({step.reached / step.rows:.0%})" if step.rows else ""
            axes.annotate(
                f"{step.rows:,} rows, {step.reached:,} reached{share}",
                (step.rows, i),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                color=_INK,
            )
        axes.set_yticks(range(len(steps)), [f"attempt {s.attempt}" for s in steps])
        axes.set_ylim(len(steps) - 0.5, -0.5)
        axes.set_xlim(0, widest * 1.45 or 1)
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
        axes.grid(axis="y", visible=False)
        axes.set_xlabel("rows")
        handles = [Patch(color="#cbd5e1", label="rows"), Patch(color="#009E73", label="reached")]
        _legend_above(axes, handles)
        return _svg(figure)
