"""Middlewares shared by every router."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramAPIError, TelegramRetryAfter
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import CallbackQuery, Message, TelegramObject, Update, User
from aiogram.utils.i18n import gettext as _

from bot.coordination.updates import UpdateClaims
from bot.services.accounts import AccountsService
from bot.store.db import DATABASE_ERRORS

log = logging.getLogger(__name__)


# Callback query ids answered while the current update is handled (see CallbackAnswerGuard).
_answered_queries: ContextVar[set[str] | None] = ContextVar("answered_queries", default=None)


class PinnedResponseModels(BaseRequestMiddleware):
    """Keeps aiogram's `Response[<result type>]` models alive for the whole run.

    aiogram parses every answer with `Response[method.__returning__]`, a pydantic generic built on
    first use and kept by pydantic only in a weak cache: the garbage collector drops it between
    calls, and rebuilding it costs 5-15 ms of the event loop each time (41 rebuilds of
    Response[Message] in one burst of 100 deliveries, bench/bench_jobs.py). One strong reference
    per result type the bot has used makes each a dictionary lookup. The types of sends and edits
    are built up front, so the first burst after a start does not pay for them either.
    """

    def __init__(self) -> None:
        self._pinned: dict[Any, type[Response[Any]]] = {
            returning: Response[returning]  # type: ignore[valid-type]
            for returning in (Message, Message | bool, bool)
        }

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in self._pinned:
            self._pinned[returning] = Response[returning]  # type: ignore[valid-type]
        return await make_request(bot, method)


class RetryAfterMiddleware(BaseRequestMiddleware):
    """aiogram raises TelegramRetryAfter and never retries by itself: wait it out and retry."""

    def __init__(self, attempts: int = 3, max_wait: float = 60.0) -> None:
        self.attempts = attempts
        self.max_wait = max_wait

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if isinstance(method, AnswerCallbackQuery):
            answered = _answered_queries.get()
            if answered is not None:
                answered.add(method.callback_query_id)
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt == self.attempts or exc.retry_after > self.max_wait:
                    raise
                log.warning(
                    "Telegram flood control on %s: waiting %s s (attempt %d)",
                    type(method).__name__,
                    exc.retry_after,
                    attempt,
                )
                await asyncio.sleep(exc.retry_after)
        raise AssertionError("unreachable")


class InFlightUpdates(BaseMiddleware):
    """Counts updates being handled, so shutdown can wait for them, and remembers the last id."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.last_update_id: int | None = None

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if isinstance(event, Update) and (
            self.last_update_id is None or event.update_id > self.last_update_id
        ):
            self.last_update_id = event.update_id
        self._count += 1
        self._idle.clear()
        try:
            return await handler(event, data)
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

    @property
    def count(self) -> int:
        return self._count

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


class OnceEachUpdate(BaseMiddleware):
    """An update delivered twice (a webhook retry, a replay after a crash, another instance got it
    first) is handled once: only the caller that claims its update_id goes on (`claims`:
    bot/coordination/updates.py, in-process or shared through Redis)."""

    def __init__(self, claims: UpdateClaims) -> None:
        self.claims = claims

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        if not await self.claims.claim(event.update_id):
            log.info("Update %s was delivered again; already handled, skipped", event.update_id)
            return None
        try:
            return await handler(event, data)
        finally:
            await self.claims.done(event.update_id)


class UserMiddleware(BaseMiddleware):
    """Registers the sender (idempotent upsert) and injects `db_user` for handlers and i18n."""

    def __init__(self, accounts: AccountsService) -> None:
        self.accounts = accounts

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        tg_user: User | None = data.get("event_from_user")
        if tg_user is not None and not tg_user.is_bot:
            try:
                # `new_user`: this update created the user (a /start with a referral code needs it).
                data["db_user"], data["new_user"] = await self.accounts.register_seen(
                    tg_user.id,
                    language_code=tg_user.language_code,
                    first_name=tg_user.first_name,
                    username=tg_user.username,
                )
            except DATABASE_ERRORS:
                # A busy database must not stop a Stars payment before its handler, which
                # records it (or journals it) without needing the user row.
                if not (isinstance(event, Message) and event.successful_payment is not None):
                    raise
                log.warning("Sender of a successful_payment not registered (database busy)", exc_info=True)
        return await handler(event, data)


class CallbackAnswerGuard(BaseMiddleware):
    """Every callback query gets exactly one answer, so no button spins forever.

    Handlers answer as they see fit (`query.answer(...)`, with an alert or not); whatever they
    left unanswered, even when they crashed, is answered here afterwards.

    Why not aiogram's CallbackAnswerMiddleware (3.31, utils/callback_answer.py)? Used as meant
    (handlers set the injected CallbackAnswer instead of calling query.answer) it answers once,
    but: (1) it answers after the handler returns (or before it, with `pre`, without the
    handler's text), while the wizard answers first and then does the slow part (the edit, the
    balance read, the reservation), so the spinner and an alert do not wait for it; (2) after a
    crash its `finally` sends a blank answer before the errors router runs, so the user never
    gets the "something went wrong" alert; (3) an answer Telegram refuses (a query past its
    window, a re-sent update) raises out of that `finally` and turns a handled update into an
    error. This guard answers only what is left, with the alert on a crash, best effort.
    """

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, CallbackQuery):
            return await handler(event, data)
        answered: set[str] = set()
        token = _answered_queries.set(answered)
        failed = False
        try:
            return await handler(event, data)
        except Exception:
            failed = True
            raise
        finally:
            _answered_queries.reset(token)
            if event.id not in answered:
                with contextlib.suppress(TelegramAPIError, LookupError):
                    if failed:
                        await event.answer(_("error-generic"), show_alert=True)
                    else:
                        await event.answer()
