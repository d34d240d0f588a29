"""Assembling the catalog with a markup and price overrides, and listing it as JSON."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

from bot.catalog.entries import build_entries
from bot.catalog.model import Catalog, ModelEntry, to_decimal
from bot.catalog.overrides import CatalogOverrides, apply_overrides
from bot.catalog.prices import PriceOverrides


def build_catalog(
    markup: float | Decimal | int | str = 1,
    prices: PriceOverrides | Mapping[str, int] | None = None,
    menu: CatalogOverrides | None = None,
) -> Catalog:
    """The catalog priced at KIE credits × `markup` (rounded up).

    `prices` supplies the figures KIE does not publish: a PriceOverrides, or a mapping of its field names
    (or `price_<field>` names) to credits; whatever is missing keeps its default. `menu` is the
    operator's overrides file, already read (hidden models, order, names, markups, fixed prices, marks);
    OverrideError names the key that does not fit the catalog.
    """
    overrides = prices if isinstance(prices, PriceOverrides) else PriceOverrides.from_mapping(prices or {})
    exact_markup = to_decimal(markup)
    entries = tuple(dataclasses.replace(e, markup=exact_markup) for e in build_entries(overrides))
    if menu is not None:
        entries = apply_overrides(entries, menu)
    return Catalog(entries=entries, markup=exact_markup)


class PricedSettings(Protocol):
    """What the catalog needs from the settings (bot.config.PriceSettings)."""

    price_markup: float

    def price_overrides(self) -> PriceOverrides: ...


def build_catalog_from_settings(settings: PricedSettings, menu: CatalogOverrides | None = None) -> Catalog:
    return build_catalog(settings.price_markup, settings.price_overrides(), menu)


def _entry_as_json(entry: ModelEntry, catalog: Catalog) -> dict[str, Any]:
    modes: dict[str, Any] = {}
    for mode_key, spec in entry.modes.items():
        modes[mode_key] = {
            "kie_model": spec.kie_model,
            "ratios": list(spec.ratios),
            "options": [
                {"key": o.key, "values": list(o.values), "default": o.default, "title": o.title("en")}
                for o in spec.options
            ],
            "forbidden": [dict(f) for f in spec.forbidden],
            "prompt": dataclasses.asdict(spec.prompt),
            "inputs": [
                {
                    "kind": r.kind.value,
                    "count": r.count,
                    "mime_types": list(r.mime_types),
                    "max_bytes": r.max_bytes,
                    "max_duration_s": r.max_duration_s,
                    "duration_option": r.duration_option,
                }
                for r in spec.inputs
            ],
            "prices": [
                {"options": options, "kie_credits": quote.kie_credits, "user_credits": quote.user_credits}
                for options, quote in entry.price_list(mode_key)
            ],
        }
    return {
        "key": entry.key,
        "family": entry.family.value,
        "maker": entry.maker,
        "names": dict(entry.names),
        "descriptions": dict(entry.descriptions),
        "best_at": dict(entry.best_at),
        "tier": entry.tier.value,
        "strengths": [s.value for s in entry.strengths],
        "sound": entry.sound.value,
        "categories": list(catalog.categories_of(entry)),
        "min_kie_credits": catalog.kie_price_from(entry),
        "min_user_credits": catalog.price_from(entry),
        "notes": entry.notes,
        "orderable": entry.orderable,
        "retired": entry.retired.as_json() if entry.retired else None,
        "offered": entry.orderable,
        "badges": list(entry.badges),
        "modes": modes,
    }


def catalog_as_json(catalog: Catalog) -> list[dict[str, Any]]:
    """Every entry as plain JSON-ready data (lists, dicts, str, int, bool, None only)."""
    return [_entry_as_json(e, catalog) for e in catalog.entries]
