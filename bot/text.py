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
