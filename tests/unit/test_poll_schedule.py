"""The polling backstop's schedule: KIE's advice, and the targets it is meant to meet."""

from __future__ import annotations

from itertools import pairwise

from bot.services.tracker import PollSchedule


def poll_times(schedule: PollSchedule, until: float) -> list[float]:
    t, times = 0.0, []
    while t <= until:
        t += schedule.delay_after(t)
        times.append(t)
    return times


def calls_to_notice(schedule: PollSchedule, finished_at: float) -> tuple[int, float]:
    """(status calls made, delay) for a job that KIE finishes at `finished_at` seconds."""
    t, calls = 0.0, 0
    while True:
        t += schedule.delay_after(t)
        calls += 1
        if t >= finished_at:
            return calls, t - finished_at


def test_a_60_second_job_needs_at_most_12_calls() -> None:
    calls, delay = calls_to_notice(PollSchedule(callbacks=False), 60.0)
    assert calls <= 12 and delay <= 8


def test_mean_delay_for_jobs_under_two_minutes_is_under_5_seconds() -> None:
    schedule = PollSchedule(callbacks=False)
    delays = [calls_to_notice(schedule, s / 10)[1] for s in range(50, 1200)]
    assert sum(delays) / len(delays) <= 5.0


def test_early_polls_follow_kie_advice() -> None:
    times = poll_times(PollSchedule(callbacks=False), 200)
    gaps = [b - a for a, b in pairwise(times)]
    assert times[0] == 6.0
    assert all(g <= 3.0 for g, t in zip(gaps, times, strict=False) if t < 24)
    assert all(g == 30.0 for g, t in zip(gaps, times, strict=False) if t >= 120)


def test_with_callbacks_polling_is_a_slow_backstop() -> None:
    assert PollSchedule(callbacks=True).first_delay() == 30.0


def test_scale_runs_the_same_schedule_faster() -> None:
    real = poll_times(PollSchedule(callbacks=False), 200)
    fast = poll_times(PollSchedule(callbacks=False, scale=0.05), 10)
    assert [round(t * 20, 6) for t in fast[: len(real)]] == [round(t, 6) for t in real[: len(fast)]]
