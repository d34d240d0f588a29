"""The /generate wizard end to end: the real bot against the fake Bot API and the KIE simulator over HTTP.

Part 1 walks every catalog entry and mode from /generate to Confirm and checks the exact request KIE
received against /work/shared/kie-api.md (written out below independently of the catalog's wire specs),
that inputs went through KIE's upload API, and that nothing Telegram-ish (file URLs, the bot token)
reached KIE. Part 2 covers the menus, steps, navigation, idempotent confirm and forged buttons.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from bot.catalog import CATEGORY_NAMES, build_catalog
from bot.i18n import translate, translate_plural
from bot.kie.sandbox import KieSimulator
from bot.store.jobs import Job, JobState
from bot.telegram.balance import credits_text
from bot.telegram.wizard.rules import ratios_in_menu_order
from bot.telegram.wizard.view import WizardCallback, encode_field
from bot.text import escape
from tests.e2e.harness import RunningBot
from tests.e2e.wizard_driver import (
    DEFAULT_PROMPT,
    WizardDriver,
    WizardOrder,
    encode_ratio,
    fail_on_bot_errors,  # noqa: F401  (autouse fixture: a crash caught by the error router fails the test)
    fake_bytes,
)
from tests.fakes.telegram import FakeTelegram, TgUser

GRANT = 5_000
CATALOG = build_catalog()
CREATE_PATHS = (
    "/api/v1/veo/generate",
    "/api/v1/runway/generate",
    "/api/v1/aleph/generate",
    "/api/v1/modify/generate",
    "/api/v1/jobs/createTask",
)
UPLOAD_PATH = "/api/file-stream-upload"


# --- fixtures -----------------------------------------------------------------------------------------


# Tasks stay "generating": these tests end at the create call, and nothing is delivered.
pytestmark = pytest.mark.kie_manual


async def new_user(
    fake_tg: FakeTelegram, bot: RunningBot, user_id: int, *, credits: int = GRANT, language: str = "en"
) -> WizardDriver:
    """A registered user (after /start) holding `credits`, with a driver for the wizard."""
    client = fake_tg.as_user(TgUser(id=user_id, first_name=f"U{user_id}", language_code=language))
    driver = WizardDriver(fake_tg, bot, client)
    await driver.send("/start")
    if credits:
        await bot.components.billing.grant(admin_id=0, user_id=user_id, credits=credits, note="test")
    return driver


async def jobs_of(bot: RunningBot, user_id: int) -> list[Job]:
    return await bot.components.jobs.recent_for_user(user_id, limit=50)


def create_requests(sim: KieSimulator) -> list[Any]:
    return [r for r in sim.requests if r.method == "POST" and r.path in CREATE_PATHS]


def t(key: str, **params: Any) -> str:
    return translate(key, "en", **params)


# --- what kie-api.md documents per model (the oracle) --------------------------------------------

Urls = Mapping[str, list[str]]
InputBuilder = Callable[[WizardOrder, Urls], dict[str, Any]]

VEO_MODEL_IDS = {"veo_fast": "veo3_fast", "veo_quality": "veo3", "veo_lite": "veo3_lite"}  # §4.1
SORA_RATIOS = {"9:16": "portrait", "16:9": "landscape"}  # §8.1


def _sora(order: WizardOrder, urls: Urls, *, pro: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt": order.prompt,
        "aspect_ratio": SORA_RATIOS[order.ratio or ""],
        "n_frames": order.options["duration"],  # seconds, as a string
        "remove_watermark": True,
    }
    if pro:
        body["size"] = order.options["size"]
    if urls.get("image"):
        body["image_urls"] = urls["image"]
    return body


def _prompt_and(
    order: WizardOrder,
    urls: Urls,
    *,
    image: str | None = None,
    audio: str | None = None,
    options: Mapping[str, str] = {},
    ratio: str | None = None,
    sound: bool = False,
) -> dict[str, Any]:
    """A market `input`: prompt, the image/audio URL fields, option fields (string enums)."""
    body: dict[str, Any] = {"prompt": order.prompt}
    if image == "image_urls":
        body["image_urls"] = urls["image"]
    elif image:
        body[image] = urls["image"][0]
    if audio:
        body[audio] = urls["audio"][0]
    for option_key, field_name in options.items():
        body[field_name] = order.options[option_key]
    if ratio:
        body[ratio] = order.ratio
    if sound:
        body["sound"] = order.options["sound"] == "on"  # a boolean (§8.2)
    return body


DURATION = {"duration": "duration"}
DURATION_RESOLUTION = {"duration": "duration", "resolution": "resolution"}

# (entry key, mode) → (KIE model id, builder of `input`), from kie-api.md §8.
MARKET: dict[tuple[str, str], tuple[str, InputBuilder]] = {
    ("sora2", "t2v"): ("sora-2-text-to-video", lambda o, u: _sora(o, u, pro=False)),
    ("sora2", "i2v"): ("sora-2-image-to-video", lambda o, u: _sora(o, u, pro=False)),
    ("sora2_pro", "t2v"): ("sora-2-pro-text-to-video", lambda o, u: _sora(o, u, pro=True)),
    ("sora2_pro", "i2v"): ("sora-2-pro-image-to-video", lambda o, u: _sora(o, u, pro=True)),
    ("kling25", "t2v"): (
        "kling/v2-5-turbo-text-to-video-pro",
        lambda o, u: _prompt_and(o, u, options=DURATION, ratio="aspect_ratio"),
    ),
    ("kling25", "i2v"): (
        "kling/v2-5-turbo-image-to-video-pro",
        lambda o, u: _prompt_and(o, u, image="image_url", options=DURATION),
    ),
    ("kling26", "t2v"): (
        "kling-2.6/text-to-video",
        lambda o, u: _prompt_and(o, u, options=DURATION, ratio="aspect_ratio", sound=True),
    ),
    ("kling26", "i2v"): (
        "kling-2.6/image-to-video",
        lambda o, u: _prompt_and(o, u, image="image_urls", options=DURATION, sound=True),
    ),
    ("kavatar_std", "avatar"): (
        "kling/ai-avatar-standard",
        lambda o, u: _prompt_and(o, u, image="image_url", audio="audio_url"),
    ),
    ("kavatar_pro", "avatar"): (
        "kling/ai-avatar-pro",
        lambda o, u: _prompt_and(o, u, image="image_url", audio="audio_url"),
    ),
    ("hailuo23_std", "i2v"): (
        "hailuo/2-3-image-to-video-standard",
        lambda o, u: _prompt_and(o, u, image="image_url", options=DURATION_RESOLUTION),
    ),
    ("hailuo23_pro", "i2v"): (
        "hailuo/2-3-image-to-video-pro",
        lambda o, u: _prompt_and(o, u, image="image_url", options=DURATION_RESOLUTION),
    ),
    ("hailuo02_std", "t2v"): (
        "hailuo/02-text-to-video-standard",
        lambda o, u: _prompt_and(o, u, options=DURATION),
    ),
    ("hailuo02_std", "i2v"): (
        "hailuo/02-image-to-video-standard",
        lambda o, u: _prompt_and(o, u, image="image_url", options=DURATION_RESOLUTION),
    ),
    ("hailuo02_pro", "t2v"): ("hailuo/02-text-to-video-pro", lambda o, u: _prompt_and(o, u)),
    ("hailuo02_pro", "i2v"): (
        "hailuo/02-image-to-video-pro",
        lambda o, u: _prompt_and(o, u, image="image_url"),
    ),
    ("wan25", "t2v"): (
        "wan/2-5-text-to-video",
        lambda o, u: _prompt_and(o, u, options=DURATION_RESOLUTION, ratio="aspect_ratio"),
    ),
    ("wan25", "i2v"): (
        "wan/2-5-image-to-video",
        lambda o, u: _prompt_and(o, u, image="image_url", options=DURATION_RESOLUTION),
    ),
    ("wan_s2v", "s2v"): (
        "wan/2-2-a14b-speech-to-video-turbo",
        lambda o, u: _prompt_and(
            o, u, image="image_url", audio="audio_url", options={"resolution": "resolution"}
        ),
    ),
    ("seed_lite", "t2v"): (
        "bytedance/v1-lite-text-to-video",
        lambda o, u: _prompt_and(o, u, options=DURATION_RESOLUTION, ratio="aspect_ratio"),
    ),
    ("seed_lite", "i2v"): (
        "bytedance/v1-lite-image-to-video",
        lambda o, u: _prompt_and(o, u, image="image_url", options=DURATION_RESOLUTION),
    ),
    ("seed_pro", "t2v"): (
        "bytedance/v1-pro-text-to-video",
        lambda o, u: _prompt_and(o, u, options=DURATION_RESOLUTION, ratio="aspect_ratio"),
    ),
    ("seed_pro", "i2v"): (
        "bytedance/v1-pro-image-to-video",
        lambda o, u: _prompt_and(o, u, image="image_url", options=DURATION_RESOLUTION),
    ),
    ("seed_pfast", "i2v"): (
        "bytedance/v1-pro-fast-image-to-video",
        lambda o, u: _prompt_and(o, u, image="image_url", options=DURATION_RESOLUTION),
    ),
}


def _seedance2(order: WizardOrder, urls: Urls) -> dict[str, Any]:
    """kie-api-2026.md §1.3: integer duration, aspect_ratio (adaptive = the photos decide), first/last
    frame fields OR reference_image_urls, never both; generate_audio on."""
    body: dict[str, Any] = {
        "prompt": order.prompt,
        "aspect_ratio": "adaptive" if order.ratio == "auto" else order.ratio,
        "duration": int(order.options["duration"]),
        "resolution": order.options["resolution"],
        "generate_audio": True,
    }
    images = urls.get("image", [])
    if order.mode == "refs":
        body["reference_image_urls"] = images
    else:
        body.update(zip(("first_frame_url", "last_frame_url"), images, strict=False))
    return body


def _kling3(order: WizardOrder, urls: Urls) -> dict[str, Any]:
    """kling-3.0/video: sound always (required, boolean), duration a string, mode std/pro, ≤2 image_urls."""
    body: dict[str, Any] = {
        "prompt": order.prompt,
        "duration": order.options["duration"],
        "mode": order.options["quality"],
        "sound": order.options["sound"] == "on",
    }
    if urls.get("image"):
        body["image_urls"] = urls["image"]
    else:
        body["aspect_ratio"] = order.ratio
    return body


def _minimax_h3(order: WizardOrder, urls: Urls) -> dict[str, Any]:
    """minimax-h3: first_frame_image / last_frame_image, integer duration, 768P / 2K."""
    body: dict[str, Any] = {
        "prompt": order.prompt,
        "duration": int(order.options["duration"]),
        "resolution": order.options["resolution"],
    }
    body.update(zip(("first_frame_image", "last_frame_image"), urls.get("image", []), strict=False))
    if order.ratio:
        body["aspect_ratio"] = order.ratio
    return body


SEEDANCE2_IDS = {"seedance2": "bytedance/seedance-2", "seedance2f": "bytedance/seedance-2-fast",
                 "seedance25": "bytedance/seedance-2-5"}
for _key, _model_id in SEEDANCE2_IDS.items():
    for _mode in ("t2v", "i2v", "frames", "refs"):
        MARKET[(_key, _mode)] = (_model_id, _seedance2)
for _mode in ("t2v", "i2v", "frames"):
    MARKET[("kling30", _mode)] = ("kling-3.0/video", _kling3)
MARKET[("minimax_h3", "t2v")] = ("minimax-h3/text-to-video", _minimax_h3)
MARKET[("minimax_h3", "i2v")] = ("minimax-h3/image-to-video", _minimax_h3)
MARKET[("minimax_h3", "frames")] = ("minimax-h3/image-to-video", _minimax_h3)
MARKET[("wan26", "t2v")] = (
    "wan/2-6-text-to-video",
    lambda o, u: _prompt_and(o, u, options=DURATION_RESOLUTION),
)
MARKET[("wan26", "i2v")] = (
    "wan/2-6-image-to-video",
    lambda o, u: _prompt_and(o, u, image="image_urls", options=DURATION_RESOLUTION),
)


def expected_request(order: WizardOrder, urls: Urls) -> tuple[str, dict[str, Any]]:
    """Path and JSON body KIE's docs describe for what the user chose."""
    key, mode = order.entry.key, order.mode
    if key in VEO_MODEL_IDS:  # §4.1: camelCase aspectRatio, imageUrls; 1-2 images = first/last frame
        body: dict[str, Any] = {
            "prompt": order.prompt,
            "model": VEO_MODEL_IDS[key],
            "generationType": "TEXT_2_VIDEO" if mode == "t2v" else "FIRST_AND_LAST_FRAMES_2_VIDEO",
            "resolution": order.options["resolution"],
            "enableTranslation": True,
            "aspectRatio": "Auto" if order.ratio == "auto" else order.ratio,
        }
        if urls.get("image"):
            body["imageUrls"] = urls["image"]
        return "/api/v1/veo/generate", body
    if key == "runway":  # §5.1: duration is a number; quality; imageUrl replaces aspectRatio
        body = {
            "prompt": order.prompt,
            "duration": int(order.options["duration"]),
            "quality": order.options["resolution"],
            "waterMark": "",
        }
        if urls.get("image"):
            body["imageUrl"] = urls["image"][0]
        else:
            body["aspectRatio"] = order.ratio
        return "/api/v1/runway/generate", body
    if key == "aleph":  # §5.5
        return "/api/v1/aleph/generate", {
            "prompt": order.prompt,
            "videoUrl": urls["video"][0],
            "waterMark": "",
        }
    if key == "luma":  # §6
        return "/api/v1/modify/generate", {"prompt": order.prompt, "videoUrl": urls["video"][0]}
    model_id, build_input = MARKET[
        (key, mode)
    ]  # §7.1: {model, input:{...}}, no callBackUrl without PUBLIC_URL
    return "/api/v1/jobs/createTask", {"model": model_id, "input": build_input(order, urls)}


def test_the_oracle_covers_the_whole_catalog() -> None:
    """A new catalog entry needs its documented request written down here."""
    dedicated = {"runway", "aleph", "luma", *VEO_MODEL_IDS}
    missing = [
        (e.key, m)
        for e in CATALOG.offerable()
        for m in e.modes
        if e.key not in dedicated and (e.key, m) not in MARKET
    ]
    assert not missing


# --- every catalog entry and mode, from /generate to KIE ------------------------------------------


def varied_choices(key: str, mode: str) -> tuple[str | None, dict[str, str]]:
    """Not the defaults: the last ratio in the menu and, option by option, the last allowed value,
    so non-default values (10 s, 1080p, 15 s, high, sound off...) reach KIE somewhere."""
    entry = CATALOG.get(key)
    assert entry is not None
    ratios = ratios_in_menu_order(entry.ratios_for(mode))
    ratio = ratios[-1] if ratios else None
    chosen: dict[str, str] = {}
    for option in entry.options_for(mode):
        chosen[option.key] = entry.allowed_values(mode, option.key, chosen)[-1]
    return ratio, chosen


CASES = [pytest.param(e.key, m, id=f"{e.key}-{m}") for e in CATALOG.offerable() for m in e.modes]


def leak_markers(fake_tg: FakeTelegram) -> list[str]:
    token_secret = fake_tg.token.split(":", 1)[1]
    return [
        fake_tg.token,
        token_secret,
        "/file/bot",
        fake_tg.base_url.removeprefix("http://"),
        "api.telegram.org",
    ]


@pytest.mark.parametrize(("key", "mode"), CASES)
async def test_every_model_and_mode_reaches_kie_as_documented(
    fake_tg: FakeTelegram, sim: KieSimulator, bot: RunningBot, key: str, mode: str
) -> None:
    user = await new_user(fake_tg, bot, 7000)
    ratio, options = varied_choices(key, mode)
    order = await user.walk_to_summary(key, mode, ratio=ratio, options=options, tag=f"{key}-{mode}")
    assert order.ratio == ratio and order.options == {**order.entry.mode_spec(mode).defaults(), **options}

    # The summary shows the catalog's price and the balance after it.
    quote = bot.components.catalog.quote(key, mode, order.options)
    summary = user.wizard_message()
    assert t("wizard-summary-price", price=credits_text(quote.user_credits, "en")) in (summary.text or "")
    assert t("wizard-summary-balance-after", balance=GRANT, after=GRANT - quote.user_credits) in (
        summary.text or ""
    )
    assert t("wizard-confirm", price=credits_text(quote.user_credits, "en")) in summary.button_texts

    await user.confirm()

    # Credits: reserved exactly once, exactly the quoted price.
    assert await bot.components.billing.balance(user.chat_id) == GRANT - quote.user_credits
    jobs = await jobs_of(bot, user.chat_id)
    assert len(jobs) == 1
    job = jobs[0]
    assert job.cost == quote.user_credits and job.kie_credits == quote.kie_credits
    assert job.state in (JobState.SUBMITTED, JobState.RUNNING), job.fail_reason
    # The wizard message became the job's status message.
    status = fake_tg.message(user.chat_id, job.status_message_id or 0)
    assert status is not None and not status.buttons

    # Every input went through KIE's upload API, byte for byte, in slot order.
    uploads = [r for r in sim.requests if r.path == UPLOAD_PATH]
    assert len(uploads) == len(order.inputs)
    urls: dict[str, list[str]] = {}
    for sent, upload in zip(order.inputs, uploads, strict=True):
        stored_key = f"{upload.form['uploadPath']}/{upload.form['fileName']}"
        assert sim.files[stored_key].data == sent.data
        urls.setdefault(sent.kind, []).append(f"{sim.base_url}/files/{stored_key}")
    assert len({u for values in urls.values() for u in values}) == len(order.inputs), (
        "uploads overwrote each other"
    )

    # Exactly one create call, exactly as documented.
    creates = create_requests(sim)
    assert len(creates) == 1
    path, body = expected_request(order, urls)
    assert creates[0].path == path
    assert creates[0].json == body
    assert len(sim.tasks) == 1  # the simulator's own rules accepted it

    # Nothing that reached KIE carries a Telegram URL or the bot token.
    for recorded in sim.requests:
        scanned = recorded.text_for_leak_scan()
        for marker in leak_markers(fake_tg):
            assert marker not in scanned, f"{marker!r} reached KIE in {recorded.method} {recorded.path}"
    assert not sim.telegram_leaks()


# --- menus ------------------------------------------------------------------------------------------


async def test_generate_and_the_start_button_open_the_category_menu(
    fake_tg: FakeTelegram, bot: RunningBot
) -> None:
    user = await new_user(fake_tg, bot, 7101)
    expected = [
        t("wizard-all-models"),
        *(CATEGORY_NAMES[c]["en"] for c in CATEGORY_NAMES),
        t("wizard-cancel"),
    ]
    assert [c for c, _n in CATEGORY_NAMES.items()] == list(bot.components.catalog.categories())

    await user.open()
    assert user.wizard_message().button_texts == expected
    assert "Cinematic" in expected and "For Shorts 9:16" in expected and "Avatar / talking head" in expected

    first = user.wizard_message()
    await user.tap_text(t("menu-generate"))  # the /start menu's button
    assert user.wizard_message().button_texts == expected
    assert user.wizard_message().message_id != first.message_id
    assert not fake_tg.message(user.chat_id, first.message_id).buttons  # type: ignore[union-attr]


async def test_model_buttons_show_name_and_the_text_the_lowest_price(
    fake_tg: FakeTelegram, bot: RunningBot
) -> None:
    user = await new_user(fake_tg, bot, 7102)
    catalog = bot.components.catalog
    await user.open()
    await user.tap("cat", "all")
    labels = dict((v, label) for label, v in user.choices("model"))
    assert list(labels) == [e.key for e in catalog.offerable()]
    assert not any(key.startswith("sora") for key in labels)  # retired 2026-09-24
    text = user.wizard_message().plain_text or ""
    for entry in catalog.offerable():
        assert labels[entry.key] == entry.display_name("en")
        price = catalog.price_from(entry)
        assert translate_plural("card-from", price, "en", price=price) in text

    await user.tap("back")
    await user.tap("cat", "postprod")
    assert [v for _l, v in user.choices("model")] == ["aleph", "luma"]
    await user.tap("back")
    await user.tap("cat", "shorts")
    assert [v for _l, v in user.choices("model")] == [e.key for e in catalog.in_category("shorts")]


async def test_models_command_lists_the_catalog(fake_tg: FakeTelegram, bot: RunningBot) -> None:
    user = await new_user(fake_tg, bot, 7103)
    before = len(fake_tg.messages(user.chat_id))
    await user.send("/models")
    sent = fake_tg.messages(user.chat_id)[before:]
    assert sent, "no answer to /models"
    text = "\n".join(m.text or "" for m in sent)
    assert all(len(m.plain_text or "") <= 4096 for m in sent)
    for entry in bot.components.catalog.offerable():
        assert escape(entry.name("en")) in text
        assert escape(entry.best_at_text("en")) in text  # the model step's one-line card
    assert "Sora" not in text  # retired 2026-09-24: never offered
    assert "Seedance 2.5" in text and "Kling 3.0" in text and "MiniMax H3" in text and "Wan 2.6" in text
    # Russian users read Russian descriptions.
    boris = await new_user(fake_tg, bot, 7104, language="ru")
    before = len(fake_tg.messages(boris.chat_id))
    await boris.send("/models")
    ru_text = "\n".join(m.text or "" for m in fake_tg.messages(boris.chat_id)[before:])
    assert escape(bot.components.catalog.entries[0].best_at_text("ru")) in ru_text
    assert "от 60 кредитов" in ru_text


async def test_mode_step_only_for_models_with_several_modes(fake_tg: FakeTelegram, bot: RunningBot) -> None:
    user = await new_user(fake_tg, bot, 7105)
    await user.choose_model("kling25")
    # The mode is preset (the catalog's first for a new user): straight to the prompt, with ✏️ Mode.
    assert user.step_action() is None and "mode" in user.editable()
    assert t("wizard-edit-field", field="Text → video") in user.wizard_message().button_texts
    await user.tap("edit", "mode")
    assert [v for _l, v in user.choices("mode")] == ["t2v", "i2v"]
    await user.open()
    await user.choose_model("aleph")  # one mode, no ratio, no options: straight to the video
    assert user.step_action() is None and user.editable() == []
    assert t("input-limits", types="MOV, MP4", max_mb=20) in (user.wizard_message().text or "")


async def test_ratio_step_offers_supported_ratios_9_16_first_and_remembers_the_choice(
    fake_tg: FakeTelegram, bot: RunningBot
) -> None:
    user = await new_user(fake_tg, bot, 7106)
    await user.choose_model("runway")
    # Preset to the model's recommended ratio; its step comes only with ✏️, the current value ticked.
    assert t("wizard-edit-field", field="9:16") in user.wizard_message().button_texts
    await user.tap("edit", "ratio")
    shown = user.choices("ratio")
    assert [v for _l, v in shown] == [encode_ratio(r) for r in ("9:16", "16:9", "4:3", "1:1", "3:4")]
    assert shown[0][0] == f"✓ {t('ratio-9-16')}" and "Shorts / Reels / TikTok" in shown[0][0]
    assert [label for label, _v in shown if label.startswith("✓")] == [shown[0][0]]
    await user.tap("ratio", encode_ratio("16:9"))
    assert user.step_action() is None  # back at the prompt step
    assert (await bot.components.accounts.get(user.chat_id)).default_ratio == "16:9"  # type: ignore[union-attr]

    # Next time (another model too) the last choice is preset.
    await user.open()
    await user.choose_model("kling25")
    assert t("wizard-edit-field", field="16:9") in user.wizard_message().button_texts
    await user.tap("edit", "ratio")
    labels = dict((v, label) for label, v in user.choices("ratio"))
    assert list(labels) == [encode_ratio(r) for r in ("9:16", "16:9", "1:1")]
    assert labels[encode_ratio("16:9")] == f"✓ {t('ratio-16-9')}"
    assert not labels[encode_ratio("9:16")].startswith("✓")


async def test_forbidden_option_combinations_are_never_offered(
    fake_tg: FakeTelegram, bot: RunningBot
) -> None:
    user = await new_user(fake_tg, bot, 7107)
    # Runway: 10 s only in 720p, so after 10 s there is no resolution to change.
    order = await user.walk_to_summary("runway", "t2v", ratio="9:16", options={"duration": "10"})
    assert order.options == {"duration": "10", "resolution": "720p"}
    assert "Resolution: 720p" in (user.wizard_message().text or "")
    assert "opt:resolution" not in user.editable() and "opt:duration" in user.editable()
    # With 5 s both resolutions are offered.
    await user.change("opt:duration", "opt", "duration=5")
    await user.tap("edit", encode_field("opt:resolution"))
    assert [v for _l, v in user.choices("opt")] == ["resolution=720p", "resolution=1080p"]
    await user.tap("opt", "resolution=1080p")
    # 10 s again: every duration is offered, and 1080p gives way to the only resolution 10 s has.
    await user.tap("edit", encode_field("opt:duration"))
    assert [v for _l, v in user.choices("opt")] == ["duration=5", "duration=10"]
    await user.tap("opt", "duration=10")
    assert user.step_action() == "ok"
    assert "Resolution: 720p" in (user.wizard_message().text or "")
    # Hailuo 2.3: 1080P only with 6 s.
    await user.open()
    await user.choose_model("hailuo23_pro")
    assert user.step_action() is None and "opt:resolution" in user.editable()  # the photo step
    await user.change("opt:duration", "opt", "duration=10")
    assert user.step_action() is None  # the resolution was settled (768P), the photo is next
    assert "opt:resolution" not in user.editable()
    await user.change("opt:duration", "opt", "duration=6")
    await user.tap("edit", encode_field("opt:resolution"))
    assert [v for _l, v in user.choices("opt")] == ["resolution=768P", "resolution=1080P"]


async def test_summary_escapes_and_shortens_the_prompt(fake_tg: FakeTelegram, bot: RunningBot) -> None:
    user = await new_user(fake_tg, bot, 7108)
    prompt = "<b>Bold</b> & <script>x</script> " + "long words " * 150
    await user.walk_to_summary("runway", "t2v", ratio="9:16", prompt=prompt.strip())
    summary = user.wizard_message()
    text = summary.text or ""
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; &lt;script&gt;" in text
    assert "<script>" not in text and "…" in text
    assert len(summary.plain_text or "") < 1500
    buttons = summary.button_texts
    confirm = t("wizard-confirm", price=credits_text(12, "en"))
    assert (buttons[0], buttons[-1]) == (confirm, t("wizard-cancel"))
    # One ✏️ button per field, showing its value, in the order the wizard would ask them.
    fields = ("Runway Gen-3", "Text → video", "9:16", "5 s", "720p", "Prompt")
    assert buttons[1:-1] == [t("wizard-edit-field", field=f) for f in fields]
    for label in ("Runway Gen-3", "Text → video", "9:16", "Duration: 5 s", "Resolution: 720p"):
        assert label in text


# --- navigation -----------------------------------------------------------------------------------


async def test_back_returns_to_the_previous_step_everywhere(fake_tg: FakeTelegram, bot: RunningBot) -> None:
    user = await new_user(fake_tg, bot, 7109)
    await user.open()
    assert t("wizard-back") not in user.wizard_message().button_texts  # nothing to go back to
    await user.tap("cat", "all")
    await user.tap("back")
    assert user.step_action() == "cat"
    await user.tap("cat", "all")
    await user.tap("model", "wan25")
    # Mode, ratio and options are preset: the prompt step, and Back skips what was not asked.
    assert user.step_action() is None and t("wizard-back") in user.wizard_message().button_texts
    await user.tap("back")
    assert user.step_action() == "model"
    await user.tap("model", "wan25")
    # A preset field asked again, then Back: the step before, as it was.
    await user.tap("edit", "mode")
    assert [v for _l, v in user.choices("mode")] == ["t2v", "i2v"]
    await user.tap("back")
    assert user.step_action() is None and "ratio" in user.editable()
    await user.change("mode", "mode", "i2v")  # no ratio for image→video: the photo step
    assert "ratio" not in user.editable() and "Image → video" in (user.wizard_message().text or "")
    await user.tap("back")  # the change undone: text→video again, at the prompt step
    assert "ratio" in user.editable()
    await user.tap("edit", encode_field("opt:duration"))
    assert [v for _l, v in user.choices("opt")] == ["duration=5", "duration=10"]
    await user.tap("back")
    assert user.step_action() is None and "opt:duration" in user.editable()
    await user.change("ratio", "ratio", encode_ratio("1:1"))
    await user.change("opt:resolution", "opt", "resolution=1080p")
    await user.send(DEFAULT_PROMPT)
    assert user.step_action() == "ok"
    await user.tap_text(t("wizard-edit-field", field=t("wizard-summary-prompt")))  # ✏️ Prompt
    assert user.step_action() is None
    await user.send("A calm lake at dawn")
    summary = user.wizard_message().text or ""
    assert "A calm lake at dawn" in summary and "Resolution: 1080p" in summary and "1:1" in summary


async def test_cancel_button_and_command_end_the_wizard(
    fake_tg: FakeTelegram, sim: KieSimulator, bot: RunningBot
) -> None:
    user = await new_user(fake_tg, bot, 7110)
    await user.choose_model("kling25")
    wizard = user.wizard_message()
    mode_button = next(d for d in wizard.callback_datas if ":edit:mode" in d)  # ✏️ the preset mode
    await user.tap("cancel")
    cancelled = fake_tg.message(user.chat_id, wizard.message_id)
    assert cancelled is not None and cancelled.text == t("wizard-cancelled") and not cancelled.buttons
    # The old button (say, from a cached client) is out of date now.
    query_id = await user.forge(mode_button, message=cancelled)
    assert user.answer_text(query_id) == t("stale-button")

    # /cancel in the middle of the wizard, at a step waiting for text.
    await user.walk_to_summary("kling25", "t2v", ratio="9:16")
    await user.tap("edit", "prompt")  # the prompt step again
    wizard = user.wizard_message()
    sent_before = len(fake_tg.messages(user.chat_id))
    await user.send("/cancel")
    assert fake_tg.message(user.chat_id, wizard.message_id).text == t("wizard-cancelled")  # type: ignore[union-attr]
    # One answer: the wizard message says it; no second "cancelled" message.
    assert len(fake_tg.messages(user.chat_id)) == sent_before
    # Text now is not the cancelled order's prompt: it starts a new order (issue 13, item 10),
    # at the model list, and nothing reached KIE.
    await user.send("A cat on a skateboard")
    assert user.step_action() == "model" and user.wizard_message().message_id != wizard.message_id
    assert t("wizard-start-text") in (user.wizard_message().text or "")
    assert not create_requests(sim) and not await jobs_of(bot, user.chat_id)
    await user.tap("cancel")
    # /cancel with nothing to cancel still answers.
    await user.send("/cancel")
    assert user.last_text() == t("cancelled")


async def test_buttons_of_an_outdated_message_do_nothing(fake_tg: FakeTelegram, bot: RunningBot) -> None:
    user = await new_user(fake_tg, bot, 7111)
    await user.open()
    old = user.wizard_message()
    old_data = WizardCallback(draft=user.draft_id, action="cat", value="all").pack()
    await user.open()  # a fresh wizard: the old message loses its keyboard
    fresh = user.wizard_message()
    assert fresh.message_id != old.message_id
    assert not fake_tg.message(user.chat_id, old.message_id).buttons  # type: ignore[union-attr]
    query_id = await user.forge(old_data, message=old)
    assert user.answer_text(query_id) == t("stale-button")
    assert user.wizard_message().text == fresh.text and user.step_action() == "cat"

    # The same draft, but a message the wizard has moved on from (after a photo, a new message).
    await user.choose_model("kling25")
    await user.change("mode", "mode", "i2v")
    await user.change("opt:duration", "opt", "duration=10")
    photo_step = user.wizard_message()
    back_data = WizardCallback(draft=user.draft_id, action="back").pack()
    await user.send_input("image", b"\xff\xd8\xff\xe0 a photo")
    prompt_step = user.wizard_message()
    assert prompt_step.message_id != photo_step.message_id
    query_id = await user.forge(back_data, message=fake_tg.message(user.chat_id, photo_step.message_id))
    assert user.answer_text(query_id) == t("stale-button")
    assert user.wizard_message().text == prompt_step.text  # unchanged: still asking for the prompt


async def test_unexpected_messages_get_a_hint(fake_tg: FakeTelegram, bot: RunningBot) -> None:
    user = await new_user(fake_tg, bot, 7112)
    await user.choose_model("runway")
    await user.tap("edit", "ratio")  # a step answered with buttons
    before = user.wizard_message().message_id
    await user.send("16:9 please")
    texts = user.texts()
    assert t("wizard-use-buttons") in texts
    # The menu comes back below the hint, and it is the only live one.
    assert user.wizard_message().message_id > before and user.step_action() == "ratio"
    assert not fake_tg.message(user.chat_id, before).buttons  # type: ignore[union-attr]
    await user.user.send_sticker()
    await user.settle()
    assert texts.count(t("wizard-use-buttons")) < user.texts().count(t("wizard-use-buttons"))
    # A command that is not the wizard's is not swallowed by it.
    await user.send("/nosuchcommand")
    assert user.last_text() == t("unknown-command")
    await user.send("/help")
    assert user.last_text() == t("help-text")
    assert user.step_action() == "ratio"  # and the wizard is still there


# --- confirm: exactly one job and one charge --------------------------------------------------------


async def test_double_tap_replay_and_second_device_make_one_job(
    fake_tg: FakeTelegram, sim: KieSimulator, bot: RunningBot
) -> None:
    user = await new_user(fake_tg, bot, 7113)
    await user.walk_to_summary("kling25", "t2v", ratio="9:16")
    summary = user.wizard_message()
    ok = WizardCallback(draft=user.draft_id, action="ok").pack()
    price = bot.components.catalog.quote("kling25", "t2v", {}).user_credits
    # Two taps before the bot handled the first one (a double tap, or two devices of one account).
    first = await user.user.click(summary, ok)
    second = await user.user.click(summary, ok, strict=False)
    await user.settle()
    await bot.components.generation.wait_submissions(timeout=10)
    answers = {user.answer_text(first), user.answer_text(second)}
    assert answers == {t("wizard-confirmed"), t("wizard-already-confirmed")}
    # A third tap on the copy of the summary a slow client still shows.
    third = await user.user.click(summary, ok, strict=False)
    await user.settle()
    assert user.answer_text(third) == t("wizard-already-confirmed")

    assert len(await jobs_of(bot, user.chat_id)) == 1
    assert len(create_requests(sim)) == 1
    assert await bot.components.billing.balance(user.chat_id) == GRANT - price


async def test_replayed_confirm_update_is_harmless(
    fake_tg: FakeTelegram, sim: KieSimulator, bot: RunningBot
) -> None:
    user = await new_user(fake_tg, bot, 7114)
    await user.walk_to_summary("veo_lite", "t2v", ratio="9:16")
    price = bot.components.catalog.quote("veo_lite", "t2v", {}).user_credits
    ok = WizardCallback(draft=user.draft_id, action="ok").pack()
    summary = user.wizard_message()
    update = {
        "callback_query": {
            "id": "999000111",
            "from": user.user.user.to_api(),
            "message": summary.data,
            "chat_instance": "1",
            "data": ok,
        }
    }
    pushed = await fake_tg.push_update(update)
    await user.settle()
    await bot.components.generation.wait_submissions(timeout=10)
    # Telegram delivering it again: a webhook retry keeps the update id, an app re-sending an
    # unanswered query gets a new one (tdlib/telegram-bot-api#699).
    await fake_tg.replay_update(pushed, new_update_id=False)
    await fake_tg.replay_update(pushed, new_update_id=True)
    await user.settle()
    assert len(await jobs_of(bot, user.chat_id)) == 1
    assert len(create_requests(sim)) == 1
    assert await bot.components.billing.balance(user.chat_id) == GRANT - price


async def test_concurrent_confirms_from_two_devices(
    fake_tg: FakeTelegram, sim: KieSimulator, bot: RunningBot
) -> None:
    user = await new_user(fake_tg, bot, 7115)
    await user.walk_to_summary("kling25", "t2v", ratio="9:16")
    summary = user.wizard_message()
    ok = WizardCallback(draft=user.draft_id, action="ok").pack()
    await asyncio.gather(*(user.user.click(summary, ok, strict=False) for _ in range(5)))
    await user.settle()
    await bot.components.generation.wait_submissions(timeout=10)
    price = bot.components.catalog.quote("kling25", "t2v", {}).user_credits
    assert len(await jobs_of(bot, user.chat_id)) == 1
    assert len(create_requests(sim)) == 1
    assert await bot.components.billing.balance(user.chat_id) == GRANT - price


async def test_not_enough_credits_charges_nothing(
    fake_tg: FakeTelegram, sim: KieSimulator, bot: RunningBot
) -> None:
    user = await new_user(fake_tg, bot, 7116, credits=20)
    await user.walk_to_summary("veo_fast", "t2v", ratio="9:16")
    summary = user.wizard_message()
    assert t("wizard-summary-not-enough", balance=20, price=60) in (summary.text or "")
    assert t("menu-buy") in summary.button_texts and user.step_action() is None  # no Confirm
    # A forged Confirm anyway.
    query_id = await user.forge(WizardCallback(draft=user.draft_id, action="ok"))
    assert user.answer_text(query_id) == t("wizard-not-enough-credits", balance=20, price=60)
    assert t("wizard-summary-not-enough", balance=20, price=60) in (user.wizard_message().text or "")
    assert await bot.components.billing.balance(user.chat_id) == 20
    assert not await jobs_of(bot, user.chat_id) and not create_requests(sim)


# --- forged buttons -----------------------------------------------------------------------------------


async def test_forged_callbacks_are_rejected_and_charge_nothing(
    fake_tg: FakeTelegram, sim: KieSimulator, bot: RunningBot
) -> None:
    user = await new_user(fake_tg, bot, 7117)

    async def rejected(data: WizardCallback | str, expected: str) -> None:
        before = user.wizard_message()
        query_id = await user.forge(data)
        assert user.answer_text(query_id) == expected, data
        after = user.wizard_message()
        assert (after.message_id, after.text, after.callback_datas) == (
            before.message_id,
            before.text,
            before.callback_datas,
        )

    await user.open()
    d = user.draft_id
    not_available, stale = t("wizard-not-available"), t("stale-button")
    await rejected(WizardCallback(draft=d, action="cat", value="nsfw"), not_available)
    # a model before the category
    await rejected(WizardCallback(draft=d, action="model", value="kling25"), stale)
    await user.tap("cat", "postprod")
    # not in this category
    await rejected(WizardCallback(draft=d, action="model", value="sora2"), not_available)
    await rejected(WizardCallback(draft=d, action="model", value="gpt5-video"), not_available)
    await user.tap("back")
    await user.tap("cat", "all")
    # retired (Sora 2, 2026-09-24): in no menu, so a forged button for it is refused
    await rejected(WizardCallback(draft=d, action="model", value="sora2"), not_available)
    await rejected(WizardCallback(draft=d, action="model", value="sora2_pro"), not_available)
    await user.tap("model", "kling25")
    # Mode, ratio and options preset: no step asks them until their ✏️ is tapped.
    await rejected(WizardCallback(draft=d, action="mode", value="i2v"), stale)
    await rejected(WizardCallback(draft=d, action="edit", value="opt=resolution"), not_available)
    await rejected(WizardCallback(draft=d, action="edit", value="nothing"), not_available)
    await user.tap("edit", "mode")
    await rejected(WizardCallback(draft=d, action="mode", value="v2v"), not_available)
    await rejected(WizardCallback(draft=d, action="mode", value="avatar"), not_available)
    await user.tap("mode", "t2v")
    await user.tap("edit", "ratio")
    # Runway has it, Kling not
    await rejected(WizardCallback(draft=d, action="ratio", value=encode_ratio("4:3")), not_available)
    await rejected(WizardCallback(draft=d, action="ratio", value="auto"), not_available)
    # an option while the ratio is asked
    await rejected(WizardCallback(draft=d, action="opt", value="duration=5"), stale)
    await user.tap("ratio", encode_ratio("9:16"))
    await user.tap("edit", encode_field("opt:duration"))
    await rejected(WizardCallback(draft=d, action="opt", value="duration=15"), not_available)
    # another option's key
    await rejected(WizardCallback(draft=d, action="opt", value="resolution=1080p"), not_available)
    await rejected(WizardCallback(draft=d, action="ok"), stale)  # Confirm before the summary
    await rejected(WizardCallback(draft=d, action="skip"), stale)
    await rejected(WizardCallback(draft=d, action="zzz", value="1"), not_available)
    await rejected("w:garbage", stale)  # unparsable: the fallback router
    await rejected("w", stale)

    # Runway: 1080p after 10 s is a forbidden combination.
    await user.open()
    await user.choose_model("runway")
    d = user.draft_id
    await user.change("opt:duration", "opt", "duration=10")
    assert user.step_action() is None  # resolution settled to 720p: the prompt is next
    assert "opt:resolution" not in user.editable()
    await rejected(WizardCallback(draft=d, action="opt", value="resolution=1080p"), stale)
    await rejected(WizardCallback(draft=d, action="edit", value="opt=resolution"), not_available)

    assert await bot.components.billing.balance(user.chat_id) == GRANT
    assert not await jobs_of(bot, user.chat_id) and not create_requests(sim)


async def test_another_users_draft_id_is_rejected(
    fake_tg: FakeTelegram, sim: KieSimulator, bot: RunningBot
) -> None:
    alice = await new_user(fake_tg, bot, 7118)
    mallory = await new_user(fake_tg, bot, 7119)
    await alice.walk_to_summary("kling25", "t2v", ratio="9:16")
    alice_summary = alice.wizard_message()
    alice_ok = WizardCallback(draft=alice.draft_id, action="ok").pack()
    # Mallory's own wizard, with Alice's draft id in a forged button.
    await mallory.walk_to_summary("kling25", "t2v", ratio="9:16")
    query_id = await mallory.forge(alice_ok)
    assert mallory.answer_text(query_id) == t("stale-button")
    # Mallory presses the button on Alice's message (as if the message had been forwarded).
    query_id = await fake_tg.click(mallory.user.user, alice_summary, alice_ok)
    await mallory.settle()
    assert mallory.answer_text(query_id) == t("stale-button")
    assert not await jobs_of(bot, alice.chat_id) and not await jobs_of(bot, mallory.chat_id)
    assert await bot.components.billing.balance(alice.chat_id) == GRANT
    assert await bot.components.billing.balance(mallory.chat_id) == GRANT
    assert not create_requests(sim)
    # Alice's own order still works.
    await alice.confirm()
    assert len(await jobs_of(bot, alice.chat_id)) == 1 and not await jobs_of(bot, mallory.chat_id)


# --- KIE refuses the order at submit ---------------------------------------------------------------


async def test_kie_validation_error_at_submit_refunds_and_says_what_to_change(
    fake_tg: FakeTelegram, sim: KieSimulator, bot: RunningBot
) -> None:
    user = await new_user(fake_tg, bot, 7120)
    await user.walk_to_summary(
        "wan25", "t2v", ratio="9:16", options={"duration": "10", "resolution": "1080p"}
    )
    sim.faults.inject("create", code=422, msg="resolution 1080p is not available for 10 s videos")
    await user.confirm()
    jobs = await jobs_of(bot, user.chat_id)
    assert len(jobs) == 1 and jobs[0].state is JobState.FAILED
    assert await bot.components.billing.balance(user.chat_id) == GRANT  # refunded
    status_id = jobs[0].status_message_id or 0

    def told() -> bool:
        status = fake_tg.message(user.chat_id, status_id)
        return status is not None and t("fail-kie_rejected_request") in (status.text or "")

    await fake_tg.wait_until(told, timeout=5)
    text = fake_tg.message(user.chat_id, status_id).text or ""  # type: ignore[union-attr]
    assert "resolution 1080p is not available for 10 s videos" in text
    assert str(jobs[0].cost) in text  # "... credits are back on your balance"


async def test_a_prompt_kie_would_refuse_is_refused_before_any_reservation(
    fake_tg: FakeTelegram, sim: KieSimulator, bot: RunningBot
) -> None:
    """A Luma prompt with a Latin-looking letter outside what KIE takes ("Ḁ", Latin Extended
    Additional): the bot's English check now refuses it as KIE would, before credits are reserved."""
    user = await new_user(fake_tg, bot, 7121)
    await user.choose_model("luma")
    await user.send_input("video", fake_bytes("video", "clip"), duration=8)
    await user.send("Make it look like Ḁrctic winter")
    assert user.last_text() == translate("order-prompt_not_english", "en")
    assert not await jobs_of(bot, user.chat_id)
    assert await bot.components.billing.balance(user.chat_id) == GRANT
    assert not create_requests(sim) and not sim.tasks
