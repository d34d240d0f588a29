"""Inputs at the wrong moment start an order (issue 13, item 10), end to end against the fake Bot API.

A photo outside the wizard (or at its first step) offers the photo→video models with the photo
kept as the first input; an idea sent as text offers the text→video models with the text kept as
the prompt; a caption on the first file of a multi-file flow becomes the prompt.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.i18n import translate
from bot.kie.sandbox import KieSimulator
from tests.e2e.harness import RunningBot
from tests.e2e.wizard_driver import (
    WizardDriver,
    fail_on_bot_errors,  # noqa: F401  (autouse fixture: a crash caught by the error router fails the test)
    fake_bytes,
)
from tests.fakes.telegram import FakeTelegram, TgUser

GRANT = 5_000
JPEG = fake_bytes("image", "seed-photo")


pytestmark = pytest.mark.kie_manual


async def new_user(fake_tg: FakeTelegram, bot: RunningBot, user_id: int, lang: str) -> WizardDriver:
    client = fake_tg.as_user(TgUser(id=user_id, first_name="Ina", language_code=lang))
    driver = WizardDriver(fake_tg, bot, client)
    await driver.send("/start")
    await bot.components.billing.grant(admin_id=0, user_id=user_id, credits=GRANT, note="test")
    return driver


def models_with(bot: RunningBot, mode: str) -> list[str]:
    return [e.key for e in bot.components.catalog.offerable() if mode in e.modes]


async def pick_defaults(user: WizardDriver) -> None:
    """Through the ratio and option steps, taking the first button each time."""
    while (action := user.step_action()) in ("mode", "ratio", "opt"):
        await user.tap(action, user.choices(action)[0][1])


def create_request(sim: KieSimulator) -> Any:
    return next(r for r in sim.requests if r.path == "/api/v1/jobs/createTask")


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_a_photo_outside_the_wizard_starts_a_photo_to_video_order(
    fake_tg: FakeTelegram, bot: RunningBot, sim: KieSimulator, lang: str
) -> None:
    user = await new_user(fake_tg, bot, 8101 if lang == "en" else 8102, lang)
    await user.send_input("image", JPEG)
    wizard = user.wizard_message()
    assert translate("wizard-start-photo", lang) in (wizard.text or "")
    assert translate("fallback-hint", lang) not in user.texts()
    assert [v for _label, v in user.choices("model")] == models_with(bot, "i2v")

    await user.tap("model", "kling25")  # text and photo modes: the photo decides, no mode step
    await pick_defaults(user)
    # The photo is the first input already: the prompt is what is asked next.
    assert user.step_action() is None
    prompt_line = translate("wizard-send-prompt", lang, max=2500).split("\n")[0]
    assert prompt_line in (user.wizard_message().text or "")
    await user.send("The cat stretches and yawns")
    assert user.step_action() == "ok"
    await user.confirm()
    create = create_request(sim)
    assert create.json["input"]["prompt"] == "The cat stretches and yawns"
    image_key = create.json["input"]["image_url"].split("/files/", 1)[1]
    assert sim.files[image_key].data == JPEG
    assert await bot.components.billing.balance(user.chat_id) < GRANT


async def test_a_photo_with_a_caption_at_the_category_step_keeps_both(
    fake_tg: FakeTelegram, bot: RunningBot, sim: KieSimulator
) -> None:
    user = await new_user(fake_tg, bot, 8103, "ru")
    await user.open()
    assert user.step_action() == "cat"
    await user.send_input("image", JPEG, caption="Кот потягивается и зевает")
    assert translate("wizard-start-photo", "ru") in (user.wizard_message().text or "")
    await user.tap("model", "hailuo02_pro")  # no options: straight to the summary
    assert user.step_action() == "ok"
    assert "Кот потягивается и зевает" in (user.wizard_message().text or "")
    await user.confirm()
    create = create_request(sim)
    assert create.json["input"]["prompt"] == "Кот потягивается и зевает"


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_an_idea_sent_as_text_starts_a_text_to_video_order(
    fake_tg: FakeTelegram, bot: RunningBot, sim: KieSimulator, lang: str
) -> None:
    user = await new_user(fake_tg, bot, 8104 if lang == "en" else 8105, lang)
    idea = "make me a video of a cat" if lang == "en" else "сделай видео с котом на луне"
    await user.send(idea)
    wizard = user.wizard_message()
    assert translate("wizard-start-text", lang) in (wizard.text or "") and idea in (wizard.text or "")
    assert [v for _label, v in user.choices("model")] == models_with(bot, "t2v")
    await user.tap("model", "kling25")
    await pick_defaults(user)
    assert user.step_action() == "ok", user.wizard_message().text
    await user.confirm()
    assert create_request(sim).json["input"]["prompt"] == idea

    # Back from the idea's model list gives the usual first step, the idea dropped.
    await user.send("a red fox in the snow")
    await user.tap("back")
    assert user.step_action() == "cat"


async def test_small_talk_and_other_files_still_get_the_hint(
    fake_tg: FakeTelegram, bot: RunningBot, sim: KieSimulator
) -> None:
    user = await new_user(fake_tg, bot, 8106, "en")
    await user.send("hi there")
    assert user.last_text() == translate("fallback-hint", "en")
    await user.user.send_sticker()
    await user.settle()
    assert user.last_text() == translate("fallback-hint", "en")
    assert user.find_wizard_message() is None or user.step_action() is None
    assert not [r for r in sim.requests if r.method == "POST"]


async def test_a_caption_on_the_first_file_of_speech_to_video_is_the_prompt(
    fake_tg: FakeTelegram, bot: RunningBot, sim: KieSimulator
) -> None:
    user = await new_user(fake_tg, bot, 8107, "en")
    await user.choose_model("wan_s2v")
    await user.change("opt:resolution", "opt", "resolution=480p")
    await user.send_input("image", JPEG, caption="She says hello and smiles")
    assert translate("wizard-caption-kept", "en") in user.texts()
    assert translate("wizard-caption-ignored", "en") not in user.texts()
    await user.send_input("audio", fake_bytes("audio", "speech"), duration=5)
    assert user.step_action() == "ok"
    await user.confirm()
    assert create_request(sim).json["input"]["prompt"] == "She says hello and smiles"
