"""bot/i18n.py compiles the .po files itself: the same catalogs as babel's compiler (the reference)."""

from __future__ import annotations

import gettext
import io

import pytest
from babel.messages.mofile import write_mo as babel_write_mo
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, SUPPORTED_LANGUAGES, PoError, parse_po, write_mo


def compiled(messages: dict[str, str]) -> gettext.GNUTranslations:
    out = io.BytesIO()
    write_mo(out, messages)
    return gettext.GNUTranslations(io.BytesIO(out.getvalue()))


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_same_catalog_as_babel(lang: str) -> None:
    po = LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as f:
        reference_mo = io.BytesIO()
        babel_write_mo(reference_mo, read_po(f, locale=lang), use_fuzzy=False)
    reference = gettext.GNUTranslations(io.BytesIO(reference_mo.getvalue()))
    ours = compiled(parse_po(po.read_text(encoding="utf-8")))
    assert ours._catalog == reference._catalog  # type: ignore[attr-defined]
    assert ours._info == reference._info  # type: ignore[attr-defined]
    assert [ours.plural(n) for n in range(250)] == [reference.plural(n) for n in range(250)]  # type: ignore[attr-defined]


PO = r'''# a comment
msgid ""
msgstr ""
"Content-Type: text/plain; charset=utf-8\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\n"

msgid "plain"
msgstr "A \"quoted\" word,\n"
"a second line\tand a \\ backslash"

#, fuzzy
msgid "fuzzy"
msgstr "not used"

msgid "untranslated"
msgstr ""

msgid "apples"
msgid_plural "apples"
msgstr[0] "{count} apple"
msgstr[1] "{count} apples"
'''


def test_escapes_continuations_plurals_and_what_is_left_out() -> None:
    translations = compiled(parse_po(PO))
    assert translations.gettext("plain") == 'A "quoted" word,\na second line\tand a \\ backslash'
    assert translations.gettext("fuzzy") == "fuzzy"
    assert translations.gettext("untranslated") == "untranslated"
    assert translations.ngettext("apples", "apples", 1) == "{count} apple"
    assert translations.ngettext("apples", "apples", 5) == "{count} apples"


def test_refuses_what_it_does_not_know() -> None:
    with pytest.raises(PoError, match="line 1"):
        parse_po('msgctxt "menu"\nmsgid "x"\nmsgstr "y"\n')
    with pytest.raises(PoError, match=r"line 2: unknown escape \\q"):
        parse_po('msgid "x"\nmsgstr "a\\qb"\n')
