"""The hot-path check: is this row open now? One dict lookup and two compares per row.

The runner asks for every row it claims (about 1 000 rows/s). Rows share few keys (their zones
and row limits), and an answer stays true until its opening ends, so each key's ``Opening`` is
kept and recomputed only when ``now`` leaves the span it was computed for.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ._calendar import Calendar, Opening

_NEVER = datetime.max.replace(tzinfo=UTC)

Key = tuple[tuple[str, ...], str | None, str | None]
Entry = tuple[datetime, datetime, datetime, Opening | None]
"""(valid from, valid until, opens at, opening): the answer holds for now in [from, until)."""


class WindowCache:
    """``Calendar`` answers cached by (zones, not_before, not_after) until they can change.

    ``zones`` is a tuple (it is part of the key). Pass ``now`` with ``tzinfo=datetime.UTC``
    (the object the openings carry): datetimes sharing a tzinfo object compare fastest.
    """

    def __init__(self, calendar: Calendar, *, max_entries: int = 100_000) -> None:
        self.calendar = calendar
        self.max_entries = max_entries
        self._entries: dict[Key, Entry] = {}
        self.misses = 0

    def __repr__(self) -> str:
        return f"<WindowCache entries={len(self._entries)} misses={self.misses}>"

    def is_open(
        self,
        zones: tuple[str, ...],
        now: datetime,
        not_before: str | None = None,
        not_after: str | None = None,
    ) -> bool:
        entry = self._entries.get((zones, not_before, not_after))
        if entry is None or not entry[0] <= now < entry[1]:
            entry = self._refresh(zones, now, not_before, not_after)
        return entry[2] <= now

    def opening(
        self,
        zones: tuple[str, ...],
        now: datetime,
        not_before: str | None = None,
        not_after: str | None = None,
    ) -> Opening | None:
        """As ``Calendar.opening``: the opening holding ``now`` or the next; None: never again."""
        entry = self._entries.get((zones, not_before, not_after))
        if entry is None or not entry[0] <= now < entry[1]:
            entry = self._refresh(zones, now, not_before, not_after)
        return entry[3]

    def _refresh(
        self, zones: tuple[str, ...], now: datetime, not_before: str | None, not_after: str | None
    ) -> Entry:
        self.misses += 1
        opening = self.calendar.opening(zones, now, not_before, not_after)
        # No open instant lies between now and opening.start, and all of [start, end) is open:
        # the answer is the same for any later now before end. "Never" stays never.
        if opening is None:
            entry: Entry = (now, _NEVER, _NEVER, None)
        else:
            entry = (now, opening.end, opening.start, opening)
        if len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]  # oldest first
        self._entries[(zones, not_before, not_after)] = entry
        return entry
