"""Both locales have every message the code uses, and nothing is left untranslated."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.catalog import InputKind, Sound
from bot.i18n import LOCALES_DIR, SUPPORTED_LANGUAGES, translate, translate_plural
from bot.kie import errors as kie_errors
from bot.services.alerts import ALERTED_KEYS
from bot.store.jobs import JobState
from bot.telegram.wizard.inputs import ARRIVED_KEYS

ROOT = Path(__file__).resolve().parents[2]
STATIC_KEY = re.compile(r"""(?:\b_|\btranslate(?:_plural)?|\bngettext)\(\s*["']([a-z0-9][a-z0-9_-]*)["']""")
FAMILY_PREFIX = re.compile(r"""(?:\b_|\btranslate)\(\s*f["']([a-z0-9-]+-)\{""")


def load(lang: str) -> dict[str, object]:
    with (LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f, locale=lang)
    return {m.id if isinstance(m.id, str) else m.id[0]: m.string for m in catalog if m.id}


def code_keys() -> set[str]:
    keys: set[str] = set()
    for path in (ROOT / "bot").rglob("*.py"):
        keys.update(STATIC_KEY.findall(path.read_text(encoding="utf-8")))
    return keys


def dynamic_keys() -> set[str]:
    """Keys built at run time from a known set of values."""
    keys = {f"input-kind-{k.value}" for k in InputKind} | set(ARRIVED_KEYS)
    keys |= {f"wizard-send-{k.value}" for k in InputKind} | {f"wizard-send-{k.value}-nth" for k in InputKind}
    reasons = [
        "unknown_model",
        "unknown_mode",
        "bad_ratio",
        "bad_option",
        "forbidden_combination",
        "prompt_empty",
        "prompt_too_long",
        "prompt_not_english",
        "missing_input",
        "unexpected_input",
    ]
    keys |= {f"order-{r}" for r in reasons}
    error_classes = [c for c in vars(kie_errors).values() if isinstance(c, type) and issubclass(c, Exception)]
    keys |= {f"fail-{c.user_message_key}" for c in error_classes if hasattr(c, "user_message_key")}
    keys |= {"fail-submission_unknown", "fail-internal_error"}
    keys |= {f"fail-kind-{kind.value}" for kind in kie_errors.FailureKind}
    keys |= {f"job-state-{state.value}" for state in JobState}
    keys |= {f"card-sound-{sound.value}" for sound in Sound}
    keys |= {f"operator-{key}" for key in ALERTED_KEYS}
    return keys


def test_both_locales_have_the_same_keys() -> None:
    en, ru = load("en"), load("ru")
    assert set(en) == set(ru), f"only en: {set(en) - set(ru)}; only ru: {set(ru) - set(en)}"


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_every_message_is_translated(lang: str) -> None:
    empty = [
        key for key, text in load(lang).items() if not text or (isinstance(text, tuple) and not all(text))
    ]
    assert not empty


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_every_key_the_code_uses_exists(lang: str) -> None:
    messages = load(lang)
    missing = sorted((code_keys() | dynamic_keys()) - set(messages))
    assert not missing, f"{lang} lacks {missing}"


def test_dynamic_prefixes_are_known() -> None:
    """Every f-string key family in the code is covered by dynamic_keys()."""
    prefixes = set()
    for path in (ROOT / "bot").rglob("*.py"):
        prefixes.update(FAMILY_PREFIX.findall(path.read_text(encoding="utf-8")))
    covered = {key.rsplit("-", 1)[0] + "-" for key in dynamic_keys()} | {
        k[: k.index("-") + 1] for k in dynamic_keys()
    }
    assert prefixes <= covered, prefixes - covered


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_placeholders_match_between_languages(lang: str) -> None:
    en = load("en")
    other = load(lang)
    field = re.compile(r"\{(\w*)\}")
    for key, text in en.items():
        if isinstance(text, str) and isinstance(other.get(key), str):
            assert set(field.findall(text)) == set(field.findall(str(other[key]))), key


def test_russian_plural_forms() -> None:
    assert translate_plural("credits-count", 1, "ru") == "1 кредит"
    assert translate_plural("credits-count", 3, "ru") == "3 кредита"
    assert translate_plural("credits-count", 5, "ru") == "5 кредитов"
    assert translate_plural("credits-count", 21, "ru") == "21 кредит"
    assert translate_plural("credits-count", 11, "ru") == "11 кредитов"
    assert translate_plural("credits-count", 1, "en") == "1 credit"
    assert translate_plural("credits-count", 2, "en") == "2 credits"


def test_unknown_language_falls_back_to_english() -> None:
    assert translate("menu-buy", "de") == translate("menu-buy", "en")


def _texts(lang: str) -> dict[str, str]:
    return {
        key: text if isinstance(text, str) else " | ".join(str(t) for t in text)
        for key, text in load(lang).items()
    }


def test_one_russian_word_for_the_prompt() -> None:
    """The user's text for the video is "описание" everywhere in Russian (issue 13, item 12)."""
    en, ru = _texts("en"), _texts("ru")
    for key, text in en.items():
        if re.search(r"\bprompts?\b", re.sub(r"\{\w+\}", "", text), re.IGNORECASE):
            assert "описани" in ru[key].lower(), (key, ru[key])
    assert not [key for key, text in ru.items() if re.search(r"промпт|подсказк", text, re.IGNORECASE)]


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_the_credit_unit_is_never_abbreviated(lang: str) -> None:
    """Amounts are written by one helper with plural forms ("5 credits", "5 кредитов"); no "cr"/"кр."."""
    assert not [key for key, text in _texts(lang).items() if re.search(r"\b(cr|кр)\b", text)]
