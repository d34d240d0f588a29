"""Text helpers for Telegram's HTML parse mode, shared by services and handlers."""

from __future__ import annotations

from aiogram.utils.text_decorations import html_decoration


def escape(text: str) -> str:
    """Escape user text (prompts, names) for HTML parse mode."""
    return html_decoration.quote(text)


def shorten(text: str, limit: int) -> str:
    """Cut to at most `limit` characters, marking the cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rstrip() + "…"


def ordinal(n: int, lang: str) -> str:
    """A place in line: 1st, 2nd, 3rd, 11th, 21st / 1-й, 2-й."""
    if lang == "ru":
        return f"{n}-й"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
