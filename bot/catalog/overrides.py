"""The operator's menu overrides, applied when the catalog is built. Plain data, no I/O: the file is
read and its shape checked in bot/catalog_overrides.py; what needs the catalog (model keys, modes,
option sets) is checked here, and every problem names the key it is about."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from bot.catalog.model import BADGE_MARKS, InvalidOrder, ModelEntry, price_key


class OverrideError(ValueError):
    """A catalog override that does not fit the catalog; `key` is its dotted path in the file."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class FixedPrice:
    """User credits for one option set of one mode (missing options take their defaults)."""

    mode: str
    options: Mapping[str, str]
    credits: int


@dataclass(frozen=True)
class ModelOverride:
    hidden: bool = False
    names: Mapping[str, str] = field(default_factory=dict)  # language → name
    markup: Decimal | None = None  # replaces PRICE_MARKUP for this model
    badges: tuple[str, ...] = ()  # marks to add: "new", "recommended"
    removed_badges: tuple[str, ...] = ()  # marks the catalog entry states that the operator drops
    fixed_prices: tuple[FixedPrice, ...] = ()


@dataclass(frozen=True)
class CatalogOverrides:
    order: tuple[str, ...] = ()  # these model keys first, in this order; the rest keep theirs
    models: Mapping[str, ModelOverride] = field(default_factory=dict)


def apply_overrides(entries: tuple[ModelEntry, ...], overrides: CatalogOverrides) -> tuple[ModelEntry, ...]:
    known = {e.key: e for e in entries}
    for index, key in enumerate(overrides.order):
        if key not in known:
            raise OverrideError(f"order[{index}]", f"no model {key!r} in the catalog")
    for key in overrides.models:
        if key not in known:
            raise OverrideError(f"models.{key}", f"no model {key!r} in the catalog")
    changed = {key: _apply(entry, overrides.models.get(key)) for key, entry in known.items()}
    first = [changed[key] for key in dict.fromkeys(overrides.order)]
    rest = [changed[e.key] for e in entries if e.key not in overrides.order]
    return tuple(first + rest)


def _apply(entry: ModelEntry, override: ModelOverride | None) -> ModelEntry:
    if override is None:
        return entry
    where = f"models.{entry.key}"
    for badge in (*override.badges, *override.removed_badges):
        if badge not in BADGE_MARKS:
            raise OverrideError(f"{where}.badges", f"unknown mark {badge!r}; one of {sorted(BADGE_MARKS)}")
    kept = [badge for badge in entry.badges if badge not in override.removed_badges]
    badges = (*kept, *(badge for badge in override.badges if badge not in kept))
    fixed: dict[str, dict[tuple[tuple[str, str], ...], int]] = {}
    for index, price in enumerate(override.fixed_prices):
        at = f"{where}.price[{index}]"
        if price.mode not in entry.modes:
            modes = list(entry.modes)
            raise OverrideError(f"{at}.mode", f"{entry.key} has no mode {price.mode!r}; one of {modes}")
        try:
            resolved = entry.resolve_options(price.mode, price.options)
        except InvalidOrder as exc:  # an unknown option or value, or a forbidden combination
            problem = f"not an option set of {entry.key}/{price.mode}: {exc}"
            raise OverrideError(f"{at}.options", problem) from None
        fixed.setdefault(price.mode, {})[price_key(resolved)] = price.credits
    return dataclasses.replace(
        entry,
        names={**entry.names, **override.names},
        markup=override.markup if override.markup is not None else entry.markup,
        hidden=override.hidden,
        badges=tuple(sorted(badges, key=list(BADGE_MARKS).index)),
        fixed_prices=fixed,
    )
