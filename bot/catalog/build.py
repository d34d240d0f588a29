"""Assembling the catalog with a markup and price overrides, and listing it as JSON."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.catalog.entries import build_entries
from bot.catalog.model import Catalog, ModelEntry, to_decimal
from bot.catalog.prices import PriceOverrides, read_price_env


def build_catalog(
    markup: float | Decimal | int | str = 1,
    prices: PriceOverrides | Mapping[str, int] | None = None,
) -> Catalog:
    """The catalog priced at KIE credits × `markup` (rounded up).

    `prices` supplies the figures KIE does not publish: a PriceOverrides, or a mapping of its field names
    (or `price_<field>` names) to credits; whatever is missing keeps its default.
    """
    overrides = prices if isinstance(prices, PriceOverrides) else PriceOverrides.from_mapping(prices or {})
    exact_markup = to_decimal(markup)
    entries = tuple(dataclasses.replace(e, markup=exact_markup) for e in build_entries(overrides))
    return Catalog(entries=entries, markup=exact_markup)


def build_catalog_from_settings(settings: object) -> Catalog:
    """From bot.config.Settings (duck-typed: `price_markup` and `price_<field>` attributes)."""
    return build_catalog(getattr(settings, "price_markup", 1), PriceOverrides.from_settings(settings))


def build_catalog_from_env(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> Catalog:
    """From PRICE_MARKUP / PRICE_* in the environment and `.env`, without needing the other settings.

    Raises ValueError (one line, naming the variable) for a malformed value.
    """
    values = read_price_env(environ, env_file)
    markup_text = values.pop("price_markup", "1")
    try:
        markup = to_decimal(markup_text.strip())
    except (ValueError, ArithmeticError):
        raise ValueError(
            f"PRICE_MARKUP is invalid: expected a positive number, got {markup_text!r}"
        ) from None
    credits: dict[str, int] = {}
    for name, text in values.items():
        try:
            credits[name] = int(text.strip())
        except ValueError:
            raise ValueError(f"{name.upper()} is invalid: expected whole KIE credits, got {text!r}") from None
    try:
        overrides = PriceOverrides.from_mapping(credits)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    return build_catalog(markup, overrides)


def _entry_as_json(entry: ModelEntry) -> dict[str, Any]:
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
        "categories": list(entry.categories),
        "min_kie_credits": entry.min_kie_price,
        "min_user_credits": entry.min_user_price,
        "notes": entry.notes,
        "modes": modes,
    }


def catalog_as_json(catalog: Catalog) -> list[dict[str, Any]]:
    """Every entry as plain JSON-ready data (lists, dicts, str, int, bool, None only)."""
    return [_entry_as_json(e) for e in catalog.entries]
