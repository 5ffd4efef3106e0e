"""Following each started session to its end: the tracker, and the live-call cap it feeds."""

from ._live import LiveSessions
from ._tracker import WINDOW_MARGIN_S, HistoryReader, Pass, SessionTracker

__all__ = ["WINDOW_MARGIN_S", "HistoryReader", "LiveSessions", "Pass", "SessionTracker"]
