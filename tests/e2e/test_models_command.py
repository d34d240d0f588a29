"""/models offers the wizard's ℹ️ full card (issue 13), end to end against the fake Bot API.

The list keeps its one-line cards and gets an ℹ️ button per model; ℹ️ shows the full card in the
same message, Back shows the list again, Choose starts the wizard with that model. Forged buttons
(not on the message's keyboard) and buttons of a model hidden since are answered and change nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.i18n import translate
from bot.kie.sandbox import KieSimulator
from bot.kie.sandbox.simulator import SimTimings
from bot.telegram.models import ModelsCb
from bot.telegram.wizard.view import WizardCallback
from tests.e2e.harness import RunningBot, make_settings, running_bot
from tests.e2e.test_catalog_sync import checks_done
from tests.e2e.test_wizard import jobs_of
from tests.e2e.wizard_driver import (
    WizardDriver,
    fail_on_bot_errors,  # noqa: F401  (autouse fixture: a crash caught by the error router fails the test)
)
from tests.fakes.telegram import FakeTelegram, StoredMessage, TgUser

LANGS = ["en", "ru"]
SECONDS = {"en": "s", "ru": "с"}
KLING26_IDS = ("kling-2.6/text-to-video", "kling-2.6/image-to-video")


@pytest.fixture
async def sim() -> AsyncIterator[KieSimulator]:
    # Discovery at 50/s (KIE allows 1/s, tests/unit/test_kie_discovery.py): a catalog check is quick.
    async with KieSimulator(timings=SimTimings.manual(), discovery_limit_per_s=50) as simulator:
        yield simulator


@pytest.fixture
async def bot(fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with running_bot(make_settings(tmp_path, fake_tg, sim, kie_discovery_rps=40.0)) as running:
        await checks_done(running.components.catalog_sync, 1)  # the check at start: nothing hidden
        yield running


async def new_user(fake_tg: FakeTelegram, bot: RunningBot, user_id: int, lang: str = "en") -> WizardDriver:
    client = fake_tg.as_user(TgUser(id=user_id, first_name="Mo", language_code=lang))
    driver = WizardDriver(fake_tg, bot, client)
    await driver.send("/start")
    await bot.components.billing.grant(admin_id=0, user_id=user_id, credits=1_000, note="test")
    return driver


def models_buttons(message: StoredMessage) -> list[list[tuple[str, str, str]]]:
    """A /models message's keyboard as rows of (text, action, key)."""
    result = []
    for row in message.buttons:
        parsed = []
        for button in row:
            data = ModelsCb.unpack(button["callback_data"])
            parsed.append((button["text"], data.action, data.key))
        result.append(parsed)
    return result


class ModelsList:
    """The messages one /models sent, read again from the fake after every tap."""

    def __init__(self, user: WizardDriver, ids: list[int]) -> None:
        self.user = user
        self.ids = ids

    @classmethod
    async def open(cls, user: WizardDriver) -> ModelsList:
        before = len(user.fake.messages(user.chat_id))
        await user.send("/models")
        sent = user.fake.messages(user.chat_id)[before:]
        assert sent, "no answer to /models"
        return cls(user, [m.message_id for m in sent])

    def messages(self) -> list[StoredMessage]:
        found = [self.user.fake.message(self.user.chat_id, i) for i in self.ids]
        assert all(m is not None for m in found)
        return [m for m in found if m is not None]

    def holding(self, action: str, key: str) -> StoredMessage:
        """The message that shows the button (action, key)."""
        data = ModelsCb(action=action, key=key).pack()
        return next(m for m in self.messages() if data in m.callback_datas)

    async def tap(self, action: str, key: str) -> str:
        query = await self.user.user.click(self.holding(action, key), ModelsCb(action=action, key=key).pack())
        await self.user.settle()
        return query

    async def forge(self, data: str, message: StoredMessage) -> str:
        query = await self.user.user.click(message, data, strict=False)
        await self.user.settle()
        return query

    def snapshot(self) -> list[tuple[int, str | None, list[str]]]:
        return [(m.message_id, m.text, m.callback_datas) for m in self.messages()]


@pytest.mark.parametrize("lang", LANGS)
async def test_models_lists_cards_and_info_opens_the_full_card_in_place(
    fake_tg: FakeTelegram, bot: RunningBot, lang: str
) -> None:
    catalog = bot.components.catalog
    user = await new_user(fake_tg, bot, 8301 if lang == "en" else 8302, lang)
    listing = await ModelsList.open(user)
    # An ℹ️ per offered model, in menu order, each in the message that shows its card.
    infos = [button for m in listing.messages() for row in models_buttons(m) for button in row]
    assert [(action, key) for _t, action, key in infos] == [("info", e.key) for e in catalog.offerable()]
    for message in listing.messages():
        assert len(message.plain_text or "") <= 4096
        for row in models_buttons(message):
            assert len(row) <= 2
            for text, _action, key in row:
                entry = catalog.get(key)
                assert entry is not None
                assert text == translate("models-info-button", lang, name=entry.display_name(lang))
                assert entry.best_at_text(lang) in (message.plain_text or "")  # its one-line card is here
    assert "Sora" not in "".join(m.text or "" for m in listing.messages())  # retired: never offered
    before = listing.snapshot()

    home = listing.holding("info", "hailuo02_std")
    query = await listing.tap("info", "hailuo02_std")
    assert user.answer_text(query) is None  # a quiet answer, no alert
    card = fake_tg.message(user.chat_id, home.message_id)
    assert card is not None
    text = card.plain_text or ""
    entry = catalog.get("hailuo02_std")
    assert entry is not None
    assert entry.description(lang) in text
    s = SECONDS[lang]
    assert f"6 {s} — 30, 10 {s} — 50" in text and f"512P: 6 {s} — 12, 10 {s} — 20" in text
    assert models_buttons(card) == [
        [(translate("card-choose", lang, name=entry.name(lang)), "order", "hailuo02_std")],
        [(translate("card-back", lang), "list", "hailuo02_std")],
    ]
    others = [snap for snap in before if snap[0] != home.message_id]
    assert [snap for snap in listing.snapshot() if snap[0] != home.message_id] == others

    query = await listing.tap("list", "hailuo02_std")
    assert user.answer_text(query) is None
    assert listing.snapshot() == before  # the same list again, in the same message
    assert user.find_wizard_message() is None  # looking around opens no order


async def test_choose_on_a_card_starts_the_wizard_with_that_model(
    fake_tg: FakeTelegram, bot: RunningBot
) -> None:
    catalog = bot.components.catalog
    user = await new_user(fake_tg, bot, 8303)
    old_wizard = await user.open()  # an order already open: Choose replaces it, like /generate
    listing = await ModelsList.open(user)
    await listing.tap("info", "kling25")
    card_before = listing.holding("order", "kling25")

    query = await listing.tap("order", "kling25")
    assert user.answer_text(query) is None
    wizard = user.wizard_message()
    assert wizard.message_id > card_before.message_id  # a fresh wizard message at the bottom
    stale = fake_tg.message(user.chat_id, old_wizard.message_id)
    assert stale is not None and stale.callback_datas == []  # one live wizard message
    # The model is chosen; mode, ratio and options are preset as for any order: the prompt is next.
    assert user.step_action() is None and "mode" in user.editable()
    kling = catalog.get("kling25")
    assert kling is not None and (wizard.plain_text or "").startswith(kling.name("en"))
    card_after = fake_tg.message(user.chat_id, card_before.message_id)
    assert card_after is not None and card_after.text == card_before.text  # the card stays as it was

    await user.send_inputs_and_prompt("kling25", "t2v")
    await user.confirm()
    [job] = await jobs_of(bot, user.chat_id)
    assert (job.model_key, job.mode) == ("kling25", "t2v")

    # Back from a model chosen on a card is the list of every model.
    await listing.tap("order", "kling25")  # the card still offers Choose: a new order
    await user.tap("back")
    assert [v for _label, v in user.choices("model")] == [e.key for e in catalog.offerable()]


async def test_forged_and_stale_models_buttons_change_nothing(
    fake_tg: FakeTelegram, bot: RunningBot, sim: KieSimulator
) -> None:
    user = await new_user(fake_tg, bot, 8304)
    stale = translate("models-stale", "en")
    wizard = await user.open()
    listing = await ModelsList.open(user)
    first = listing.messages()[0]

    async def refused(data: str, message: StoredMessage, expected: str) -> None:
        chat_before = [(m.message_id, m.text, m.callback_datas) for m in fake_tg.messages(user.chat_id)]
        query = await listing.forge(data, message)
        assert user.answer_text(query) == expected, data
        chat_after = [(m.message_id, m.text, m.callback_datas) for m in fake_tg.messages(user.chat_id)]
        assert chat_after == chat_before, data  # nothing edited, nothing sent
        assert user.wizard_message().message_id == wizard.message_id

    # Buttons the message does not show: a retired model, a made-up key, Choose and Back on the list.
    await refused(ModelsCb(action="info", key="sora2").pack(), first, stale)
    await refused(ModelsCb(action="info", key="nope").pack(), first, stale)
    await refused(ModelsCb(action="order", key="kling25").pack(), first, stale)
    await refused(ModelsCb(action="list", key="kling25").pack(), first, stale)
    # A /models button forged onto the wizard message, and a wizard button forged onto the list.
    await refused(ModelsCb(action="info", key="kling25").pack(), wizard, stale)
    await refused(WizardCallback(draft=user.draft_id, action="cat", value="all").pack(), first,
                  translate("stale-button", "en"))
    await refused("models:info", first, translate("stale-button", "en"))  # malformed

    # A model KIE stops listing after the list was sent: its ℹ️, and Choose on its card, are refused.
    sync = bot.components.catalog_sync
    for model_id in KLING26_IDS:
        sim.model_list.remove(model_id)
    await sync.check_once()
    assert bot.components.catalog.get_offerable("kling26") is None
    not_offered = translate("models-not-offered", "en")
    info = ModelsCb(action="info", key="kling26").pack()
    await refused(info, listing.holding("info", "kling26"), not_offered)
    for model_id in KLING26_IDS:  # listed again: its card opens; then it goes once more
        sim.model_list.add(model_id)
    await sync.check_once()
    await listing.tap("info", "kling26")
    for model_id in KLING26_IDS:
        sim.model_list.remove(model_id)
    await sync.check_once()
    choose = ModelsCb(action="order", key="kling26").pack()
    await refused(choose, listing.holding("order", "kling26"), not_offered)
    # Back still works: the list as it is now, without the hidden model.
    await listing.tap("list", "kling26")
    assert "kling26" not in " ".join(d for m in listing.messages() for d in m.callback_datas)
