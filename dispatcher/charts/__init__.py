"""The self-contained HTML campaign report: its data model and its renderer.

``render_html(ReportData) -> str`` draws one HTML file with inline SVG charts (matplotlib, the
optional ``report`` extra) that opens anywhere without network. The caller reads the state and
fills ``ReportData``; this package never sees phone numbers or custom data.
"""

from ._data import (
    FunnelStep,
    Headline,
    MinutePoint,
    OutcomeCounts,
    RejectReason,
    ReportData,
    RunRow,
)
from ._render import INSTALL_HINT, render_html
from ._series import KNOWN_OUTCOMES

__all__ = [
    "INSTALL_HINT",
    "KNOWN_OUTCOMES",
    "FunnelStep",
    "Headline",
    "MinutePoint",
    "OutcomeCounts",
    "RejectReason",
    "ReportData",
    "RunRow",
    "render_html",
]
