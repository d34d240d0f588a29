"""aiogram FSM storage in the bot's database (SQLite or PostgreSQL): an open wizard survives a restart.

aiogram's MemoryStorage loses every open /generate menu on a restart, and each of its buttons then
answers "this menu is out of date". Here state and data live in the `fsm` table (migration 4), one
row per StorageKey, data as a JSON object.

Cost: aiogram reads the state on every update, and a wizard tap writes state and data. Every
aiosqlite call is a hand-off to its worker thread, which under load costs more than the SQL, so:
reads come from a cache (safe while one process owns the database file: every change goes through
this object), and changes are written behind, by one task, in one transaction per round trip: the
changes that arrive while a write is running go together in the next one (group commit). A tap never
waits for the disk; at most the changes of one round trip are lost if the process is killed, none on
a clean stop (the application calls `close()`, which writes what is pending). A write the database
refuses is logged and retried; the pending change stays what every read sees.

With `shared=True` (PostgreSQL, several bot processes on one database) nothing is cached and every
change is written before the call returns: another process may handle the user's next tap.

Drafts nobody touched for `keep_s` (7 days) are dropped: at start, at most hourly on a write, and
on read (an expired row reads as empty, so an old menu says "out of date" even before the purge).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

from bot.store.db import Database, StoreError, now
from bot.store.sql import SqlConnection, SqlRow

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
_DELETE = f"DELETE FROM fsm WHERE {_KEY_WHERE}"
_UPSERT = """
    INSERT INTO fsm
        (bot_id, chat_id, user_id, thread_id, business_connection_id, destiny, state, data, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (bot_id, chat_id, user_id, thread_id, business_connection_id, destiny)
    DO UPDATE SET state = excluded.state, data = excluded.data, updated_at = excluded.updated_at
"""
# After a refused write, try again this much later (a write-locked database, a full disk).
RETRY_S = 1.0

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
    """The storage over `Database` (the name is historical: PostgreSQL works too, see `shared`)."""

    def __init__(
        self,
        db: Database,
        *,
        keep_s: float = DRAFT_KEEP_S,
        cache_entries: int = CACHE_ENTRIES,
        clock: Callable[[], float] = now,
        shared: bool = False,
    ) -> None:
        self.db = db
        self.shared = shared
        self.keep_s = keep_s
        self.cache_entries = cache_entries
        self.clock = clock
        self._cache: OrderedDict[StorageKey, _Record] = OrderedDict()
        # Changes not yet written, and the batch being written now: reads look here first, so
        # evicting a key from the cache never loses a change.
        self._dirty: dict[StorageKey, _Record] = {}
        self._writing: dict[StorageKey, _Record] = {}
        self._writer: asyncio.Task[None] | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._last_purge = clock()

    # --- BaseStorage --------------------------------------------------------------------------

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._read(key)).state

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((await self._read(key)).data)
        return data

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        name = state_name(state)
        current = await self._read(key)
        if current.state == name and (
            current is _ABSENT or self.clock() - current.updated_at < PURGE_EVERY_S
        ):
            # The wizard sets the same state on every tap, right before writing the data (which
            # refreshes updated_at): nothing to write.
            return
        await self._put(key, _Record(name, current.data, self.clock()))

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        text = encode_data(data)
        current = await self._read(key)
        if current is _ABSENT and text == EMPTY_DATA:
            return
        await self._put(key, _Record(current.state, text, self.clock()))

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        current = await self._read(key)
        merged: dict[str, Any] = json.loads(current.data)
        merged.update(data)
        text = encode_data(merged)
        await self._put(key, _Record(current.state, text, self.clock()))
        result: dict[str, Any] = json.loads(text)
        return result

    async def close(self) -> None:
        """Write what is pending. The database belongs to the application (closed last, after
        handlers that may still use this storage), so this can run more than once."""
        try:
            await self.flush()
        except StoreError as exc:
            # No retry after this: the application closes the database next.
            if self._retry is not None:
                self._retry.cancel()
                self._retry = None
            log.error("Open wizards could not be saved at shutdown: %s", exc)

    # --- writing ------------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Wait until every change made so far is in the database; StoreError if it refused."""
        self._start_writer()
        if self._writer is not None:
            await asyncio.wait({self._writer})
        if self._dirty:
            raise StoreError(f"{len(self._dirty)} open wizard(s) could not be saved")

    async def _put(self, key: StorageKey, record: _Record) -> None:
        self._dirty[key] = record
        self._remember(key, record)
        self._start_writer()
        if self.shared:
            # Written through: the next update of this user may reach another process.
            await self.flush()

    def _start_writer(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._dirty and (self._writer is None or self._writer.done()):
            self._writer = asyncio.get_running_loop().create_task(self._write_pending(), name="fsm-writer")

    async def _write_pending(self) -> None:
        # The only writer: one batch at a time, each batch one transaction in one round trip.
        while self._dirty:
            batch, self._dirty = self._dirty, {}
            self._writing = batch
            at = self.clock()
            purge_before = at - self.keep_s if at - self._last_purge >= PURGE_EVERY_S else None
            # In key order: two processes writing overlapping batches lock rows in the same order.
            rows = sorted(((key_params(key), record) for key, record in batch.items()), key=lambda r: r[0])
            try:
                await self.db.run_in_transaction(_write_rows, rows, purge_before)
            except Exception as exc:  # the database's own errors differ (sqlite3, psycopg)
                for key, record in batch.items():
                    self._dirty.setdefault(key, record)  # a newer change of the same key wins
                log.warning("Saving %d open wizard(s) failed, retrying: %s", len(batch), exc)
                self._retry = asyncio.get_running_loop().call_later(RETRY_S, self._start_writer)
                return
            finally:
                self._writing = {}
            if purge_before is not None:
                self._last_purge = at
                self._forget_expired(purge_before)
            for key, record in batch.items():
                if key not in self._dirty:
                    self._remember(key, record)

    # --- upkeep -----------------------------------------------------------------------------------

    async def purge_expired(self) -> int:
        """Drop every draft not touched for keep_s; returns how many."""
        cutoff = self.clock() - self.keep_s
        self._last_purge = self.clock()
        removed = await self.db.run_in_transaction(_purge, cutoff)
        self._forget_expired(cutoff)
        if removed:
            log.info("Dropped %d open wizard(s) untouched for %.0f days", removed, self.keep_s / 86400)
        return removed

    # --- reading ----------------------------------------------------------------------------------

    def _pending(self, key: StorageKey) -> _Record | None:
        return self._dirty.get(key) or self._writing.get(key)

    def _cached(self, key: StorageKey) -> _Record | None:
        record = self._pending(key) or (None if self.shared else self._cache.get(key))
        if record is None:
            return None
        if record is not _ABSENT and record.updated_at < self.clock() - self.keep_s:
            return _ABSENT
        if key in self._cache:
            self._cache.move_to_end(key)
        return record

    def _remember(self, key: StorageKey, record: _Record) -> None:
        if self.shared:
            return
        self._cache[key] = record
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_entries:
            self._cache.popitem(last=False)

    def _forget_expired(self, cutoff: float) -> None:
        for key in [k for k, r in self._cache.items() if r is not _ABSENT and r.updated_at < cutoff]:
            del self._cache[key]

    async def _read(self, key: StorageKey) -> _Record:
        cached = self._cached(key)
        if cached is not None:
            return cached
        record = await self.db.run_locked(_select, key_params(key), self.clock() - self.keep_s)
        # A change made while this read waited is newer than what the file held.
        pending = self._pending(key)
        if pending is not None:
            return pending
        self._remember(key, record)
        return record


# --- bodies run on the connection's worker thread (one round trip each) ----------------------------


def _row_record(row: SqlRow | None, cutoff: float) -> _Record:
    if row is None or float(row[2]) < cutoff:
        return _ABSENT
    return _Record(row[0], str(row[1]), float(row[2]))


def _select(raw: SqlConnection, params: KeyParams, cutoff: float) -> _Record:
    return _row_record(raw.execute(_SELECT, params).fetchone(), cutoff)


def _write_rows(
    raw: SqlConnection, rows: list[tuple[KeyParams, _Record]], purge_before: float | None
) -> None:
    for params, record in rows:
        if record.state is None and record.data == EMPTY_DATA:
            raw.execute(_DELETE, params)
        else:
            raw.execute(_UPSERT, (*params, record.state, record.data, record.updated_at))
    if purge_before is not None:
        _purge(raw, purge_before)


def _purge(raw: SqlConnection, cutoff: float) -> int:
    return raw.execute("DELETE FROM fsm WHERE updated_at < ?", (cutoff,)).rowcount
