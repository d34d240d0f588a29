"""One place where an unexpected error becomes a polite message instead of silence or a traceback."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import gettext as _

log = logging.getLogger("bot.errors")


def make_errors_router() -> Router:
    router = Router(name="errors")

    @router.errors()
    async def on_error(event: ErrorEvent) -> bool:
        log.error("Unhandled error in update %s", event.update.update_id, exc_info=event.exception)
        update = event.update
        with contextlib.suppress(TelegramAPIError):
            if update.callback_query is not None:
                await update.callback_query.answer(_("error-generic"), show_alert=True)
            elif update.message is not None:
                await update.message.answer(_("error-generic"))
        return True

    return router
