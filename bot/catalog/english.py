"""Is a prompt "English"? Used for models that only accept English prompts (Luma Modify)."""

from __future__ import annotations

# The last code point KIE takes as a letter of an English prompt: Basic Latin, Latin-1 Supplement
# and Latin Extended-A/B ("café", "naïve", "Łódź"). Everything above is refused, Latin-looking or
# not: Vietnamese letters (Latin Extended Additional, "phở"), fullwidth forms ("Ｃａｔ"), Greek,
# Cyrillic, CJK... The bot refuses exactly what KIE refuses, before any credits are reserved.
LAST_ACCEPTED_LETTER = 0x024F


def is_english(text: str) -> bool:
    """True unless `text` contains a letter KIE would refuse in an English-only prompt.

    Digits, punctuation, symbols and emoji are fine. We cannot detect the *language* without a
    model, but such a letter is a sure sign the prompt will be rejected.
    """
    return all(not char.isalpha() or ord(char) <= LAST_ACCEPTED_LETTER for char in text)
