"""Registering users as they show up, with a short cache so a tap is not a database write."""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace

from bot.i18n import SUPPORTED_LANGUAGES, language_for
from bot.store.users import UserRow, UsersRepo

# Called once, right after a user is created (e.g. to grant the signup bonus).
OnNewUser = Callable[[int], Awaitable[object]]


class AccountsService:
    def __init__(
        self,
        users: UsersRepo,
        *,
        on_new_user: OnNewUser | None = None,
        cache_seconds: float = 60.0,
        cache_size: int = 10_000,
    ) -> None:
        self.users = users
        self._on_new_user = on_new_user
        self._cache_seconds = cache_seconds
        self._cache_size = cache_size
        self._cache: OrderedDict[int, tuple[float, UserRow]] = OrderedDict()

    async def register(
        self, user_id: int, *, language_code: str | None, first_name: str = "", username: str | None = None
    ) -> UserRow:
        """Idempotent upsert; touches last_seen at most once per cache period."""
        row, _created = await self.register_seen(
            user_id, language_code=language_code, first_name=first_name, username=username
        )
        return row

    async def register_seen(
        self, user_id: int, *, language_code: str | None, first_name: str = "", username: str | None = None
    ) -> tuple[UserRow, bool]:
        """`register`, also saying whether this call created the user (first time seen)."""
        cached = self._cache.get(user_id)
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1], False
        row, created = await self.users.upsert(
            user_id, language=language_for(language_code), first_name=first_name, username=username
        )
        if created and self._on_new_user is not None:
            await self._on_new_user(user_id)
            row = await self.users.get(user_id) or row
        self._remember(row)
        return row, created

    async def get(self, user_id: int) -> UserRow | None:
        return await self.users.get(user_id)

    async def set_language(self, user_id: int, language: str) -> None:
        if language not in SUPPORTED_LANGUAGES:
            raise ValueError(f"unsupported language {language!r}")
        await self.users.set_language(user_id, language)
        self.forget(user_id)

    async def set_default_ratio(self, user_id: int, ratio: str) -> None:
        await self.users.set_default_ratio(user_id, ratio)
        cached = self._cache.get(user_id)
        if cached is not None:
            # Keep the cached row (and its age): the next tap needs no fresh upsert.
            self._cache[user_id] = (cached[0], replace(cached[1], default_ratio=ratio))

    def forget(self, user_id: int) -> None:
        """Drop the cached row after anything that changes it (language, balance shown, ratio)."""
        self._cache.pop(user_id, None)

    def _remember(self, row: UserRow) -> None:
        # Jittered expiry, so users who arrived together do not all expire in the same second.
        expires = time.monotonic() + self._cache_seconds * random.uniform(0.75, 1.0)
        self._cache[row.id] = (expires, row)
        self._cache.move_to_end(row.id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
