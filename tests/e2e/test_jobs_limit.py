"""The per-user limit of generations in flight, as the user meets it at Confirm."""

from __future__ import annotations

from pathlib import Path

from bot.i18n import translate
from bot.kie.sandbox import KieSimulator, SimTimings
from bot.store.jobs import JobState
from tests.e2e.harness import make_settings, running_bot
from tests.e2e.jobs_support import order_job, prepare_user, wait_job_state
from tests.e2e.wizard_driver import WizardDriver
from tests.fakes.telegram import FakeTelegram, TgUser

USER = 5301


async def test_confirm_beyond_the_in_flight_limit_is_refused_clearly(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    async with KieSimulator(timings=SimTimings.manual()) as sim:
        settings = make_settings(tmp_path, fake_tg, sim, max_jobs_in_flight=2)
        async with running_bot(settings) as bot:
            await prepare_user(bot, fake_tg, USER)
            ordered = [await order_job(bot, USER) for _ in range(2)]
            running = [await wait_job_state(bot, job.id, JobState.SUBMITTED) for job in ordered]
            balance = await bot.components.billing.balance(USER)

            driver = WizardDriver(fake_tg, bot, fake_tg.as_user(TgUser(id=USER, first_name="Max")))
            await driver.walk_to_summary("kling25", "t2v", options={"duration": "5"})
            query = await driver.confirm()
            assert driver.answer_text(query) == translate("wizard-too-many-jobs", "en").format(limit=2)
            assert len(await bot.components.jobs.recent_for_user(USER, 10)) == 2
            assert await bot.components.billing.balance(USER) == balance, "nothing charged"
            assert len(sim.requests_to("/api/v1/jobs/createTask")) == 2

            # Once one finishes, the same summary can be confirmed.
            sim.complete(running[0].task_id or "")
            await wait_job_state(bot, running[0].id, JobState.DELIVERED)
            await driver.confirm()
            assert len(await bot.components.jobs.recent_for_user(USER, 10)) == 3
