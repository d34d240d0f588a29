"""While a job runs: the order card stays on the status message, which shows the elapsed time
(refreshed even when KIE says nothing, as in callback mode) and this model's usual duration."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.i18n import translate
from bot.kie.sandbox import KieSimulator
from bot.services.ports import JobStatus
from bot.store.jobs import JobState
from bot.telegram import job_status
from bot.telegram.balance import credits_text
from bot.telegram.job_status import TelegramJobStatus
from tests.e2e.harness import make_settings, running_bot
from tests.e2e.jobs_support import (
    books_balance,
    order_job,
    prepare_user,
    wait_job_state,
    wait_status,
    wait_until,
)
from tests.fakes.telegram import FakeTelegram

USER = 5401
PRICE = 42  # Kling 2.5 Turbo, 5 s
ELAPSED = re.compile(r"\b\d+:\d\d\b")


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_waiting_status_shows_card_elapsed_time_and_usual_duration(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path, lang: str
) -> None:
    settings = make_settings(tmp_path, fake_tg, sim, callbacks=True, status_refresh_seconds=0.3)
    async with running_bot(settings) as bot:
        await prepare_user(bot, fake_tg, USER, language=lang)
        # History: three finished Kling 2.5 orders that took 2 min 30 s each.
        for n in range(3):
            past = await order_job(bot, USER, prompt=f"Earlier order {n}")
            await wait_job_state(bot, past.id, JobState.DELIVERED)
        await bot.components.db.execute(
            "UPDATE jobs SET created_at = finished_at - 150 WHERE model_key = 'kling25'"
        )
        job = await order_job(bot, USER, prompt="A <tiny> robot & its dog [sim:delay=3]")
        usual = translate("job-estimate-range", lang, low=2, high=3)
        first = await wait_status(fake_tg, job, usual)
        # The card: order number, model, option, prompt (escaped), price.
        assert f"<b>#{job.id} Kling 2.5 Turbo</b>" in first
        entry = bot.components.catalog.get("kling25")
        assert entry is not None
        option = entry.mode_spec("t2v").option("duration")
        assert option is not None and option.value_title("5", lang) in first
        assert "&lt;tiny&gt; robot &amp; its dog" in first
        assert translate("job-card-price", lang, cost=credits_text(PRICE, lang)) in first
        assert translate("job-status-queued", lang) in first

        # Nothing comes from KIE while it works (callback mode), yet the elapsed time moves on.
        def later_elapsed() -> str | None:
            message = fake_tg.message(USER, job.status_message_id or 0)
            shown = [*(message.history if message else []), (message.text or "") if message else ""]
            # The last m:ss of the text (the first one is the 9:16 ratio of the card).
            times = {ELAPSED.findall(text)[-1] for text in shown if usual in text}
            return "moved" if len(times) >= 2 else None

        await fake_tg.wait_until(later_elapsed, timeout=15)
        assert sim.requests_to("/api/v1/jobs/recordInfo") == []

        done = await wait_job_state(bot, job.id, JobState.DELIVERED, timeout=30)
        final = await wait_status(fake_tg, done, translate("job-status-done", lang))
        assert f"<b>#{job.id} Kling 2.5 Turbo</b>" in final, "the card stays after the job"
        assert usual not in final
        # The refresh stops with the final status, and nothing it sent came after it.
        view = bot.components.tracker.status
        assert isinstance(view, TelegramJobStatus)
        await wait_until(lambda: job.id not in view.ticking, what="the ticker stopped")
        message = fake_tg.message(USER, done.status_message_id or 0)
        assert message is not None and translate("job-status-done", lang) in (message.text or "")
        assert await books_balance(bot)


async def test_without_history_the_estimate_is_the_prior(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, sim, callbacks=True)) as bot:
        await prepare_user(bot, fake_tg, USER)
        job = await order_job(bot, USER, prompt="A quiet harbour [sim:delay=2]")
        await wait_status(fake_tg, job, translate("job-estimate-range", "en", low=1, high=3))
        await wait_job_state(bot, job.id, JobState.DELIVERED, timeout=30)


async def test_one_ticker_task_refreshes_every_waiting_job(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    """The elapsed time of several waiting jobs moves on, all refreshed by one shared task (not a
    task per job), which ends once no job waits."""
    settings = make_settings(tmp_path, fake_tg, sim, callbacks=True, status_refresh_seconds=0.3)
    async with running_bot(settings) as bot:
        users = [USER + 1, USER + 2, USER + 3]
        jobs = []
        for user in users:
            await prepare_user(bot, fake_tg, user)
            jobs.append(await order_job(bot, user, prompt="A slow sunrise [sim:delay=60]"))
        view = bot.components.tracker.status
        assert isinstance(view, TelegramJobStatus)
        await wait_until(lambda: {job.id for job in jobs} <= view.ticking, what="all three ticking")

        def refreshed(job_user: int, message_id: int) -> bool:
            message = fake_tg.message(job_user, message_id)
            shown = [*(message.history if message else []), (message.text or "") if message else ""]
            return len({ELAPSED.findall(text)[-1] for text in shown if ELAPSED.findall(text)}) >= 2

        for job, user in zip(jobs, users, strict=True):
            await fake_tg.wait_until(lambda j=job, u=user: refreshed(u, j.status_message_id or 0), timeout=15)
        tickers = [t for t in asyncio.all_tasks() if t.get_name().startswith("status-ticker")]
        assert [t.get_name() for t in tickers] == ["status-ticker"]

        # The jobs end: so does the refresh, and the task with it.
        for job in jobs:
            submitted = await wait_job_state(bot, job.id, JobState.SUBMITTED, JobState.RUNNING)
            assert submitted.task_id is not None
            sim.fail(submitted.task_id)
        for job in jobs:
            await wait_job_state(bot, job.id, JobState.FAILED, timeout=30)
        await wait_until(lambda: not view.ticking, what="no job ticking")
        await wait_until(
            lambda: not [t for t in asyncio.all_tasks() if t.get_name() == "status-ticker"],
            what="the ticker task ended",
        )


async def test_refresh_stops_when_another_instance_finished_the_job(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    """Several instances share the database: the callback (or the poll) of a job this instance
    showed as waiting may go to another one, which delivers it and shows "done". This instance's
    refresh reads the job again and stops; it never puts a waiting line over the final status."""
    settings = make_settings(tmp_path, fake_tg, sim, callbacks=True, status_refresh_seconds=0.2)
    async with running_bot(settings) as bot:
        finished_user, waiting_user = USER + 11, USER + 12
        for user in (finished_user, waiting_user):
            await prepare_user(bot, fake_tg, user)
        finished = await order_job(bot, finished_user, prompt="Done elsewhere [sim:delay=60]")
        waiting = await order_job(bot, waiting_user, prompt="Still going [sim:delay=60]")
        view = bot.components.tracker.status
        assert isinstance(view, TelegramJobStatus)
        await wait_until(lambda: {finished.id, waiting.id} <= view.ticking, what="both ticking")

        # What the other instance does: the job delivered, its status message edited to "done".
        await bot.components.db.execute("UPDATE jobs SET state = 'delivered' WHERE id = ?", (finished.id,))
        done_text = "Done, shown by the other instance"
        await bot.components.bot.edit_message_text(
            chat_id=finished_user, message_id=finished.status_message_id or 0, text=done_text
        )
        await wait_until(lambda: finished.id not in view.ticking, what="the finished job no longer ticking")

        # The ticker goes on (the other job's elapsed time moves twice more), and the finished
        # job's message keeps the final status.
        def edits_of(user: int, message_id: int) -> int:
            message = fake_tg.message(user, message_id)
            return len(message.history) if message is not None else 0

        waiting_edits = edits_of(waiting_user, waiting.status_message_id or 0)
        await fake_tg.wait_until(
            lambda: edits_of(waiting_user, waiting.status_message_id or 0) >= waiting_edits + 2, timeout=15
        )
        message = fake_tg.message(finished_user, finished.status_message_id or 0)
        assert message is not None and message.text == done_text
        assert waiting.id in view.ticking


async def test_edit_times_are_kept_only_while_they_throttle(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The throttle keeps when each status was last edited, but only as long as that holds an edit
    back: with hundreds of waiting jobs, older times are dropped (here at every status)."""
    monkeypatch.setattr(job_status, "EDIT_TIMES_SWEEP_S", 0.0)
    settings = make_settings(tmp_path, fake_tg, sim, callbacks=True)
    async with running_bot(settings) as bot:
        view = bot.components.tracker.status
        assert isinstance(view, TelegramJobStatus)
        view.min_interval_s = 1.0
        users = [USER + 21, USER + 22, USER + 23]
        jobs = []
        for user in users:
            await prepare_user(bot, fake_tg, user)
            jobs.append(await order_job(bot, user, prompt="A long take [sim:delay=60]"))
        await wait_until(lambda: {job.id for job in jobs} <= view.ticking, what="all three waiting")
        first = await wait_job_state(bot, jobs[0].id, JobState.SUBMITTED, JobState.RUNNING)

        # Two progress ticks in a row: the second is held back (the throttle still works).
        await view.show_status(first, JobStatus.PROGRESS, progress=10)
        edited_at = time.monotonic()
        await view.show_status(first, JobStatus.PROGRESS, progress=20)
        message = fake_tg.message(first.chat_id, first.status_message_id or 0)
        assert message is not None and "10%" in (message.text or "") and "20%" not in (message.text or "")

        # Once no edit is recent enough to hold anything back, the next status drops every time.
        await wait_until(lambda: time.monotonic() - edited_at > view.min_interval_s, what="a second")
        await view.show_status(first, JobStatus.PROGRESS, progress=30)
        assert view.edit_times_kept == 1
        await wait_status(fake_tg, first, "30%")


async def test_a_refresh_queued_while_the_job_ended_elsewhere_is_dropped(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    """The narrower race: the refresh read the job while it still ran, then waited in the outgoing
    queue (its chat's budget spent), and meanwhile another instance showed the final status. When
    its turn comes, the refresh asks again and is dropped instead of covering "done"."""
    settings = make_settings(
        tmp_path, fake_tg, sim, callbacks=True, status_refresh_seconds=0.2, telegram_max_per_chat_per_s=0.5
    )
    async with running_bot(settings) as bot:
        user = USER + 31
        await prepare_user(bot, fake_tg, user)
        job = await order_job(bot, user, prompt="Held in the queue [sim:delay=60]")
        view = bot.components.tracker.status
        assert isinstance(view, TelegramJobStatus)
        await wait_until(lambda: job.id in view.ticking, what="the job ticking")
        scheduler = bot.components.send_scheduler
        await wait_until(lambda: scheduler.pending > 0, what="a refresh waiting for the chat's budget")

        # The other instance: the job delivered, and "done" shown by a bot of its own (not through
        # this instance's queue).
        await bot.components.db.execute("UPDATE jobs SET state = 'delivered' WHERE id = ?", (job.id,))
        done_text = "Done, shown by the other instance"
        session = AiohttpSession(api=TelegramAPIServer.from_base(fake_tg.base_url))
        async with Bot(fake_tg.token, session=session) as other:
            await other.edit_message_text(done_text, chat_id=user, message_id=job.status_message_id or 0)

        # The queued refresh's turn comes and goes; then the ticker lets the job go.
        await wait_until(lambda: scheduler.pending == 0, what="the queued refresh's turn", timeout=15)
        await wait_until(lambda: job.id not in view.ticking, what="the job no longer ticking")
        message = fake_tg.message(user, job.status_message_id or 0)
        assert message is not None and message.text == done_text
