"""Outgoing traffic shaped, against the fake Bot API enforcing Telegram's flood limits.

The fake refuses with 429 past about one message a second per chat (a burst of 3) and 30 a second per
bot (`FloodControl`); the bot runs with its default pace (25 a second, 1 per chat) and status
messages refreshing every second or faster, so progress edits always wait in line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.i18n import translate
from bot.kie.sandbox import KieSimulator, SimTimings
from bot.store.jobs import Job, JobState
from tests.e2e.harness import make_settings, running_bot
from tests.e2e.jobs_support import books_balance, order_job, prepare_user, wait_job_state, wait_status
from tests.fakes.telegram import Call, FakeTelegram, FloodControl

FIRST_USER = 6201
# Telegram's limits and the bot's default pace (the harness lifts the pace for other tests).
PACED = {"telegram_max_messages_per_s": 25.0, "telegram_max_per_chat_per_s": 1.0}
HAS_TASK = (JobState.SUBMITTED, JobState.RUNNING)
MESSAGE_METHODS = {"sendMessage", "sendVideo", "sendDocument", "editMessageText"}


def too_many_requests(fake: FakeTelegram) -> list[Call]:
    return [c for c in fake.calls if c.error is not None and c.error.status == 429]


async def wait_card(fake: FakeTelegram, job: Job) -> None:
    """The job's status message shows its card (queued, or generating: a newer status may have
    replaced the queued one before it was sent)."""

    def shown() -> bool:
        message = fake.message(job.chat_id, job.status_message_id or 0)
        return message is not None and f"#{job.id}" in (message.text or "")

    await fake.wait_until(shown, timeout=30)


@pytest.fixture
async def sim() -> AsyncIterator[KieSimulator]:
    """Tasks finish only when the test says so (`complete`)."""
    simulator = KieSimulator("shaping-test-key", timings=SimTimings.manual(), create_limit=100_000)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


async def test_many_jobs_finishing_together_get_every_video_and_no_429(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    fake_tg.flood_control = FloodControl()
    jobs = 30
    settings = make_settings(
        tmp_path, fake_tg, sim, callbacks=True, status_refresh_seconds=1.0, kie_create_limit=100_000, **PACED
    )
    async with running_bot(settings) as bot:
        ordered = []
        for n in range(jobs):
            await prepare_user(bot, fake_tg, FIRST_USER + n)
            ordered.append(await order_job(bot, FIRST_USER + n))
        # Submitted (a poll may already have found it generating): it has its task id.
        submitted = [await wait_job_state(bot, job.id, *HAS_TASK, timeout=30) for job in ordered]
        for job in submitted:
            await wait_card(fake_tg, job)
        for job in submitted:
            assert job.task_id is not None
            sim.complete(job.task_id)
        for job in submitted:
            done = await wait_job_state(bot, job.id, JobState.DELIVERED, timeout=60)
            await wait_status(fake_tg, done, translate("job-status-done", "en"), timeout=60)
        assert await bot.components.tracker.wait_idle(10)
        assert await books_balance(bot)
        delivered_to = sorted(int(c.params["chat_id"]) for c in fake_tg.calls_of("sendVideo") if c.ok)
        assert delivered_to == [FIRST_USER + n for n in range(jobs)]
        assert too_many_requests(fake_tg) == []
        assert fake_tg.flood_control.refused == []
        assert fake_tg.flood_control.admitted >= 3 * jobs  # status message, queued, video, done...
        shaped = bot.components.send_scheduler.stats
        assert sum(s.queued for s in shaped.values()) > 0, "the pace was never reached: nothing shown"


async def test_a_chats_videos_go_before_its_waiting_status_edits(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One user, four jobs, their status messages refreshed twice a second: the chat's one message a
    second is always in demand and a status edit of each message is always waiting. Once the
    videos are ready they go first, one after another (the fake's record of the chat), then "done"."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg: the videos are ready together
    fake_tg.flood_control = FloodControl()
    user = FIRST_USER
    settings = make_settings(
        tmp_path,
        fake_tg,
        sim,
        callbacks=True,
        status_refresh_seconds=0.5,
        max_jobs_in_flight=4,
        kie_create_limit=100_000,
        **PACED,
    )
    async with running_bot(settings) as bot:
        await prepare_user(bot, fake_tg, user)
        ordered = [await order_job(bot, user, prompt=f"Clip number {n}") for n in range(4)]
        # Submitted (a poll may already have found it generating): it has its task id.
        submitted = [await wait_job_state(bot, job.id, *HAS_TASK, timeout=30) for job in ordered]
        for job in submitted:
            await wait_card(fake_tg, job)
        mark = fake_tg.mark()
        for job in submitted:
            assert job.task_id is not None
            sim.complete(job.task_id)
        for job in submitted:
            done = await wait_job_state(bot, job.id, JobState.DELIVERED, timeout=60)
            await wait_status(fake_tg, done, translate("job-status-done", "en"), timeout=60)
        assert await bot.components.tracker.wait_idle(10)
        chat = [
            c
            for c in fake_tg.calls[mark:]
            if c.method in MESSAGE_METHODS and c.params.get("chat_id") == user and c.ok
        ]
        kinds = [c.method for c in chat]
        videos = [i for i, kind in enumerate(kinds) if kind == "sendVideo"]
        assert len(videos) == 4, kinds
        # At most one status edit before the first video (one already on its way when KIE finished:
        # a queue without priorities sends the three or four waiting ones first), and none between.
        assert videos == list(range(videos[0], videos[0] + 4)), kinds
        assert videos[0] <= 1, kinds
        assert too_many_requests(fake_tg) == []
