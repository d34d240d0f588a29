"""A paid video is not lost to one Telegram error: transient failures are retried from the jobs table."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.i18n import translate
from bot.kie.sandbox import KieSimulator
from bot.store.jobs import JobState
from tests.e2e.harness import RunningBot, make_settings, running_bot
from tests.e2e.jobs_support import (
    books_balance,
    ledger_for_job,
    order_job,
    prepare_user,
    wait_job_state,
    wait_until,
)
from tests.fakes.telegram import FakeTelegram, TgUser

USER = 5301
SCALE = 0.05  # make_settings' kie_poll_scale: delivery retry waits shrink by the same factor


async def _delivered_once(bot: RunningBot, fake_tg: FakeTelegram, job_id: int, failed_calls: int) -> None:
    done = await wait_job_state(bot, job_id, JobState.DELIVERED, timeout=30)
    calls = fake_tg.calls_of("sendVideo")
    assert [c.ok for c in calls] == [False] * failed_calls + [True]
    assert done.file_id == calls[-1].result["video"]["file_id"]
    videos = [m for m in fake_tg.messages(USER) if m.kind == "video"]
    assert len(videos) == 1
    assert await ledger_for_job(bot, job_id) == [(-done.cost, "generation")], "charged once, not refunded"
    assert await bot.components.billing.balance(USER) == 1000 - done.cost
    assert await books_balance(bot)


async def test_send_video_500_once_is_retried(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, sim)) as bot:
        await prepare_user(bot, fake_tg, USER)
        fake_tg.fail_next("sendVideo", 500)
        job = await order_job(bot, USER)
        await _delivered_once(bot, fake_tg, job.id, failed_calls=1)


async def test_send_video_502_twice_is_retried(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, sim)) as bot:
        await prepare_user(bot, fake_tg, USER)
        fake_tg.fail_next("sendVideo", 502, count=2)
        job = await order_job(bot, USER)
        await _delivered_once(bot, fake_tg, job.id, failed_calls=2)
        calls = fake_tg.calls_of("sendVideo")
        # Backoff: the second retry waits longer than the first (5 s then 10 s, scaled).
        assert calls[2].at - calls[1].at >= 10 * SCALE * 0.9


async def test_dropped_connection_on_send_video_is_retried(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, sim)) as bot:
        await prepare_user(bot, fake_tg, USER)
        fake_tg.drop_next("sendVideo")
        job = await order_job(bot, USER)
        await _delivered_once(bot, fake_tg, job.id, failed_calls=1)


async def test_long_flood_wait_is_honoured_then_delivered(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    # The call itself waits out at most 5 s; Telegram asks for 6 s, so the delivery is rescheduled
    # (after 6 s x SCALE here). The outgoing queue holds the chat for the real 6 s all the same.
    settings = make_settings(tmp_path, fake_tg, sim, telegram_flood_wait_max_s=5)
    async with running_bot(settings) as bot:
        await prepare_user(bot, fake_tg, USER)
        fake_tg.fail_next("sendVideo", 429, retry_after=6)
        job = await order_job(bot, USER)
        await _delivered_once(bot, fake_tg, job.id, failed_calls=1)
        refused, sent = fake_tg.calls_of("sendVideo")
        assert sent.at - refused.at >= 6 - 0.05, "not before Telegram's retry_after"


async def test_tracker_loop_delivers_a_charged_undelivered_job_without_restart(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, sim)) as bot:
        await prepare_user(bot, fake_tg, USER)
        fake_tg.fail_next("sendVideo", 500)
        job = await order_job(bot, USER)
        await fake_tg.wait_for("sendVideo")

        async def waiting_for_retry() -> bool:
            row = await bot.components.jobs.get(job.id)
            delivering = [t for t in asyncio.all_tasks() if t.get_name() == f"deliver-job-{job.id}"]
            return (
                row is not None
                and row.state is JobState.SUCCEEDED
                and row.next_delivery_at is not None
                and not delivering
            )

        # Charged, no video, and no task working on it: only the tracker loop can deliver it now.
        await wait_until(waiting_for_retry, what="the job waiting for its next delivery attempt")
        await _delivered_once(bot, fake_tg, job.id, failed_calls=1)


async def test_blocked_user_gets_the_video_from_history_after_coming_back(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, sim)) as bot:
        await prepare_user(bot, fake_tg, USER)
        # The result link expires, so sending again must mint a fresh one through download-url.
        job = await order_job(bot, USER, prompt="A kite over the dunes [sim:expired] [sim:delay=1]")
        fake_tg.block_user(USER)
        closed = await wait_job_state(bot, job.id, JobState.UNDELIVERABLE, timeout=30)
        assert closed.file_id is None
        assert await ledger_for_job(bot, job.id) == [(-closed.cost, "generation")], "stays charged"
        minted_before = len(sim.requests_to("/api/v1/common/download-url"))

        fake_tg.unblock_user(USER)
        user = fake_tg.as_user(TgUser(id=USER, first_name="Hana"))
        await user.send_text("/history")
        await fake_tg.wait_for(
            "sendMessage",
            predicate=lambda c: c.params.get("chat_id") == USER and f"#{job.id}" in str(c.params.get("text")),
        )
        mark = fake_tg.mark()
        await user.click_button(translate("history-send-again", "en").format(id=job.id))
        sent = await fake_tg.wait_for("sendVideo", since=mark, predicate=lambda c: c.ok, timeout=30)
        assert "video" in sent[0].files, "fetched from KIE and uploaded (there was no file_id)"
        done = await wait_job_state(bot, job.id, JobState.DELIVERED)
        assert done.file_id == sent[0].result["video"]["file_id"]
        assert len(sim.requests_to("/api/v1/common/download-url")) > minted_before
        assert await ledger_for_job(bot, job.id) == [(-closed.cost, "generation")], "sending again is free"
        assert await bot.components.billing.balance(USER) == 1000 - closed.cost
        assert await books_balance(bot)
