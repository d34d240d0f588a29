"""The usual duration of a model's orders, from the bot's own recent finished jobs."""

from __future__ import annotations

from bot.services.estimates import MIN_SAMPLES, DurationEstimate, estimate_from


def test_too_little_history_gives_the_prior() -> None:
    assert estimate_from([]) == DurationEstimate(1, 3, from_history=False)
    assert estimate_from([30.0] * (MIN_SAMPLES - 1)) == DurationEstimate(1, 3, from_history=False)


def test_the_middle_half_of_recent_durations_in_whole_minutes() -> None:
    # 25th percentile 70 s (1 min, rounded down), 75th 110 s (2 min, rounded up); outliers ignored.
    durations = [20.0, 70.0, 80.0, 90.0, 100.0, 110.0, 120.0, 900.0]
    assert estimate_from(durations) == DurationEstimate(1, 2, from_history=True)


def test_quick_models_say_about_a_minute() -> None:
    assert estimate_from([25.0, 30.0, 40.0, 45.0]) == DurationEstimate(1, 1, from_history=True)


def test_slow_models_never_read_faster_than_they_are() -> None:
    assert estimate_from([400.0, 420.0, 430.0, 500.0]) == DurationEstimate(6, 8, from_history=True)
