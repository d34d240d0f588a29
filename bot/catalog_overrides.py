"""Reading the operator's catalog overrides file (CATALOG_OVERRIDES_FILE, TOML) and building the menu
catalog with it. Every problem is one line naming the file and the key, raised as SettingsError, so
`python -m bot` stops with exit code 2 before it starts (see catalog-overrides.example.toml)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bot.catalog import Catalog, PricedSettings, build_catalog_from_settings
from bot.catalog.overrides import CatalogOverrides, FixedPrice, ModelOverride, OverrideError
from bot.config import SettingsError

SETTING = "CATALOG_OVERRIDES_FILE"
_MODEL_KEYS = frozenset({"hidden", "name", "markup", "new", "recommended", "price"})
_PRICE_KEYS = frozenset({"mode", "options", "credits"})
_LANGUAGES = frozenset({"en", "ru"})


class _Bad(Exception):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")


def load_overrides(path: Path | None) -> CatalogOverrides | None:
    """The parsed file, or None when no file is configured. SettingsError for an unreadable or
    malformed file (the shape only: whether the models exist is checked when the catalog is built)."""
    if path is None:
        return None
    import tomllib  # here: a bot without an overrides file (the default) never loads the parser

    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{SETTING} ({path}) cannot be read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{SETTING} ({path}) is not valid TOML: {exc}") from None
    try:
        return _parse(raw)
    except _Bad as exc:
        raise SettingsError(f"{SETTING} ({path}) is invalid: {exc}") from None


def menu_catalog(settings: PricedSettings, path: Path | None) -> Catalog:
    """The catalog the bot offers: priced by the settings, shaped by the overrides file."""
    overrides = load_overrides(path)
    try:
        return build_catalog_from_settings(settings, overrides)
    except OverrideError as exc:
        raise SettingsError(f"{SETTING} ({path}) is invalid: {exc}") from None


def _parse(raw: Mapping[str, Any]) -> CatalogOverrides:
    unknown = set(raw) - {"order", "models"}
    if unknown:
        raise _Bad(sorted(unknown)[0], "unknown key; the file has `order` and [models.<key>] tables")
    order = raw.get("order", [])
    if not isinstance(order, list) or not all(isinstance(k, str) for k in order):
        raise _Bad("order", "must be a list of model keys, e.g. order = [\"veo3fast\", \"kling26\"]")
    models = raw.get("models", {})
    if not isinstance(models, dict):
        raise _Bad("models", "must be tables [models.<key>]")
    parsed: dict[str, ModelOverride] = {}
    for key, table in models.items():
        if not isinstance(table, dict):
            raise _Bad(f"models.{key}", "must be a table")
        parsed[key] = _model(f"models.{key}", table)
    return CatalogOverrides(order=tuple(order), models=parsed)


def _model(where: str, table: Mapping[str, Any]) -> ModelOverride:
    unknown = set(table) - _MODEL_KEYS
    if unknown:
        raise _Bad(f"{where}.{sorted(unknown)[0]}", f"unknown key; allowed: {', '.join(sorted(_MODEL_KEYS))}")
    for flag in ("hidden", "new", "recommended"):
        if flag in table and not isinstance(table[flag], bool):
            raise _Bad(f"{where}.{flag}", "must be true or false")
    names = table.get("name", {})
    if not isinstance(names, dict) or set(names) - _LANGUAGES or not all(
        isinstance(v, str) and v.strip() for v in names.values()
    ):
        raise _Bad(f"{where}.name", 'must be non-empty texts by language, e.g. {en = "…", ru = "…"}')
    markup: Decimal | None = None
    if "markup" in table:
        value = table["markup"]
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                markup = Decimal(str(value))
            except InvalidOperation:
                markup = None
        if markup is None or not markup.is_finite() or markup <= 0:
            raise _Bad(f"{where}.markup", f"must be a positive number, got {value!r}")
    prices = table.get("price", [])
    if not isinstance(prices, list):
        raise _Bad(f"{where}.price", "must be [[models.<key>.price]] tables")
    # `new = true` adds the mark, `new = false` drops one the catalog states; unset keeps the catalog's.
    badges = tuple(badge for badge in ("new", "recommended") if table.get(badge) is True)
    removed = tuple(badge for badge in ("new", "recommended") if table.get(badge) is False)
    return ModelOverride(
        hidden=table.get("hidden", False),
        names={lang: text.strip() for lang, text in names.items()},
        markup=markup,
        badges=badges,
        removed_badges=removed,
        fixed_prices=tuple(_price(f"{where}.price[{i}]", p) for i, p in enumerate(prices)),
    )


def _price(where: str, table: Any) -> FixedPrice:
    if not isinstance(table, dict):
        raise _Bad(where, "must be a table with mode, options and credits")
    unknown = set(table) - _PRICE_KEYS
    if unknown:
        raise _Bad(f"{where}.{sorted(unknown)[0]}", "unknown key; allowed: credits, mode, options")
    mode = table.get("mode")
    if not isinstance(mode, str):
        raise _Bad(f"{where}.mode", "is required: the mode this price is for, e.g. \"t2v\"")
    options = table.get("options", {})
    if not isinstance(options, dict) or not all(isinstance(v, str | int) for v in options.values()):
        raise _Bad(f"{where}.options", 'must be a table of option values, e.g. {duration = "5"}')
    credits = table.get("credits")
    if isinstance(credits, bool) or not isinstance(credits, int) or credits < 1:
        raise _Bad(f"{where}.credits", f"must be a whole number of user credits ≥ 1, got {credits!r}")
    return FixedPrice(mode=mode, options={k: str(v) for k, v in options.items()}, credits=credits)
