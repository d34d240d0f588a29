"""The models we sell. Adding a model is adding an entry here.

Facts (model ids, fields, limits, prices) come from /work/shared/kie-api.md; where that document has no
figure, the entry says what we assumed (`notes`) and uncertain prices come from `PriceOverrides`.
Ratios list 9:16 first: most of our users make vertical clips.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from bot.catalog.facts import Strength, Tier
from bot.catalog.model import (
    MB,
    TELEGRAM_DOWNLOAD_LIMIT_BYTES,
    Family,
    InputKind,
    InputRule,
    Mode,
    ModelEntry,
    ModeSpec,
    OptionSpec,
    PromptRule,
    Retirement,
    WireSpec,
    price_table,
)
from bot.catalog.prices import PriceOverrides

# --- input file rules ---------------------------------------------------------------------------
JPEG_PNG = ("image/jpeg", "image/png")
JPEG_PNG_WEBP = (*JPEG_PNG, "image/webp")
# Telegram reports .m4a as audio/mp4 or audio/x-m4a, voice notes as audio/ogg; .wav as audio/wav or x-wav.
KLING_AUDIO = ("audio/mpeg", "audio/mp3", "audio/wav", "audio/x-wav", "audio/aac", "audio/mp4",
               "audio/x-m4a", "audio/ogg")
WAN_AUDIO = (*KLING_AUDIO, "audio/flac", "audio/x-flac", "audio/x-ms-wma")
MP4_MOV = ("video/mp4", "video/quicktime")
MP4_MOV_AVI = (*MP4_MOV, "video/x-msvideo", "video/avi")


def _mb(megabytes: int) -> int:
    """A documented size limit, capped by what a bot can download from Telegram."""
    return min(megabytes * MB, TELEGRAM_DOWNLOAD_LIMIT_BYTES)


def _images(count: int = 1, types: tuple[str, ...] = JPEG_PNG_WEBP, max_mb: int = 10) -> InputRule:
    return InputRule(InputKind.IMAGE, count, types, _mb(max_mb))


def _audio(types: tuple[str, ...], max_mb: int, max_s: int | None = None,
           duration_option: str | None = None) -> InputRule:
    return InputRule(InputKind.AUDIO, 1, types, _mb(max_mb), max_s, duration_option)


def _video(types: tuple[str, ...], max_mb: int, max_s: int | None) -> InputRule:
    return InputRule(InputKind.VIDEO, 1, types, _mb(max_mb), max_s)


# Veo, Aleph and Luma document no prompt maximum; 4000 fits in one Telegram message (4096).
UNDOCUMENTED_PROMPT_MAX = 4000


def _prompt(max_length: int, *, required: bool = True, english_only: bool = False) -> PromptRule:
    return PromptRule(required=required, min_length=1 if required else 0, max_length=max_length,
                      english_only=english_only)


# --- options ------------------------------------------------------------------------------------
def _duration(values: tuple[str, ...], default: str, *, up_to: bool = False) -> OptionSpec:
    if up_to:  # the value caps the input audio length (avatar pricing)
        titles = {"en": "Audio length", "ru": "Длина аудио"}
        labels = {v: {"en": f"up to {v} s", "ru": f"до {v} с"} for v in values}
    else:
        titles = {"en": "Duration", "ru": "Длительность"}
        labels = {v: {"en": f"{v} s", "ru": f"{v} с"} for v in values}
    return OptionSpec("duration", values, default, titles, labels)


def _resolution(values: tuple[str, ...], default: str) -> OptionSpec:
    return OptionSpec("resolution", values, default, {"en": "Resolution", "ru": "Разрешение"})


SOUND = OptionSpec(
    "sound", ("on", "off"), "on", {"en": "Sound", "ru": "Звук"},
    {"on": {"en": "With sound", "ru": "Со звуком"}, "off": {"en": "No sound", "ru": "Без звука"}},
)
SORA_SIZE = OptionSpec(
    "size", ("standard", "high"), "standard", {"en": "Quality", "ru": "Качество"},
    {"standard": {"en": "Standard (720p)", "ru": "Стандарт (720p)"},
     "high": {"en": "High (1080p)", "ru": "Высокое (1080p)"}},
)

RUNWAY_RATIOS = ("9:16", "16:9", "4:3", "1:1", "3:4")
KLING_WAN_RATIOS = ("9:16", "16:9", "1:1")
NO_1080_AT_10S = {"duration": "10", "resolution": "1080p"}
NO_1080P_AT_10S = {"duration": "10", "resolution": "1080P"}  # Hailuo spells it with a capital P

PriceOf = Callable[[Mapping[str, str]], int]


def _mode(
    mode: Mode,
    kie_model: str,
    *,
    inputs: tuple[InputRule, ...] = (),
    prompt: PromptRule,
    ratios: tuple[str, ...] = (),
    options: tuple[OptionSpec, ...] = (),
    forbidden: tuple[Mapping[str, str], ...] = (),
    price: PriceOf,
    wire: WireSpec | None = None,
    clip_seconds: int | None = None,
) -> ModeSpec:
    return ModeSpec(mode, kie_model, inputs, prompt, ratios, options, forbidden,
                    price_table(options, forbidden, price), wire, clip_seconds)


def _modes(*specs: ModeSpec) -> dict[str, ModeSpec]:
    return {spec.mode.value: spec for spec in specs}


def _table(by: tuple[str, ...], prices: Mapping[tuple[str, ...], int]) -> PriceOf:
    """Price looked up by the values of the options `by` (in that order)."""
    return lambda options: prices[tuple(options[key] for key in by)]


def _per_second(credits_per_s: int) -> PriceOf:
    return lambda options: credits_per_s * int(options["duration"])


def _flat(credits: int) -> PriceOf:
    return lambda _options: credits


# --- the entries --------------------------------------------------------------------------------
VEO_CLIP_S = 8  # KIE's default duration; the bot does not send another


def _veo(key: str, kie_model: str, label: str, prices: tuple[int, int, int], descriptions: dict[str, str],
         best_at: dict[str, str], tier: Tier, badges: tuple[str, ...] = ()) -> ModelEntry:
    """prices: KIE credits at 720p, 1080p and 4K (kie-api.md §4.7)."""
    options = (OptionSpec("resolution", ("720p", "1080p", "4k"), "720p",
                          {"en": "Resolution", "ru": "Разрешение"}, {"4k": {"en": "4K", "ru": "4K"}}),)
    price = _table(("resolution",), {("720p",): prices[0], ("1080p",): prices[1], ("4k",): prices[2]})
    prompt = _prompt(UNDOCUMENTED_PROMPT_MAX)
    image_ratios = ("9:16", "16:9", "auto")  # "auto": Veo centre-crops to what the image is closer to
    return ModelEntry(
        key=key, family=Family.VEO, maker="Google DeepMind",
        names={"en": label, "ru": label}, descriptions=descriptions, best_at=best_at, tier=tier,
        strengths=(Strength.CINEMATIC,) if tier is Tier.TOP else (), makes_sound=True, badges=badges,
        modes=_modes(
            _mode(Mode.T2V, kie_model, prompt=prompt, ratios=("9:16", "16:9"), options=options, price=price,
                  clip_seconds=VEO_CLIP_S),
            _mode(Mode.I2V, kie_model, inputs=(_images(1),), prompt=prompt, ratios=image_ratios,
                  options=options, price=price, clip_seconds=VEO_CLIP_S),
            _mode(Mode.FRAMES, kie_model, inputs=(_images(2),), prompt=prompt, ratios=image_ratios,
                  options=options, price=price, clip_seconds=VEO_CLIP_S),
        ),
        notes="8 s clip with sound (KIE default duration; 4/6/8 s cost the same). Prompt maximum not "
              "documented; non-English prompts are sent with enableTranslation. Image limits not "
              "documented; market rules (JPEG/PNG/WEBP ≤10 MB) assumed. 4K is asked for in the generate "
              "call (`resolution: 4k`, 2026 schema), priced as KIE's 4K column (generation + its 4K step); "
              "no separate get-4k-video call is made.",
    )


# kie-api-2026.md §1.1: OpenAI shut the Sora 2 models and the Videos API down; KIE's Sora pages went with it.
SORA2_RETIRED = Retirement(date(2026, 9, 24), "OpenAI shut the Sora 2 API down on 2026-09-24; KIE no longer "
                                              "serves sora-2-* models")


def _sora(pro: bool, prices: PriceOverrides) -> ModelEntry:
    prefix = "sora-2-pro" if pro else "sora-2"
    options: tuple[OptionSpec, ...] = (_duration(("10", "15"), "10"),)
    option_fields = {"duration": "n_frames"}
    if pro:
        options = (*options, SORA_SIZE)
        option_fields["size"] = "size"
        price = _table(("duration", "size"), {("10", "standard"): 150, ("15", "standard"): 270,
                                              ("10", "high"): 330, ("15", "high"): 630})
    else:
        price = _table(("duration",), {("10",): 30, ("15",): prices.sora2_15s})
    base_wire: dict[str, Any] = {
        "ratio_field": "aspect_ratio",
        "ratio_values": {"9:16": "portrait", "16:9": "landscape"},
        "option_fields": option_fields,
        # Paying users get the clean file; KIE exposes the switch on the model itself.
        "constants": {"remove_watermark": True},
    }
    prompt = _prompt(10000)
    name = "Sora 2 Pro" if pro else "Sora 2"
    return ModelEntry(
        key="sora2_pro" if pro else "sora2", family=Family.MARKET, maker="OpenAI",
        names={"en": name, "ru": name},
        descriptions=(
            {"en": "OpenAI's top model: 10–15 s with synced dialogue and sound, up to 1080p",
             "ru": "Топовая модель OpenAI: 10–15 с, синхронный диалог и звук, до 1080p"}
            if pro else
            {"en": "OpenAI's Sora 2: smooth physics and native audio, 10–15 s",
             "ru": "Sora 2 от OpenAI: плавная физика и родной звук, 10–15 с"}
        ),
        best_at=({"en": "Dialogue scenes with synced sound", "ru": "Сцены с диалогом и синхронным звуком"}
                 if pro else {"en": "Smooth physics with sound", "ru": "Плавная физика со звуком"}),
        tier=Tier.TOP if pro else Tier.STANDARD, makes_sound=True,
        modes=_modes(
            _mode(Mode.T2V, f"{prefix}-text-to-video", prompt=prompt, ratios=("9:16", "16:9"),
                  options=options, price=price, wire=WireSpec(**base_wire)),
            _mode(Mode.I2V, f"{prefix}-image-to-video", inputs=(_images(1),), prompt=prompt,
                  ratios=("9:16", "16:9"), options=options, price=price,
                  wire=WireSpec(image_field="image_urls", image_as_list=True, **base_wire)),
        ),
        notes=("" if pro else "15 s price not published: PRICE_SORA2_15S (default 45 = 10 s pro rata). "),
        retired=SORA2_RETIRED,
    )


def _kling_avatar(pro: bool) -> ModelEntry:
    per_second = 16 if pro else 8
    kie_model = "kling/ai-avatar-pro" if pro else "kling/ai-avatar-standard"
    label = "Kling AI Avatar Pro" if pro else "Kling AI Avatar"
    quality = "1080p" if pro else "720p"
    return ModelEntry(
        key="kavatar_pro" if pro else "kavatar_std", family=Family.MARKET, maker="Kuaishou",
        names={"en": label, "ru": label},
        descriptions={"en": f"Photo + voice → talking video with lip-sync, {quality}",
                      "ru": f"Фото + голос → говорящее видео с синхронизацией губ, {quality}"},
        best_at={"en": f"Your photo speaks your audio, lip-synced, {quality}",
                 "ru": f"Ваше фото говорит вашим голосом, {quality}"},
        tier=Tier.PRO if pro else Tier.STANDARD,
        modes=_modes(
            _mode(Mode.AVATAR, kie_model,
                  inputs=(_images(1, JPEG_PNG), _audio(KLING_AUDIO, 100, 15, duration_option="duration")),
                  prompt=_prompt(5000, required=False),
                  options=(_duration(("5", "10", "15"), "10", up_to=True),),
                  price=_per_second(per_second),
                  wire=WireSpec(send_empty_prompt=True, image_field="image_url", audio_field="audio_url")),
        ),
        notes=f"KIE bills {per_second} credits per second of audio, up to 15 s. The user picks the "
              "maximum audio length (5/10/15 s) and pays for that; the audio must not be longer.",
    )


def _hailuo23(pro: bool) -> ModelEntry:
    tier = "pro" if pro else "standard"
    prices: dict[tuple[str, ...], int] = (
        {("6", "768P"): 45, ("10", "768P"): 90, ("6", "1080P"): 80}
        if pro
        else {("6", "768P"): 30, ("10", "768P"): 50, ("6", "1080P"): 50}
    )
    label = f"Hailuo 2.3 {'Pro' if pro else 'Standard'}"
    return ModelEntry(
        key="hailuo23_pro" if pro else "hailuo23_std", family=Family.MARKET, maker="MiniMax",
        names={"en": label, "ru": label},
        descriptions={"en": "Animates a picture: rich styles (anime, illustration, ink), micro-expressions",
                      "ru": "Оживляет картинку: стили (аниме, иллюстрация, тушь), микромимика"},
        best_at=({"en": "Styled picture animation in 1080p", "ru": "Стильная анимация картинки в 1080p"}
                 if pro else
                 {"en": "Animates a picture in styles: anime, ink",
                  "ru": "Оживляет картинку в стилях: аниме, тушь"}),
        tier=Tier.TOP if pro else Tier.STANDARD, strengths=(Strength.STYLE,),
        modes=_modes(
            _mode(Mode.I2V, f"hailuo/2-3-image-to-video-{tier}", inputs=(_images(1),), prompt=_prompt(5000),
                  options=(_duration(("6", "10"), "6"), _resolution(("768P", "1080P"), "768P")),
                  forbidden=(NO_1080P_AT_10S,), price=_table(("duration", "resolution"), prices),
                  wire=WireSpec(image_field="image_url",
                                option_fields={"duration": "duration", "resolution": "resolution"})),
        ),
        notes="KIE has no Hailuo 2.3 text→video; 1080P only with 6 s.",
    )


def _hailuo02_standard(prices: PriceOverrides) -> ModelEntry:
    i2v_prices: dict[tuple[str, ...], int] = {
        ("6", "512P"): 12,
        ("10", "512P"): 20,
        ("6", "768P"): prices.hailuo02_i2v_768p_6s,
        ("10", "768P"): 50,
    }
    return ModelEntry(
        key="hailuo02_std", family=Family.MARKET, maker="MiniMax",
        names={"en": "Hailuo 02 Standard", "ru": "Hailuo 02 Standard"},
        descriptions={"en": "Cinematic shots with precise camera moves, 6–10 s",
                      "ru": "Кинематографичные кадры с точной работой камеры, 6–10 с"},
        best_at={"en": "Camera moves from text or a photo, low price",
                 "ru": "Движения камеры по тексту или фото, недорого"},
        strengths=(Strength.CINEMATIC,),
        modes=_modes(
            _mode(Mode.T2V, "hailuo/02-text-to-video-standard", prompt=_prompt(1500),
                  options=(_duration(("6", "10"), "6"),),
                  price=_table(("duration",), {("6",): 30, ("10",): 50}),
                  wire=WireSpec(option_fields={"duration": "duration"})),
            _mode(Mode.I2V, "hailuo/02-image-to-video-standard", inputs=(_images(1),), prompt=_prompt(1500),
                  options=(_duration(("6", "10"), "6"), _resolution(("512P", "768P"), "768P")),
                  price=_table(("duration", "resolution"), i2v_prices),
                  wire=WireSpec(image_field="image_url",
                                option_fields={"duration": "duration", "resolution": "resolution"})),
        ),
        notes="Image→video 768P 6 s price not published: PRICE_HAILUO02_I2V_768P_6S (default 30). "
              "No aspect-ratio field: text→video picks its own frame.",
    )


def _hailuo02_pro() -> ModelEntry:
    return ModelEntry(
        key="hailuo02_pro", family=Family.MARKET, maker="MiniMax",
        names={"en": "Hailuo 02 Pro", "ru": "Hailuo 02 Pro"},
        descriptions={"en": "Cinematic 6 s 1080p shots with precise camera moves",
                      "ru": "Кинематографичные кадры 6 с в 1080p с точной работой камеры"},
        best_at={"en": "Camera moves in 1080p, 6 s", "ru": "Движения камеры в 1080p, 6 с"},
        tier=Tier.PRO, strengths=(Strength.CINEMATIC,),
        modes=_modes(
            _mode(Mode.T2V, "hailuo/02-text-to-video-pro", prompt=_prompt(1500), price=_flat(57),
                  wire=WireSpec(), clip_seconds=6),
            _mode(Mode.I2V, "hailuo/02-image-to-video-pro", inputs=(_images(1),), prompt=_prompt(1500),
                  price=_flat(57), wire=WireSpec(image_field="image_url"), clip_seconds=6),
        ),
        notes="Fixed 6 s, 1080p.",
    )


def _seedance(tier: str, per_second: int) -> ModelEntry:
    """tier: "lite", "pro" or "pro-fast" (Seedance 1.0 Pro Fast is image→video only)."""
    resolutions = ("720p", "1080p") if tier == "pro-fast" else ("480p", "720p", "1080p")
    options = (_duration(("5", "10"), "5"), _resolution(resolutions, "720p"))
    option_fields = {"duration": "duration", "resolution": "resolution"}
    ratios = ("9:16", "16:9", "1:1", "4:3", "3:4", "21:9" if tier == "pro" else "9:21")
    label = {"lite": "Seedance 1.0 Lite", "pro": "Seedance 1.0 Pro",
             "pro-fast": "Seedance 1.0 Pro Fast"}[tier]
    key = {"lite": "seed_lite", "pro": "seed_pro", "pro-fast": "seed_pfast"}[tier]
    i2v = _mode(Mode.I2V, f"bytedance/v1-{tier}-image-to-video", inputs=(_images(1),), prompt=_prompt(10000),
                options=options, price=_per_second(per_second),
                wire=WireSpec(image_field="image_url", option_fields=option_fields))
    t2v = _mode(Mode.T2V, f"bytedance/v1-{tier}-text-to-video", prompt=_prompt(10000), ratios=ratios,
                options=options, price=_per_second(per_second),
                wire=WireSpec(ratio_field="aspect_ratio", option_fields=option_fields))
    setting = {"lite": "PRICE_SEEDANCE_LITE_PER_S", "pro": "PRICE_SEEDANCE_PRO_PER_S",
               "pro-fast": "PRICE_SEEDANCE_PRO_FAST_PER_S"}[tier]
    return ModelEntry(
        key=key, family=Family.MARKET, maker="ByteDance",
        names={"en": label, "ru": label},
        descriptions=(
            {"en": "ByteDance's fastest: animates a picture 3× faster, 720p/1080p",
             "ru": "Самый быстрый от ByteDance: оживляет картинку в 3 раза быстрее, 720p/1080p"}
            if tier == "pro-fast" else
            {"en": "ByteDance (TikTok) model for trendy, viral-style clips, 5–10 s",
             "ru": "Модель ByteDance (TikTok) для трендовых вирусных роликов, 5–10 с"}
        ),
        best_at={
            "lite": {"en": "Trendy clips at the lowest price", "ru": "Трендовые ролики по минимальной цене"},
            "pro": {"en": "Trendy viral-style clips up to 1080p", "ru": "Трендовые вирусные ролики до 1080p"},
            "pro-fast": {"en": "Animates a picture 3× faster", "ru": "Оживляет картинку в 3 раза быстрее"},
        }[tier],
        tier={"lite": Tier.LITE, "pro": Tier.PRO, "pro-fast": Tier.FAST}[tier],
        strengths=() if tier == "pro-fast" else (Strength.STYLE,),
        modes=_modes(i2v) if tier == "pro-fast" else _modes(t2v, i2v),
        notes=f"Seedance 1.0 prices are not published: {setting} credits per second, any resolution.",
    )


# --- the 2026 line-up (kie-api-2026.md §1.3) ------------------------------------------------------
# Seedance 2.x aspect ratios; "auto" is KIE's "adaptive" (the photos decide the frame).
SEEDANCE2_RATIOS = ("9:16", "16:9", "1:1", "4:3", "3:4", "21:9")
SEEDANCE2_IMAGE_RATIOS = (*SEEDANCE2_RATIOS, "auto")
# References mode: KIE takes up to 9 (2.0) / 30 (2.5) photos; the wizard asks for a fixed number.
REFERENCE_PHOTOS = 3


def _int_durations(values: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Durations KIE wants as JSON integers (Seedance 2.x, MiniMax H3); ours are strings."""
    return {"duration": {v: int(v) for v in values}}


def _per_second_by(option: str, rates: Mapping[str, int]) -> PriceOf:
    """Credits per second looked up by one option's value (resolution), × the duration."""
    return lambda options: rates[options[option]] * int(options["duration"])


def _seedance2(key: str, kie_model: str, label: str, rates: Mapping[str, int], durations: tuple[str, ...],
               descriptions: dict[str, str], best_at: dict[str, str], tier: Tier, notes: str,
               badges: tuple[str, ...] = ()) -> ModelEntry:
    """Seedance 2.0 / 2.0 Fast / 2.5: one KIE model id, first/last frame OR references (never both)."""
    options = (_duration(durations, "5"), _resolution(tuple(rates), "720p"))
    price = _per_second_by("resolution", rates)
    base: dict[str, Any] = {
        "ratio_field": "aspect_ratio",  # required by 2.0; always sent
        "ratio_values": {"auto": "adaptive"},
        "option_fields": {"duration": "duration", "resolution": "resolution"},
        "value_maps": _int_durations(durations),
        # KIE prices Seedance 2.x the same with or without sound; every clip gets it.
        "constants": {"generate_audio": True},
    }
    prompt = _prompt(UNDOCUMENTED_PROMPT_MAX)
    return ModelEntry(
        key=key, family=Family.MARKET, maker="ByteDance", names={"en": label, "ru": label},
        descriptions=descriptions, best_at=best_at, tier=tier, makes_sound=True, badges=badges,
        modes=_modes(
            _mode(Mode.T2V, kie_model, prompt=prompt, ratios=SEEDANCE2_RATIOS, options=options, price=price,
                  wire=WireSpec(**base)),
            _mode(Mode.I2V, kie_model, inputs=(_images(1),), prompt=prompt, ratios=SEEDANCE2_IMAGE_RATIOS,
                  options=options, price=price, wire=WireSpec(image_fields=("first_frame_url",), **base)),
            _mode(Mode.FRAMES, kie_model, inputs=(_images(2),), prompt=prompt, ratios=SEEDANCE2_IMAGE_RATIOS,
                  options=options, price=price,
                  wire=WireSpec(image_fields=("first_frame_url", "last_frame_url"), **base)),
            _mode(Mode.REFS, kie_model, inputs=(_images(REFERENCE_PHOTOS),), prompt=prompt,
                  ratios=SEEDANCE2_IMAGE_RATIOS, options=options, price=price,
                  wire=WireSpec(image_field="reference_image_urls", image_as_list=True, **base)),
        ),
        notes=notes + " Frames and references are separate modes: KIE refuses both in one request. "
              "Prompt maximum and image limits not documented (4000 characters; JPEG/PNG/WEBP ≤10 MB "
              "assumed).",
    )


KLING3_QUALITY = OptionSpec(
    "quality", ("std", "pro"), "std", {"en": "Quality", "ru": "Качество"},
    {"std": {"en": "Standard (720p)", "ru": "Стандарт (720p)"},
     "pro": {"en": "Pro (1080p)", "ru": "Про (1080p)"}},
)


def _kling3() -> ModelEntry:
    durations = ("5", "10", "15")
    options = (_duration(durations, "5"), KLING3_QUALITY, SOUND)
    # $/s: std 0.07 (0.10 with sound), pro 0.09 (0.135 with sound) → credits at $0.005.
    rates = {("std", "off"): 14, ("std", "on"): 20, ("pro", "off"): 18, ("pro", "on"): 27}

    def price(chosen: Mapping[str, str]) -> int:
        return rates[(chosen["quality"], chosen["sound"])] * int(chosen["duration"])

    base: dict[str, Any] = {
        # `sound` is required by KIE: always sent, as a boolean.
        "option_fields": {"duration": "duration", "quality": "mode", "sound": "sound"},
        "value_maps": {"sound": {"on": True, "off": False}},
    }
    prompt = _prompt(2500)
    images = JPEG_PNG
    return ModelEntry(
        key="kling30", family=Family.MARKET, maker="Kuaishou",
        names={"en": "Kling 3.0", "ru": "Kling 3.0"},
        descriptions={"en": "Kling's 2026 flagship: 5–15 s with native sound, first and last frame",
                      "ru": "Флагман Kling 2026: 5–15 с с родным звуком, первый и последний кадр"},
        best_at={"en": "Kling's flagship: motion and sound, up to 15 s",
                 "ru": "Флагман Kling: движение и звук, до 15 с"},
        tier=Tier.TOP, badges=("new",),
        modes=_modes(
            _mode(Mode.T2V, "kling-3.0/video", prompt=prompt, ratios=KLING_WAN_RATIOS, options=options,
                  price=price, wire=WireSpec(ratio_field="aspect_ratio", **base)),
            _mode(Mode.I2V, "kling-3.0/video", inputs=(_images(1, images),), prompt=prompt, options=options,
                  price=price, wire=WireSpec(image_field="image_urls", image_as_list=True, **base)),
            _mode(Mode.FRAMES, "kling-3.0/video", inputs=(_images(2, images),), prompt=prompt,
                  options=options, price=price,
                  wire=WireSpec(image_field="image_urls", image_as_list=True, **base)),
        ),
        notes="KIE durations are the strings \"3\"–\"15\"; we sell 5/10/15 s. The 4K mode ($0.335/s) is "
              "not offered. With photos the photo decides the frame (no aspect_ratio sent). Prompt maximum "
              "not documented (2500 assumed, as Kling 2.5).",
    )


def _minimax_h3() -> ModelEntry:
    durations = ("6", "10", "15")
    options = (_duration(durations, "6"), _resolution(("768P", "2K"), "768P"))
    price = _per_second_by("resolution", {"768P": 16, "2K": 26})  # $0.08 / $0.13 per second
    fields: dict[str, Any] = {"option_fields": {"duration": "duration", "resolution": "resolution"},
              "value_maps": _int_durations(durations)}
    prompt = _prompt(UNDOCUMENTED_PROMPT_MAX)
    return ModelEntry(
        key="minimax_h3", family=Family.MARKET, maker="MiniMax",
        names={"en": "MiniMax H3 (Hailuo 03)", "ru": "MiniMax H3 (Hailuo 03)"},
        descriptions={"en": "MiniMax's newest: cinematic 6–15 s up to 2K, first and last frame",
                      "ru": "Новейшая модель MiniMax: кинематографичные 6–15 с до 2K, первый и последний "
                            "кадр"},
        best_at={"en": "Up to 2K and 15 s, first and last frame",
                 "ru": "До 2K и 15 с, первый и последний кадр"},
        tier=Tier.TOP, strengths=(Strength.CINEMATIC,), badges=("new",),
        modes=_modes(
            _mode(Mode.T2V, "minimax-h3/text-to-video", prompt=prompt, ratios=SEEDANCE2_RATIOS,
                  options=options, price=price, wire=WireSpec(ratio_field="aspect_ratio", **fields)),
            _mode(Mode.I2V, "minimax-h3/image-to-video", inputs=(_images(1),), prompt=prompt, options=options,
                  price=price, wire=WireSpec(image_fields=("first_frame_image",), **fields)),
            _mode(Mode.FRAMES, "minimax-h3/image-to-video", inputs=(_images(2),), prompt=prompt,
                  options=options, price=price,
                  wire=WireSpec(image_fields=("first_frame_image", "last_frame_image"), **fields)),
        ),
        notes="KIE's duration range is 4–15 s (an integer); we sell 6/10/15 s. Prompt maximum and image "
              "limits not documented (4000 characters; JPEG/PNG/WEBP ≤10 MB assumed).",
    )


def _wan26(prices: PriceOverrides) -> ModelEntry:
    options = (_duration(("5", "10", "15"), "5"), _resolution(("720p", "1080p"), "720p"))
    price = _per_second_by("resolution", {"720p": prices.wan26_720p_per_s, "1080p": prices.wan26_1080p_per_s})
    fields = {"duration": "duration", "resolution": "resolution"}
    return ModelEntry(
        key="wan26", family=Family.MARKET, maker="Alibaba",
        names={"en": "Wan 2.6", "ru": "Wan 2.6"},
        descriptions={"en": "Alibaba's Wan 2.6: up to 15 s at 1080p, good camera control",
                      "ru": "Wan 2.6 от Alibaba: до 15 с в 1080p, хорошее управление камерой"},
        best_at={"en": "Camera control, up to 15 s in 1080p", "ru": "Управление камерой, до 15 с в 1080p"},
        strengths=(Strength.CINEMATIC,),
        modes=_modes(
            _mode(Mode.T2V, "wan/2-6-text-to-video", prompt=_prompt(5000), options=options, price=price,
                  wire=WireSpec(option_fields=fields)),
            _mode(Mode.I2V, "wan/2-6-image-to-video", inputs=(_images(1),), prompt=_prompt(5000),
                  options=options, price=price,
                  wire=WireSpec(image_field="image_urls", image_as_list=True, option_fields=fields)),
        ),
        notes="Prices not published: PRICE_WAN26_720P_PER_S / PRICE_WAN26_1080P_PER_S credits per second. "
              "KIE documents no aspect-ratio field for Wan 2.6: text→video picks its own frame.",
    )


def build_entries(prices: PriceOverrides) -> tuple[ModelEntry, ...]:
    """Every model in menu order, priced with `prices` for the figures KIE does not publish."""
    wan_options = (_duration(("5", "10"), "5"), _resolution(("720p", "1080p"), "720p"))
    wan_fields = {"duration": "duration", "resolution": "resolution"}
    wan_price = _table(("duration", "resolution"),
                       {("5", "720p"): 60, ("10", "720p"): 120, ("5", "1080p"): 100, ("10", "1080p"): 200})
    kling25_duration = (_duration(("5", "10"), "5"),)
    kling25_price = _table(("duration",), {("5",): 42, ("10",): 84})
    kling26_options = (_duration(("5", "10"), "5"), SOUND)
    kling26_price = _table(("duration", "sound"), {("5", "off"): 55, ("10", "off"): 110,
                                                   ("5", "on"): 110, ("10", "on"): 220})
    kling26_wire: dict[str, Any] = {"option_fields": {"duration": "duration", "sound": "sound"},
                    "value_maps": {"sound": {"on": True, "off": False}}}
    runway_options = (_duration(("5", "10"), "5"), _resolution(("720p", "1080p"), "720p"))
    runway_price = _table(("duration", "resolution"),
                          {("5", "720p"): 12, ("10", "720p"): 30, ("5", "1080p"): 30})

    return (
        _veo("veo_fast", "veo3_fast", "Veo 3.1 Fast", (60, 65, 180),
             {"en": "Google's Veo 3.1, fast: 8 s video with sound, native 9:16",
              "ru": "Veo 3.1 от Google, быстрый: 8 с видео со звуком, нативный 9:16"},
             {"en": "Veo with sound, quicker and cheaper", "ru": "Veo со звуком, быстрее и дешевле"},
             Tier.FAST, ("recommended",)),
        _veo("veo_quality", "veo3", "Veo 3.1 Quality", (250, 255, 370),
             {"en": "Google's best Veo 3.1: cinematic 8 s video with sound",
              "ru": "Лучший Veo 3.1 от Google: кинематографичные 8 с со звуком"},
             {"en": "Google's best: film-like realism with sound",
              "ru": "Лучший у Google: кинореализм со звуком"},
             Tier.TOP),
        _veo("veo_lite", "veo3_lite", "Veo 3.1 Lite", (30, 35, 150),
             {"en": "The cheapest Veo 3.1: 8 s video with sound",
              "ru": "Самый доступный Veo 3.1: 8 с видео со звуком"},
             {"en": "The cheapest Veo: drafts with sound", "ru": "Самый дешёвый Veo: черновики со звуком"},
             Tier.LITE),
        _seedance2("seedance2", "bytedance/seedance-2", "Seedance 2.0",
                   {"480p": prices.seedance2_480p_per_s, "720p": prices.seedance2_720p_per_s,
                    "1080p": prices.seedance2_1080p_per_s}, ("5", "10", "15"),
                   {"en": "ByteDance's Seedance 2.0: clips with sound from text, frames or reference photos",
                    "ru": "Seedance 2.0 от ByteDance: ролики со звуком по тексту, кадрам или "
                          "фото-референсам"},
                   {"en": "Scenes from frames or reference photos",
                    "ru": "Сцены по кадрам или фото-референсам"},
                   Tier.TOP,
                   "Prices not published in kie-api: PRICE_SEEDANCE2_*_PER_S credits per second."),
        _seedance2("seedance2f", "bytedance/seedance-2-fast", "Seedance 2.0 Fast",
                   {"480p": prices.seedance2_fast_480p_per_s, "720p": prices.seedance2_fast_720p_per_s},
                   ("5", "10", "15"),
                   {"en": "Seedance 2.0, faster and cheaper: clips with sound up to 720p",
                    "ru": "Seedance 2.0, быстрее и дешевле: ролики со звуком до 720p"},
                   {"en": "Seedance 2.0 quicker and cheaper, 720p",
                    "ru": "Seedance 2.0 быстрее и дешевле, 720p"},
                   Tier.FAST,
                   "Prices not published in kie-api: PRICE_SEEDANCE2_FAST_*_PER_S credits per second; "
                   "no 1080p on Fast."),
        _seedance2("seedance25", "bytedance/seedance-2-5", "Seedance 2.5",
                   {"480p": 28, "720p": 63, "1080p": prices.seedance25_1080p_per_s},
                   ("5", "10", "15", "20", "30"),
                   {"en": "ByteDance's newest: up to 30 s with sound, frames or reference photos",
                    "ru": "Новейшая от ByteDance: до 30 с со звуком, по кадрам или фото-референсам"},
                   {"en": "Long clips with sound, up to 30 s", "ru": "Длинные ролики со звуком, до 30 с"},
                   Tier.TOP,
                   "$0.14/s at 480p, $0.315/s at 720p; 1080p is $0.57 or $0.79 per source: "
                   "PRICE_SEEDANCE25_1080P_PER_S (default 158 = the higher one).", ("new",)),
        _kling3(),
        _minimax_h3(),
        _wan26(prices),
        _sora(False, prices),
        _sora(True, prices),
        ModelEntry(
            key="kling25", family=Family.MARKET, maker="Kuaishou",
            names={"en": "Kling 2.5 Turbo", "ru": "Kling 2.5 Turbo"},
            descriptions={"en": "Fast and affordable, realistic motion, 5–10 s",
                          "ru": "Быстрая и недорогая, реалистичное движение, 5–10 с"},
            best_at={"en": "Realistic motion, quick and cheap",
                     "ru": "Реалистичное движение, быстро и недорого"},
            tier=Tier.FAST,
            modes=_modes(
                _mode(Mode.T2V, "kling/v2-5-turbo-text-to-video-pro", prompt=_prompt(2500),
                      ratios=KLING_WAN_RATIOS, options=kling25_duration, price=kling25_price,
                      wire=WireSpec(ratio_field="aspect_ratio", option_fields={"duration": "duration"})),
                _mode(Mode.I2V, "kling/v2-5-turbo-image-to-video-pro", inputs=(_images(1, JPEG_PNG),),
                      prompt=_prompt(2500), options=kling25_duration, price=kling25_price,
                      wire=WireSpec(image_field="image_url", option_fields={"duration": "duration"})),
            ),
        ),
        ModelEntry(
            key="kling26", family=Family.MARKET, maker="Kuaishou",
            names={"en": "Kling 2.6", "ru": "Kling 2.6"},
            descriptions={"en": "Native sound with lip-sync: talking, singing, effects, 5–10 s",
                          "ru": "Родной звук с синхронизацией губ: речь, пение, эффекты, 5–10 с"},
            best_at={"en": "Talking and singing with lip-sync", "ru": "Речь и пение с синхронизацией губ"},
            badges=("recommended",),
            modes=_modes(
                _mode(Mode.T2V, "kling-2.6/text-to-video", prompt=_prompt(1000), ratios=KLING_WAN_RATIOS,
                      options=kling26_options, price=kling26_price,
                      wire=WireSpec(ratio_field="aspect_ratio", **kling26_wire)),
                _mode(Mode.I2V, "kling-2.6/image-to-video", inputs=(_images(1, JPEG_PNG),),
                      prompt=_prompt(1000),
                      options=kling26_options, price=kling26_price,
                      wire=WireSpec(image_field="image_urls", image_as_list=True, **kling26_wire)),
            ),
        ),
        _kling_avatar(False),
        _kling_avatar(True),
        ModelEntry(
            key="runway", family=Family.RUNWAY, maker="Runway",
            names={"en": "Runway Gen-3", "ru": "Runway Gen-3"},
            descriptions={"en": "Gen-3 Alpha Turbo: quick, flexible aspect ratios, 5–10 s",
                          "ru": "Gen-3 Alpha Turbo: быстро, любые пропорции, 5–10 с"},
            best_at={"en": "The cheapest quick draft, any aspect ratio",
                     "ru": "Самый дешёвый быстрый черновик, любые пропорции"},
            tier=Tier.FAST,
            modes=_modes(
                _mode(Mode.T2V, "runway-gen3-alpha-turbo", prompt=_prompt(1800), ratios=RUNWAY_RATIOS,
                      options=runway_options, forbidden=(NO_1080_AT_10S,), price=runway_price),
                _mode(Mode.I2V, "runway-gen3-alpha-turbo", inputs=(_images(1),), prompt=_prompt(1800),
                      options=runway_options, forbidden=(NO_1080_AT_10S,), price=runway_price),
            ),
            notes="1080p only with 5 s. With an image, the image decides the frame (aspectRatio ignored). "
                  "Image limits not documented; JPEG/PNG/WEBP ≤10 MB assumed.",
        ),
        ModelEntry(
            key="aleph", family=Family.ALEPH, maker="Runway",
            names={"en": "Runway Aleph", "ru": "Runway Aleph"},
            descriptions={"en": "Edit your video with words: restyle, relight, add or remove things",
                          "ru": "Редактируйте видео словами: стиль, свет, добавить или убрать объекты"},
            best_at={"en": "Edit your video with words", "ru": "Правка вашего видео словами"},
            strengths=(Strength.STYLE,),
            modes=_modes(
                _mode(Mode.V2V, "runway-aleph", inputs=(_video(MP4_MOV, 20, None),),
                      prompt=_prompt(UNDOCUMENTED_PROMPT_MAX), price=_flat(110)),
            ),
            notes="Input video limits are not documented; Telegram's 20 MB applies. The video decides "
                  "the frame.",
        ),
        _hailuo23(False),
        _hailuo23(True),
        _hailuo02_standard(prices),
        _hailuo02_pro(),
        ModelEntry(
            key="wan25", family=Family.MARKET, maker="Alibaba",
            names={"en": "Wan 2.5", "ru": "Wan 2.5"},
            descriptions={"en": "Alibaba's Wan 2.5: good camera control, 5–10 s up to 1080p",
                          "ru": "Wan 2.5 от Alibaba: хорошее управление камерой, 5–10 с до 1080p"},
            best_at={"en": "Camera control, 5–10 s", "ru": "Управление камерой, 5–10 с"},
            strengths=(Strength.CINEMATIC,),
            modes=_modes(
                _mode(Mode.T2V, "wan/2-5-text-to-video", prompt=_prompt(800), ratios=KLING_WAN_RATIOS,
                      options=wan_options, price=wan_price,
                      wire=WireSpec(ratio_field="aspect_ratio", option_fields=wan_fields)),
                _mode(Mode.I2V, "wan/2-5-image-to-video", inputs=(_images(1),), prompt=_prompt(800),
                      options=wan_options, price=wan_price,
                      wire=WireSpec(image_field="image_url", option_fields=wan_fields)),
            ),
        ),
        ModelEntry(
            key="wan_s2v", family=Family.MARKET, maker="Alibaba",
            names={"en": "Wan speech→video", "ru": "Wan речь→видео"},
            descriptions={"en": "Photo + speech + prompt → a 5 s clip of the person talking",
                          "ru": "Фото + речь + описание → 5 с ролик, где человек говорит"},
            best_at={"en": "A photo speaks your audio, guided by a prompt",
                     "ru": "Фото говорит вашим голосом, по описанию"},
            modes=_modes(
                _mode(Mode.S2V, "wan/2-2-a14b-speech-to-video-turbo",
                      inputs=(_images(1), _audio(WAN_AUDIO, 10)), prompt=_prompt(5000),
                      options=(_resolution(("480p", "580p", "720p"), "480p"),),
                      # KIE bills per second of output; we keep KIE's defaults of 80 frames at 16 fps = 5 s.
                      price=_table(("resolution",), {("480p",): 60, ("580p",): 90, ("720p",): 120}),
                      wire=WireSpec(image_field="image_url", audio_field="audio_url",
                                    option_fields={"resolution": "resolution"}),
                      clip_seconds=5),
            ),
            notes="Wan 2.2 A14B Turbo (KIE has no Wan 2.5 speech→video). Output is 5 s (80 frames at 16 fps, "
                  "KIE defaults), billed 12/18/24 credits per second at 480p/580p/720p.",
        ),
        _seedance("lite", prices.seedance_lite_per_s),
        _seedance("pro", prices.seedance_pro_per_s),
        _seedance("pro-fast", prices.seedance_pro_fast_per_s),
        ModelEntry(
            key="luma", family=Family.MODIFY, maker="Luma AI",
            names={"en": "Luma Modify", "ru": "Luma Modify"},
            descriptions={"en": "Restyle a clip up to 10 s: color grading and effects (English prompt)",
                          "ru": "Перестилизация ролика до 10 с: цветокоррекция и эффекты "
                                "(промпт на английском)"},
            best_at={"en": "Restyle a clip: colour grading, effects",
                     "ru": "Перестилизация ролика: цвет, эффекты"},
            strengths=(Strength.STYLE,),
            modes=_modes(
                _mode(Mode.V2V, "luma-modify", inputs=(_video(MP4_MOV_AVI, 500, 10),),
                      prompt=_prompt(UNDOCUMENTED_PROMPT_MAX, english_only=True),
                      price=_flat(prices.luma_modify)),
            ),
            notes="Price not published: PRICE_LUMA_MODIFY. Prompts must be English; input ≤10 s "
                  "(KIE allows 500 MB, Telegram 20 MB).",
        ),
    )
