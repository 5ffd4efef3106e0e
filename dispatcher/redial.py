"""The attempts policy: which outcomes get another call, and when it is due.

A row gets at most ``attempts.max`` calls. After an ended call whose outcome is in
``attempts.retry_on`` (and while calls remain), the next attempt is due ``wait_s[outcome]``
(or ``default_wait_s``) after the call ended, plus a random jitter of up to ``jitter_s`` so
redials do not arrive in a wall; every other outcome ends the row. Throttling retries are not
attempts: they never reach this policy.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from dispatcher.config import AttemptSettings


@dataclass(slots=True)
class RedialPolicy:
    """Decides, for each ended call, whether and when the row is called again."""

    settings: AttemptSettings
    rng: random.Random = field(default_factory=random.Random)

    def next_due(self, outcome: str, attempts_made: int, ended_at: float) -> float | None:
        """When the next attempt is due (epoch seconds), or None: the row is done."""
        settings = self.settings
        if attempts_made >= settings.max or outcome not in settings.retry_on:
            return None
        jitter = self.rng.uniform(0.0, settings.jitter_s) if settings.jitter_s else 0.0
        return ended_at + settings.wait_for(outcome) + jitter
