"""Telling the operator (ADMIN_IDS) about problems only they can fix: KIE balance, KIE key."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from bot.i18n import language_of, translate
from bot.store.users import UsersRepo

log = logging.getLogger(__name__)

# Operator message keys (bot/kie/errors.py) worth a Telegram message, not just a log line.
ALERTED_KEYS = frozenset({"kie_balance_empty", "kie_bad_key", "kie_key_limit"})
ALERT_INTERVAL_S = 600.0


class OperatorAlerts:
    def __init__(
        self, bot: Bot, users: UsersRepo, admin_ids: Iterable[int], *, interval_s: float = ALERT_INTERVAL_S
    ):
        self.bot = bot
        self.users = users
        self.admin_ids = tuple(admin_ids)
        self.interval_s = interval_s
        self._last_sent: dict[str, float] = {}

    async def kie_problem(self, operator_key: str, detail: str = "") -> None:
        """Log always; message the admins at most once per interval per problem."""
        log.error("Operator action needed: %s %s", operator_key, detail)
        if operator_key not in ALERTED_KEYS or not self.admin_ids:
            return
        now = time.monotonic()
        last = self._last_sent.get(operator_key)
        if last is not None and now - last < self.interval_s:
            return
        self._last_sent[operator_key] = now
        for admin_id in self.admin_ids:
            user = await self.users.get(admin_id)
            language = language_of(user)
            try:
                await self.bot.send_message(admin_id, translate(f"operator-{operator_key}", language))
            except TelegramAPIError as exc:
                log.warning("Could not alert admin %s: %s", admin_id, exc)
