"""An order kept through a top-up, and fields changed one at a time from the summary: the real bot
against the fake Bot API, in English and Russian."""

from __future__ import annotations

from typing import Any

import pytest

from bot.catalog import mode_name
from bot.i18n import translate, translate_plural
from bot.store.payments import payment_op_id
from bot.telegram.balance import credits_text
from bot.telegram.payments import PackCb
from bot.telegram.wizard.view import encode_field
from tests.e2e.harness import RunningBot
from tests.e2e.wizard_driver import (
    DEFAULT_PROMPT,
    WizardDriver,
    encode_ratio,
    fail_on_bot_errors,  # noqa: F401  (autouse fixture: a crash caught by the error router fails the test)
)
from tests.fakes.telegram import FakeTelegram, StoredMessage, TgUser

pytestmark = pytest.mark.kie_manual


async def new_user(fake_tg: FakeTelegram, bot: RunningBot, user_id: int, language: str) -> WizardDriver:
    client = fake_tg.as_user(TgUser(id=user_id, first_name=f"U{user_id}", language_code=language))
    driver = WizardDriver(fake_tg, bot, client)
    await driver.send("/start")
    return driver


async def books_balance(bot: RunningBot, user_id: int) -> None:
    """The balance equals the sum of the user's ledger rows."""
    rows = await bot.components.billing.ledger.recent(user_id, limit=1000)
    assert await bot.components.billing.balance(user_id) == sum(m.amount for m in rows)


def last_with_button(user: WizardDriver, text: str) -> StoredMessage:
    for message in reversed(user.fake.messages(user.chat_id)):
        if text in message.button_texts:
            return message
    raise AssertionError(f"no message with the button {text!r}: {user.texts()[-3:]}")


def pack_list(user: WizardDriver) -> StoredMessage:
    for message in reversed(user.fake.messages(user.chat_id)):
        if any(d.startswith("pack:") for d in message.callback_datas):
            return message
    raise AssertionError("no pack list")


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_packs_speak_in_videos_of_the_waiting_order(
    fake_tg: FakeTelegram, bot: RunningBot, language: str
) -> None:
    def t(key: str, **params: Any) -> str:
        return translate(key, language, **params)

    def credits(count: int) -> str:
        return translate_plural("credits-count", count, language)

    user = await new_user(fake_tg, bot, 7311 if language == "en" else 7312, language)
    # Without an order: each pack with its bonus over the base rate (50 ⭐ → 50: 1 credit a star).
    await user.send("/buy")
    assert pack_list(user).button_texts == [
        t("buy-pack-button", stars=50, credits=credits(50)),
        t("buy-pack-button", stars=250, credits=credits(260)) + " · " + t("buy-pack-bonus", percent=4),
        t("buy-pack-button", stars=1000, credits=credits(1100)) + " · " + t("buy-pack-bonus", percent=10),
    ]
    # Veo 3.1 Fast costs 60: the 50-credit pack does not cover it, the 250 ⭐ one does (4 videos).
    await bot.components.billing.grant(admin_id=0, user_id=user.chat_id, credits=5, note="test")
    await user.walk_to_summary("veo_fast", "t2v", ratio="9:16")
    await user.tap_text(t("menu-buy"))
    packs = pack_list(user)
    needs = t("buy-order-needs", model="Veo 3.1 Fast", price=credits(60), missing=credits(55))
    assert needs in (packs.text or "")

    def videos(n: int) -> str:
        return translate_plural("buy-pack-videos", n, language)

    assert packs.button_texts == [
        t("buy-pack-button", stars=50, credits=credits(50)) + " · " + videos(0),
        t("buy-pack-covers", label=t("buy-pack-button", stars=250, credits=credits(260)) + " · " + videos(4)
          + " · " + t("buy-pack-bonus", percent=4)),
        t("buy-pack-button", stars=1000, credits=credits(1100)) + " · " + videos(18)
        + " · " + t("buy-pack-bonus", percent=10),
    ]


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_after_a_top_up_the_waiting_order_offers_confirm(
    fake_tg: FakeTelegram, bot: RunningBot, language: str
) -> None:
    def t(key: str, **params: Any) -> str:
        return translate(key, language, **params)

    user = await new_user(fake_tg, bot, 7301 if language == "en" else 7302, language)
    await user.walk_to_summary("veo_fast", "t2v", ratio="9:16")
    summary = user.wizard_message()
    assert t("menu-buy") in summary.button_texts and user.step_action() is None  # no Confirm yet
    assert t("wizard-summary-order-kept") in (summary.text or "")

    # ⭐ Buy ▸ a pack ▸ pay.
    await user.tap_text(t("menu-buy"))
    packs = pack_list(user)
    await user.user.click(packs, PackCb(stars=250, credits=260).pack())
    await user.settle()
    [invoice] = [c for c in fake_tg.calls if c.method == "sendInvoice"]
    payment = await user.user.pay(invoice)
    assert payment.ok and payment.charge_id is not None
    await user.settle()

    # The summary above was refreshed in place: Confirm, the new balance, the prompt kept.
    refreshed = fake_tg.message(user.chat_id, summary.message_id)
    assert refreshed is not None
    assert user.wizard_message().message_id == summary.message_id
    assert user.step_action() == "ok" and t("menu-buy") not in refreshed.button_texts
    price = bot.components.catalog.quote("veo_fast", "t2v", {}).user_credits
    assert t("wizard-summary-balance-after", balance=260, after=260 - price) in (refreshed.text or "")
    assert DEFAULT_PROMPT in (refreshed.text or "")

    # The payment confirmation leads back to the order, in a fresh message at the bottom.
    confirmation = last_with_button(user, t("payment-back-to-order"))
    assert payment.charge_id in (confirmation.text or "")
    await user.tap_text(t("payment-back-to-order"))
    resumed = user.wizard_message()
    assert resumed.message_id > confirmation.message_id and user.step_action() == "ok"
    old = fake_tg.message(user.chat_id, summary.message_id)
    assert old is not None and not old.callback_datas  # one live wizard message

    await user.confirm()
    [job] = await bot.components.jobs.recent_for_user(user.chat_id)
    assert job.cost == price
    assert await bot.components.billing.balance(user.chat_id) == 260 - price
    assert await bot.components.billing.ledger.by_op_id(payment_op_id(payment.charge_id)) is not None
    await books_balance(bot, user.chat_id)


async def test_back_to_my_order_without_an_order_says_so(fake_tg: FakeTelegram, bot: RunningBot) -> None:
    user = await new_user(fake_tg, bot, 7303, "ru")
    await user.walk_to_summary("veo_fast", "t2v", ratio="9:16")
    await user.tap_text(translate("menu-buy", "ru"))
    packs = pack_list(user)
    await user.user.click(packs, PackCb(stars=50, credits=50).pack())
    await user.settle()
    [invoice] = [c for c in fake_tg.calls if c.method == "sendInvoice"]
    await user.user.pay(invoice)
    await user.settle()
    # 50 credits do not cover the order: the summary still offers Buy, and the way back is there.
    assert user.step_action() is None
    assert translate("menu-buy", "ru") in user.wizard_message().button_texts
    await user.send("/cancel")
    query_id = await user.tap_text(translate("payment-back-to-order", "ru"))
    assert user.answer_text(query_id) == translate("wizard-no-open-order", "ru")
    await books_balance(bot, user.chat_id)


async def test_changing_one_field_keeps_the_others(fake_tg: FakeTelegram, bot: RunningBot) -> None:
    def t(key: str, **params: Any) -> str:
        return translate(key, "en", **params)

    user = await new_user(fake_tg, bot, 7304, "en")
    await bot.components.billing.grant(admin_id=0, user_id=user.chat_id, credits=5000, note="test")
    await user.walk_to_summary("wan25", "t2v", ratio="9:16", options={"duration": "5", "resolution": "720p"})

    # ✏️ Aspect ratio: only the ratio is asked; the prompt and the options stay.
    await user.tap("edit", encode_field("ratio"))
    assert user.step_action() == "ratio"
    await user.tap("ratio", encode_ratio("16:9"))
    assert user.step_action() == "ok"
    text = user.wizard_message().text or ""
    assert "16:9" in text and DEFAULT_PROMPT in text and "Resolution: 720p" in text

    # ✏️ Duration, then Back: the summary as it was.
    await user.tap("edit", encode_field("opt:duration"))
    assert [v for _l, v in user.choices("opt")] == ["duration=5", "duration=10"]
    await user.tap("back")
    assert user.step_action() == "ok" and "Duration: 5 s" in (user.wizard_message().text or "")

    # ✏️ Duration: 10 s; the price follows, the prompt stays.
    await user.tap("edit", encode_field("opt:duration"))
    await user.tap("opt", "duration=10")
    assert user.step_action() == "ok"
    text = user.wizard_message().text or ""
    options = {"duration": "10", "resolution": "720p"}
    price = bot.components.catalog.quote("wan25", "t2v", options).user_credits
    assert "Duration: 10 s" in text and DEFAULT_PROMPT in text
    assert t("wizard-summary-price", price=credits_text(price, "en")) in text

    # ✏️ Model: Veo has no duration or resolution options: those go, the prompt and ratio stay.
    await user.tap("edit", encode_field("model"))
    await user.tap("model", "veo_fast")
    if user.step_action() == "mode":
        await user.tap("mode", "t2v")
    assert user.step_action() == "ok"
    text = user.wizard_message().text or ""
    assert "Veo" in text and DEFAULT_PROMPT in text and "16:9" in text and "Duration: 10 s" not in text

    await user.confirm()
    [job] = await bot.components.jobs.recent_for_user(user.chat_id)
    assert job.model_key == "veo_fast"
    await books_balance(bot, user.chat_id)


# --- prices where choices are made ------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_buttons_that_change_the_price_show_it(
    fake_tg: FakeTelegram, bot: RunningBot, language: str
) -> None:
    def t(key: str, **params: Any) -> str:
        return translate(key, language, **params)

    seconds = "s" if language == "en" else "с"
    user = await new_user(fake_tg, bot, 7321 if language == "en" else 7322, language)
    await bot.components.billing.grant(admin_id=0, user_id=user.chat_id, credits=5000, note="test")

    # Kling 2.5: 5 s · 42 / 10 s · 84 (the preset value ticked).
    await user.choose_model("kling25")
    await user.tap("edit", encode_field("opt:duration"))
    assert [label for label, _v in user.choices("opt")] == [f"✓ 5 {seconds} · 42", f"10 {seconds} · 84"]

    # Hailuo 02 Standard: each mode says what its cheapest order costs.
    await user.open()
    await user.choose_model("hailuo02_std")
    await user.tap("edit", "mode")
    modes = dict((v, label) for label, v in user.choices("mode"))
    assert modes["t2v"] == "✓ " + t("wizard-mode-button", name=mode_name("t2v", language), price=30)
    assert modes["i2v"] == t("wizard-mode-button", name=mode_name("i2v", language), price=12)

    # Wan speech→video: 480p · 60 / 580p · 90 / 720p · 120.
    await user.open()
    await user.choose_model("wan_s2v")
    await user.tap("edit", encode_field("opt:resolution"))
    assert [label for label, _v in user.choices("opt")] == ["✓ 480p · 60", "580p · 90", "720p · 120"]

    # Veo 3.1 Fast: 720p · 60 / 1080p · 65 / 4K · 180, and the summary states the fixed 8 s clip.
    await user.walk_to_summary("veo_fast", "t2v", ratio="9:16")
    await user.tap("edit", encode_field("opt:resolution"))
    assert [label for label, _v in user.choices("opt")] == ["✓ 720p · 60", "1080p · 65", "4K · 180"]
    await user.tap("back")
    assert t("wizard-summary-clip-seconds", seconds=8) in (user.wizard_message().text or "")

