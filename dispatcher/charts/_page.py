"""The report page's HTML: layout and style, the headline numbers, the rejects and runs tables.

Everything that comes from users (campaign name, reject reasons, run reasons, outcome class
names) passes through ``html.escape`` here or in the chart labels. The page is one file with
its style inline and no script; a Content-Security-Policy forbids every fetch, so even a
mistake could not make it reach the network when opened from a mail or a shared drive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from dispatcher.errors import ExitCode

from ._data import Headline, RejectReason, RunRow

MAX_REJECT_REASONS = 100
"""Reasons listed one per table row; the rest are summed in one line."""
MAX_EXAMPLE_LINES = 5


@dataclass(frozen=True, slots=True)
class Section:
    """One block of the page: its anchor id, heading, and inner HTML (already escaped)."""

    key: str
    title: str
    body: str
    kind: str = "panel"


def utc(epoch: float) -> str:
    """A moment as people read it, labelled as UTC."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes / 1440:.1f} days"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _card(label: str, value: str, note: str = "", tone: str = "") -> str:
    note_html = f'<div class="note">{note}</div>' if note else ""
    return (
        f'<div class="stat {tone}"><div class="label">{escape(label)}</div>'
        f'<div class="value">{value}</div>{note_html}</div>'
    )


def _breakdown(counts: dict[str, int]) -> str:
    parts = sorted(
        ((name, count) for name, count in counts.items() if count > 0),
        key=lambda item: (-item[1], item[0]),
    )
    return ", ".join(f"{escape(name.replace('_', ' '))} {count:,}" for name, count in parts)


def _state_counts(headline: Headline) -> list[tuple[str, int, str]]:
    """(label, rows, colour) for each row state, in the order rows usually move through them."""
    return [
        ("reached", headline.reached, "#009E73"),
        ("not reached", sum(headline.not_reached.values()), "#E69F00"),
        ("in a call", headline.live, "#1d4ed8"),
        ("waiting", headline.waiting, "#56B4E9"),
        ("pending", headline.pending, "#cbd5e1"),
        ("failed", headline.failed, "#882255"),
        ("uncertain", headline.uncertain, "#DDCC77"),
        ("rejected", headline.rejected, "#D55E00"),
        ("suppressed", headline.suppressed, "#6b7280"),
    ]


def _state_bar(headline: Headline) -> str:
    counts = [item for item in _state_counts(headline) if item[1] > 0]
    total = sum(count for _, count, _ in counts)
    if not total:
        return ""
    segments = "".join(
        f'<span style="width:{100 * count / total:.3f}%;background:{colour}" '
        f'title="{label}: {count:,}"></span>'
        for label, count, colour in counts
    )
    legend = "".join(
        f'<li><i style="background:{colour}"></i>{label} {count:,} ({_share(count, total)})</li>'
        for label, count, colour in counts
    )
    return (
        f'<div class="bar" role="img" aria-label="rows by state">{segments}</div>'
        f'<ul class="legend">{legend}</ul>'
    )


def _cost(headline: Headline) -> str:
    if headline.cost is None:
        return ""
    unit = f' <span class="unit">{escape(headline.currency)}</span>' if headline.currency else ""
    return _card("Cost", f"{headline.cost:,.2f}{unit}")


def headline_section(headline: Headline) -> Section:
    """The numbers at the top: where every row is, as cards and one proportional bar."""
    not_reached = sum(headline.not_reached.values())
    cards = [
        _card("Rows", f"{headline.rows:,}"),
        _card("Reached", f"{headline.reached:,}", _share(headline.reached, headline.rows), "good"),
        _card("Not reached", f"{not_reached:,}", _breakdown(dict(headline.not_reached))),
        _card("In a call now", f"{headline.live:,}"),
        _card("Waiting", f"{headline.waiting:,}", "for a calling window or a redial"),
        _card("Pending", f"{headline.pending:,}", "not attempted yet"),
        _card("Failed", f"{headline.failed:,}", tone="bad" if headline.failed else ""),
        _card(
            "Uncertain",
            f"{headline.uncertain:,}",
            "may have been called; never re-sent automatically",
            "warn" if headline.uncertain else "",
        ),
        _card("Rejected", f"{headline.rejected:,}", "invalid input rows"),
        _card("Suppressed", f"{headline.suppressed:,}", "not called on purpose"),
        _cost(headline),
    ]
    body = f'<div class="stats">{"".join(cards)}</div>{_state_bar(headline)}'
    return Section("headline", "Where the rows are", body)


def chart_section(key: str, title: str, caption: str, svg: str) -> Section:
    """A chart with a one-paragraph explanation of what it shows."""
    body = f'<p class="note">{caption}</p><div class="scroll">{svg}</div>'
    return Section(f"chart-{key}", title, body, "panel chart")


def _examples(lines: tuple[int, ...]) -> str:
    # Plain digits: people search the CSV for "14553", not "14,553".
    shown = ", ".join(str(line) for line in lines[:MAX_EXAMPLE_LINES])
    return f"{shown}, ..." if len(lines) > MAX_EXAMPLE_LINES else shown


def rejects_section(rejects: Sequence[RejectReason]) -> Section:
    """Rejected input rows by reason, the most frequent first, with example CSV lines."""
    ordered = sorted(rejects, key=lambda r: (-r.count, r.reason))
    rows = [
        f"<tr><td>{escape(r.reason)}</td><td class=num>{r.count:,}</td>"
        f"<td>{_examples(r.example_lines)}</td></tr>"
        for r in ordered[:MAX_REJECT_REASONS]
    ]
    rest = ordered[MAX_REJECT_REASONS:]
    if rest:
        rows.append(
            f"<tr><td><em>{len(rest):,} more reasons</em></td>"
            f"<td class=num>{sum(r.count for r in rest):,}</td><td></td></tr>"
        )
    total = sum(r.count for r in rejects)
    body = (
        f'<p class="note">{total:,} input rows were not sent. The full list is in rejects.csv; '
        "line numbers are those of the CSV file.</p>"
        '<div class="scroll"><table><thead><tr><th>Reason</th><th class=num>Rows</th>'
        f"<th>Example lines</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    return Section("rejects", "Rejected rows", body)


def _exit(code: int | None) -> str:
    if code is None:
        return "-"
    try:
        return f"{code} ({ExitCode(code).name.lower().replace('_', ' ')})"
    except ValueError:
        return str(code)


def _run_row(run: RunRow) -> str:
    finished = utc(run.finished_at) if run.finished_at is not None else "running or killed"
    took = _duration(run.finished_at - run.started_at) if run.finished_at is not None else "-"
    return (
        f"<tr><td class=num>{run.run}</td><td>{utc(run.started_at)}</td><td>{finished}</td>"
        f"<td class=num>{took}</td><td>{_exit(run.exit_code)}</td>"
        f"<td>{escape(run.reason)}</td><td class=num>{run.sent:,}</td></tr>"
    )


def runs_section(runs: Sequence[RunRow]) -> Section:
    """Every run of the campaign, oldest first."""
    rows = "".join(_run_row(run) for run in sorted(runs, key=lambda r: r.run))
    body = (
        '<div class="scroll"><table><thead><tr><th class=num>Run</th><th>Started</th>'
        "<th>Finished</th><th class=num>Took</th><th>Exit code</th><th>Why it ended</th>"
        f"<th class=num>Calls sent</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )
    return Section("runs", "Runs", body)


_CSS = """
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f3f4f6;--panel:#fff}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);line-height:1.45;
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1080px;margin:0 auto;padding:20px 16px 40px}
header{margin-bottom:16px}
header h1{font-size:1.55rem;margin:0 0 4px;overflow-wrap:anywhere}
header p{margin:0;color:var(--muted)}
nav{margin:10px 0 0;display:flex;flex-wrap:wrap;gap:6px 14px;font-size:.9rem}
nav a{color:#1d4ed8;text-decoration:none}
.panel{background:var(--panel);border:1px solid var(--line);border-radius:10px;
padding:16px 18px;margin:0 0 16px;break-inside:avoid}
.panel h2{font-size:1.1rem;margin:0 0 6px}
.note{color:var(--muted);font-size:.88rem;margin:0 0 8px}
.stats{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}
.stat{border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.stat .label{font-size:.8rem;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
.stat .value{font-size:1.5rem;font-weight:650;font-variant-numeric:tabular-nums}
.stat .note{margin:2px 0 0;font-size:.8rem}
.stat .unit{font-size:.9rem;font-weight:500;color:var(--muted)}
.stat.good{border-left:4px solid #009E73}.stat.bad{border-left:4px solid #882255}
.stat.warn{border-left:4px solid #DDCC77}
.bar{display:flex;height:14px;border-radius:7px;overflow:hidden;margin:16px 0 8px;
background:var(--line)}
.bar span{display:block;height:100%}
.legend{list-style:none;padding:0;margin:0;display:flex;flex-wrap:wrap;gap:4px 16px;
font-size:.85rem;color:var(--muted)}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px}
.scroll{overflow-x:auto}
.chart svg{display:block;width:100%;min-width:560px;height:auto}
.chart svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600;white-space:nowrap}
td{overflow-wrap:anywhere}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:nth-child(even){background:#f9fafb}
footer{color:var(--muted);font-size:.8rem;text-align:center;margin-top:24px}
@media (max-width:600px){main{padding:12px 8px 28px}.panel{padding:12px}
.stats{grid-template-columns:repeat(2,minmax(0,1fr))}.stat .value{font-size:1.25rem}}
@media print{body{background:#fff}.panel{border-color:#ccc}nav{display:none}}
"""

# No script, no fetch of any kind: styles inline only (SVG charts use style attributes).
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'"


def page(campaign: str, subtitle: str, sections: Sequence[Section], footer: str) -> str:
    """The whole HTML document."""
    nav = "".join(f'<a href="#{s.key}">{escape(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section class="{s.kind}" id="{s.key}"><h2>{escape(s.title)}</h2>{s.body}</section>'
        for s in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(campaign)} - campaign report</title><style>{_CSS}</style></head>"
        f"<body><main><header><h1>{escape(campaign)}</h1><p>{subtitle}</p>"
        f"<nav>{nav}</nav></header>{body}<footer>{footer}</footer></main></body></html>\n"
    )
