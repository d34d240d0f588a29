"""Users repository."""

from __future__ import annotations

import sys
from collections import OrderedDict
from dataclasses import dataclass

from bot.store.db import Database, now
from bot.store.sql import SqlConnection, SqlRow


@dataclass(frozen=True)
class UserRow:
    id: int
    language: str
    language_chosen: bool
    first_name: str
    username: str | None
    balance: int
    default_ratio: str | None
    created_at: float
    last_seen_at: float

    @classmethod
    def from_row(cls, row: SqlRow) -> UserRow:
        return cls(
            id=row["id"],
            language=row["language"],
            language_chosen=bool(row["language_chosen"]),
            first_name=row["first_name"],
            username=row["username"],
            balance=row["balance"],
            default_ratio=row["default_ratio"],
            created_at=row["created_at"],
            last_seen_at=row["last_seen_at"],
        )


# Languages kept in memory, at most this many users (least recently used dropped first).
LANGUAGE_CACHE_SIZE = 4096


class UsersRepo:
    def __init__(self, db: Database) -> None:
        self.db = db
        # Every write of users.language goes through this repo (upsert, set_language), so the cache
        # stays true. It keeps a burst of deliveries and status edits from queueing a read each
        # behind the other jobs' writes on the one database connection.
        self._languages: OrderedDict[int, str] = OrderedDict()

    def _remember_language(self, user_id: int, language: str) -> None:
        # Interned: thousands of users share the two or three language codes, not a copy each.
        self._languages[user_id] = sys.intern(language)
        self._languages.move_to_end(user_id)
        while len(self._languages) > LANGUAGE_CACHE_SIZE:
            self._languages.popitem(last=False)

    async def language(self, user_id: int) -> str | None:
        """The user's language (None for a user the bot has not met), from memory when it can."""
        cached = self._languages.get(user_id)
        if cached is not None:
            self._languages.move_to_end(user_id)
            return cached
        user = await self.get(user_id)
        if user is None:
            return None
        # A write that landed while this read waited (set_language) knows better: keep it.
        language = self._languages.get(user_id, user.language)
        self._remember_language(user_id, language)
        return language

    async def upsert(
        self, user_id: int, *, language: str, first_name: str = "", username: str | None = None
    ) -> tuple[UserRow, bool]:
        """Register or touch a user in one statement. Returns (user, created).

        The language from Telegram only applies until the user picks one with /language.
        """
        t = now()

        def body(raw: SqlConnection) -> SqlRow:
            row: SqlRow = raw.execute(
                """
                INSERT INTO users (id, language, first_name, username, created_at, last_seen_at)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET
                    first_name = excluded.first_name,
                    username = excluded.username,
                    last_seen_at = excluded.last_seen_at,
                    language = CASE WHEN users.language_chosen <> 0 THEN users.language
                                    ELSE excluded.language END
                RETURNING *, (created_at = ?) AS created
                """,
                (user_id, language, first_name, username, t, t, t),
            ).fetchone()
            return row

        # One round trip to the database thread: this runs for every new or returning user.
        row = await self.db.run_in_transaction(body)
        user = UserRow.from_row(row)
        self._remember_language(user_id, user.language)
        return user, bool(row["created"])

    async def get(self, user_id: int) -> UserRow | None:
        row = await self.db.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
        return UserRow.from_row(row) if row else None

    async def set_language(self, user_id: int, language: str) -> None:
        await self.db.execute(
            "UPDATE users SET language = ?, language_chosen = 1 WHERE id = ?", (language, user_id)
        )
        self._remember_language(user_id, language)

    async def set_default_ratio(self, user_id: int, ratio: str) -> None:
        await self.db.execute("UPDATE users SET default_ratio = ? WHERE id = ?", (ratio, user_id))

    async def count(self) -> int:
        row = await self.db.fetchone("SELECT COUNT(*) FROM users")
        return int(row[0]) if row else 0
