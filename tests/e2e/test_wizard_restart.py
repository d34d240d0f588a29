"""An open /generate menu survives a routine restart: its buttons keep working, old ones stay stale.
With the drafts in the bot's database, and in Redis (REDIS_URL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.app import redis_prefix
from bot.config import Settings
from bot.i18n import translate
from bot.kie.sandbox import KieSimulator
from bot.kie.sandbox.simulator import SimTimings
from bot.telegram.wizard.view import WizardCallback
from tests.e2e.harness import RunningBot, make_settings, start_bot
from tests.e2e.jobs_support import books_balance, ledger_for_job
from tests.e2e.wizard_driver import (
    DEFAULT_PROMPT,
    WizardDriver,
    fail_on_bot_errors,  # noqa: F401  (autouse fixture: a crash caught by the error router fails the test)
)
from tests.fakes.telegram import FakeTelegram, TgUser

USER = 7301
GRANT = 1000


@pytest.fixture
async def sim() -> AsyncIterator[KieSimulator]:
    # Tasks stay "generating": the test is about the menu and the charge, not the delivery.
    async with KieSimulator(timings=SimTimings.manual()) as simulator:
        yield simulator


async def fsm_keys_in_redis(settings: Settings) -> int:
    assert settings.redis_url is not None
    client = Redis.from_url(settings.redis_url.get_secret_value())
    try:
        return len([key async for key in client.scan_iter(match=f"{redis_prefix(settings)}:fsm:*")])
    finally:
        await client.aclose()


async def restart(driver: WizardDriver) -> RunningBot:
    """Stop the bot cleanly and start it again on the same database (a routine deploy)."""
    await driver.bot.stop()
    driver.bot = await start_bot(driver.bot.settings)
    return driver.bot


async def test_open_menu_keeps_working_after_a_restart(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path, shared_state: dict[str, Any]
) -> None:
    # In the bot's database (no REDIS_URL) and in Redis (REDIS_URL; skipped without TEST_REDIS_URL).
    settings = make_settings(tmp_path, fake_tg, sim, **shared_state)
    client = fake_tg.as_user(TgUser(id=USER, first_name="Rita"))
    driver = WizardDriver(fake_tg, await start_bot(settings), client)
    try:
        bot = driver.bot
        await driver.send("/start")
        await bot.components.billing.grant(admin_id=0, user_id=USER, credits=GRANT, note="test")

        # An older menu, replaced by a newer /generate: its buttons are stale before and after.
        old_message = await driver.open()
        old_draft = driver.draft_id
        await driver.open()
        assert driver.draft_id != old_draft
        await driver.tap("cat", "all")
        await driver.tap("model", "kling25")
        await driver.tap("edit", "mode")
        await driver.tap("mode", "t2v")
        await driver.tap("edit", "ratio")
        await driver.tap("ratio", driver.choices("ratio")[0][1])
        await driver.tap("edit", "opt=duration")
        assert driver.step_action() == "opt"
        menu = driver.wizard_message()
        draft_id = driver.draft_id

        if shared_state:
            assert await fsm_keys_in_redis(settings) == 2, "the draft is in Redis (state and data)"
        bot = await restart(driver)

        # The same message, the next button: it works (no "out of date").
        assert driver.wizard_message().message_id == menu.message_id
        query = await driver.tap("opt", "duration=5")
        assert driver.answer_text(query) is None
        assert driver.step_action() is None  # now asking for the prompt
        await driver.send(DEFAULT_PROMPT)
        assert driver.step_action() == "ok" and driver.draft_id == draft_id

        # A button of the replaced draft is still refused.
        stale = await driver.forge(WizardCallback(draft=old_draft, action="cat", value="all"), old_message)
        assert driver.answer_text(stale) == translate("stale-button", "en")

        balance_before = await bot.components.billing.balance(USER)
        confirm = await driver.confirm()
        assert driver.answer_text(confirm) == translate("wizard-confirmed", "en")
        jobs = await bot.components.jobs.recent_for_user(USER, limit=10)
        assert len(jobs) == 1
        job = jobs[0]
        assert (job.model_key, job.mode, job.prompt) == ("kling25", "t2v", DEFAULT_PROMPT)
        assert job.options == {"duration": "5"}
        assert len(sim.tasks) == 1

        # Another restart, then a replayed Confirm: "already confirmed", nothing charged again.
        bot = await restart(driver)
        replay = await driver.forge(WizardCallback(draft=draft_id, action="ok"), menu)
        assert driver.answer_text(replay) == translate("wizard-already-confirmed", "en")
        assert len(await bot.components.jobs.recent_for_user(USER, limit=10)) == 1
        assert await ledger_for_job(bot, job.id) == [(-job.cost, "generation")]
        assert await bot.components.billing.balance(USER) == balance_before - job.cost
        assert await books_balance(bot)
    finally:
        if not driver.bot.task.done():
            await driver.bot.stop()
