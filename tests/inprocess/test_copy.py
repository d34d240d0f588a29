"""Copy that must read the same on every screen (issue 13, item 12): one date format across /history
and /balance, and one way to write an amount of credits."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from bot.i18n import translate, translate_plural
from bot.store.db import now
from bot.store.jobs import NewJob
from tests.fakes.telegram import TgUser
from tests.inprocess.harness import InProcessBot


def formatted(timestamp: float, language: str) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime(translate("date-format", language))


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_history_and_balance_write_dates_and_credits_the_same_way(
    tg: InProcessBot, language: str
) -> None:
    user = TgUser(id=5301, language_code=language)
    await tg.send_text(user, "/start")
    components = tg.components
    movement = await components.billing.grant(admin_id=0, user_id=user.id, credits=21, note="test")
    job, _created = await components.jobs.create_reserved(
        NewJob(
            user_id=user.id,
            chat_id=user.id,
            draft_key="draft:copy",
            model_key="kling25",
            mode="t2v",
            ratio="9:16",
            options={},
            prompt="a lighthouse",
            inputs={},
            family="kling",
            kie_model="kling/test",
            kie_credits=10,
            cost=21,
            callback_token="token-copy",
            deadline_at=now() + 600,
        ),
        max_in_flight=10,
    )

    history = await tg.send_text(user, "/history")
    balance = await tg.send_text(user, "/balance")
    assert history is not None and balance is not None
    # One date format (the locale's date-format, through one helper) on both screens.
    assert formatted(job.created_at, language) in (history.text or "")
    assert formatted(movement.created_at, language) in (balance.text or "")
    if language == "ru":
        assert formatted(job.created_at, "ru") != formatted(job.created_at, "en")
    # One spelling of the unit, with its plural form: "21 credits" / "21 кредит".
    amount = translate_plural("credits-count", 21, language)
    assert amount in (history.text or "") and amount in (balance.text or "")
    for text in (history.text or "", balance.text or ""):
        assert not re.search(r"\b(cr|кр)\b", text), text  # no abbreviation
