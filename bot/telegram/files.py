"""Reading user files through the Bot API, so their URLs (which carry the token) stay in-process."""

from __future__ import annotations

from aiogram import Bot


class TelegramFiles:
    """The FileSource port (bot/services/ports.py), backed by bot.download."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def read(self, file_id: str) -> bytes:
        buffer = await self.bot.download(file_id, timeout=120)
        if buffer is None:  # pragma: no cover - only when a destination is given
            raise RuntimeError("download returned nothing")
        return buffer.read()
