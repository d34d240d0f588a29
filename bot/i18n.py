"""Translations: aiogram's built-in gettext with key-style msgids (e.g. "start-greeting").

Keys rather than English msgids make a missing translation visible (the raw key shows up, and a
test compares both locales key by key). `.po` files live in git under `locales/`; `.mo` files are
compiled at start into a temp folder, so there is no build step and nothing binary in git.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Protocol

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
SUPPORTED_LANGUAGES = ("en", "ru")
DEFAULT_LANGUAGE = "en"


class HasLanguage(Protocol):
    @property
    def language(self) -> str: ...


def language_of(user: HasLanguage | None) -> str:
    """A stored user's language; the default for someone the bot has not met."""
    return user.language if user is not None else DEFAULT_LANGUAGE


def language_for(language_code: str | None) -> str:
    """Russian for ru (and ru-RU etc.), English for everything else."""
    if language_code and language_code.lower().split("-")[0] == "ru":
        return "ru"
    return DEFAULT_LANGUAGE


def compile_locales(src: Path = LOCALES_DIR) -> Path:
    out = Path(tempfile.mkdtemp(prefix="kiebot-locales-"))
    for po_path in src.glob(f"*/LC_MESSAGES/{DOMAIN}.po"):
        language = po_path.parts[-3]
        mo_path = out / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as f:
            catalog = read_po(f, locale=language)
        with mo_path.open("wb") as f:
            write_mo(f, catalog, use_fuzzy=False)
    return out


_i18n: I18n | None = None


def get_i18n() -> I18n:
    """The process-wide I18n (compiled once)."""
    global _i18n
    if _i18n is None:
        _i18n = I18n(path=compile_locales(), default_locale=DEFAULT_LANGUAGE, domain=DOMAIN)
    return _i18n


def translate(key: str, language: str, /, **params: Any) -> str:
    """Translate outside an update's context (background delivery, tracker)."""
    text = get_i18n().gettext(key, locale=language if language in SUPPORTED_LANGUAGES else DEFAULT_LANGUAGE)
    return text.format(**params) if params else text


def translate_plural(key: str, count: int, language: str, /, **params: Any) -> str:
    locale = language if language in SUPPORTED_LANGUAGES else DEFAULT_LANGUAGE
    text = get_i18n().gettext(key, key, count, locale=locale)
    return text.format(count=count, **params)


class UserLanguageMiddleware(I18nMiddleware):
    """The user's stored choice (/language) wins; else Telegram's language_code."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        db_user = data.get("db_user")
        if db_user is not None:
            return str(db_user.language)
        tg_user: User | None = data.get("event_from_user")
        return language_for(tg_user.language_code if tg_user else None)
