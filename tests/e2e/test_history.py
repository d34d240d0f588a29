"""/history: Send again by file_id (free) and Repeat (same settings, a new confirm)."""

from __future__ import annotations

from pathlib import Path

from bot.i18n import translate
from bot.kie.sandbox import KieSimulator
from bot.store.jobs import JobState, NewJob
from bot.telegram.history import HistoryCb
from tests.e2e.harness import make_settings, running_bot
from tests.e2e.jobs_support import ledger_for_job, order_job, prepare_user, wait_job_state, wait_until
from tests.fakes.telegram import FakeTelegram, TgUser

USER = 6001
OTHER = 6002


async def test_send_again_and_repeat(fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, sim, callbacks=True)) as bot:
        await prepare_user(bot, fake_tg, USER)
        job = await order_job(bot, USER, prompt="A paper boat <on> a & puddle")
        delivered = await wait_job_state(bot, job.id, JobState.DELIVERED)
        user = fake_tg.as_user(TgUser(id=USER, first_name="Hana"))

        await user.send_text("/history")
        listing = await fake_tg.wait_for(
            "sendMessage",
            predicate=lambda c: c.params.get("chat_id") == USER and "#" in str(c.params.get("text")),
        )
        text = str(listing[-1].params["text"])
        assert f"#{job.id}" in text and "&lt;on&gt; a &amp; puddle" in text, "the prompt is escaped"
        assert translate("job-state-delivered", "en") in text

        before = await bot.components.billing.balance(USER)
        mark = fake_tg.mark()
        await user.click_button(translate("history-send-again", "en").format(id=job.id))
        resent = await fake_tg.wait_for("sendVideo", since=mark)
        assert resent[0].params["video"] == delivered.file_id, "sent by file_id, no upload"
        assert await bot.components.billing.balance(USER) == before, "sending again is free"

        mark = fake_tg.mark()
        await user.click_button(translate("history-repeat", "en").format(id=job.id))
        summary = await fake_tg.wait_for(
            "sendMessage", since=mark, predicate=lambda c: "reply_markup" in c.params
        )
        assert translate("wizard-summary-title", "en") in str(summary[0].params["text"])
        confirm = next(t for t in fake_tg.last_message(USER).button_texts if t.startswith("✅"))  # type: ignore[union-attr]
        await user.click_button(confirm)

        async def second_job() -> bool:
            jobs = await bot.components.jobs.recent_for_user(USER, 5)
            return len(jobs) == 2 and jobs[0].state is JobState.DELIVERED

        await wait_until(second_job, what="the repeated job delivered")
        repeated = (await bot.components.jobs.recent_for_user(USER, 1))[0]
        assert (repeated.model_key, repeated.mode, repeated.ratio, repeated.options, repeated.prompt) == (
            job.model_key,
            job.mode,
            job.ratio,
            job.options,
            job.prompt,
        )
        assert await ledger_for_job(bot, repeated.id) == [(-repeated.cost, "generation")]


async def test_someone_elses_job_button_does_nothing(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, sim)) as bot:
        await prepare_user(bot, fake_tg, USER)
        await prepare_user(bot, fake_tg, OTHER)
        job = await order_job(bot, USER)
        await wait_job_state(bot, job.id, JobState.DELIVERED)
        intruder = fake_tg.as_user(TgUser(id=OTHER, first_name="Ivan"))
        await intruder.send_text("/history")
        await fake_tg.wait_for("sendMessage", predicate=lambda c: c.params.get("chat_id") == OTHER)
        listing = fake_tg.last_message(OTHER)
        assert listing is not None
        mark = fake_tg.mark()
        query = await fake_tg.click(
            intruder.user, listing.message_id, HistoryCb(a="send", j=job.id).pack(), strict=False
        )
        await fake_tg.wait_for("answerCallbackQuery", since=mark)
        answer = fake_tg.callback_answer(query)
        assert answer is not None and answer.params.get("text") == translate("stale-button", "en")
        assert not fake_tg.calls_of("sendVideo", since=mark)


async def test_repeat_of_a_retired_sora_job_is_refused_and_charges_nothing(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    """A Sora 2 job from before 2026-09-24 stays in /history, but Repeat cannot order it again."""
    async with running_bot(make_settings(tmp_path, fake_tg, sim)) as bot:
        await prepare_user(bot, fake_tg, USER, credits=500)
        old = NewJob(
            user_id=USER, chat_id=USER, draft_key=f"{USER}:old-sora", model_key="sora2", mode="t2v",
            ratio="9:16", options={"duration": "10"}, prompt="A fox in the snow", inputs={},
            family="market", kie_model="sora-2-text-to-video", kie_credits=30, cost=30,
            callback_token="old-sora-token", deadline_at=0.0,
        )
        job_id = await bot.components.jobs.insert(old)
        await bot.components.jobs.update_fields(job_id, state=JobState.FAILED.value)
        balance = await bot.components.billing.balance(USER)
        ledger_before = await bot.components.db.fetchall("SELECT id FROM ledger WHERE user_id = ?", (USER,))
        user = fake_tg.as_user(TgUser(id=USER, first_name="Hana"))

        await user.send_text("/history")
        listing_call = await fake_tg.wait_for(
            "sendMessage",
            predicate=lambda c: c.params.get("chat_id") == USER and f"#{job_id}" in str(c.params.get("text")),
        )
        assert "Sora 2" in str(listing_call[-1].params["text"])  # still named in the history
        listing = fake_tg.last_message(USER)
        assert listing is not None
        assert translate("history-repeat", "en").format(id=job_id) not in listing.button_texts

        # The button an older /history showed (or a forged one): a clear refusal, nothing ordered.
        mark = fake_tg.mark()
        query = await fake_tg.click(
            user.user, listing.message_id, HistoryCb(a="repeat", j=job_id).pack(), strict=False
        )
        await fake_tg.wait_for("answerCallbackQuery", since=mark)
        answer = fake_tg.callback_answer(query)
        assert answer is not None
        assert answer.params.get("text") == translate("order-model_retired", "en").format(date="2026-09-24")
        assert answer.params.get("show_alert") is True
        assert not fake_tg.calls_of("sendMessage", since=mark), "no summary to confirm"
        assert await bot.components.billing.balance(USER) == balance
        ledger_after = await bot.components.db.fetchall("SELECT id FROM ledger WHERE user_id = ?", (USER,))
        assert ledger_after == ledger_before
        assert not [r for r in sim.requests if r.path == "/api/v1/jobs/createTask"]
        assert len(await bot.components.jobs.recent_for_user(USER, 10)) == 1
