"""aiogram FSM storage in the bot's SQLite database: an open wizard survives a restart.

aiogram's MemoryStorage loses every open /generate menu on a restart, and each of its buttons then
answers "this menu is out of date". Here state and data live in the `fsm` table (migration 4), one
row per StorageKey, data as a JSON object.

Cost: aiogram reads the state on every update, and a wizard tap writes state and data. Reads come
from a write-through cache (safe while one process owns the database file: every write goes through
this object), so a tap costs one database round trip per write and none per read. A write the
database refused drops the cached entry, so the cache never claims what the file does not hold.

Drafts nobody touched for `keep_s` (7 days) are dropped: at start, at most hourly on a write, and
on read (an expired row reads as empty, so an old menu says "out of date" even before the purge).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

from bot.store.db import Database, now

log = logging.getLogger(__name__)

DRAFT_KEEP_S = 7 * 24 * 3600.0
PURGE_EVERY_S = 3600.0
# Entries, not bytes: a draft is well under 2 KB, so this bounds the cache to a few MB.
CACHE_ENTRIES = 10_000
EMPTY_DATA = "{}"

_KEY_WHERE = (
    "bot_id = ? AND chat_id = ? AND user_id = ? AND thread_id = ? AND business_connection_id = ?"
    " AND destiny = ?"
)
_SELECT = f"SELECT state, data, updated_at FROM fsm WHERE {_KEY_WHERE}"
_DELETE_EXPIRED_KEY = f"DELETE FROM fsm WHERE {_KEY_WHERE} AND updated_at < ?"
_DELETE_IF_EMPTY = f"DELETE FROM fsm WHERE {_KEY_WHERE} AND state IS NULL AND data = '{EMPTY_DATA}'"
_UPSERT_STATE = """
    INSERT INTO fsm (bot_id, chat_id, user_id, thread_id, business_connection_id, destiny, state, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (bot_id, chat_id, user_id, thread_id, business_connection_id, destiny)
    DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
"""
_UPSERT_DATA = """
    INSERT INTO fsm (bot_id, chat_id, user_id, thread_id, business_connection_id, destiny, data, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (bot_id, chat_id, user_id, thread_id, business_connection_id, destiny)
    DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at
"""

KeyParams = tuple[int, int, int, int, str, str]


class FsmDataNotJson(TypeError):
    """FSM data must be a JSON object that reads back exactly as it was written."""


@dataclass(frozen=True)
class _Record:
    state: str | None
    data: str  # JSON text: every get_data decodes a fresh copy the caller may change freely
    updated_at: float


_ABSENT = _Record(None, EMPTY_DATA, 0.0)


def key_params(key: StorageKey) -> KeyParams:
    return (
        key.bot_id,
        key.chat_id,
        key.user_id,
        key.thread_id or 0,
        key.business_connection_id or "",
        key.destiny,
    )


def encode_data(data: Mapping[str, Any]) -> str:
    """JSON text of `data`, or FsmDataNotJson: a value JSON cannot hold, or one it would change
    (a tuple comes back a list, an int key a string) fails here, at the write, not after a restart."""
    if not isinstance(data, dict):
        raise DataNotDictLikeError(f"Data must be a dict or dict-like object, got {type(data).__name__}")
    try:
        text = json.dumps(data, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise FsmDataNotJson(f"FSM data is not JSON: {exc}") from None
    if json.loads(text) != data:
        raise FsmDataNotJson("FSM data would not read back the same through JSON (a tuple? a non-str key?)")
    return text


def state_name(state: StateType) -> str | None:
    return state.state if isinstance(state, State) else state


class SqliteStorage(BaseStorage):
    def __init__(
        self,
        db: Database,
        *,
        keep_s: float = DRAFT_KEEP_S,
        cache_entries: int = CACHE_ENTRIES,
        clock: Callable[[], float] = now,
    ) -> None:
        self.db = db
        self.keep_s = keep_s
        self.cache_entries = cache_entries
        self.clock = clock
        self._cache: OrderedDict[StorageKey, _Record] = OrderedDict()
        self._last_purge = clock()

    # --- BaseStorage --------------------------------------------------------------------------

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._read(key)).state

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((await self._read(key)).data)
        return data

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        name = state_name(state)
        cached = self._cached(key)
        if (
            cached is not None
            and cached is not _ABSENT
            and cached.state == name
            and self.clock() - cached.updated_at < PURGE_EVERY_S
        ):
            # The wizard sets the same state on every tap, right before writing the data (which
            # refreshes updated_at): no need for a second write.
            return
        if cached is _ABSENT and name is None:
            return
        await self._write(key, _UPSERT_STATE, name)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        text = encode_data(data)
        if text == EMPTY_DATA and self._cached(key) is _ABSENT:
            return
        await self._write(key, _UPSERT_DATA, text)

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        merged = await self.get_data(key)
        merged.update(data)
        text = encode_data(merged)
        await self._write(key, _UPSERT_DATA, text)
        result: dict[str, Any] = json.loads(text)
        return result

    async def close(self) -> None:
        # The database belongs to the application (closed last at shutdown, after handlers that
        # may still write here); only the cache is ours.
        self._cache.clear()

    # --- upkeep -----------------------------------------------------------------------------------

    async def purge_expired(self) -> int:
        """Drop every draft not touched for keep_s; returns how many."""
        cutoff = self.clock() - self.keep_s
        self._last_purge = self.clock()
        removed = await self.db.run_in_transaction(_purge, cutoff)
        for key in [k for k, r in self._cache.items() if r is not _ABSENT and r.updated_at < cutoff]:
            del self._cache[key]
        if removed:
            log.info("Dropped %d open wizard(s) untouched for %.0f days", removed, self.keep_s / 86400)
        return removed

    # --- internals --------------------------------------------------------------------------------

    def _cached(self, key: StorageKey) -> _Record | None:
        record = self._cache.get(key)
        if record is None:
            return None
        if record is not _ABSENT and record.updated_at < self.clock() - self.keep_s:
            self._cache[key] = _ABSENT
            return _ABSENT
        self._cache.move_to_end(key)
        return record

    def _remember(self, key: StorageKey, record: _Record) -> None:
        self._cache[key] = record
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_entries:
            self._cache.popitem(last=False)

    async def _read(self, key: StorageKey) -> _Record:
        cached = self._cached(key)
        if cached is not None:
            return cached
        record = await self.db.run_locked(_select, key_params(key), self.clock() - self.keep_s)
        self._remember(key, record)
        return record

    async def _write(self, key: StorageKey, upsert: str, value: str | None) -> None:
        at = self.clock()
        purge_before = at - self.keep_s if at - self._last_purge >= PURGE_EVERY_S else None
        if purge_before is not None:
            self._last_purge = at
        try:
            record = await self.db.run_in_transaction(
                _upsert, key_params(key), upsert, value, at, at - self.keep_s, purge_before
            )
        except BaseException:
            # The row may or may not have changed (a cancelled await still commits): read it next time.
            self._cache.pop(key, None)
            raise
        self._remember(key, record)


# --- bodies run on the connection's worker thread (one round trip each) ----------------------------


def _row_record(row: sqlite3.Row | None, cutoff: float) -> _Record:
    if row is None or float(row[2]) < cutoff:
        return _ABSENT
    return _Record(row[0], str(row[1]), float(row[2]))


def _select(raw: sqlite3.Connection, params: KeyParams, cutoff: float) -> _Record:
    return _row_record(raw.execute(_SELECT, params).fetchone(), cutoff)


def _upsert(
    raw: sqlite3.Connection,
    params: KeyParams,
    upsert: str,
    value: str | None,
    at: float,
    cutoff: float,
    purge_before: float | None,
) -> _Record:
    # An expired draft is gone: a new state must not bring its old data back (nor the reverse).
    raw.execute(_DELETE_EXPIRED_KEY, (*params, cutoff))
    raw.execute(upsert, (*params, value, at))
    raw.execute(_DELETE_IF_EMPTY, params)
    if purge_before is not None:
        _purge(raw, purge_before)
    return _row_record(raw.execute(_SELECT, params).fetchone(), cutoff)


def _purge(raw: sqlite3.Connection, cutoff: float) -> int:
    return raw.execute("DELETE FROM fsm WHERE updated_at < ?", (cutoff,)).rowcount
