"""The wizard's input steps end to end: prompts, photos, audio, video, and everything that is refused.

Each refusal must come with a hint saying what is accepted, keep the wizard where it was, and
charge nothing. Big files are declared in the fake Bot API (file_size) instead of being sent.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.catalog.model import MB
from bot.i18n import translate
from bot.kie.sandbox import KieSimulator
from bot.store.jobs import JobState
from bot.telegram.balance import credits_text
from tests.e2e.harness import RunningBot
from tests.e2e.wizard_driver import (
    DEFAULT_PROMPT,
    WizardDriver,
    encode_ratio,
    fail_on_bot_errors,  # noqa: F401  (autouse fixture: a crash caught by the error router fails the test)
    fake_bytes,
)
from tests.fakes.telegram import FakeTelegram, TgUser

GRANT = 5_000
JPEG = fake_bytes("image", "photo")


pytestmark = pytest.mark.kie_manual


@pytest.fixture
async def user(fake_tg: FakeTelegram, bot: RunningBot) -> WizardDriver:
    client = fake_tg.as_user(TgUser(id=8001, first_name="Ina", language_code="en"))
    driver = WizardDriver(fake_tg, bot, client)
    await driver.send("/start")
    await bot.components.billing.grant(admin_id=0, user_id=8001, credits=GRANT, note="test")
    return driver


def t(key: str, **params: Any) -> str:
    return translate(key, "en", **params)


async def assert_nothing_charged(bot: RunningBot, sim: KieSimulator, user: WizardDriver) -> None:
    assert await bot.components.billing.balance(user.chat_id) == GRANT
    assert not await bot.components.jobs.recent_for_user(user.chat_id)
    assert not [r for r in sim.requests if r.method == "POST"]


async def to_prompt_step(user: WizardDriver, key: str, mode: str, *, ratio: str | None = None) -> None:
    """The first file or prompt step of `key` in `mode`: the preset mode and ratio changed with their
    ✏️ buttons where they differ, the options as preset."""
    await user.choose_model(key)
    if "mode" in user.editable():
        await user.change("mode", "mode", mode)
    if ratio is not None:
        await user.change("ratio", "ratio", encode_ratio(ratio))


# --- prompts ------------------------------------------------------------------------------------------


async def test_empty_and_too_long_prompts_are_refused_with_the_limit(
    user: WizardDriver, bot: RunningBot, sim: KieSimulator
) -> None:
    await to_prompt_step(user, "wan25", "t2v", ratio="9:16")
    step_text = user.wizard_message().text or ""
    assert t("wizard-send-prompt", max=800) in step_text  # the hint says the limit

    await user.send("   ")
    assert user.last_text() == t("order-prompt_empty")
    await user.send("x" * 801)
    assert user.last_text() == t("order-prompt_too_long", length=801, max=800)
    assert user.wizard_message().text == step_text and user.step_action() is None  # still the prompt step
    # A photo where text is expected gets a hint too.
    await user.send_input("image", JPEG)
    assert user.last_text() == t("wizard-expect-prompt")

    await user.send("y" * 800)  # exactly the limit is fine
    assert user.step_action() == "ok"
    await assert_nothing_charged(bot, sim, user)


async def test_luma_takes_english_prompts_only(
    user: WizardDriver, bot: RunningBot, sim: KieSimulator
) -> None:
    await user.choose_model("luma")
    await user.send_input("video", fake_bytes("video", "clip"), duration=8)
    assert t("wizard-english-only") in (user.wizard_message().text or "")
    await user.send("Сделай как в старом кино")
    assert user.last_text() == t("order-prompt_not_english")
    await user.send("東京の夜")
    assert user.last_text() == t("order-prompt_not_english")
    # Latin-looking letters KIE refuses too: caught here, not after credits were reserved.
    await user.send("Phở bò ở Hà Nội")
    assert user.last_text() == t("order-prompt_not_english")
    await user.send("Ｏｌｄ ｆｉｌｍ")
    assert user.last_text() == t("order-prompt_not_english")
    await assert_nothing_charged(bot, sim, user)
    await user.send("Make it look like an old film, café colours")  # accented Latin letters are English
    assert user.step_action() == "ok"
    await user.confirm()
    create = next(r for r in sim.requests if r.path == "/api/v1/modify/generate")
    assert create.json["prompt"] == "Make it look like an old film, café colours"


async def test_other_models_accept_any_language(user: WizardDriver, sim: KieSimulator) -> None:
    await to_prompt_step(user, "kling25", "t2v", ratio="9:16")
    await user.send("Рыжая лиса бежит по снегу")
    assert user.step_action() == "ok"
    await user.confirm()
    create = next(r for r in sim.requests if r.path == "/api/v1/jobs/createTask")
    assert create.json["input"]["prompt"] == "Рыжая лиса бежит по снегу"


async def test_optional_prompt_can_be_skipped(user: WizardDriver, sim: KieSimulator) -> None:
    """Kling AI Avatar: the prompt may be empty, but KIE wants the field (kie-api.md §8.2)."""
    order = await user.walk_to_summary("kavatar_std", "avatar", options={"duration": "5"}, prompt="")
    assert order.prompt == ""
    await user.confirm()
    create = next(r for r in sim.requests if r.path == "/api/v1/jobs/createTask")
    assert create.json["input"]["prompt"] == ""
    assert set(create.json["input"]) == {"prompt", "image_url", "audio_url"}


# --- photos -------------------------------------------------------------------------------------------


async def test_photo_with_caption_gives_image_and_prompt_at_once(
    user: WizardDriver, sim: KieSimulator
) -> None:
    await to_prompt_step(user, "kling25", "i2v")
    step = user.wizard_message().text or ""
    assert t("wizard-send-image", limits=t("input-limits", types="JPG, PNG", max_mb=10)) in step
    assert t("wizard-caption-hint") in step
    await user.send_input("image", JPEG, caption="The fox turns and looks at the camera")
    summary = user.wizard_message().text or ""
    assert user.step_action() == "ok" and "The fox turns and looks at the camera" in summary
    await user.confirm()
    create = next(r for r in sim.requests if r.path == "/api/v1/jobs/createTask")
    assert create.json["input"]["prompt"] == "The fox turns and looks at the camera"
    uploaded = next(f for f in sim.files.values() if f.data == JPEG)
    assert uploaded.mime_type == "image/jpeg"


async def test_a_bad_caption_keeps_the_photo_and_asks_for_the_prompt(user: WizardDriver) -> None:
    await to_prompt_step(user, "wan25", "i2v")
    await user.send_input("image", JPEG, caption="z" * 900)  # Wan: at most 800 characters
    assert t("order-prompt_too_long", length=900, max=800) in user.texts()
    assert user.step_action() is None and t("wizard-send-prompt", max=800) in (
        user.wizard_message().text or ""
    )
    await user.send("A short prompt")
    assert user.step_action() == "ok"


async def test_image_sent_as_a_file_is_accepted(
    user: WizardDriver, fake_tg: FakeTelegram, sim: KieSimulator
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(32))
    await to_prompt_step(user, "hailuo23_std", "i2v")
    await user.user.send_document(png, file_name="Frame 01.PNG", mime_type="image/png")
    await user.settle()
    assert user.step_action() is None and t("wizard-send-prompt", max=5000) in (
        user.wizard_message().text or ""
    )
    await user.send(DEFAULT_PROMPT)
    await user.confirm()
    upload = next(r for r in sim.requests if r.path == "/api/file-stream-upload")
    # A fresh name (KIE overwrites same-named uploads); the extension survives.
    assert upload.form["fileName"].endswith(".png") and upload.form["fileName"] != "Frame 01.PNG"
    stored = sim.files[f"{upload.form['uploadPath']}/{upload.form['fileName']}"]
    assert stored.data == png


def wrong_file(language: str, arrived: str, needed: str, **arrived_params: Any) -> str:
    """The refusal naming what arrived (an input-arrived-* key) and what the step needs."""
    return translate(
        "input-wrong-file", language, arrived=translate(arrived, language, **arrived_params), needed=needed
    )


def needs_photo_jpg_png(language: str) -> str:
    types = translate("list-or", language, items="JPG", last="PNG")
    limits = translate("input-limits", language, types=types, max_mb=10)
    return translate("input-needs", language, what=translate("input-need-image", language), limits=limits)


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_wrong_files_are_named_with_what_the_step_needs(
    fake_tg: FakeTelegram, bot: RunningBot, sim: KieSimulator, language: str
) -> None:
    """Issue 13, item 11: "That is a PDF document; this step needs a photo: JPG or PNG, up to 10 MB"."""
    client = fake_tg.as_user(TgUser(id=8101, first_name="Ina", language_code=language))
    user = WizardDriver(fake_tg, bot, client)
    await user.send("/start")
    await bot.components.billing.grant(admin_id=0, user_id=8101, credits=GRANT, note="test")
    await to_prompt_step(user, "kling25", "i2v")  # Kling 2.5 image→video: JPEG/PNG up to 10 MB
    step = user.wizard_message()
    needed = needs_photo_jpg_png(language)

    await user.user.send_document(b"%PDF-1.4", file_name="brief.pdf", mime_type="application/pdf")
    await user.settle()
    assert user.last_text() == wrong_file(language, "input-arrived-document", needed, type="PDF")
    assert user.last_text() == {
        "en": "That is a document in PDF format; this step needs a photo: JPG or PNG, up to 10 MB.",
        "ru": "Это документ в формате PDF, а на этом шаге нужно прислать фото: JPG или PNG, до 10 МБ.",
    }[language]
    await user.user.send_sticker()
    await user.settle()
    assert user.last_text() == wrong_file(language, "input-arrived-sticker", needed)
    await user.user.send_animation(b"GIF89a" + bytes(16))
    await user.settle()
    assert user.last_text() == wrong_file(language, "input-arrived-animation", needed)
    await user.send_input("video", fake_bytes("video", "v"))
    assert user.last_text() == wrong_file(language, "input-arrived-video", needed)
    await user.user.send_video_note()
    await user.settle()
    assert user.last_text() == wrong_file(language, "input-arrived-video-note", needed)
    await user.user.send_voice(fake_bytes("audio", "voice"))
    await user.settle()
    assert user.last_text() == wrong_file(language, "input-arrived-voice", needed)
    await user.send_input("audio", fake_bytes("audio", "song"))
    assert user.last_text() == wrong_file(language, "input-arrived-audio", needed)
    await user.send("here is my idea")  # text where a photo is expected
    assert user.last_text() == wrong_file(language, "input-arrived-text", needed)
    await fake_tg.push_message(client.user, {"location": {"latitude": 52.5, "longitude": 13.4}})
    await user.settle()
    assert user.last_text() == wrong_file(language, "input-arrived-other", needed)
    # An image of a format this model does not take: the format is named.
    await user.user.send_document(
        b"RIFF\x00\x00\x00\x00WEBPVP8 ", file_name="pic.webp", mime_type="image/webp"
    )
    await user.settle()
    assert user.last_text() == wrong_file(language, "input-arrived-format", needed, type="WEBP")
    named = {"en": "That is a file in WEBP format;", "ru": "Это файл в формате WEBP,"}[language]
    assert user.last_text().startswith(named)

    assert user.wizard_message().message_id == step.message_id  # still waiting for the photo
    assert await bot.components.billing.balance(user.chat_id) == GRANT
    assert not [r for r in sim.requests if r.method == "POST"]


async def test_images_over_the_limit_are_refused(
    user: WizardDriver, bot: RunningBot, sim: KieSimulator
) -> None:
    await to_prompt_step(user, "seedance25", "i2v", ratio="9:16")
    await user.user.send_document(None, file_name="big.png", mime_type="image/png", file_size=15 * MB)
    await user.settle()
    assert user.last_text() == t("input-too-big", size_mb=15.0, types="JPG, PNG, WEBP", max_mb=10, max_s=0)
    await user.user.send_photo(None, file_size=25 * MB)
    await user.settle()
    assert user.last_text() == t("input-too-big-telegram", size_mb=25.0)
    assert user.step_action() is None and t(
        "wizard-send-image", limits=t("input-limits", types="JPG, PNG, WEBP", max_mb=10)
    ) in (user.wizard_message().text or "")
    await assert_nothing_charged(bot, sim, user)


async def test_first_and_last_frame_asks_for_two_photos_one_at_a_time(
    user: WizardDriver, sim: KieSimulator
) -> None:
    await to_prompt_step(user, "veo_lite", "frames", ratio="9:16")
    limits = t("input-limits", types="JPG, PNG, WEBP", max_mb=10)
    step_one = user.wizard_message().text or ""
    assert t("wizard-send-image-nth", n=1, count=2, limits=limits) in step_one
    assert t("wizard-caption-hint") not in step_one  # the prompt comes after the second photo
    first, last = fake_bytes("image", "first"), fake_bytes("image", "last")
    await user.send_input("image", first, caption="a caption too early")
    # Kept with its photo as the prompt to come (issue 13, item 10), and said so.
    assert t("wizard-caption-kept") in user.texts()
    step_two = user.wizard_message().text or ""
    assert t("wizard-send-image-nth", n=2, count=2, limits=limits) in step_two
    assert t("wizard-caption-hint") in step_two
    await user.tap("back")  # drops the first photo
    assert t("wizard-send-image-nth", n=1, count=2, limits=limits) in (user.wizard_message().text or "")
    await user.send_input("image", first)
    await user.send_input("image", last, caption=DEFAULT_PROMPT)
    summary = user.wizard_message().text or ""
    assert f"{t('wizard-summary-inputs')}: photo, photo" in summary
    await user.confirm()
    create = next(r for r in sim.requests if r.path == "/api/v1/veo/generate")
    frames = [sim.files[u.split("/files/", 1)[1]].data for u in create.json["imageUrls"]]
    assert frames == [first, last]


# --- audio --------------------------------------------------------------------------------------------


async def test_avatar_takes_the_audio_first_and_its_length_sets_the_duration(
    user: WizardDriver, bot: RunningBot, sim: KieSimulator
) -> None:
    """Kling Avatar prices by audio length: the audio comes first and picks the smallest
    "up to N s" that fits, instead of refusing a 12 s voice note after "up to 5 s" (issue 13, 10)."""
    await user.choose_model("kavatar_std")
    assert user.step_action() is None  # no duration step: the audio is asked for first
    step = user.wizard_message().text or ""
    assert "at most 15 s" in step
    await user.send_input("audio", fake_bytes("audio", "long"), duration=18)
    assert user.last_text() == t(
        "input-too-long", seconds=18, max_s=15, types="AAC, M4A, MP3, OGG, WAV", max_mb=20
    )
    await assert_nothing_charged(bot, sim, user)
    # A 12 s voice note (OGG/Opus, as Telegram records them): "up to 15 s" is chosen for it.
    await user.user.send_voice(b"OggS" + bytes(16), duration=12)
    await user.settle()
    assert "up to 15 s" in (user.wizard_message().text or "")
    await user.send_input("image", JPEG)
    assert user.step_action() is None and t("wizard-skip") in user.wizard_message().button_texts
    await user.tap("skip")
    summary = user.wizard_message().text or ""
    price = bot.components.catalog.quote("kavatar_std", "avatar", {"duration": "15"}).user_credits
    assert t("wizard-summary-price", price=credits_text(price, "en")) in summary
    # ✏️ Files on the summary, and again: a 4 s voice note gets the cheapest "up to 5 s".
    await user.tap("edit", "input")  # the files again, the audio first
    assert "at most 15 s" in (user.wizard_message().text or "")
    await user.user.send_voice(b"OggS" + bytes(16), duration=4)
    await user.settle()
    assert "up to 5 s" in (user.wizard_message().text or "")
    await user.send_input("image", JPEG)  # the (skipped) prompt is kept: straight to the summary
    price = bot.components.catalog.quote("kavatar_std", "avatar", {"duration": "5"}).user_credits
    assert t("wizard-summary-price", price=credits_text(price, "en")) in (user.wizard_message().text or "")
    await user.confirm()
    upload = next(r for r in sim.requests if r.path == "/api/file-stream-upload")
    assert upload.form["fileName"].endswith(".ogg")


async def test_audio_as_a_file_and_the_hint_without_a_length_limit(
    user: WizardDriver, sim: KieSimulator
) -> None:
    await user.choose_model("wan_s2v")
    await user.change("opt:resolution", "opt", "resolution=720p")
    await user.send_input("image", JPEG)
    hint = user.wizard_message().text or ""
    assert " 0 s" not in hint and "at most" not in hint  # Wan's audio has no length limit
    await user.user.send_document(
        fake_bytes("audio", "speech"), file_name="speech.mp3", mime_type="audio/mpeg"
    )
    await user.settle()
    await user.send(DEFAULT_PROMPT)
    assert user.step_action() == "ok"
    await user.confirm()
    create = next(r for r in sim.requests if r.path == "/api/v1/jobs/createTask")
    audio_key = create.json["input"]["audio_url"].split("/files/", 1)[1]
    assert sim.files[audio_key].data == fake_bytes("audio", "speech")


async def test_audio_over_the_size_limit_is_refused(
    user: WizardDriver, bot: RunningBot, sim: KieSimulator
) -> None:
    await user.choose_model("wan_s2v")
    await user.change("opt:resolution", "opt", "resolution=480p")
    await user.send_input("image", JPEG)
    await user.user.send_audio(None, duration=20, file_size=12 * MB)  # Wan: 10 MB
    await user.settle()
    assert user.last_text().startswith("This file is 12.0 MB")
    await assert_nothing_charged(bot, sim, user)


# --- video --------------------------------------------------------------------------------------------


async def test_videos_over_the_limits_are_refused(
    user: WizardDriver, bot: RunningBot, sim: KieSimulator
) -> None:
    await user.choose_model("luma")
    hint = user.wizard_message().text or ""
    assert (
        t("wizard-send-video", limits=t("input-limits-duration", types="AVI, MOV, MP4", max_mb=20, max_s=10))
        in hint
    )
    await user.send_input("video", fake_bytes("video", "long"), duration=12)
    assert user.last_text() == t("input-too-long", seconds=12, max_s=10, types="AVI, MOV, MP4", max_mb=20)
    await user.user.send_video(None, duration=6, file_size=30 * MB)
    await user.settle()
    assert user.last_text() == t("input-too-big-telegram", size_mb=30.0)
    await user.user.send_document(b"\x1aE\xdf\xa3", file_name="clip.mkv", mime_type="video/x-matroska")
    await user.settle()
    needed = t(
        "input-needs",
        what=t("input-need-video"),
        limits=t("input-limits-duration", types="AVI, MOV or MP4", max_mb=20, max_s=10),
    )
    assert user.last_text() == wrong_file("en", "input-arrived-format", needed, type="MKV")
    assert user.last_text() == (
        "That is a file in MKV format; this step needs a video: AVI, MOV or MP4, up to 20 MB, at most 10 s."
    )
    await user.send_input("image", JPEG)
    assert user.last_text() == wrong_file("en", "input-arrived-photo", needed)
    await assert_nothing_charged(bot, sim, user)


async def test_video_sent_as_a_file_goes_to_aleph(
    user: WizardDriver, sim: KieSimulator, bot: RunningBot
) -> None:
    clip = fake_bytes("video", "mov")
    await user.choose_model("aleph")
    await user.user.send_document(clip, file_name="take2.mov", mime_type="video/quicktime")
    await user.settle()
    await user.send("Turn day into night")
    await user.confirm()
    create = next(r for r in sim.requests if r.path == "/api/v1/aleph/generate")
    assert sim.files[create.json["videoUrl"].split("/files/", 1)[1]].data == clip
    jobs = await bot.components.jobs.recent_for_user(user.chat_id)
    assert jobs[0].state in (JobState.SUBMITTED, JobState.RUNNING)
