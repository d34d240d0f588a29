"""The polling backstop's schedule: KIE's advice, and the targets it is meant to meet."""

from __future__ import annotations

from itertools import pairwise

import pytest

from bot.services.tracker import CompletionTimes, PollLoad, PollSchedule


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


# --- around the expected finish, from the model's own history, within the status budget --------


def around_sixty() -> CompletionTimes:
    """A model whose jobs took 50-70 s (21 finished jobs, evenly spread)."""
    return CompletionTimes.of([50.0 + n for n in range(21)])


def planned_polls(
    schedule: PollSchedule, finished_at: float, history: CompletionTimes | None, load: PollLoad = PollLoad()
) -> tuple[int, float]:
    """(status calls, delay) for a job that KIE finishes at `finished_at`, polled by next_delay."""
    t, calls = 0.0, 0
    while True:
        t += schedule.next_delay(t, history, load)
        calls += 1
        if t >= finished_at:
            return calls, t - finished_at


def test_a_lone_60_second_job_takes_at_most_8_calls_and_is_noticed_within_2_seconds() -> None:
    schedule = PollSchedule(callbacks=False, status_rps=10.0)
    history = around_sixty()
    calls, delay = planned_polls(schedule, 60.0, history)
    assert calls <= 8 and delay <= 2.0
    # ... and the same holds on average over the model's usual spread.
    outcomes = [planned_polls(schedule, 50.0 + n / 10, history) for n in range(200)]
    assert sum(d for _, d in outcomes) / len(outcomes) <= 2.0
    assert max(c for c, _ in outcomes) <= 8


def test_polls_gather_around_the_expected_finish_and_no_gap_exceeds_the_bound() -> None:
    schedule = PollSchedule(callbacks=False, status_rps=10.0)
    history = around_sixty()
    times, t = [], 0.0
    while t < 200:
        t += schedule.next_delay(t, history)
        times.append(t)
    gaps = [b - a for a, b in pairwise([0.0, *times])]
    assert max(gaps) <= schedule.max_gap_s
    assert min(gaps) >= schedule.min_gap_s
    in_usual = [p for p in times if 50 <= p <= 70]
    before = [p for p in times if p < 50]
    assert len(in_usual) >= 3 and len(before) <= 2


def test_a_job_slower_than_its_history_falls_back_to_the_prior() -> None:
    schedule = PollSchedule(callbacks=False, status_rps=10.0)
    assert schedule.next_delay(150.0, around_sixty()) == schedule.delay_after(150.0) == 30.0


def test_little_history_means_the_prior() -> None:
    schedule = PollSchedule(callbacks=False, status_rps=10.0)
    few = CompletionTimes.of([60.0] * (schedule.min_history - 1))
    assert schedule.next_delay(0.0, few) == schedule.first_delay() == 6.0
    assert schedule.next_delay(0.0, CompletionTimes.of([])) == 6.0


def test_with_many_jobs_on_one_budget_every_job_keeps_a_round_of_it() -> None:
    schedule = PollSchedule(callbacks=False, status_rps=10.0)
    crowded = PollLoad(jobs=500)
    # 500 jobs on 10 calls/s: one round takes 50 s, so the bound is 50 s, not 30 s.
    assert schedule.longest_gap(crowded) == 50.0
    assert schedule.next_delay(0.0, around_sixty(), crowded) == 50.0  # the usual finish is later
    assert schedule.next_delay(0.0, around_sixty()) == 30.0
    # Each task with its own budget ("task" scope): no shared budget to spread, the plain bound.
    assert PollSchedule(callbacks=False).longest_gap(crowded) == 30.0
    assert schedule.longest_gap(PollLoad(jobs=20)) == 30.0


def test_the_cdf_and_quantile_agree() -> None:
    history = around_sixty()
    for q in (0.05, 0.3, 0.5, 0.9):
        assert history.cdf(history.quantile(q)) == pytest.approx(q)
    assert history.cdf(0.0) == 0.0 and history.cdf(1000.0) == 1.0


def test_history_learns_when_kie_finished_not_when_the_bot_noticed() -> None:
    """A job noticed 64 s after submission under the prior's 8 s gaps finished between 56 s and
    64 s; taking half the gap off errs early (a poll more), never late (a delay more)."""
    schedule = PollSchedule(callbacks=False)
    assert schedule.finished_about(64.0) == 60.0
    assert schedule.finished_about(10.0) == 8.5
    assert schedule.finished_about(0.0) == 0.0
