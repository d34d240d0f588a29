"""The user's language from memory: right after every write, and no database read when known."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.store.db import Database
from bot.store.users import UsersRepo
from tests.pg_support import StoreBackend


@pytest.fixture
async def db(backend: StoreBackend) -> AsyncIterator[Database]:
    database = backend.new()
    await database.open()
    yield database
    await database.close()


async def test_language_follows_every_write(db: Database) -> None:
    users = UsersRepo(db)
    assert await users.language(1) is None  # not met yet
    await users.upsert(1, language="en")
    assert await users.language(1) == "en"
    await users.set_language(1, "ru")
    assert await users.language(1) == "ru"
    await users.upsert(1, language="en")  # Telegram's language no longer applies once chosen
    assert await users.language(1) == "ru"
    assert await UsersRepo(db).language(1) == "ru"  # a cold repo reads the same from the database


async def test_a_known_language_costs_no_database_read(db: Database) -> None:
    users = UsersRepo(db)
    await users.upsert(1, language="ru")
    reads: list[str] = []
    real = db.fetchone

    async def counted(sql: str, params: tuple[object, ...] = ()) -> object:
        reads.append(sql)
        return await real(sql, params)

    db.fetchone = counted  # type: ignore[method-assign,assignment]
    assert await users.language(1) == "ru"
    assert reads == []
