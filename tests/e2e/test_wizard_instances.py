"""One /generate menu driven through two bot instances on one Redis (REDIS_URL; skipped without
TEST_REDIS_URL): each instance sees the draft the other wrote, refuses buttons the other made out
of date, and a double tap reaching both instances at once moves the draft one step, not two."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from bot.i18n import translate
from bot.telegram.wizard.view import WizardCallback, encode_field
from tests.e2e.harness import RunningBot
from tests.e2e.test_webhook_dedupe import SECRET, webhook_bots
from tests.e2e.wizard_driver import (
    WizardDriver,
    fail_on_bot_errors,  # noqa: F401  (autouse fixture: a crash caught by the error router fails the test)
)
from tests.fakes.telegram import FakeTelegram, TgUser

USER = 9401


async def test_two_instances_share_one_menu(
    fake_tg: FakeTelegram, tmp_path: Path, redis_settings: dict[str, Any]
) -> None:
    client = fake_tg.as_user(TgUser(id=USER, first_name="Ivo"))
    async with webhook_bots(fake_tg, tmp_path, 2, redis_settings) as (first, second):
        driver = WizardDriver(fake_tg, first, client)

        def route_to(bot: RunningBot) -> None:
            """The load balancer sends the next updates to `bot`."""
            fake_tg.webhook_url = f"{bot.web_base}/tg/webhook"
            driver.bot = bot

        route_to(first)
        await driver.send("/start")
        await driver.open()
        await driver.tap("cat", "all")
        route_to(second)
        await driver.tap("model", "kling25")  # the draft `first` wrote
        assert driver.step_action() is None and "ratio" in driver.editable()  # preset: the prompt step

        route_to(first)
        late = await driver.forge(WizardCallback(draft=driver.draft_id, action="model", value="kling25"))
        assert driver.answer_text(late) == translate("stale-button", "en"), "`first` read the shared draft"

        # Double taps, one press to each instance at the same moment: one moves the draft a step.
        await double_tap(fake_tg, driver, (first, second), "edit", encode_field("ratio"))
        assert driver.step_action() == "ratio", "one step forward, not two"
        await double_tap(fake_tg, driver, (second, first), "ratio", driver.choices("ratio")[-1][1])
        assert driver.step_action() is None, "back at the prompt step once, not past it"


async def double_tap(
    fake_tg: FakeTelegram, driver: WizardDriver, bots: tuple[RunningBot, RunningBot], action: str, value: str
) -> None:
    fake_tg.webhook_url = None  # the test delivers these two itself
    menu = driver.wizard_message()
    tap = WizardCallback(draft=driver.draft_id, action=action, value=value).pack()
    queries = [await driver.user.click(menu, tap), await driver.user.click(menu, tap)]
    updates = fake_tg.pending_updates[-2:]
    fake_tg._ack(updates[-1]["update_id"] + 1)  # taken by the "load balancer" below
    async with httpx.AsyncClient() as http:
        answers = await asyncio.gather(
            *(
                http.post(
                    f"{bot.web_base}/tg/webhook",
                    json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                )
                for bot, update in zip(bots, updates, strict=True)
            )
        )
    assert [a.status_code for a in answers] == [200, 200]
    await fake_tg.wait_until(lambda: all(fake_tg.callback_answer(q) for q in queries))
    for bot in bots:
        assert await bot.components.inflight.wait_idle(10)
    texts = sorted((driver.answer_text(q) or "" for q in queries), key=len)
    assert texts == ["", translate("stale-button", "en")], "one press moved the draft, one was late"
