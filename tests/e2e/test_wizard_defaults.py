"""Defaults and taps (issue 13, item 4), end to end against the fake Bot API and the KIE simulator.

Mode, ratio and options are preset (the user's last order of the model, else the catalog's
recommended values) and their steps skipped; a returning user is offered "🔁 Same as last time".
The taps counted are the callback queries the user sends from /generate to the summary that shows
✅ Confirm: at most 5 for a new user and at most 3 for a returning one, plus the prompt (and files).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.catalog.model import mode_name
from bot.i18n import translate
from bot.kie.sandbox import KieSimulator
from bot.kie.sandbox.simulator import SimTimings
from bot.store.jobs import Job
from bot.telegram.balance import credits_text
from bot.telegram.wizard.view import encode_field
from tests.e2e.harness import RunningBot, make_settings, running_bot
from tests.e2e.wizard_driver import (
    DEFAULT_PROMPT,
    WizardDriver,
    encode_ratio,
    fail_on_bot_errors,  # noqa: F401  (autouse fixture: a crash caught by the error router fails the test)
)
from tests.fakes.telegram import FakeTelegram, TgUser

NEW_USER_TAPS = 5
RETURNING_USER_TAPS = 3
GRANT = 5_000


@pytest.fixture
async def sim() -> AsyncIterator[KieSimulator]:
    async with KieSimulator(timings=SimTimings.manual()) as simulator:
        yield simulator


@pytest.fixture
async def bot(fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with running_bot(make_settings(tmp_path, fake_tg, sim)) as running:
        yield running


async def new_user(
    fake_tg: FakeTelegram, bot: RunningBot, user_id: int, language: str = "en"
) -> WizardDriver:
    client = fake_tg.as_user(TgUser(id=user_id, first_name=f"U{user_id}", language_code=language))
    driver = WizardDriver(fake_tg, bot, client)
    await driver.send("/start")
    await bot.components.billing.grant(admin_id=0, user_id=user_id, credits=GRANT, note="test")
    return driver


class TapCounter:
    """Callback queries sent from /generate on, counted twice: by the driver that sends them and by
    the fake Bot API's answerCallbackQuery calls (the bot answers every query exactly once)."""

    def __init__(self, user: WizardDriver) -> None:
        self.user = user
        self.taps = user.taps
        self.answers = len(user.fake.calls_of("answerCallbackQuery"))

    def count(self) -> int:
        taps = self.user.taps - self.taps
        answers = len(self.user.fake.calls_of("answerCallbackQuery")) - self.answers
        assert taps == answers, f"{taps} taps sent, {answers} answered"
        return taps


def at_confirm(user: WizardDriver, language: str, price: int) -> bool:
    confirm = translate("wizard-confirm", language, price=credits_text(price, language))
    return confirm in user.wizard_message().button_texts


async def last_job(bot: RunningBot, user_id: int) -> Job:
    jobs = await bot.components.jobs.recent_for_user(user_id, limit=1)
    assert jobs
    return jobs[0]


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_taps_to_confirm_for_a_new_and_a_returning_user(
    fake_tg: FakeTelegram, bot: RunningBot, language: str
) -> None:
    def t(key: str, **params: Any) -> str:
        return translate(key, language, **params)

    seconds = "s" if language == "en" else "с"
    user = await new_user(fake_tg, bot, 7401 if language == "en" else 7402, language)
    catalog = bot.components.catalog

    # A new user: /generate ▸ All models ▸ Kling 2.5 ▸ (prompt) ▸ the summary with Confirm.
    counter = TapCounter(user)
    await user.open()
    assert "last" not in [value for _label, value in user.choices("cat")]  # nothing to repeat yet
    await user.tap("cat", "all")
    await user.tap("model", "kling25")
    # Mode, ratio and duration preset and skipped: the prompt step, the presets on ✏️ buttons.
    step = user.wizard_message()
    assert user.step_action() is None and t("wizard-preset-hint") in (step.text or "")
    assert [label for label in step.button_texts if label.startswith("✏️")] == [
        t("wizard-edit-field", field=mode_name("t2v", language)),
        t("wizard-edit-field", field="9:16"),
        t("wizard-edit-field", field=f"5 {seconds}"),
    ]
    await user.send(DEFAULT_PROMPT)
    price = catalog.quote("kling25", "t2v", {"duration": "5"}).user_credits
    assert at_confirm(user, language, price)
    new_taps = counter.count()
    assert new_taps <= NEW_USER_TAPS and new_taps == 2
    # Every field is on the summary as a button that changes just that field.
    summary = user.wizard_message()
    fields = ["Kling 2.5 Turbo", mode_name("t2v", language), "9:16", f"5 {seconds}"]
    fields.append(t("wizard-summary-prompt"))
    assert summary.button_texts[1:-1] == [t("wizard-edit-field", field=f) for f in fields]
    # Changing the (skipped) duration from the summary keeps the prompt and the other fields.
    await user.change("opt:duration", "opt", "duration=10")
    text = user.wizard_message().text or ""
    assert DEFAULT_PROMPT in text and "9:16" in text and mode_name("t2v", language) in text
    price = catalog.quote("kling25", "t2v", {"duration": "10"}).user_credits
    assert at_confirm(user, language, price)
    await user.confirm()
    job = await last_job(bot, user.chat_id)
    assert (job.model_key, job.mode, job.ratio, job.options) == ("kling25", "t2v", "9:16", {"duration": "10"})

    # Returning: /generate offers the same settings again; one tap to the prompt step.
    counter = TapCounter(user)
    await user.open()
    order = f"Kling 2.5 Turbo · {mode_name('t2v', language)} · 9:16 · 10 {seconds}"
    same = t("wizard-same-as-last", order=order)
    assert user.wizard_message().button_texts[0] == same
    assert t("wizard-all-models") in user.wizard_message().button_texts  # and the normal choices
    await user.tap_text(same)
    assert user.step_action() is None and t("wizard-preset-hint") in (user.wizard_message().text or "")
    await user.send("A calm lake at dawn, mist over the water")
    assert at_confirm(user, language, price)
    returning_taps = counter.count()
    assert returning_taps <= RETURNING_USER_TAPS and returning_taps == 1
    await user.confirm()
    again = await last_job(bot, user.chat_id)
    assert again.id != job.id
    settings = (again.model_key, again.mode, again.ratio, again.options)
    assert settings == (job.model_key, job.mode, job.ratio, job.options)


async def test_every_model_reaches_confirm_within_the_tap_targets(
    fake_tg: FakeTelegram, bot: RunningBot
) -> None:
    """Whatever model a user picks: a new user needs category + model, a returning one Same as last
    time; files and the prompt are messages."""
    catalog = bot.components.catalog
    worst_new = worst_returning = 0
    for n, model in enumerate(catalog.offerable()):
        user = await new_user(fake_tg, bot, 7500 + n)
        mode = next(iter(catalog.offered_modes(model)))
        counter = TapCounter(user)
        await user.choose_model(model.key)
        await user.send_inputs_and_prompt(model.key, mode)
        assert user.step_action() == "ok", f"{model.key}: {user.wizard_message().text}"
        worst_new = max(worst_new, counter.count())
        await user.confirm()

        counter = TapCounter(user)
        await user.open()
        await user.tap("cat", "last")
        await user.send_inputs_and_prompt(model.key, mode)
        assert user.step_action() == "ok", f"{model.key}: {user.wizard_message().text}"
        worst_returning = max(worst_returning, counter.count())
    assert worst_new <= NEW_USER_TAPS and worst_returning <= RETURNING_USER_TAPS
    assert (worst_new, worst_returning) == (2, 1)


async def test_the_last_settings_are_kept_per_model(fake_tg: FakeTelegram, bot: RunningBot) -> None:
    """Each model remembers its own last order; a model never ordered gets the recommended values
    (and the last ratio the user picked)."""
    user = await new_user(fake_tg, bot, 7601)
    await user.walk_to_summary("runway", "t2v", ratio="4:3", options={"duration": "5", "resolution": "1080p"})
    await user.confirm()
    await user.walk_to_summary("kling25", "i2v", options={"duration": "10"})
    await user.confirm()

    await user.choose_model("runway")  # not the latest order: still its own settings
    text = user.wizard_message().text or ""
    assert "4:3" in text and "Resolution: 1080p" in text
    await user.open()
    await user.choose_model("kling25")  # its last mode: the photo step comes first
    text = user.wizard_message().text or ""
    assert translate("wizard-send-image", "en", limits="JPG, PNG, up to 10 MB") in text
    assert "Duration: 10 s" in text
    await user.open()
    await user.choose_model("wan25")  # never ordered: recommended values, the last ratio picked
    text = user.wizard_message().text or ""
    assert "Text → video · 4:3" not in text  # wan25 has no 4:3: its recommended 9:16
    assert "· 9:16" in text and "Duration: 5 s" in text and "Resolution: 720p" in text
    await user.change("ratio", "ratio", encode_ratio("1:1"))
    await user.open()
    await user.choose_model("seed_pro")  # never ordered, takes 1:1: the ratio last picked
    assert "· 1:1" in (user.wizard_message().text or "")
    # A field changed before the prompt: Back undoes the change, and Back again is the model list.
    await user.tap("edit", encode_field("opt:resolution"))
    await user.tap("opt", "resolution=1080p")
    assert "Resolution: 1080p" in (user.wizard_message().text or "")
    await user.tap("back")
    assert user.step_action() is None and "Resolution: 720p" in (user.wizard_message().text or "")
    await user.tap("back")
    assert user.step_action() == "model"
