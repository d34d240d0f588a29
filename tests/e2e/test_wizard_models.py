"""The model step guides the choice (issue 13, items 5 and 6), end to end against the fake Bot API.

The category's rule under its title, a one-line card per model in the text (best at, price from,
clip length, sound), buttons with the short name and the catalog's marks, and an ℹ️ per model that
shows the full card in the same message; Back returns to the same list with the order untouched.
Stale and forged ℹ️ taps are refused like every other wizard button.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.catalog.categories import category_rule
from bot.i18n import translate, translate_plural
from bot.kie.sandbox import KieSimulator
from bot.kie.sandbox.simulator import SimTimings
from bot.telegram.wizard.view import WizardCallback
from tests.e2e.harness import RunningBot, make_settings, running_bot
from tests.e2e.wizard_driver import (
    WizardDriver,
    fail_on_bot_errors,  # noqa: F401  (autouse fixture: a crash caught by the error router fails the test)
)
from tests.fakes.telegram import FakeTelegram, TgUser

LANGS = ["en", "ru"]
SECONDS = {"en": "s", "ru": "с"}


@pytest.fixture
async def sim() -> AsyncIterator[KieSimulator]:
    async with KieSimulator(timings=SimTimings.manual()) as simulator:
        yield simulator


@pytest.fixture
async def bot(fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with running_bot(make_settings(tmp_path, fake_tg, sim)) as running:
        yield running


async def new_user(fake_tg: FakeTelegram, bot: RunningBot, user_id: int, lang: str) -> WizardDriver:
    client = fake_tg.as_user(TgUser(id=user_id, first_name="Mo", language_code=lang))
    driver = WizardDriver(fake_tg, bot, client)
    await driver.send("/start")
    await bot.components.billing.grant(admin_id=0, user_id=user_id, credits=1_000, note="test")
    return driver


def card_of(user: WizardDriver, name: str) -> str:
    """The line of the wizard message's text that is the card of the model shown as `name`."""
    lines = (user.wizard_message().plain_text or "").splitlines()
    found = [line for line in lines if line.startswith(f"{name} — ")]
    assert len(found) == 1, (name, lines)
    return found[0]


def rows(user: WizardDriver) -> list[list[tuple[str, str, str]]]:
    """The wizard message's keyboard as rows of (text, action, value)."""
    result = []
    for row in user.wizard_message().buttons:
        parsed = []
        for button in row:
            data = WizardCallback.unpack(button["callback_data"])
            parsed.append((button["text"], data.action, data.value))
        result.append(parsed)
    return result


@pytest.mark.parametrize("lang", LANGS)
async def test_model_step_shows_the_rule_a_card_per_model_and_an_info_button(
    fake_tg: FakeTelegram, bot: RunningBot, lang: str
) -> None:
    catalog = bot.components.catalog
    user = await new_user(fake_tg, bot, 8201 if lang == "en" else 8202, lang)
    await user.open()
    await user.tap("cat", "fast")
    text = user.wizard_message().plain_text or ""
    assert category_rule("fast", lang) in text
    fast = catalog.in_category("fast")
    assert [v for _label, v in user.choices("model")] == [e.key for e in fast]
    keyboard = rows(user)
    for entry, row in zip(fast, keyboard, strict=False):
        # One row per model: its short name with marks, then its ℹ️.
        assert row == [
            (entry.display_name(lang), "model", entry.key),
            (translate("card-info-button", lang), "info", entry.key),
        ]
        card = card_of(user, entry.display_name(lang))
        price = catalog.price_from(entry)
        assert translate_plural("card-from", price, lang, price=price) in card
        assert entry.best_at_text(lang) in card
    assert keyboard[-1][-1][1] == "cancel"
    # The catalog's marks, and a fixed clip length with its sound.
    veo = card_of(user, "⭐ Veo 3.1 Fast")
    assert f"8 {SECONDS[lang]}" in veo and translate("card-sound-always", lang) in veo
    assert "Veo 3.1 Fast" in [e.name(lang) for e in fast]  # "Fast" holds every Fast model now

    # Lookalike names read differently: Hailuo 02 Standard and Hailuo 2.3 Standard.
    await user.tap("back")
    await user.tap("cat", "all")
    old, new = card_of(user, "Hailuo 02 Standard"), card_of(user, "Hailuo 2.3 Standard")
    assert old.split(" — ")[1] != new.split(" — ")[1]
    assert translate_plural("card-from", 12, lang, price=12) in old
    assert len(user.wizard_message().plain_text or "") <= 4096


@pytest.mark.parametrize("lang", LANGS)
async def test_an_order_begun_with_a_text_prices_text_to_video(
    fake_tg: FakeTelegram, bot: RunningBot, lang: str
) -> None:
    """Hailuo 02 Standard costs 12 from a photo but 30 from a text: an idea sent as text sees 30."""
    user = await new_user(fake_tg, bot, 8203 if lang == "en" else 8204, lang)
    await user.send("A paper boat sails down a rainy street")
    assert "hailuo02_std" in [v for _label, v in user.choices("model")]
    card = card_of(user, "Hailuo 02 Standard")
    assert translate_plural("card-from", 30, lang, price=30) in card


@pytest.mark.parametrize("lang", LANGS)
async def test_info_shows_the_full_card_and_back_keeps_the_order(
    fake_tg: FakeTelegram, bot: RunningBot, lang: str
) -> None:
    catalog = bot.components.catalog
    user = await new_user(fake_tg, bot, 8205 if lang == "en" else 8206, lang)
    await user.open()
    await user.tap("cat", "cinematic")
    listing = user.wizard_message()
    draft = user.draft_id

    query = await user.tap("info", "hailuo02_std")
    assert user.answer_text(query) is None  # a quiet answer, no alert
    card = user.wizard_message()
    assert card.message_id == listing.message_id  # the same message, edited
    text = card.plain_text or ""
    entry = catalog.get("hailuo02_std")
    assert entry is not None
    assert entry.description(lang) in text
    t2v, i2v = {"en": ("Text → video", "Image → video"), "ru": ("Текст → видео", "Фото → видео")}[lang]
    s = SECONDS[lang]
    # Prices per mode and option: text → video starts at 30; the 12 is image → video at 512P.
    assert f"6 {s} — 30, 10 {s} — 50" in text
    assert f"512P: 6 {s} — 12, 10 {s} — 20" in text
    assert text.index(t2v) < text.index(f"6 {s} — 30") < text.index(f"512P: 6 {s} — 12")
    assert i2v in text and f"6–10 {s}" in text and translate("card-sound-none", lang) in text
    assert rows(user) == [
        [(translate("card-choose", lang, name=entry.name(lang)), "model", "hailuo02_std")],
        [(translate("card-back", lang), "info", ""), (translate("wizard-cancel", lang), "cancel", "")],
    ]

    await user.tap("info", "")  # Back to the list: the same message shows the same list again
    again = user.wizard_message()
    assert (again.message_id, again.text, again.callback_datas) == (
        listing.message_id,
        listing.text,
        listing.callback_datas,
    )
    assert user.draft_id == draft

    await user.tap("info", "wan26")
    await user.tap("model", "wan26")  # Choose on the card: the order goes on with that model
    # Mode, ratio and options are preselected (the recommended ones): the prompt step is next.
    assert user.step_action() is None and "mode" in user.editable()
    assert user.draft_id == draft
    await user.tap("back")  # and Back from there is the same category's list
    assert [v for _label, v in user.choices("model")] == [e.key for e in catalog.in_category("cinematic")]


async def test_stale_and_forged_info_taps_are_refused(fake_tg: FakeTelegram, bot: RunningBot) -> None:
    user = await new_user(fake_tg, bot, 8207, "en")
    not_available = translate("wizard-not-available", "en")
    stale = translate("stale-button", "en")

    async def refused(data: WizardCallback | str, expected: str) -> None:
        before = user.wizard_message()
        query = await user.forge(data)
        assert user.answer_text(query) == expected, data
        after = user.wizard_message()
        assert (after.message_id, after.text, after.callback_datas) == (
            before.message_id,
            before.text,
            before.callback_datas,
        )

    await user.open()
    draft = user.draft_id
    await refused(WizardCallback(draft=draft, action="info", value="kling25"), stale)  # before a category
    await user.tap("cat", "postprod")
    await refused(WizardCallback(draft=draft, action="info", value="kling25"), not_available)  # not listed
    await refused(WizardCallback(draft=draft, action="info", value="sora2"), not_available)  # retired
    await refused(WizardCallback(draft="zzzzzzzz", action="info", value="aleph"), stale)  # another draft
    old = user.wizard_message()
    await user.tap("model", "aleph")  # past the model step
    await refused(WizardCallback(draft=draft, action="info", value="aleph"), stale)

    # An ℹ️ on an older wizard message changes nothing in the live one.
    await user.open()
    await user.tap("cat", "postprod")
    live = user.wizard_message()
    query = await user.forge(WizardCallback(draft=draft, action="info", value="luma"), message=old)
    assert user.answer_text(query) == stale
    after = user.wizard_message()
    assert (after.message_id, after.text) == (live.message_id, live.text)
