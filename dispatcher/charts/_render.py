"""``render_html``: the whole campaign report as one self-contained HTML file.

The plotting library is the optional ``report`` extra, imported here on first use so the rest
of the tool works without it; without it the user is told which extra to install.
"""

from __future__ import annotations

from datetime import UTC, datetime

from dispatcher.errors import ConfigError

from ._data import ReportData
from ._page import Section, headline_section, page, rejects_section, runs_section, utc

INSTALL_HINT = "pip install 'vox-dispatch[report]'"
_PLOTTING_PACKAGES = ("matplotlib", "numpy", "PIL", "kiwisolver", "pyparsing", "contourpy")


def _chart_sections(data: ReportData) -> list[Section]:
    try:
        from ._figures import chart_sections  # noqa: PLC0415 - the optional extra, on first use
    except ImportError as error:
        missing = (error.name or "").split(".")[0]
        if missing not in _PLOTTING_PACKAGES:
            raise
        raise ConfigError(
            f"The HTML report draws its charts with matplotlib, which is not installed here "
            f"({missing} cannot be imported). Install the report extra: {INSTALL_HINT}"
        ) from None
    return chart_sections(data)


def _subtitle(data: ReportData) -> str:
    text = f"Campaign report generated {utc(data.generated_at)}"
    if data.minutes:
        first = min(point.minute for point in data.minutes)
        last = max(point.minute for point in data.minutes) + 60
        text += f" &middot; calls sent from {utc(first)} to {utc(last)}"
    return text + " &middot; all times are UTC"


def render_html(data: ReportData) -> str:
    """The report page for ``data``: one HTML file with inline SVG charts, no script, no fetch.

    Sections without data are left out. The output depends only on ``data`` (the same data
    gives the same bytes). Raises ``ConfigError`` when the ``report`` extra is not installed.
    """
    charts = _chart_sections(data)
    sections = [
        *([headline_section(data.headline)] if data.headline is not None else []),
        *charts,
        *([rejects_section(data.rejects)] if data.rejects else []),
        *([runs_section(data.runs)] if data.runs else []),
    ]
    year = datetime.fromtimestamp(data.generated_at, UTC).year
    footer = (
        f"vox-dispatch campaign report &middot; {year} &middot; this file is self-contained: "
        "it loads nothing from the network"
    )
    return page(data.campaign, _subtitle(data), sections, footer)
