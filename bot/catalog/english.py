"""Is a prompt "English"? Used for models that only accept English prompts (Luma Modify)."""

from __future__ import annotations

import unicodedata


def is_english(text: str) -> bool:
    """True unless `text` contains a letter of a non-Latin script.

    Latin letters (accented ones too: "café"), digits, punctuation, symbols and emoji are fine; one
    Cyrillic, Greek, CJK, Arabic... letter makes it not English. We cannot detect the *language*
    without a model, but a non-Latin letter is a sure sign the prompt will be rejected.
    """
    for char in text:
        if char.isascii() or not char.isalpha():
            continue
        if not unicodedata.name(char, "").startswith("LATIN"):
            return False
    return True
