"""The model menu's categories: each one a rule over catalog facts, stated once, here.

No category lists models by hand. A category's `admits` reads facts of the entry (tier, strengths,
sound, native aspect ratios, the kinds of file it takes); when more offered models fit than `cap`,
`prefer` ranks them (lower first) and the rest are left to "All models"; the menu then shows the
chosen ones cheapest first. Retired and hidden models are never offered, so never in a category.
Pure data and functions; Catalog.in_category applies them to what is offered now.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.catalog.facts import TIER_RANK, Sound, Strength, Tier

if TYPE_CHECKING:
    from bot.catalog.model import ModelEntry

# Small enough to compare at a glance on a phone.
CATEGORY_CAP = 6


def _cheapest(_entry: ModelEntry, price: int) -> tuple[Any, ...]:
    return (price,)


def _best_tier_then_cheapest(entry: ModelEntry, price: int) -> tuple[Any, ...]:
    return (-TIER_RANK[entry.tier], price)


def _with_sound_then_cheapest(entry: ModelEntry, price: int) -> tuple[Any, ...]:
    return (entry.sound is Sound.NONE, price)


@dataclass(frozen=True)
class Category:
    key: str  # travels in callback data
    names: Mapping[str, str]
    # The rule in the user's words, shown under the category's title at the model step.
    rules: Mapping[str, str]
    admits: Callable[[ModelEntry], bool]
    prefer: Callable[[ModelEntry, int], tuple[Any, ...]] = _cheapest  # (entry, price from) → rank
    cap: int = CATEGORY_CAP

    def members(self, offered: Sequence[tuple[ModelEntry, int]]) -> tuple[ModelEntry, ...]:
        """The entries of `offered` ((entry, price from) in menu order) this category shows, cheapest
        first (ties keep menu order)."""
        fitting = [pair for pair in offered if self.admits(pair[0])]
        chosen = sorted(fitting, key=lambda pair: self.prefer(*pair))[: self.cap]
        return tuple(entry for entry, _price in sorted(chosen, key=lambda pair: pair[1]))


# In menu order.
CATEGORY_RULES: tuple[Category, ...] = (
    Category(
        "cinematic",
        {"en": "Cinematic", "ru": "Кинематографичные"},
        {"en": "Film look and camera work.", "ru": "Киношная картинка и работа камеры."},
        lambda e: Strength.CINEMATIC in e.strengths,
    ),
    Category(
        "fast",
        {"en": "Fast", "ru": "Быстрые"},
        {"en": "Tuned for speed (Fast and Turbo versions).",
         "ru": "Настроены на скорость (версии Fast и Turbo)."},
        lambda e: e.tier is Tier.FAST,
    ),
    Category(
        "quality",
        {"en": "Best quality", "ru": "Лучшее качество"},
        {"en": "The top version of each line.", "ru": "Старшая версия каждой линейки."},
        lambda e: e.tier is Tier.TOP,
    ),
    Category(
        "audio",
        {"en": "With audio", "ru": "Со звуком"},
        {"en": "Make the sound themselves; the best versions first.",
         "ru": "Сами создают звук; лучшие версии в первую очередь."},
        lambda e: e.sound in (Sound.ALWAYS, Sound.OPTIONAL),
        _best_tier_then_cheapest,
    ),
    Category(
        "stylization",
        {"en": "Stylization", "ru": "Стилизация"},
        {"en": "Styles and restyling: anime, illustration, grading.",
         "ru": "Стили и перестилизация: аниме, иллюстрация, цвет."},
        lambda e: Strength.STYLE in e.strengths,
    ),
    Category(
        "avatar",
        {"en": "Avatar / talking head", "ru": "Аватар / говорящая голова"},
        {"en": "A photo speaks your audio.", "ru": "Фото говорит вашим голосом."},
        lambda e: e.sound is Sound.VOICE,
    ),
    Category(
        "postprod",
        {"en": "Post-production (video→video)", "ru": "Постпродакшн (видео→видео)"},
        {"en": "Change a video you already have.", "ru": "Меняют уже готовое видео."},
        lambda e: e.takes("video"),
    ),
    Category(
        "shorts",
        {"en": "For Shorts 9:16", "ru": "Для Shorts 9:16"},
        {"en": "Render 9:16 natively; with sound first.",
         "ru": "Рисуют 9:16 без обрезки; со звуком в первую очередь."},
        lambda e: e.renders_natively("9:16"),
        _with_sound_then_cheapest,
    ),
)

BY_KEY: Mapping[str, Category] = {c.key: c for c in CATEGORY_RULES}
CATEGORIES: tuple[str, ...] = tuple(BY_KEY)
CATEGORY_NAMES: Mapping[str, Mapping[str, str]] = {c.key: c.names for c in CATEGORY_RULES}


def _pick(texts: Mapping[str, str], lang: str) -> str:
    return texts.get(lang) or texts.get("en") or ""


def category_name(category: str, lang: str) -> str:
    rule = BY_KEY.get(category)
    return _pick(rule.names, lang) if rule is not None else category


def category_rule(category: str, lang: str) -> str:
    """The category's rule in the user's words; "" for an unknown key."""
    rule = BY_KEY.get(category)
    return _pick(rule.rules, lang) if rule is not None else ""
