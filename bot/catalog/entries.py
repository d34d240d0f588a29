"""The models we sell. Adding a model is adding an entry here.

Facts (model ids, fields, limits, prices) come from /work/shared/kie-api.md; where that document has no
figure, the entry says what we assumed (`notes`) and uncertain prices come from `PriceOverrides`.
Ratios list 9:16 first: most of our users make vertical clips.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

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


def _veo(key: str, kie_model: str, label: str, prices: tuple[int, int], descriptions: dict[str, str],
         categories: tuple[str, ...]) -> ModelEntry:
    options = (_resolution(("720p", "1080p"), "720p"),)
    price = _table(("resolution",), {("720p",): prices[0], ("1080p",): prices[1]})
    prompt = _prompt(UNDOCUMENTED_PROMPT_MAX)
    image_ratios = ("9:16", "16:9", "auto")  # "auto": Veo centre-crops to what the image is closer to
    return ModelEntry(
        key=key, family=Family.VEO, maker="Google DeepMind",
        names={"en": label, "ru": label}, descriptions=descriptions, categories=categories,
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
              "documented; market rules (JPEG/PNG/WEBP ≤10 MB) assumed.",
    )


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
        categories=("cinematic", "quality", "audio", "shorts") if pro else ("cinematic", "audio", "shorts"),
        modes=_modes(
            _mode(Mode.T2V, f"{prefix}-text-to-video", prompt=prompt, ratios=("9:16", "16:9"),
                  options=options, price=price, wire=WireSpec(**base_wire)),
            _mode(Mode.I2V, f"{prefix}-image-to-video", inputs=(_images(1),), prompt=prompt,
                  ratios=("9:16", "16:9"), options=options, price=price,
                  wire=WireSpec(image_field="image_urls", image_as_list=True, **base_wire)),
        ),
        notes=("" if pro else "15 s price not published: PRICE_SORA2_15S (default 45 = 10 s pro rata). ")
        + "Sora 2 API availability on KIE after 2026-09-24 is uncertain.",
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
        categories=("avatar",),
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
        categories=("quality", "stylization"),
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
        categories=("cinematic",),
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
        categories=("cinematic",),
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
        categories=("fast", "stylization", "shorts") if tier == "pro-fast" else ("stylization", "shorts"),
        modes=_modes(i2v) if tier == "pro-fast" else _modes(t2v, i2v),
        notes=f"Seedance 1.0 prices are not published: {setting} credits per second, any resolution.",
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
        _veo("veo_fast", "veo3_fast", "Veo 3.1 Fast", (60, 65),
             {"en": "Google's Veo 3.1, fast: 8 s video with sound, native 9:16",
              "ru": "Veo 3.1 от Google, быстрый: 8 с видео со звуком, нативный 9:16"},
             ("cinematic", "quality", "audio", "shorts")),
        _veo("veo_quality", "veo3", "Veo 3.1 Quality", (250, 255),
             {"en": "Google's best Veo 3.1: cinematic 8 s video with sound",
              "ru": "Лучший Veo 3.1 от Google: кинематографичные 8 с со звуком"},
             ("cinematic", "quality", "audio", "shorts")),
        _veo("veo_lite", "veo3_lite", "Veo 3.1 Lite", (30, 35),
             {"en": "The cheapest Veo 3.1: 8 s video with sound",
              "ru": "Самый доступный Veo 3.1: 8 с видео со звуком"},
             ("cinematic", "audio", "shorts")),
        _sora(False, prices),
        _sora(True, prices),
        ModelEntry(
            key="kling25", family=Family.MARKET, maker="Kuaishou",
            names={"en": "Kling 2.5 Turbo", "ru": "Kling 2.5 Turbo"},
            descriptions={"en": "Fast and affordable, realistic motion, 5–10 s",
                          "ru": "Быстрая и недорогая, реалистичное движение, 5–10 с"},
            categories=("fast", "shorts"),
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
            categories=("audio", "avatar", "shorts"),
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
            categories=("fast", "shorts"),
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
            categories=("stylization", "postprod"),
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
            categories=("shorts",),
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
            categories=("audio", "avatar"),
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
            categories=("postprod",),
            modes=_modes(
                _mode(Mode.V2V, "luma-modify", inputs=(_video(MP4_MOV_AVI, 500, 10),),
                      prompt=_prompt(UNDOCUMENTED_PROMPT_MAX, english_only=True),
                      price=_flat(prices.luma_modify)),
            ),
            notes="Price not published: PRICE_LUMA_MODIFY. Prompts must be English; input ≤10 s "
                  "(KIE allows 500 MB, Telegram 20 MB).",
        ),
    )
