"""One place where an unexpected error becomes a polite message instead of silence or a traceback."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent

from bot.i18n import language_for, translate
from bot.services.accounts import AccountsService

log = logging.getLogger("bot.errors")


def make_errors_router() -> Router:
    router = Router(name="errors")

    @router.errors()
    async def on_error(event: ErrorEvent, accounts: AccountsService) -> bool:
        log.error("Unhandled error in update %s", event.update.update_id, exc_info=event.exception)
        update = event.update
        # This runs outside the i18n middleware, so the language is looked up here.
        tg_user = update.callback_query or update.message or update.pre_checkout_query or object()
        sender = getattr(tg_user, "from_user", None)
        language = language_for(getattr(sender, "language_code", None))
        if sender is not None:
            with contextlib.suppress(Exception):
                stored = await accounts.get(sender.id)
                language = stored.language if stored else language
        text = translate("error-generic", language)
        with contextlib.suppress(TelegramAPIError):
            if update.callback_query is not None:
                await update.callback_query.answer(text, show_alert=True)
            elif update.message is not None:
                await update.message.answer(text)
        return True

    return router
