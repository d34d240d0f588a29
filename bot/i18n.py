"""Translations: aiogram's built-in gettext with key-style msgids (e.g. "start-greeting").

Keys rather than English msgids make a missing translation visible (the raw key shows up, and a
test compares both locales key by key). `.po` files live in git under `locales/`; `.mo` files are
compiled at start into a temp folder, so there is no build step and nothing binary in git. The
compiler is the few lines below (`parse_po`, `write_mo`) rather than babel.messages, whose import and
CLDR locale data cost ~0.8 MB of every process (issue 15's RSS target); a unit test checks that both
give the same catalogs.
"""

from __future__ import annotations

import re
import struct
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware

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


class PoError(ValueError):
    """A .po file this compiler does not understand (it knows what our locales use)."""


def parse_po(text: str) -> dict[str, str]:
    """A .po file's messages as .mo keys and values: `msgid` -> `msgstr`; a plural message as
    `msgid\0msgid_plural` -> the `msgstr[n]` joined by NUL. Untranslated and fuzzy ones are left out
    (as msgfmt does). Handles what our files hold: comments, continued strings, plurals, C escapes."""
    messages: dict[str, str] = {}
    entry: dict[str, str] = {}
    fuzzy = False  # the entry being read is marked fuzzy
    next_fuzzy = False  # a `#, fuzzy` comment before the next msgid
    field: str | None = None

    def finish() -> None:
        nonlocal entry
        if "msgid" in entry:
            if "msgid_plural" in entry:
                key = f"{entry['msgid']}\0{entry['msgid_plural']}"
                forms = [entry[f] for f in sorted((k for k in entry if k.startswith("msgstr[")), key=_form)]
                value = "\0".join(forms)
                translated = any(forms)
            else:
                key, value = entry["msgid"], entry.get("msgstr", "")
                translated = bool(value)
            if translated and (not fuzzy or key == ""):
                messages[key] = value
        entry = {}

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if line.startswith("#,") and "fuzzy" in line:
                next_fuzzy = True
            continue
        if line.startswith('"'):
            if field is None:
                raise PoError(f"line {number}: a string outside any message")
            entry[field] += _unquote(line, number)
            continue
        keyword, _, rest = line.partition(" ")
        if keyword not in ("msgid", "msgid_plural", "msgstr") and not keyword.startswith("msgstr["):
            raise PoError(f"line {number}: unknown keyword {keyword!r}")
        if keyword == "msgid":
            finish()
            fuzzy, next_fuzzy = next_fuzzy, False
        field = keyword
        entry[field] = _unquote(rest.strip(), number)
    finish()
    return messages


def _form(key: str) -> int:
    return int(key[len("msgstr[") : -1])


def _unquote(token: str, number: int) -> str:
    if len(token) < 2 or token[0] != '"' or token[-1] != '"':
        raise PoError(f"line {number}: expected a quoted string, got {token!r}")

    def unescape(match: re.Match[str]) -> str:
        escaped = match.group(1)
        if escaped not in _ESCAPES:
            raise PoError(f"line {number}: unknown escape \\{escaped}")
        return _ESCAPES[escaped]

    # A regular expression, not ast.literal_eval: parsing every line as Python left ~0.5 MB of
    # freed-but-kept memory in each process (issue 15's RSS target).
    return _ESCAPE.sub(unescape, token[1:-1])


# The escapes gettext's .po format uses (msgfmt knows no others that our files would need).
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_ESCAPE = re.compile(r"\\(.)")


def write_mo(out: BinaryIO, messages: dict[str, str]) -> None:
    """GNU .mo (what gettext.GNUTranslations reads): header, sorted key table, value table, strings."""
    keys = sorted(messages)
    ids = [k.encode("utf-8") for k in keys]
    strs = [messages[k].encode("utf-8") for k in keys]
    count = len(keys)
    table_start = 7 * 4
    data_start = table_start + count * 16
    offsets: list[int] = []
    blob = b""
    for item in (*ids, *strs):
        offsets += [len(item), data_start + len(blob)]
        blob += item + b"\0"
    out.write(struct.pack("<7I", 0x950412DE, 0, count, table_start, table_start + count * 8, 0, 0))
    out.write(struct.pack(f"<{len(offsets)}I", *offsets))
    out.write(blob)


def compile_locales(src: Path = LOCALES_DIR) -> Path:
    out = Path(tempfile.mkdtemp(prefix="kiebot-locales-"))
    for po_path in src.glob(f"*/LC_MESSAGES/{DOMAIN}.po"):
        language = po_path.parts[-3]
        mo_path = out / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        messages = parse_po(po_path.read_text(encoding="utf-8"))
        with mo_path.open("wb") as f:
            write_mo(f, messages)
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
