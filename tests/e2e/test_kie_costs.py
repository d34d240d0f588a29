"""KIE's own cost per task (creditsConsumed) and decimal KIE balances, end to end: the bot against the
KIE simulator over HTTP, the admin reading /stats in the fake Telegram (kie-api-2026.md §1.2)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from bot.i18n import translate
from bot.kie.sandbox import KieSimulator
from bot.store.jobs import JobState
from tests.e2e.harness import make_settings, running_bot
from tests.e2e.jobs_support import books_balance, order_job, prepare_user, wait_job_state
from tests.e2e.test_payments import send_and_wait
from tests.fakes.telegram import FakeTelegram, TgUser

ADMIN_ID = 900_012
USER = 5012


async def test_kie_cost_is_kept_per_job_and_shown_per_model_in_stats(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, fake_tg, sim, admin_ids=frozenset({ADMIN_ID}))
    async with running_bot(settings) as bot:
        await prepare_user(bot, fake_tg, USER)
        first = await order_job(bot, USER)
        second = await order_job(bot, USER, prompt="A grey heron standing in a misty river at dawn")
        done = [await wait_job_state(bot, job.id, JobState.DELIVERED) for job in (first, second)]
        for job in done:
            assert job.task_id is not None
            # What KIE's recordInfo said the task cost, kept exactly.
            assert job.kie_credits_consumed == Decimal(sim.tasks[job.task_id].price)
        assert await books_balance(bot)

        admin = fake_tg.as_user(TgUser(id=ADMIN_ID, first_name="Root"))
        text = (await send_and_wait(fake_tg, admin, "/stats")).text or ""
        kie_total = sum(sim.tasks[job.task_id or ""].price for job in done)
        charged = sum(job.cost for job in done)
        assert translate("admin-stats-kie-costs-title", "en") in text
        assert (
            f"kling25: 2 jobs · KIE {kie_total} KIE credits · users charged {charged} credits" in text
        )


async def test_stats_shows_a_decimal_kie_balance_exactly_and_warns_below_the_level(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path, fake_tg, sim, admin_ids=frozenset({ADMIN_ID}), kie_low_balance_warning=Decimal("999.8")
    )
    async with running_bot(settings):
        admin = fake_tg.as_user(TgUser(id=ADMIN_ID, first_name="Root"))
        # KIE answers the credit call with a decimal (`"data": 5916.25` in recorded traffic).
        sim.balance = Decimal("999.75")
        text = (await send_and_wait(fake_tg, admin, "/stats")).text or ""
        assert "KIE balance: <b>999.75</b> KIE credits" in text
        assert "Below the warning level of 999.8" in text

        sim.balance = Decimal("999.85")
        text = (await send_and_wait(fake_tg, admin, "/stats")).text or ""
        assert "KIE balance: <b>999.85</b> KIE credits" in text
        assert "⚠️" not in text
