"""Polling only: the scheduler learns a model's completion times from the bot's own finished jobs."""

from __future__ import annotations

import itertools
from pathlib import Path

from bot.kie.sandbox import KieSimulator
from bot.services.tracker import PollSchedule
from bot.store.jobs import JobState
from tests.e2e.harness import make_settings, running_bot
from tests.e2e.jobs_support import DEFAULT_PROMPT, order_job, prepare_user, wait_job_state
from tests.fakes.telegram import FakeTelegram

FIRST_USER = 7301
SCALE = 0.05
TAKES_S = 40.0  # every job of this test takes 40 s on the real clock


async def test_after_its_model_history_a_job_is_polled_around_its_expected_finish(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    # The status budget shrinks with the clock, so 10 calls/s keeps its real meaning.
    settings = make_settings(tmp_path, fake_tg, sim, kie_poll_scale=SCALE, kie_status_rps=10 / SCALE)
    prompt = f"{DEFAULT_PROMPT} [sim:delay={TAKES_S * SCALE:.2f}]"
    history = PollSchedule(callbacks=False).min_history
    async with running_bot(settings) as bot:
        earlier = []
        for n in range(history):
            await prepare_user(bot, fake_tg, FIRST_USER + n)
            earlier.append(await order_job(bot, FIRST_USER + n, prompt=prompt))
        finished = [await wait_job_state(bot, job.id, JobState.DELIVERED, timeout=60) for job in earlier]
        await prepare_user(bot, fake_tg, FIRST_USER + history)
        job = await order_job(bot, FIRST_USER + history, prompt=prompt)
        done = await wait_job_state(bot, job.id, JobState.DELIVERED, timeout=60)
        assert done.task_id is not None
        polls = sim.requests_to("/api/v1/jobs/recordInfo")
        calls = [r for r in polls if r.query.get("taskId") == done.task_id]
        by_prior = [sum(r.query.get("taskId") == early.task_id for r in polls) for early in finished]
    # KIE's advice by age (the prior) polls a 40 s job ~9 times; knowing the model takes ~40 s,
    # the scheduler waits and polls around 40 s. The most polled of the earlier jobs stands for the
    # prior: the first ones share the event loop with the orders placed after them, and on a loaded
    # 2-core CI machine a stalled loop polls them less often than their schedule says.
    assert len(calls) <= 3 < max(by_prior), (len(calls), by_prior)


async def test_a_status_call_that_hangs_holds_up_no_other_poll(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    # KIE never answers one status call: the client waits its read timeout (30 s) for it. Polls go
    # on meanwhile, the hung job's own next one included (booked before the call): the tracker does
    # not wait for a round of polls to end before claiming the next. A hung call used to stall every
    # poll, deadline and delivery behind it for those 30 s.
    settings = make_settings(tmp_path, fake_tg, sim, kie_poll_scale=SCALE, kie_status_rps=10 / SCALE)
    prompt = f"{DEFAULT_PROMPT} [sim:delay={5 * SCALE:.2f}]"
    async with running_bot(settings) as bot:
        await prepare_user(bot, fake_tg, FIRST_USER)
        hung = sim.faults.inject("status", hang=True, times=1)
        stuck = await order_job(bot, FIRST_USER, prompt=prompt)
        await fake_tg.wait_until(lambda: hung.hits == 1, timeout=10)
        await prepare_user(bot, fake_tg, FIRST_USER + 1)
        other = await order_job(bot, FIRST_USER + 1, prompt=prompt)
        # Well inside the hung call's 30 s: both jobs are polled again, found done and delivered.
        for job in (other, stuck):
            await wait_job_state(bot, job.id, JobState.DELIVERED, timeout=15)
        assert hung.hits == 1
    # Stopping did not wait for the hung call either: it is cancelled (the harness stops within its grace).


async def test_a_poll_booked_sooner_than_the_loop_would_wake_wakes_it(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    # The tracker's loop sleeps until the next thing due (at most 5 s); a poll under way books its
    # job's next poll after the loop went to sleep. One booked sooner wakes the loop, else the job
    # waits out the sleep: a learnt schedule's poll right at the expected finish would come seconds
    # late (bench/bench_jobs.py 2b). Here the prior books the job every 3 s x SCALE after its 6th s.
    settings = make_settings(tmp_path, fake_tg, sim, kie_poll_scale=SCALE, kie_status_rps=10 / SCALE)
    async with running_bot(settings) as bot:
        await prepare_user(bot, fake_tg, FIRST_USER)
        job = await order_job(bot, FIRST_USER, prompt=f"{DEFAULT_PROMPT} [sim:delay={14 * SCALE:.2f}]")
        done = await wait_job_state(bot, job.id, JobState.DELIVERED, timeout=30)
        calls = [
            r.at for r in sim.requests_to("/api/v1/jobs/recordInfo") if r.query.get("taskId") == done.task_id
        ]
    # At 6, 9, 12 and 15 s of the scaled clock: 0.15 s apart, booked; nowhere near the loop's 5 s.
    assert len(calls) >= 3, calls
    gaps = [later - earlier for earlier, later in itertools.pairwise(calls)]
    assert max(gaps) < 2.5, gaps
