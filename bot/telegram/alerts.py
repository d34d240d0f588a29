"""Messages to the operator (ADMIN_IDS): the AdminMessenger port of bot/services/ports.py.

What is worth a message and how often is decided in bot/services/alerts.py; this words it in each
admin's language and sends it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from bot.catalog.availability import HIDDEN_DEGRADED
from bot.catalog.model import ModelEntry
from bot.i18n import language_of, translate
from bot.services.catalog_sync import HiddenModel
from bot.services.generation import ORPHAN_TOKEN_TAIL
from bot.store.jobs import Job
from bot.store.payments import PaymentRow
from bot.store.users import UsersRepo
from bot.text import escape, shorten

log = logging.getLogger(__name__)

# One Telegram message holds at most 4096 characters: list this many orders, count the rest.
MAX_ORPHANS_LISTED = 15
ORPHAN_PROMPT_CHARS = 40


class TelegramAdmins:
    def __init__(self, bot: Bot, users: UsersRepo, admin_ids: Iterable[int]) -> None:
        self.bot = bot
        self.users = users
        self.admin_ids = tuple(admin_ids)

    async def kie_problem(self, operator_key: str) -> None:
        await self._send_to_admins(lambda language: translate(f"operator-{operator_key}", language))

    async def unsold_payment(self, payment: PaymentRow) -> None:
        await self._send_to_admins(
            lambda language: translate(
                "operator-unsold_payment",
                language,
                user_id=payment.user_id,
                amount=payment.stars,
                currency=escape(payment.currency),
                # Whatever the update said: attacker-controlled text, so escaped and cut.
                payload=escape(shorten(payment.payload, 128)),
                charge_id=escape(payment.charge_id),
            )
        )

    async def possible_orphans(self, jobs: Sequence[Job]) -> None:
        if jobs:
            await self._send_to_admins(lambda language: _orphans_text(jobs, language))

    async def models_availability_changed(
        self, hidden: Sequence[HiddenModel], returned: Sequence[ModelEntry]
    ) -> None:
        await self._send_to_admins(lambda language: _availability_text(hidden, returned, language))

    async def _send_to_admins(self, render: Callable[[str], str]) -> None:
        """`render(language)` to every admin, each in their own language."""
        for admin_id in self.admin_ids:
            user = await self.users.get(admin_id)
            language = language_of(user)
            try:
                await self.bot.send_message(admin_id, render(language))
            except TelegramAPIError as exc:
                log.warning("Could not alert admin %s: %s", admin_id, exc)


def _orphans_text(jobs: Sequence[Job], language: str) -> str:
    lines = [
        translate(
            "operator-possible-orphan-line",
            language,
            job_id=job.id,
            user_id=job.user_id,
            model=escape(job.model_key),
            kie_model=escape(job.kie_model),
            sent_at=datetime.fromtimestamp(job.create_started_at or job.created_at, tz=UTC).strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            token_tail=escape(job.callback_token[-ORPHAN_TOKEN_TAIL:]),
            prompt=escape(shorten(job.prompt, ORPHAN_PROMPT_CHARS)),
        )
        for job in jobs[:MAX_ORPHANS_LISTED]
    ]
    if len(jobs) > MAX_ORPHANS_LISTED:
        lines.append(
            translate("operator-possible-orphans-more", language, count=len(jobs) - MAX_ORPHANS_LISTED)
        )
    return translate("operator-possible-orphans", language, orders="\n".join(lines))


def _availability_text(hidden: Sequence[HiddenModel], returned: Sequence[ModelEntry], language: str) -> str:
    lines = [translate("operator-models-changed", language)]
    if hidden:
        names = ", ".join(
            f"{escape(h.entry.name(language))} ({_hidden_reason_text(h.reason, language)})"
            for h in hidden
        )
        lines.append(translate("operator-models-hidden", language, models=names))
    if returned:
        names = ", ".join(escape(e.name(language)) for e in returned)
        lines.append(translate("operator-models-back", language, models=names))
    return "\n".join(lines)


def _hidden_reason_text(reason: str, language: str) -> str:
    if reason == HIDDEN_DEGRADED:
        return translate("operator-models-reason-degraded", language)
    return translate("operator-models-reason-not_listed", language)
