"""SqliteStorage: aiogram FSM state and data in the bot's database, surviving a restart.

On SQLite as the bot runs it (cached, written behind) and on PostgreSQL (shared=True: written
through, nothing cached, as several processes share the database).
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.storage.base import StorageKey

from bot.store.db import Database, SqliteDatabase, StoreError
from bot.store.fsm_storage import DRAFT_KEEP_S, PURGE_EVERY_S, FsmDataNotJson, SqliteStorage
from bot.telegram.wizard.draft import ALL_MODELS, Draft
from bot.telegram.wizard.session import WizardStates
from tests.pg_support import StoreBackend

KEY = StorageKey(bot_id=1, chat_id=10, user_id=10)
DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def db(backend: StoreBackend) -> AsyncIterator[Database]:
    database = backend.new()
    await database.open()
    yield database
    await database.close()


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    """For what only SQLite does (one connection's transactions counted, a file lock)."""
    database = SqliteDatabase(tmp_path / "bot.sqlite3")
    await database.open()
    yield database
    await database.close()


def make_storage(db: Database, **kwargs: Any) -> SqliteStorage:
    """As bot/app.py makes it: shared (written through, not cached) on PostgreSQL."""
    return SqliteStorage(db, shared=db.dialect.name != "sqlite", **kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def storage(db: Database, clock: Clock) -> SqliteStorage:
    return make_storage(db, clock=clock)


async def reopened(
    backend: StoreBackend, clock: Clock, previous: SqliteStorage
) -> tuple[Database, SqliteStorage]:
    """A new process on the same database: a new connection and an empty cache (after the previous
    storage wrote what was pending, as a clean stop does)."""
    await previous.flush()
    database = backend.new()
    await database.open()
    return database, make_storage(database, clock=clock)


async def fsm_rows(db: Database, storage: SqliteStorage) -> int:
    await storage.flush()
    row = await db.fetchone("SELECT COUNT(*) FROM fsm")
    assert row is not None
    return int(row[0])


def wizard_draft() -> Draft:
    draft = Draft(id="d1", message_id=77)
    draft.add("category", ALL_MODELS)
    draft.add("model", "kling25")
    draft.add("ratio", "9:16")
    draft.add(
        "input:image",
        {
            "kind": "image",
            "file_id": "AgAD",
            "file_name": None,
            "mime_type": "image/jpeg",
            "size": 10,
            "duration": None,
        },
    )
    draft.add("prompt", "Лиса бежит по снегу ✨")
    return draft


async def test_state_and_data_survive_a_restart(
    storage: SqliteStorage, db: Database, backend: StoreBackend, clock: Clock
) -> None:
    draft = wizard_draft()
    await storage.set_state(KEY, WizardStates.active)
    await storage.update_data(KEY, {"draft": draft.to_data()})
    assert await storage.get_state(KEY) == WizardStates.active.state
    await storage.close()
    await db.close()

    db2 = backend.new()
    await db2.open()
    storage2 = make_storage(db2, clock=clock)
    try:
        assert await storage2.get_state(KEY) == WizardStates.active.state
        assert Draft.from_data((await storage2.get_data(KEY))["draft"]) == draft
    finally:
        await db2.close()


async def test_get_data_returns_a_copy(storage: SqliteStorage) -> None:
    await storage.set_data(KEY, {"confirmed": ["a"]})
    got = await storage.get_data(KEY)
    got["confirmed"].append("b")
    got["other"] = 1
    assert await storage.get_data(KEY) == {"confirmed": ["a"]}


async def test_update_data_merges_and_returns_the_result(storage: SqliteStorage) -> None:
    await storage.set_data(KEY, {"a": 1, "b": 2})
    assert await storage.update_data(KEY, {"b": 3, "c": [4]}) == {"a": 1, "b": 3, "c": [4]}
    assert await storage.get_data(KEY) == {"a": 1, "b": 3, "c": [4]}


async def test_clear_removes_the_row(storage: SqliteStorage, db: Database) -> None:
    await storage.set_state(KEY, WizardStates.active)
    await storage.set_data(KEY, {"draft": {"id": "x"}})
    assert await fsm_rows(db, storage) == 1
    await storage.set_state(KEY, None)
    assert await fsm_rows(db, storage) == 1  # data still there
    await storage.set_data(KEY, {})
    assert await fsm_rows(db, storage) == 0
    assert await storage.get_state(KEY) is None and await storage.get_data(KEY) == {}


async def test_keys_are_isolated(
    storage: SqliteStorage, db: Database, backend: StoreBackend, clock: Clock
) -> None:
    others = [
        StorageKey(bot_id=2, chat_id=10, user_id=10),
        StorageKey(bot_id=1, chat_id=11, user_id=10),
        StorageKey(bot_id=1, chat_id=10, user_id=11),
        StorageKey(bot_id=1, chat_id=10, user_id=10, thread_id=5),
        StorageKey(bot_id=1, chat_id=10, user_id=10, business_connection_id="bc"),
        StorageKey(bot_id=1, chat_id=10, user_id=10, destiny="other"),
    ]
    await storage.set_state(KEY, "s:main")
    await storage.set_data(KEY, {"who": "main"})
    for n, key in enumerate(others):
        await storage.set_state(key, f"s:{n}")
        await storage.set_data(key, {"who": n})
    assert await fsm_rows(db, storage) == 1 + len(others)
    db2, fresh = await reopened(backend, clock, storage)
    try:
        for reader in (storage, fresh):
            assert (await reader.get_state(KEY), await reader.get_data(KEY)) == ("s:main", {"who": "main"})
            for n, key in enumerate(others):
                assert (await reader.get_state(key), await reader.get_data(key)) == (f"s:{n}", {"who": n})
    finally:
        await db2.close()


@pytest.mark.parametrize(
    "bad",
    [
        {"s": {1, 2}},  # not JSON at all
        {"o": object()},
        {"nan": math.nan},  # JSON has no NaN
        {"t": (1, 2)},  # would come back a list
        {"nested": {1: "a"}},  # would come back with a str key
    ],
    ids=["set", "object", "nan", "tuple", "int-key"],
)
async def test_non_json_data_is_refused_and_changes_nothing(
    storage: SqliteStorage, db: Database, backend: StoreBackend, clock: Clock, bad: dict[str, Any]
) -> None:
    await storage.set_data(KEY, {"kept": True})
    with pytest.raises(FsmDataNotJson):
        await storage.set_data(KEY, bad)
    with pytest.raises(FsmDataNotJson):
        await storage.update_data(KEY, bad)
    assert await storage.get_data(KEY) == {"kept": True}
    db2, fresh = await reopened(backend, clock, storage)
    try:
        assert await fresh.get_data(KEY) == {"kept": True}
    finally:
        await db2.close()


async def test_data_must_be_a_dict(storage: SqliteStorage) -> None:
    with pytest.raises(DataNotDictLikeError):
        await storage.set_data(KEY, [("a", 1)])  # type: ignore[arg-type]


async def test_untouched_drafts_expire(
    storage: SqliteStorage, db: Database, backend: StoreBackend, clock: Clock
) -> None:
    old = StorageKey(bot_id=1, chat_id=20, user_id=20)
    await storage.set_state(old, WizardStates.active)
    await storage.set_data(old, {"draft": {"id": "old"}})
    clock.t += DRAFT_KEEP_S - DAY
    await storage.set_data(KEY, {"draft": {"id": "recent"}})
    clock.t += 2 * DAY  # `old` is now 8 days untouched, KEY 2 days
    # Expired drafts read as empty at once, from the cache and from the file.
    assert await storage.get_state(old) is None and await storage.get_data(old) == {}
    db2, fresh = await reopened(backend, clock, storage)
    try:
        assert await fresh.get_state(old) is None and await fresh.get_data(old) == {}
        assert await fresh.get_data(KEY) == {"draft": {"id": "recent"}}
        # A new state for an expired key does not bring its old data back.
        await fresh.set_state(old, WizardStates.active)
        assert await fresh.get_data(old) == {}
        await fresh.set_state(old, None)
        # The purge at start removes what expired and keeps the rest.
        clock.t += DRAFT_KEEP_S - DAY  # KEY: 8 days
        assert await fresh.purge_expired() == 1
        assert await fsm_rows(db2, fresh) == 0
    finally:
        await db2.close()


async def test_a_write_purges_expired_drafts_at_most_hourly(db: Database, clock: Clock) -> None:
    storage = make_storage(db, keep_s=60, clock=clock)
    for user in range(3):
        await storage.set_data(StorageKey(bot_id=1, chat_id=user, user_id=user), {"n": user})
    clock.t += 61
    await storage.set_data(KEY, {"fresh": 1})
    assert await fsm_rows(db, storage) == 4  # expired, but the storage purged less than an hour ago
    clock.t += PURGE_EVERY_S - 61
    await storage.set_data(KEY, {"fresh": 2})
    assert await fsm_rows(db, storage) == 1


async def test_changes_made_together_are_written_in_one_transaction(sqlite_db: SqliteDatabase) -> None:
    class CountingDatabase(SqliteDatabase):
        transactions = 0

        async def run_in_transaction(self, *args: Any, **kwargs: Any) -> Any:
            CountingDatabase.transactions += 1
            return await super().run_in_transaction(*args, **kwargs)

    counted = CountingDatabase(sqlite_db.path)
    await counted.open()
    try:
        storage = SqliteStorage(counted)
        keys = [StorageKey(bot_id=1, chat_id=n, user_id=n) for n in range(50)]
        for key in keys:
            await storage.get_state(key)  # as aiogram does on every update
        await asyncio.gather(*(storage.update_data(key, {"n": n}) for n, key in enumerate(keys)))
        await storage.flush()
        assert CountingDatabase.transactions == 1
        assert await fsm_rows(counted, storage) == 50
    finally:
        await counted.close()


async def test_a_refused_write_is_kept_and_retried(
    sqlite_db: SqliteDatabase, tmp_path: Path, clock: Clock
) -> None:
    db = sqlite_db
    storage = SqliteStorage(db, clock=clock)
    await storage.set_data(KEY, {"v": 1})
    await storage.flush()
    await db.execute("PRAGMA busy_timeout=50")
    blocker = sqlite3.connect(tmp_path / "bot.sqlite3", isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        await storage.set_data(KEY, {"v": 2})
        with pytest.raises(StoreError):
            await storage.flush()
        # The change the database refused is still what the bot sees.
        assert await storage.get_data(KEY) == {"v": 2}
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()
    await storage.flush()
    db2, fresh = await reopened(StoreBackend("sqlite", path=tmp_path / "bot.sqlite3"), clock, storage)
    try:
        assert await fresh.get_data(KEY) == {"v": 2}
    finally:
        await db2.close()


async def test_shared_storage_sees_another_process_at_once(backend: StoreBackend, clock: Clock) -> None:
    """Two processes on one database (PostgreSQL, several instances): a tap handled by one is seen
    by the other's next read, with no cache in between and nothing left to write."""
    if backend.name == "sqlite":
        pytest.skip("SQLite is one process: its storage caches and writes behind")
    first, second = backend.new(), backend.new()
    await first.open()
    await second.open()
    try:
        here, there = make_storage(first, clock=clock), make_storage(second, clock=clock)
        assert await there.get_state(KEY) is None
        await here.set_state(KEY, WizardStates.active)
        await here.update_data(KEY, {"step": 1})
        assert await there.get_state(KEY) == WizardStates.active.state
        assert await there.update_data(KEY, {"step": 2}) == {"step": 2}
        assert await here.get_data(KEY) == {"step": 2}
        await there.set_data(KEY, {})
        await there.set_state(KEY, None)
        assert await here.get_state(KEY) is None and await here.get_data(KEY) == {}
    finally:
        await first.close()
        await second.close()
