"""The simulator's own validation table, written from /work/shared/kie-api.md §4-§8.

Deliberately independent of bot/catalog: if the catalog or an adapter sends something KIE's docs do
not allow, the simulator answers 422 like KIE would, and the test fails.

Strict mode also rejects parameters the docs do not list for a model (a typo such as `aspectRatio`
inside a market `input` would be silently ignored by KIE and produce the wrong video).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class RuleViolation(Exception):
    """One 422 answer; `message` imitates KIE's wording where known."""

    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class FieldRule:
    kind: str  # "str" | "bool" | "int" | "number" | "url" | "url_list" | "str_list" | "any"
    required: bool = False
    choices: tuple[Any, ...] | None = None
    max_len: int | None = None      # strings: characters; lists: items
    min_value: float | None = None
    max_value: float | None = None
    step: int | None = None         # integers that must be a multiple of step (from min_value)
    allow_empty: bool = False       # a required string that may be "" (Kling avatar prompt)


@dataclass(frozen=True)
class MediaChoice:
    """What the simulated result looks like: which committed clip is served."""

    ratio: str  # "9x16" | "16x9" | "1x1"
    with_audio: bool


def ratio_name(value: Any, default: str = "16x9") -> str:
    text = str(value or "").strip().lower()
    if text in ("9:16", "portrait", "3:4", "9:21"):
        return "9x16"
    if text in ("1:1", "square"):
        return "1x1"
    if text in ("16:9", "landscape", "4:3", "21:9", "auto"):
        return "16x9"
    return default


@dataclass(frozen=True)
class ModelRule:
    model_id: str
    fields: Mapping[str, FieldRule]
    price: Callable[[Mapping[str, Any]], int]
    audio: Callable[[Mapping[str, Any]], bool] = lambda _: False
    ratio_field: str | None = None
    default_ratio: str = "16x9"
    forbidden: Callable[[Mapping[str, Any]], str | None] = lambda _: None
    english_only: bool = False
    has_progress: bool = False        # market `progress` 0-100 (Sora only)
    accepts_progress_callback: bool = False
    known_fields_only: bool = True    # False for models whose parameters we did not collect

    def media(self, params: Mapping[str, Any]) -> MediaChoice:
        ratio = ratio_name(params.get(self.ratio_field), self.default_ratio) if self.ratio_field else (
            self.default_ratio
        )
        return MediaChoice(ratio, bool(self.audio(params)))


# ---------------------------------------------------------------------------- generic field checks


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def check_field(name: str, rule: FieldRule, value: Any) -> None:
    kind = rule.kind
    if kind in ("str", "url"):
        if not isinstance(value, str):
            raise RuleViolation(f"{name} must be a string")
        if kind == "url" and not _is_url(value):
            raise RuleViolation(f"{name} must be an http(s) URL")
        if rule.required and not value.strip() and not rule.allow_empty:
            raise RuleViolation(f"{name} is required")
        if rule.max_len is not None and len(value) > rule.max_len:
            raise RuleViolation(f"{name} exceeds the maximum length of {rule.max_len} characters")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise RuleViolation(f"{name} must be a boolean")
    elif kind in ("int", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RuleViolation(f"{name} must be a number")
        if kind == "int" and not float(value).is_integer():
            raise RuleViolation(f"{name} must be an integer")
        if rule.min_value is not None and value < rule.min_value:
            raise RuleViolation(f"{name} must be at least {rule.min_value}")
        if rule.max_value is not None and value > rule.max_value:
            raise RuleViolation(f"{name} must be at most {rule.max_value}")
        if rule.step and (int(value) - int(rule.min_value or 0)) % rule.step:
            raise RuleViolation(f"{name} must be a multiple of {rule.step}")
    elif kind in ("url_list", "str_list"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RuleViolation(f"{name} must be an array of strings")
        if kind == "url_list" and not all(_is_url(v) for v in value):
            raise RuleViolation(f"{name} must contain http(s) URLs")
        if rule.required and not value:
            raise RuleViolation(f"{name} is required")
        if rule.max_len is not None and len(value) > rule.max_len:
            raise RuleViolation(f"{name} accepts at most {rule.max_len} items")
    if rule.choices is not None and value not in rule.choices:
        allowed = ", ".join(repr(c) for c in rule.choices)
        raise RuleViolation(f"{name} must be one of {allowed}")


def check_fields(params: Mapping[str, Any], fields: Mapping[str, FieldRule], *, prefix: str = "",
                 known_fields_only: bool, strict: bool) -> None:
    for name, rule in fields.items():
        if name not in params or params[name] is None:
            if rule.required:
                raise RuleViolation(f"{prefix}{name} is required")
            continue
        check_field(prefix + name, rule, params[name])
    if strict and known_fields_only:
        for name in params:
            if name not in fields:
                raise RuleViolation(f"{prefix}{name} is not a parameter of this model")


def is_english(text: str) -> bool:
    """Luma Modify accepts English only; we call any letter outside Latin-1 non-English."""
    return all(not ch.isalpha() or ord(ch) < 0x250 for ch in text)


def collect_urls(value: Any) -> list[str]:
    """Every http(s) string anywhere in a request body (for the uploaded-inputs and leak checks)."""
    if isinstance(value, str):
        return [value] if _is_url(value) else []
    if isinstance(value, list):
        return [u for item in value for u in collect_urls(item)]
    if isinstance(value, dict):
        return [u for key, item in value.items() if key not in ("callBackUrl", "progressCallBackUrl")
                for u in collect_urls(item)]
    return []


# ---------------------------------------------------------------------------- dedicated families

VEO_PRICES = {  # kie-api.md §4.7
    "veo3": {"720p": 250, "1080p": 255, "4k": 370},
    "veo3_fast": {"720p": 60, "1080p": 65, "4k": 180},
    "veo3_lite": {"720p": 30, "1080p": 35, "4k": 150},
}

VEO_FIELDS: dict[str, FieldRule] = {
    "prompt": FieldRule("str", required=True),
    "imageUrls": FieldRule("url_list", max_len=3),
    "model": FieldRule("str", choices=("veo3", "veo3_fast", "veo3_lite")),
    "generationType": FieldRule("str", choices=("TEXT_2_VIDEO", "FIRST_AND_LAST_FRAMES_2_VIDEO",
                                                "REFERENCE_2_VIDEO")),
    "aspectRatio": FieldRule("str", choices=("16:9", "9:16", "Auto")),
    "aspect_ratio": FieldRule("str", choices=("16:9", "9:16", "Auto")),  # quickstart spelling
    "watermark": FieldRule("str"),
    "callBackUrl": FieldRule("url"),
    "enableTranslation": FieldRule("bool"),
    "seeds": FieldRule("int", min_value=10000, max_value=99999),
    "enableFallback": FieldRule("bool"),
    "resolution": FieldRule("str", choices=("720p", "1080p", "4k")),
    "duration": FieldRule("int", choices=(4, 6, 8)),
}


def validate_veo(body: Mapping[str, Any], strict: bool) -> tuple[int, MediaChoice, str]:
    check_fields(body, VEO_FIELDS, known_fields_only=True, strict=strict)
    model = body.get("model") or "veo3_fast"
    images = body.get("imageUrls") or []
    generation_type = body.get("generationType")
    if generation_type == "REFERENCE_2_VIDEO":
        if model not in ("veo3_fast", "veo3_lite"):
            raise RuleViolation("REFERENCE_2_VIDEO is only supported by veo3_fast and veo3_lite")
        if not 1 <= len(images) <= 3:
            raise RuleViolation("REFERENCE_2_VIDEO needs 1 to 3 imageUrls")
        if body.get("duration") not in (None, 8):
            raise RuleViolation("REFERENCE_2_VIDEO supports only an 8 second duration")
    if generation_type == "FIRST_AND_LAST_FRAMES_2_VIDEO" and not 1 <= len(images) <= 2:
        raise RuleViolation("FIRST_AND_LAST_FRAMES_2_VIDEO needs 1 or 2 imageUrls")
    if generation_type in (None, "TEXT_2_VIDEO") and len(images) > 2:
        raise RuleViolation("imageUrls accepts at most 2 images outside REFERENCE_2_VIDEO")
    ratio = body.get("aspectRatio") or body.get("aspect_ratio") or "16:9"
    price = VEO_PRICES[model][body.get("resolution") or "720p"]
    return price, MediaChoice(ratio_name(ratio), True), model


RUNWAY_FIELDS: dict[str, FieldRule] = {
    "prompt": FieldRule("str", required=True, max_len=1800),
    "duration": FieldRule("int", required=True, choices=(5, 10)),
    "quality": FieldRule("str", required=True, choices=("720p", "1080p")),
    "imageUrl": FieldRule("url"),
    "aspectRatio": FieldRule("str", choices=("16:9", "4:3", "1:1", "3:4", "9:16")),
    "waterMark": FieldRule("str"),
    "callBackUrl": FieldRule("url"),
}


def validate_runway(body: Mapping[str, Any], strict: bool) -> tuple[int, MediaChoice, str]:
    check_fields(body, RUNWAY_FIELDS, known_fields_only=True, strict=strict)
    if body["quality"] == "1080p" and body["duration"] == 10:
        raise RuleViolation("1080p is only available for 5-second videos")
    if not body.get("imageUrl") and not body.get("aspectRatio"):
        raise RuleViolation("aspectRatio is required for text-to-video")
    price = {(5, "720p"): 12, (10, "720p"): 30, (5, "1080p"): 30}[(body["duration"], body["quality"])]
    return price, MediaChoice(ratio_name(body.get("aspectRatio")), False), "runway"


ALEPH_FIELDS: dict[str, FieldRule] = {
    "prompt": FieldRule("str", required=True),
    "videoUrl": FieldRule("url", required=True),
    "callBackUrl": FieldRule("url"),
    "waterMark": FieldRule("str"),
    "uploadCn": FieldRule("bool"),
    "aspectRatio": FieldRule("str", choices=("16:9", "9:16", "4:3", "3:4", "1:1", "21:9")),
    "seed": FieldRule("int"),
    "referenceImage": FieldRule("url"),
}


def validate_aleph(body: Mapping[str, Any], strict: bool) -> tuple[int, MediaChoice, str]:
    check_fields(body, ALEPH_FIELDS, known_fields_only=True, strict=strict)
    return 110, MediaChoice(ratio_name(body.get("aspectRatio")), False), "aleph"


MODIFY_FIELDS: dict[str, FieldRule] = {
    "prompt": FieldRule("str", required=True),
    "videoUrl": FieldRule("url", required=True),
    "callBackUrl": FieldRule("url"),
    "watermark": FieldRule("str"),
}
LUMA_MODIFY_PRICE = 120  # not published by KIE (kie-api.md §6); same default as PRICE_LUMA_MODIFY


def validate_modify(body: Mapping[str, Any], strict: bool) -> tuple[int, MediaChoice, str]:
    check_fields(body, MODIFY_FIELDS, known_fields_only=True, strict=strict)
    if not is_english(body["prompt"]):
        raise RuleViolation("Prompts only support English")
    return LUMA_MODIFY_PRICE, MediaChoice("16x9", False), "luma-modify"


# ---------------------------------------------------------------------------- market models


def _s(*values: str) -> tuple[str, ...]:
    return values


def _prompt(max_len: int, required: bool = True, allow_empty: bool = False) -> FieldRule:
    return FieldRule("str", required=required, max_len=max_len, allow_empty=allow_empty)


def _per_second(rate: float, default_duration: int = 5, field_name: str = "duration") -> Callable[
    [Mapping[str, Any]], int
]:
    def price(params: Mapping[str, Any]) -> int:
        return math.ceil(rate * int(params.get(field_name) or default_duration))

    return price


def _table(key: Callable[[Mapping[str, Any]], Any], prices: Mapping[Any, int], fallback: int) -> Callable[
    [Mapping[str, Any]], int
]:
    return lambda params: prices.get(key(params), fallback)


_SORA_COMMON: dict[str, FieldRule] = {
    "prompt": _prompt(10000),
    "aspect_ratio": FieldRule("str", choices=_s("portrait", "landscape")),
    "n_frames": FieldRule("str", choices=_s("10", "15")),
    "remove_watermark": FieldRule("bool"),
    "upload_method": FieldRule("str", choices=_s("s3", "oss")),
    "character_id_list": FieldRule("str_list", max_len=5),
}
_SORA_IMAGE = {"image_urls": FieldRule("url_list", required=True, max_len=1)}
_SORA_SIZE = {"size": FieldRule("str", choices=_s("standard", "high"))}
_SORA_STABLE = {k: v for k, v in _SORA_COMMON.items() if k in ("prompt", "aspect_ratio", "n_frames",
                                                                "upload_method")}


def _sora_price(params: Mapping[str, Any]) -> int:
    return 30 if params.get("n_frames", "10") == "10" else 45


def _sora_pro_price(params: Mapping[str, Any]) -> int:
    high = params.get("size") == "high"
    ten = params.get("n_frames", "10") == "10"
    return {(False, True): 150, (False, False): 270, (True, True): 330, (True, False): 630}[(high, ten)]


def _sora(
    model_id: str, fields: dict[str, FieldRule], price: Callable[[Mapping[str, Any]], int]
) -> ModelRule:
    return ModelRule(model_id, fields, price, audio=lambda _: True, ratio_field="aspect_ratio",
                     default_ratio="16x9", has_progress=True, accepts_progress_callback=True)


_KLING_DURATION = FieldRule("str", choices=_s("5", "10"))
_KLING_RATIO = FieldRule("str", choices=_s("16:9", "9:16", "1:1"))
_CFG = FieldRule("number", min_value=0, max_value=1)


def _kling26_price(params: Mapping[str, Any]) -> int:
    base = 55 if params.get("duration") == "5" else 110
    return base * 2 if params.get("sound") else base


def _hailuo23_forbidden(params: Mapping[str, Any]) -> str | None:
    if params.get("resolution") == "1080P" and params.get("duration") == "10":
        return "1080P resolution does not support 10 second videos"
    return None


def _hailuo23_price(table: Mapping[tuple[str, str], int]) -> Callable[[Mapping[str, Any]], int]:
    return _table(lambda p: (p.get("duration") or "6", p.get("resolution") or "768P"), table, 0)


_HAILUO23_FIELDS: dict[str, FieldRule] = {
    "prompt": _prompt(5000),
    "image_url": FieldRule("url", required=True),
    "duration": FieldRule("str", choices=_s("6", "10")),
    "resolution": FieldRule("str", choices=_s("768P", "1080P")),
    "nsfw_checker": FieldRule("bool"),
}

_WAN25_COMMON: dict[str, FieldRule] = {
    "prompt": _prompt(800),
    "duration": FieldRule("str", required=True, choices=_s("5", "10")),
    "resolution": FieldRule("str", choices=_s("720p", "1080p")),
    "negative_prompt": _prompt(500, required=False),
    "enable_prompt_expansion": FieldRule("bool"),
    "seed": FieldRule("int"),
}


def _wan25_price(params: Mapping[str, Any]) -> int:
    rate = 20 if params.get("resolution") == "1080p" else 12
    return rate * int(params.get("duration") or 5)


_SEEDANCE_SEED = FieldRule("int", min_value=-1, max_value=2147483647)
_SEEDANCE_T2V: dict[str, FieldRule] = {
    "prompt": _prompt(10000),
    "aspect_ratio": FieldRule("str", choices=_s("16:9", "4:3", "1:1", "3:4", "9:16", "9:21")),
    "resolution": FieldRule("str", choices=_s("480p", "720p", "1080p")),
    "duration": FieldRule("str", choices=_s("5", "10")),
    "camera_fixed": FieldRule("bool"),
    "seed": _SEEDANCE_SEED,
    "enable_safety_checker": FieldRule("bool"),
    "nsfw_checker": FieldRule("bool"),
}
_SEEDANCE_I2V: dict[str, FieldRule] = {
    "prompt": _prompt(10000),
    "image_url": FieldRule("url", required=True),
    "resolution": FieldRule("str", choices=_s("480p", "720p", "1080p")),
    "duration": FieldRule("str", choices=_s("5", "10")),
    "camera_fixed": FieldRule("bool"),
    "seed": _SEEDANCE_SEED,
    "enable_safety_checker": FieldRule("bool"),
}

_WAN_S2V_RES_RATE = {"480p": 12, "580p": 18, "720p": 24}  # $0.06/0.09/0.12 per second


def _wan_s2v_price(params: Mapping[str, Any]) -> int:
    seconds = int(params.get("num_frames") or 80) / int(params.get("frames_per_second") or 16)
    return math.ceil(_WAN_S2V_RES_RATE[params.get("resolution") or "480p"] * seconds)


# --- the 2026 line-up (kie-api-2026.md §1.3), from the docs, not from the catalog -------------------
_SEEDANCE2_RATIOS = _s("1:1", "4:3", "3:4", "16:9", "9:16", "21:9", "adaptive")
_SEEDANCE2_FRAME_FIELDS = ("first_frame_url", "last_frame_url")
_SEEDANCE2_REFERENCE_FIELDS = ("reference_image_urls", "reference_video_urls", "reference_audio_urls")


def _seedance2_fields(resolutions: tuple[str, ...], max_duration: int, max_images: int,
                      max_videos: int, max_audios: int, ratio_required: bool) -> dict[str, FieldRule]:
    return {
        "prompt": FieldRule("str", required=True),
        "first_frame_url": FieldRule("url"),
        "last_frame_url": FieldRule("url"),
        "reference_image_urls": FieldRule("url_list", max_len=max_images),
        "reference_video_urls": FieldRule("url_list", max_len=max_videos),
        "reference_audio_urls": FieldRule("url_list", max_len=max_audios),
        "aspect_ratio": FieldRule("str", required=ratio_required, choices=_SEEDANCE2_RATIOS),
        "resolution": FieldRule("str", choices=resolutions),
        # An integer (not "5"); 2.5 also takes -1 = automatic length.
        "duration": FieldRule("int", min_value=4 if max_duration < 30 else -1, max_value=max_duration),
        "generate_audio": FieldRule("bool"),
        "web_search": FieldRule("bool"),
        "nsfw_checker": FieldRule("bool"),
        "return_last_frame": FieldRule("bool"),
    }


def _seedance2_forbidden(params: Mapping[str, Any]) -> str | None:
    frames = [f for f in _SEEDANCE2_FRAME_FIELDS if params.get(f)]
    references = [f for f in _SEEDANCE2_REFERENCE_FIELDS if params.get(f)]
    if frames and references:
        return "first/last frame and reference inputs cannot be used in the same request"
    if params.get("last_frame_url") and not params.get("first_frame_url"):
        return "last_frame_url requires first_frame_url"
    if params.get("reference_audio_urls") and not (
        params.get("reference_image_urls") or params.get("reference_video_urls")
    ):
        return "reference audio must come with a reference image or video"
    duration = params.get("duration")
    if isinstance(duration, int) and not isinstance(duration, bool) and 0 <= duration < 4:
        return "duration must be between 4 and the model's maximum, or -1 for automatic"
    return None


def _dollars_to_credits(dollars: float) -> int:
    # 1 credit = $0.005; rounded to 6 places first so 0.07 / 0.005 is 14, not 14.000000000000002 → 15.
    return math.ceil(round(dollars / 0.005, 6))


def _rate_by_resolution(rates: Mapping[str, float], default_resolution: str = "720p") -> Callable[
    [Mapping[str, Any]], int
]:
    """KIE credits = $/s ÷ $0.005 × seconds, rounded up; a -1 (automatic) duration bills the maximum."""
    def price(params: Mapping[str, Any]) -> int:
        seconds = int(params.get("duration") or 5)
        seconds = 30 if seconds < 0 else seconds
        return _dollars_to_credits(rates[params.get("resolution") or default_resolution] * seconds)

    return price


def _seedance2(model_id: str, rates: Mapping[str, float], max_duration: int, max_images: int,
               max_videos: int, max_audios: int, ratio_required: bool) -> ModelRule:
    return ModelRule(
        model_id,
        _seedance2_fields(tuple(rates), max_duration, max_images, max_videos, max_audios, ratio_required),
        _rate_by_resolution(rates), audio=lambda p: p.get("generate_audio", True) is not False,
        ratio_field="aspect_ratio", forbidden=_seedance2_forbidden,
    )


_KLING3_RATES = {("std", False): 0.07, ("std", True): 0.10, ("pro", False): 0.09, ("pro", True): 0.135,
                 ("4K", False): 0.335, ("4K", True): 0.335}


def _kling3_price(params: Mapping[str, Any]) -> int:
    rate = _KLING3_RATES[(params.get("mode") or "std", bool(params.get("sound")))]
    return _dollars_to_credits(rate * int(params.get("duration") or 5))


_KLING3_FIELDS: dict[str, FieldRule] = {
    "prompt": _prompt(2500, required=False),
    "sound": FieldRule("bool", required=True),  # KIE answers 422 without it
    "duration": FieldRule("str", choices=tuple(str(n) for n in range(3, 16))),
    "aspect_ratio": FieldRule("str", choices=_s("16:9", "9:16", "1:1")),
    "mode": FieldRule("str", choices=_s("std", "pro", "4K")),
    "image_urls": FieldRule("url_list", max_len=2),
    "multi_shots": FieldRule("bool"),
    "multi_prompt": FieldRule("any"),
    "kling_elements": FieldRule("any"),
}


def _kling3_forbidden(params: Mapping[str, Any]) -> str | None:
    if not params.get("multi_shots") and not str(params.get("prompt") or "").strip():
        return "input.prompt is required"
    return None


_MINIMAX_H3_RATES = {"768P": 0.08, "2K": 0.13}
_MINIMAX_H3_COMMON: dict[str, FieldRule] = {
    "prompt": FieldRule("str", required=True),
    "duration": FieldRule("int", min_value=4, max_value=15),
    "resolution": FieldRule("str", choices=_s("768P", "2K")),
}
_MINIMAX_H3_RATIOS = FieldRule("str", choices=_s("21:9", "16:9", "4:3", "1:1", "3:4", "9:16", "adaptive"))

_WAN26_COMMON: dict[str, FieldRule] = {
    "prompt": _prompt(5000),
    "duration": FieldRule("str", choices=_s("5", "10", "15")),
    "resolution": FieldRule("str", choices=_s("720p", "1080p")),
}
# Not published: the bot's PRICE_WAN26_* defaults (credits per second).
_WAN26_PRICE = _table(lambda p: p.get("resolution") or "1080p", {"720p": 20, "1080p": 30}, 30)


def _wan26_price(params: Mapping[str, Any]) -> int:
    return _WAN26_PRICE(params) * int(params.get("duration") or 5)


def _lineup_2026_rules() -> list[ModelRule]:
    return [
        # Seedance 2.0: aspect_ratio required; 1080p only on the full model; ≤9 images / 3 videos / 3 audios.
        _seedance2("bytedance/seedance-2", {"480p": 0.095, "720p": 0.205, "1080p": 0.51}, 15, 9, 3, 3, True),
        _seedance2("bytedance/seedance-2-fast", {"480p": 0.0775, "720p": 0.165}, 15, 9, 3, 3, True),
        _seedance2("bytedance/seedance-2-mini", {"480p": 0.0775, "720p": 0.165}, 15, 9, 3, 3, True),
        # Seedance 2.5: duration 4–30 (or -1), ≤30 images / 10 videos / 10 audios.
        _seedance2("bytedance/seedance-2-5", {"480p": 0.14, "720p": 0.315, "1080p": 0.57}, 30, 30, 10, 10,
                   False),
        ModelRule("kling-3.0/video", _KLING3_FIELDS, _kling3_price, audio=lambda p: bool(p.get("sound")),
                  ratio_field="aspect_ratio", forbidden=_kling3_forbidden),
        ModelRule("minimax-h3/text-to-video", {**_MINIMAX_H3_COMMON, "aspect_ratio": _MINIMAX_H3_RATIOS},
                  _rate_by_resolution(_MINIMAX_H3_RATES, "768P"), ratio_field="aspect_ratio"),
        ModelRule("minimax-h3/image-to-video", {
            **_MINIMAX_H3_COMMON, "first_frame_image": FieldRule("url", required=True),
            "last_frame_image": FieldRule("url"),
        }, _rate_by_resolution(_MINIMAX_H3_RATES, "768P")),
        ModelRule("minimax-h3/reference-to-video", {
            **_MINIMAX_H3_COMMON, "aspect_ratio": _MINIMAX_H3_RATIOS,
            "image_urls": FieldRule("url_list", max_len=9), "video_urls": FieldRule("url_list", max_len=3),
            "audio_urls": FieldRule("url_list", max_len=3),
        }, _rate_by_resolution(_MINIMAX_H3_RATES, "768P"), ratio_field="aspect_ratio"),
        ModelRule("wan/2-6-text-to-video", dict(_WAN26_COMMON), _wan26_price, audio=lambda _: True),
        ModelRule("wan/2-6-image-to-video", {
            **_WAN26_COMMON, "image_urls": FieldRule("url_list", required=True, max_len=1),
            "nsfw_checker": FieldRule("bool"),
        }, _wan26_price, audio=lambda _: True),
    ]


def _market_rules() -> dict[str, ModelRule]:
    rules: list[ModelRule] = [
        # Sora 2 (kie-api.md §8.1)
        _sora("sora-2-text-to-video", dict(_SORA_COMMON), _sora_price),
        _sora("sora-2-image-to-video", {**_SORA_COMMON, **_SORA_IMAGE}, _sora_price),
        _sora("sora-2-pro-text-to-video", {**_SORA_COMMON, **_SORA_SIZE}, _sora_pro_price),
        _sora("sora-2-pro-image-to-video", {**_SORA_COMMON, **_SORA_IMAGE, **_SORA_SIZE}, _sora_pro_price),
        _sora("sora-2-text-to-video-stable", dict(_SORA_STABLE), _sora_price),
        _sora("sora-2-image-to-video-stable", {**_SORA_STABLE, **_SORA_IMAGE}, _sora_price),
        # Kling (§8.2)
        ModelRule("kling/v2-5-turbo-text-to-video-pro", {
            "prompt": _prompt(2500), "duration": _KLING_DURATION, "aspect_ratio": _KLING_RATIO,
            "negative_prompt": _prompt(2500, required=False), "cfg_scale": _CFG,
        }, _table(lambda p: p.get("duration") or "5", {"5": 42, "10": 84}, 42), ratio_field="aspect_ratio"),
        ModelRule("kling/v2-5-turbo-image-to-video-pro", {
            "prompt": _prompt(2500), "image_url": FieldRule("url", required=True),
            "tail_image_url": FieldRule("url"), "duration": _KLING_DURATION,
            "negative_prompt": _prompt(2496, required=False), "cfg_scale": _CFG,
        }, _table(lambda p: p.get("duration") or "5", {"5": 42, "10": 84}, 42)),
        ModelRule("kling-2.6/text-to-video", {
            "prompt": _prompt(1000), "sound": FieldRule("bool", required=True),
            "aspect_ratio": FieldRule("str", required=True, choices=_s("1:1", "16:9", "9:16")),
            "duration": FieldRule("str", required=True, choices=_s("5", "10")),
        }, _kling26_price, audio=lambda p: bool(p.get("sound")), ratio_field="aspect_ratio",
            default_ratio="1x1"),
        ModelRule("kling-2.6/image-to-video", {
            "prompt": _prompt(1000), "image_urls": FieldRule("url_list", required=True, max_len=1),
            "sound": FieldRule("bool", required=True),
            "duration": FieldRule("str", required=True, choices=_s("5", "10")),
        }, _kling26_price, audio=lambda p: bool(p.get("sound"))),
        ModelRule("kling/ai-avatar-standard", {
            "image_url": FieldRule("url", required=True), "audio_url": FieldRule("url", required=True),
            "prompt": _prompt(5000, allow_empty=True),
        }, lambda _: 8 * 5, audio=lambda _: True, default_ratio="9x16"),
        ModelRule("kling/ai-avatar-pro", {
            "image_url": FieldRule("url", required=True), "audio_url": FieldRule("url", required=True),
            "prompt": _prompt(5000, allow_empty=True),
        }, lambda _: 16 * 5, audio=lambda _: True, default_ratio="9x16"),
        # Hailuo (§8.3)
        ModelRule("hailuo/2-3-image-to-video-pro", _HAILUO23_FIELDS,
                  _hailuo23_price({("6", "768P"): 45, ("10", "768P"): 90, ("6", "1080P"): 80}),
                  forbidden=_hailuo23_forbidden),
        ModelRule("hailuo/2-3-image-to-video-standard", _HAILUO23_FIELDS,
                  _hailuo23_price({("6", "768P"): 30, ("10", "768P"): 50, ("6", "1080P"): 50}),
                  forbidden=_hailuo23_forbidden),
        ModelRule("hailuo/02-text-to-video-pro", {
            "prompt": _prompt(1500), "prompt_optimizer": FieldRule("bool"), "nsfw_checker": FieldRule("bool"),
        }, lambda _: 57),
        ModelRule("hailuo/02-text-to-video-standard", {
            "prompt": _prompt(1500), "duration": FieldRule("str", choices=_s("6", "10")),
            "prompt_optimizer": FieldRule("bool"),
        }, _table(lambda p: p.get("duration") or "6", {"6": 30, "10": 50}, 30)),
        ModelRule("hailuo/02-image-to-video-pro", {
            "prompt": _prompt(1500), "image_url": FieldRule("url", required=True),
            "end_image_url": FieldRule("url"), "prompt_optimizer": FieldRule("bool"),
        }, lambda _: 57),
        ModelRule("hailuo/02-image-to-video-standard", {
            "prompt": _prompt(1500), "image_url": FieldRule("url", required=True),
            "end_image_url": FieldRule("url"), "duration": FieldRule("str", choices=_s("6", "10")),
            "resolution": FieldRule("str", choices=_s("512P", "768P")), "prompt_optimizer": FieldRule("bool"),
        }, _table(lambda p: (p.get("duration") or "10", p.get("resolution") or "768P"),
                  {("6", "512P"): 12, ("10", "512P"): 20, ("6", "768P"): 30, ("10", "768P"): 50}, 50)),
        # Wan (§8.4)
        ModelRule("wan/2-5-text-to-video", {
            **_WAN25_COMMON, "aspect_ratio": FieldRule("str", choices=_s("16:9", "9:16", "1:1")),
        }, _wan25_price, audio=lambda _: True, ratio_field="aspect_ratio"),
        ModelRule("wan/2-5-image-to-video", {
            **_WAN25_COMMON, "image_url": FieldRule("url", required=True), "nsfw_checker": FieldRule("bool"),
        }, _wan25_price, audio=lambda _: True),
        ModelRule("wan/2-2-a14b-speech-to-video-turbo", {
            "prompt": _prompt(5000), "image_url": FieldRule("url", required=True),
            "audio_url": FieldRule("url", required=True),
            "num_frames": FieldRule("int", min_value=40, max_value=120, step=4),
            "frames_per_second": FieldRule("int", min_value=4, max_value=60),
            "resolution": FieldRule("str", choices=_s("480p", "580p", "720p")),
            "negative_prompt": FieldRule("str"), "seed": FieldRule("int"),
            "num_inference_steps": FieldRule("int", min_value=2, max_value=40),
            "guidance_scale": FieldRule("number", min_value=1, max_value=10),
            "shift": FieldRule("number", min_value=1, max_value=10), "nsfw_checker": FieldRule("bool"),
        }, _wan_s2v_price, audio=lambda _: True),
        # Seedance (§8.5); v1 prices are not published: the bot's PRICE_SEEDANCE_* defaults per second.
        ModelRule("bytedance/v1-lite-text-to-video", _SEEDANCE_T2V, _per_second(4),
                  ratio_field="aspect_ratio"),
        ModelRule("bytedance/v1-lite-image-to-video", {**_SEEDANCE_I2V, "end_image_url": FieldRule("url")},
                  _per_second(4)),
        ModelRule("bytedance/v1-pro-text-to-video", {
            **_SEEDANCE_T2V,
            "aspect_ratio": FieldRule("str", choices=_s("16:9", "4:3", "1:1", "3:4", "9:16", "21:9")),
        }, _per_second(14), ratio_field="aspect_ratio"),
        ModelRule("bytedance/v1-pro-image-to-video", _SEEDANCE_I2V, _per_second(14)),
        ModelRule("bytedance/v1-pro-fast-image-to-video", {
            "prompt": _prompt(10000), "image_url": FieldRule("url", required=True),
            "resolution": FieldRule("str", choices=_s("720p", "1080p")),
            "duration": FieldRule("str", choices=_s("5", "10")),
        }, _per_second(9)),
        ModelRule("bytedance/seedance-1.5-pro", {
            "prompt": _prompt(10000), "input_urls": FieldRule("url_list", max_len=2),
            "aspect_ratio": FieldRule("str", choices=_s("16:9", "4:3", "1:1", "3:4", "9:16", "9:21", "21:9")),
            "resolution": FieldRule("str", choices=_s("480p", "720p", "1080p")),
            "duration": FieldRule("any"), "fixed_lens": FieldRule("bool"),
            "generate_audio": FieldRule("bool"),
        }, lambda p: math.ceil((7 if p.get("generate_audio") else 3.5) * int(p.get("duration") or 5)),
            audio=lambda p: bool(p.get("generate_audio")), ratio_field="aspect_ratio"),
        *_lineup_2026_rules(),
    ]
    # Ids KIE documents whose parameters were not collected: accepted with any input.
    for model_id in (
        "sora-2-pro-storyboard", "sora-2-characters", "sora-2-characters-pro", "sora-watermark-remover",
        "kling-2.6/motion-control", "kling/v2-1-master-text-to-video", "kling/v2-1-master-image-to-video",
        "kling/v2-1-pro", "kling/v2-1-standard", "kling-3.0/motion-control",
        "kling/v3-turbo-text-to-video", "kling/v3-turbo-image-to-video", "wan/2-2-a14b-text-to-video-turbo",
        "wan/2-2-a14b-image-to-video-turbo", "wan/2-2-animate-move", "wan/2-2-animate-replace",
        "wan/2-6-video-to-video",
        "wan/2-6-flash-image-to-video", "wan/2-6-flash-video-to-video", "wan/2-7-text-to-video",
        "wan/2-7-image-to-video", "wan/2-7-videoedit", "wan/2-7-r2v", "grok-imagine/text-to-video",
        "grok-imagine/image-to-video", "grok-imagine/upscale", "grok-imagine/extend",
        "grok-imagine-video-1-5-preview", "infinitalk/from-audio", "topaz/video-upscale", "omnihuman-1-5",
        "volcengine/video-to-video-lip-sync", "gemini-omni-video",
    ):
        rules.append(ModelRule(model_id, {"prompt": _prompt(10000, required=False)}, lambda _: 100,
                               ratio_field="aspect_ratio", known_fields_only=False,
                               has_progress=model_id.startswith("sora"),
                               accepts_progress_callback=model_id.startswith("sora")))
    return {rule.model_id: rule for rule in rules}


MARKET_MODELS: dict[str, ModelRule] = _market_rules()
MARKET_TOP_LEVEL = frozenset({"model", "callBackUrl", "input", "progressCallBackUrl"})


def validate_market(body: Mapping[str, Any], strict: bool) -> tuple[int, MediaChoice, str, ModelRule]:
    model_id = body.get("model")
    rule = MARKET_MODELS.get(model_id) if isinstance(model_id, str) else None
    if rule is None:
        raise RuleViolation("The page does not exist or is not published")
    if strict:
        for key in body:
            if key not in MARKET_TOP_LEVEL:
                raise RuleViolation(f"{key} is not a createTask field (parameters go inside input)")
    if "progressCallBackUrl" in body and not rule.accepts_progress_callback:
        raise RuleViolation("progressCallBackUrl is only supported by Sora 2 models")
    if body.get("callBackUrl") is not None:
        check_field("callBackUrl", FieldRule("url"), body["callBackUrl"])
    params = body.get("input")
    if not isinstance(params, dict):
        raise RuleViolation("input is required")
    check_fields(params, rule.fields, prefix="input.", known_fields_only=rule.known_fields_only,
                 strict=strict)
    problem = rule.forbidden(params)
    if problem:
        raise RuleViolation(problem)
    if rule.english_only and not is_english(str(params.get("prompt", ""))):
        raise RuleViolation("Prompts only support English")
    return rule.price(params), rule.media(params), rule.model_id, rule


@dataclass(frozen=True)
class FamilyEndpoints:
    family: str
    create_path: str
    status_paths: tuple[str, ...]
    not_found_message: str
    extra: dict[str, str] = field(default_factory=dict)


FAMILIES: dict[str, FamilyEndpoints] = {
    "veo": FamilyEndpoints("veo", "/api/v1/veo/generate", ("/api/v1/veo/record-info",), "record is null"),
    "runway": FamilyEndpoints("runway", "/api/v1/runway/generate", ("/api/v1/runway/record-detail",),
                              "record is null"),
    # The Aleph generate page's curl says record-detail; its schema says record-info (kie-api.md §1).
    "aleph": FamilyEndpoints("aleph", "/api/v1/aleph/generate",
                             ("/api/v1/aleph/record-info", "/api/v1/aleph/record-detail"),
                             "recordInfo is null"),
    "modify": FamilyEndpoints("modify", "/api/v1/modify/generate", ("/api/v1/modify/record-info",),
                              "recordInfo is null"),
    "market": FamilyEndpoints("market", "/api/v1/jobs/createTask", ("/api/v1/jobs/recordInfo",),
                              "recordInfo is null"),
}
