"""Following each started session to its end: the tracker, and the live-call cap it feeds."""

from ._live import LiveSessions
from ._reader import HistoryReader
from ._tracker import PAGES_PER_PASS, WINDOW_MARGIN_S, Pass, SessionTracker

__all__ = [
    "PAGES_PER_PASS",
    "WINDOW_MARGIN_S",
    "HistoryReader",
    "LiveSessions",
    "Pass",
    "SessionTracker",
]
