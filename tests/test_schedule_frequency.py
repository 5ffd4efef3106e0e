"""The frequency policy: a rolling cap and quiet times after outcomes, as pure arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.schedule import FrequencyPolicy

DAY = 86_400.0
NOW = 1_800_000_000.0


def test_no_rules_always_allows() -> None:
    """A policy without a cap or quiet times never blocks."""
    assert FrequencyPolicy().next_allowed([(NOW - 1, "answered")] * 50, NOW) is None


def test_cap_counts_a_rolling_window() -> None:
    """4 calls per 30 days: the 5th waits until the oldest of the last 4 is 30 days old."""
    policy = FrequencyPolicy(max_calls=4, per_days=30)
    history = [(NOW - days * DAY, None) for days in (29, 20, 10, 1)]
    assert policy.next_allowed(history[1:], NOW) is None
    assert policy.next_allowed(history, NOW) == NOW + DAY
    assert policy.next_allowed(history, NOW + DAY) is None
    assert policy.next_allowed([*history, (NOW - 31 * DAY, "busy")], NOW) == NOW + DAY


def test_cap_with_more_attempts_than_allowed() -> None:
    """Over the cap (e.g. a lower cap set later): wait until enough attempts age out."""
    policy = FrequencyPolicy(max_calls=2, per_days=7)
    history = [(NOW - days * DAY, None) for days in (1, 6, 3, 2)]  # any order
    assert policy.next_allowed(history, NOW) == NOW - 2 * DAY + 7 * DAY


def test_quiet_time_after_an_outcome() -> None:
    """after_outcome: the latest matching attempt plus its days; other outcomes don't count."""
    policy = FrequencyPolicy(after_outcome={"answered": 7, "refused": 60})
    history = [(NOW - 10 * DAY, "refused"), (NOW - DAY, "answered"), (NOW, "busy")]
    assert policy.next_allowed(history, NOW) == NOW + 50 * DAY
    assert policy.next_allowed(history[1:], NOW) == NOW + 6 * DAY
    assert policy.next_allowed(history[2:], NOW) is None


def test_cap_and_quiet_time_combine_to_the_later() -> None:
    """Both rules apply; the answer is whichever ends later."""
    policy = FrequencyPolicy(max_calls=1, per_days=1, after_outcome={"answered": 2})
    assert policy.next_allowed([(NOW, "busy")], NOW) == NOW + DAY
    assert policy.next_allowed([(NOW, "answered")], NOW) == NOW + 2 * DAY


def test_future_attempts_count_as_recent() -> None:
    """An attempt stamped after now (another host's clock) still counts toward the cap."""
    policy = FrequencyPolicy(max_calls=1, per_days=1)
    assert policy.next_allowed([(NOW + 60, None)], NOW) == NOW + 60 + DAY


def test_cap_needs_both_numbers() -> None:
    """max_calls without per_days is a programming error caught at construction."""
    with pytest.raises(ValueError, match="set both or neither"):
        FrequencyPolicy(max_calls=4)


attempts = st.lists(
    st.tuples(
        st.floats(NOW - 90 * DAY, NOW + DAY, allow_nan=False),
        st.sampled_from([None, "answered", "busy", "refused"]),
    ),
    max_size=12,
)


def blocked(policy: FrequencyPolicy, history: list[tuple[float, str | None]], at: float) -> bool:
    """The rules restated directly: too many in the window, or inside a quiet time."""
    assert policy.max_calls is not None
    assert policy.per_days is not None
    in_window = [t for t, _ in history if at - policy.per_days * DAY < t]
    quiet = [
        t + policy.after_outcome[o] * DAY > at
        for t, o in history
        if o is not None and o in policy.after_outcome
    ]
    return len(in_window) >= policy.max_calls or any(quiet)


@given(
    attempts,
    st.integers(1, 6),
    st.sampled_from([1.0, 7.0, 30.0]),
    st.dictionaries(st.sampled_from(["answered", "refused"]), st.sampled_from([0.5, 7.0, 60.0])),
    st.floats(NOW - 60 * DAY, NOW + 60 * DAY, allow_nan=False),
)
def test_next_allowed_is_the_first_unblocked_moment(
    history: list[tuple[float, str | None]],
    max_calls: int,
    per_days: float,
    quiet: dict[str, float],
    now: float,
) -> None:
    """None iff not blocked now; otherwise unblocked at the answer and blocked just before it."""
    policy = FrequencyPolicy(max_calls, per_days, quiet)
    answer = policy.next_allowed(history, now)
    if answer is None:
        assert not blocked(policy, history, now)
        return
    assert answer > now
    assert blocked(policy, history, now)
    assert not blocked(policy, history, answer)
    assert policy.next_allowed(history, answer) is None
    just_before = max(now, answer - 1e-3)
    assert blocked(policy, history, just_before)
