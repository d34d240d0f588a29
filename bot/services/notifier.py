"""The job's status message: one message per job, edited as the job moves.

Edits are throttled to one every few seconds per message (Telegram allows about one message a second
per chat, and progress ticks are not worth a 429); the final states always go through.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardMarkup

from bot.catalog.model import Catalog, mode_name
from bot.i18n import language_of, translate
from bot.store.jobs import Job
from bot.store.users import UsersRepo
from bot.telegram.replies import is_not_modified
from bot.text import escape

log = logging.getLogger(__name__)

EDIT_INTERVAL_S = 3.0


def format_elapsed(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class StatusNotifier:
    def __init__(
        self, bot: Bot, users: UsersRepo, catalog: Catalog, *, min_interval_s: float = EDIT_INTERVAL_S
    ):
        self.bot = bot
        self.users = users
        self.catalog = catalog
        self.min_interval_s = min_interval_s
        self._last_edit: dict[int, float] = {}

    async def language(self, user_id: int) -> str:
        user = await self.users.get(user_id)
        return language_of(user)

    def header(self, job: Job, lang: str) -> str:
        entry = self.catalog.get(job.model_key)
        name = entry.name(lang) if entry else job.model_key
        parts = [f"<b>{escape(name)}</b>", escape(mode_name(job.mode, lang))]
        if job.ratio:
            parts.append(escape(job.ratio))
        return " · ".join(parts)

    async def render(self, job: Job, status_key: str, **params: Any) -> tuple[str, str]:
        lang = await self.language(job.user_id)
        text = f"{self.header(job, lang)}\n{translate(status_key, lang, **params)}"
        return lang, text

    async def show(
        self,
        job: Job,
        status_key: str,
        *,
        final: bool = False,
        reply_markup: InlineKeyboardMarkup | None = None,
        **params: Any,
    ) -> None:
        """Edit the job's status message (or send one if it has none). Never raises."""
        now = time.monotonic()
        last = self._last_edit.get(job.id)
        if not final and last is not None and now - last < self.min_interval_s:
            return
        self._last_edit[job.id] = now
        if final:
            self._last_edit.pop(job.id, None)
        _, text = await self.render(job, status_key, **params)
        try:
            if job.status_message_id is not None:
                await self.bot.edit_message_text(
                    text=text,
                    chat_id=job.chat_id,
                    message_id=job.status_message_id,
                    reply_markup=reply_markup,
                )
            else:
                await self.bot.send_message(job.chat_id, text, reply_markup=reply_markup)
        except TelegramBadRequest as exc:
            if is_not_modified(exc):
                return
            if job.status_message_id is not None and "message to edit not found" in str(exc):
                await self._send_fresh(job, text, reply_markup)
                return
            log.warning("Job %s: status message not updated: %s", job.id, exc)
        except TelegramForbiddenError:
            log.info("Job %s: user %s blocked the bot; status not shown", job.id, job.user_id)
        except TelegramAPIError as exc:
            log.warning("Job %s: status message not updated: %s", job.id, exc)

    async def _send_fresh(self, job: Job, text: str, reply_markup: InlineKeyboardMarkup | None) -> None:
        try:
            await self.bot.send_message(job.chat_id, text, reply_markup=reply_markup)
        except TelegramAPIError as exc:
            log.warning("Job %s: status message not sent: %s", job.id, exc)
