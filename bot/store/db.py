"""The database the repositories run on: SQLite (embedded, the default) or PostgreSQL.

`Database` is what repositories and services see. Every multi-statement step is a short
synchronous body `body(conn, ...)` (bot.store.sql.SqlConnection) run in ONE transaction on a worker
thread (`run_in_transaction`); single statements use `execute` / `fetchone` / `fetchall`. Two
implementations:

* `SqliteDatabase` (here): one long-lived aiosqlite connection shared by the whole process.
  Coroutines interleave on it. A transaction of several steps (`transaction()`) holds one
  asyncio.Lock from BEGIN IMMEDIATE to COMMIT; every other access is one round trip to the
  connection's thread (a statement, or a plain sqlite3 body with its own BEGIN IMMEDIATE ... COMMIT),
  queued only while no such transaction is open (`_at_once`). That keeps a read from ever seeing
  another coroutine's half-done transaction (testing-notes.md §8).
* `PostgresDatabase` (bot/store/postgres.py): a pool of psycopg connections, one per running body,
  for several processes on one server (DATABASE_URL).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar, cast

import aiosqlite

from bot.store.migrations import MIGRATIONS
from bot.store.sql import SQLITE, Dialect, SqlConnection, SqliteConnection, SqlRow

P = ParamSpec("P")
T = TypeVar("T")


class StoreError(Exception):
    """The database cannot be used; the message is one line for the operator."""


# What a caller may catch as "the database refused this step" (locked, busy, unreachable), whichever
# database it is: the PostgreSQL store reports its connection errors as StoreError.
DATABASE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, StoreError)


def now() -> float:
    return time.time()


DEFAULT_BUSY_TIMEOUT_MS = 5000


class Database(ABC):
    """The store's connection to its database (see the module docstring)."""

    dialect: ClassVar[Dialect]

    @property
    @abstractmethod
    def description(self) -> str:
        """The setting that names this database, for messages (no password)."""

    @abstractmethod
    async def open(self) -> None:
        """Connect, migrate, check it is writable. Raises StoreError with one clear line."""

    @abstractmethod
    async def close(self) -> None:
        """Idempotent."""

    @abstractmethod
    async def run_in_transaction(
        self, body: Callable[Concatenate[SqlConnection, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`body(conn, ...)` in one transaction, committed if it returns, rolled back if it raises.

        If the awaiting coroutine is cancelled, the worker thread still finishes the body and commits
        or rolls back on its own. On PostgreSQL the body may run again after a deadlock or a
        serialization failure (nothing of the failed run is kept), so it must not have effects
        outside the database.
        """

    @abstractmethod
    async def run_locked(
        self, body: Callable[Concatenate[SqlConnection, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """A read of several statements in one round trip that never sees a half-done transaction."""

    @abstractmethod
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One autocommitted statement; returns the number of changed rows."""

    @abstractmethod
    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> SqlRow | None: ...

    @abstractmethod
    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[SqlRow]: ...

    @abstractmethod
    async def ping(self) -> bool: ...


class SqliteDatabase(Database):
    dialect = SQLITE

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def description(self) -> str:
        return f"DATABASE_PATH={self.path}"

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StoreError("database is not open")
        return self._conn

    async def open(self) -> None:
        """Open, configure and migrate. Raises StoreError with a clear line on any failure."""
        try:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = await aiosqlite.connect(
                str(self.path), isolation_level=None, factory=SqliteConnection
            )
            self._conn.row_factory = aiosqlite.Row
            # busy_timeout first: an instance starting beside another waits for its locks
            # (the WAL switch and the migrations) instead of failing with "database is locked".
            await self._conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            await self._switch_to_wal()
            await self._conn.execute("PRAGMA synchronous=NORMAL")
            await self._conn.execute("PRAGMA foreign_keys=ON")
            await self._migrate()
            # Prove the file is writable now, not at the first payment.
            await self._conn.execute("BEGIN IMMEDIATE")
            await self._conn.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            await self.close()
            raise StoreError(f"DATABASE_PATH={self.path} cannot be used: {exc}") from None

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await conn.close()
            except sqlite3.Error:
                pass

    async def _switch_to_wal(self) -> None:
        """PRAGMA journal_mode=WAL, retried: on a fresh file the switch needs an exclusive lock and
        SQLite answers "database is locked" at once, without the busy handler, while another
        instance starting beside this one holds it. Bounded by busy_timeout like any other wait."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        pause = 0.005
        while True:
            try:
                await self.conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.2)

    async def _schema_version(self) -> int:
        row = await (await self.conn.execute("PRAGMA user_version")).fetchone()
        current = int(row[0]) if row else 0
        if current > len(MIGRATIONS):
            raise StoreError(
                f"DATABASE_PATH={self.path} has schema version {current}, newer than this bot "
                f"({len(MIGRATIONS)}); upgrade the bot"
            )
        return current

    async def _migrate(self) -> None:
        conn = self.conn
        current = await self._schema_version()
        for version, script in enumerate(MIGRATIONS, start=1):
            if version <= current:
                continue
            await conn.execute("BEGIN IMMEDIATE")
            try:
                # Read again under the write lock: another instance starting on the same file may
                # have applied this step since the read above.
                current = await self._schema_version()
                if version <= current:
                    await conn.execute("COMMIT")
                    continue
                for statement in split_sql(script):
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version={version}")
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """SQLite only (tools and benchmarks that compose aiosqlite calls): a write transaction,
        BEGIN IMMEDIATE under the process-wide lock, rolled back on error. The bot's own steps use
        `run_in_transaction`, which both backends have."""
        async with self._lock:
            conn = self.conn
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            else:
                await conn.execute("COMMIT")

    async def run_sync(
        self,
        body: Callable[Concatenate[SqlConnection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run `body(raw_connection, ...)` on the connection's worker thread as ONE round trip.

        Callers inside `transaction()` already hold the lock; others should use
        `run_in_transaction`. See `run_on_connection_thread`.
        """
        return await run_on_connection_thread(self.conn, body, *args, **kwargs)

    async def run_in_transaction(
        self,
        body: Callable[Concatenate[SqlConnection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`transaction()` with BEGIN IMMEDIATE, the body and COMMIT in one round trip.

        Same guarantees: never inside another coroutine's open transaction, ROLLBACK on any error.
        If the awaiting coroutine is cancelled, the worker thread still finishes the body and commits
        or rolls back on its own.
        """
        return await self._at_once(_in_immediate_transaction, body, *args, **kwargs)

    async def run_locked(
        self,
        body: Callable[Concatenate[SqlConnection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`run_sync` outside any open transaction: a read in one round trip that never sees another
        coroutine's half-done transaction."""
        return await self._at_once(body, *args, **kwargs)

    async def _at_once(
        self,
        body: Callable[Concatenate[SqlConnection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """One round trip queued straight on the connection's thread, unless a `transaction()` is open.

        Why not under the lock like `transaction()`: a step that is one round trip cannot interleave
        with anything, and the connection's thread runs its queue in order. Under the lock each step
        had to wait for the event loop to hand the lock on (two loop turns per statement), so under
        a burst (100 finished jobs, each loop turn 10-20 ms) statements queued at one per turn;
        queued on the thread they run back to back. A step only waits while a multi-statement
        `transaction()` holds the lock, and is queued right after it ends (no await between the
        release and the queueing, so no other transaction can begin in between).
        """
        if self._lock.locked():
            async with self._lock:
                pass
        return await self.run_sync(body, *args, **kwargs)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One autocommitted statement; returns the number of changed rows."""
        return await self._at_once(_execute_sync, sql, params)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> SqlRow | None:
        return await self._at_once(_fetchone_sync, sql, params)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[SqlRow]:
        return await self._at_once(_fetchall_sync, sql, params)

    async def ping(self) -> bool:
        try:
            await self.fetchone("SELECT 1")
        except (sqlite3.Error, StoreError, ValueError):
            return False
        return True


def run_on_connection_thread(
    conn: aiosqlite.Connection,
    body: Callable[Concatenate[SqlConnection, P], T],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> Awaitable[T]:
    """Run `body(raw_connection, ...)` on aiosqlite's worker thread, as one round trip.

    Why: every aiosqlite call is a hand-off to its worker thread and back (~0.1 ms on a small VM),
    several times the cost of the SQL itself; a reserve as separate awaits took six of them.
    Running the statements of one step as a plain sqlite3 function makes the step one round trip.
    `body` must stay short and must not await: it holds the connection's only thread. Inside a
    caller's `SqliteDatabase.transaction()` pass its connection; otherwise use
    `Database.run_in_transaction`. aiosqlite has no public API for this: `_execute` / `_conn` are
    pinned by the dependency range (aiosqlite 0.22.x) and checked by tests/unit/test_ledger.py.
    """
    # aiosqlite leaves its private dispatcher untyped; it returns what the function returns.
    raw = cast(SqliteConnection, conn._conn)  # opened with factory=SqliteConnection
    return conn._execute(lambda: body(raw, *args, **kwargs))  # type: ignore[no-untyped-call]


def _in_immediate_transaction(
    raw: SqlConnection,
    body: Callable[Concatenate[SqlConnection, P], T],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    raw.execute("BEGIN IMMEDIATE")
    try:
        result = body(raw, *args, **kwargs)
        raw.execute("COMMIT")
    except BaseException:
        # Also covers a failed COMMIT, which would otherwise leave the transaction open.
        if raw.in_transaction:
            raw.execute("ROLLBACK")
        raise
    return result


def _execute_sync(raw: SqlConnection, sql: str, params: Sequence[Any]) -> int:
    return raw.execute(sql, params).rowcount


def _fetchone_sync(raw: SqlConnection, sql: str, params: Sequence[Any]) -> SqlRow | None:
    row: SqlRow | None = raw.execute(sql, params).fetchone()
    return row


def _fetchall_sync(raw: SqlConnection, sql: str, params: Sequence[Any]) -> list[SqlRow]:
    return list(raw.execute(sql, params).fetchall())


def split_sql(script: str) -> Iterable[str]:
    # Migrations hold no semicolons inside literals or triggers, so a plain split is exact.
    return [s.strip() for s in script.split(";") if s.strip()]
