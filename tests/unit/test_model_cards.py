"""A model's cards (bot/telegram/model_cards.py): the one-line card of the model step and /models,
the full card of ℹ️, and the "from N credits" they state."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from bot.catalog import build_catalog
from bot.i18n import get_i18n
from bot.telegram.common import escape
from bot.telegram.model_cards import card_line, full_card

CATALOG = build_catalog()
TAGS = re.compile(r"<[^>]+>")


@pytest.fixture(params=["en", "ru"])
def lang(request: pytest.FixtureRequest) -> Iterator[str]:
    i18n = get_i18n()
    with i18n.context(), i18n.use_locale(request.param):
        yield request.param


def plain(html: str) -> str:
    return TAGS.sub("", html)


def test_price_from_is_the_cheapest_order_in_the_modes_shown() -> None:
    hailuo = CATALOG.get("hailuo02_std")
    assert hailuo is not None
    # Both modes offered: its image → video 512P 6 s (12) is the cheapest order.
    assert CATALOG.price_from(hailuo) == 12
    # An order begun with a text offers text → video only, which costs 30 at the least.
    assert CATALOG.price_from(hailuo, ("t2v",)) == 30
    # KIE stops listing its image → video: the menu offers text → video only, and says 30.
    partial = build_catalog()
    partial.availability.missing = frozenset({"hailuo/02-image-to-video-standard"})
    assert partial.offered_modes(partial.get("hailuo02_std")) == ("t2v",)  # type: ignore[arg-type]
    assert partial.price_from(partial.get("hailuo02_std")) == 30  # type: ignore[arg-type]
    assert partial.min_price("hailuo02_std") == 30
    for entry in CATALOG.offerable():
        for modes in [None, *((m,) for m in entry.modes)]:
            shown = tuple(entry.modes) if modes is None else modes
            every = [q.user_credits for m in shown for _o, q in entry.price_list(m)]
            assert CATALOG.price_from(entry, modes) == min(every), (entry.key, modes)


def test_one_line_card_says_best_at_price_from_length_and_sound(lang: str) -> None:
    hailuo = CATALOG.get("hailuo02_std")
    assert hailuo is not None
    line = plain(card_line(CATALOG, hailuo, lang))
    word = {"en": "from 12 credits", "ru": "от 12 кредитов"}[lang]
    assert word in line and hailuo.best_at_text(lang) in line and hailuo.name(lang) in line
    assert ("6–10 s" if lang == "en" else "6–10 с") in line
    assert ("no sound" if lang == "en" else "без звука") in line
    text_only = plain(card_line(CATALOG, hailuo, lang, ("t2v",)))
    assert {"en": "from 30 credits", "ru": "от 30 кредитов"}[lang] in text_only
    veo = plain(card_line(CATALOG, CATALOG.get("veo_fast"), lang))  # type: ignore[arg-type]
    assert ("8 s" if lang == "en" else "8 с") in veo
    assert ("with sound" if lang == "en" else "со звуком") in veo
    assert veo.startswith("⭐ Veo 3.1 Fast")  # the catalog's "recommended" mark
    avatar = plain(card_line(CATALOG, CATALOG.get("kavatar_std"), lang))  # type: ignore[arg-type]
    assert ("up to 15 s" if lang == "en" else "до 15 с") in avatar
    for entry in CATALOG.offerable():
        line = card_line(CATALOG, entry, lang)
        assert "\n" not in line and "card-" not in line
        assert str(CATALOG.price_from(entry)) in line


def test_lookalike_names_have_cards_that_tell_them_apart(lang: str) -> None:
    cards = {e.key: plain(card_line(CATALOG, e, lang)) for e in CATALOG.offerable()}
    assert len(set(cards.values())) == len(cards)
    best_at = [e.best_at_text(lang) for e in CATALOG.offerable()]
    assert len(set(best_at)) == len(best_at)
    assert all(len(text) <= 60 for text in best_at)
    old, new = cards["hailuo02_std"], cards["hailuo23_std"]
    assert old != new
    assert CATALOG.get("hailuo02_std").best_at_text(lang) not in new  # type: ignore[union-attr]


def test_every_card_line_fits_the_all_models_list(lang: str) -> None:
    total = sum(len(plain(card_line(CATALOG, e, lang))) + 2 for e in CATALOG.offerable())
    assert total < 3600, "the All models step would come near Telegram's 4096 characters"


def test_full_card_lists_modes_every_price_lengths_ratios_and_sound(lang: str) -> None:
    for entry in CATALOG.offerable():
        card = full_card(CATALOG, entry, lang)
        text = plain(card)
        assert len(text) < 4096
        assert entry.name(lang) in text and escape(entry.description(lang)) in card
        for mode in entry.modes:
            for _options, quote in entry.price_list(mode):
                assert re.search(rf"\b{quote.user_credits}\b", text), (entry.key, mode, quote)
            for ratio in entry.ratios_for(mode):
                if ratio != "auto":
                    assert ratio in text
        assert "card-" not in text
    hailuo = plain(full_card(CATALOG, CATALOG.get("hailuo02_std"), lang))  # type: ignore[arg-type]
    # Its text → video line shows 30 and 50; the 12 belongs to image → video 512P.
    t2v, i2v = {"en": ("Text → video", "Image → video"), "ru": ("Текст → видео", "Фото → видео")}[lang]
    thirty = hailuo.index("— 30")
    assert hailuo.index(t2v) < thirty < hailuo.index(i2v, thirty) < hailuo.index("— 12")
    kling = plain(full_card(CATALOG, CATALOG.get("kling30"), lang))  # type: ignore[arg-type]
    assert ("5 s — 70" if lang == "en" else "5 с — 70") in kling


def test_a_model_list_too_long_for_one_message_shows_brief_cards(
    lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.telegram.wizard import view_steps
    from bot.telegram.wizard.draft import ALL_MODELS, Draft
    from bot.telegram.wizard.rules import next_step
    from tests.unit.test_wizard_draft import user_row

    draft = Draft(id="Ab3-_x9Z")
    draft.add("category", ALL_MODELS)
    step = next_step(draft, CATALOG)
    full, _markup = view_steps.render(draft, step, user_row(language=lang), 0, CATALOG)
    assert all(e.best_at_text(lang) in full for e in CATALOG.offerable())
    assert len(plain(full)) < 4096
    monkeypatch.setattr(view_steps, "MODEL_CARDS_CHARS", 500)
    brief, markup = view_steps.render(draft, step, user_row(language=lang), 0, CATALOG)
    assert len(brief) < len(full) and not any(e.best_at_text(lang) in brief for e in CATALOG.offerable())
    for entry in CATALOG.offerable():
        assert card_line(CATALOG, entry, lang, brief=True) in brief
    # Still a name button and an ℹ️ per model (then Back and Cancel).
    assert len([b for row in markup.inline_keyboard for b in row]) == 2 * len(CATALOG.offerable()) + 2
