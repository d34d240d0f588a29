"""What a user can order: models, modes, options, constraints and prices. Data only, no I/O.

`build_catalog(markup, prices)` gives the Catalog every other layer reads; see `model.py` for the shapes
and `entries.py` for the models themselves.
"""

from bot.catalog.build import (
    PricedSettings,
    build_catalog,
    build_catalog_from_settings,
    catalog_as_json,
)
from bot.catalog.categories import CATEGORIES, CATEGORY_NAMES, category_name, category_rule
from bot.catalog.english import is_english
from bot.catalog.facts import Sound, Strength, Tier
from bot.catalog.model import (
    MODE_NAMES,
    TELEGRAM_DOWNLOAD_LIMIT_BYTES,
    Catalog,
    Family,
    InputKind,
    InputRule,
    InvalidOrder,
    Mode,
    ModelEntry,
    ModeSpec,
    OptionSpec,
    Order,
    PromptRule,
    Quote,
    Retirement,
    WireSpec,
    mode_name,
    user_price,
)
from bot.catalog.prices import PriceOverrides

__all__ = [
    "CATEGORIES",
    "CATEGORY_NAMES",
    "MODE_NAMES",
    "TELEGRAM_DOWNLOAD_LIMIT_BYTES",
    "Catalog",
    "Family",
    "InputKind",
    "InputRule",
    "InvalidOrder",
    "Mode",
    "ModeSpec",
    "ModelEntry",
    "OptionSpec",
    "Order",
    "PriceOverrides",
    "PricedSettings",
    "PromptRule",
    "Quote",
    "Retirement",
    "Sound",
    "Strength",
    "Tier",
    "WireSpec",
    "build_catalog",
    "build_catalog_from_settings",
    "catalog_as_json",
    "category_name",
    "category_rule",
    "is_english",
    "mode_name",
    "user_price",
]
