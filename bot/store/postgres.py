"""The store on PostgreSQL (DATABASE_URL): the same repositories, the same bodies, several processes.

Each body (`run_in_transaction`) takes a connection from a psycopg 3 pool and runs in ONE
transaction on a worker thread of this database's own executor (as many threads as connections, so
a body never waits for a connection while holding a thread another needs). The statements are the
repositories' own texts, rewritten by `bot.store.sql.to_postgres` ( `?` and `:name` placeholders,
`%` escaping); rows read by name and by index like sqlite3.Row (`PgRow`).

Concurrency, where SQLite had BEGIN IMMEDIATE plus one process: READ COMMITTED, and every step
that decides a write on what it read either makes the read and the write one conditional statement
(`UPDATE ... WHERE state = ...`, `INSERT ... ON CONFLICT DO NOTHING`) or locks the rows it read
(`SELECT ... FOR UPDATE`, `Dialect.for_update`). A body that loses a deadlock or a serialization
check is run again from the start (nothing of the failed run was kept), a few times.

The schema has its own migrations (bot/store/pg_migrations.py), applied once at start under a
PostgreSQL advisory lock, so instances starting together do not race; the version is kept in
`schema_version`.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq
from psycopg.rows import RowMaker
from psycopg_pool import ConnectionPool, PoolTimeout

from bot.store.db import Database, StoreError, split_sql
from bot.store.pg_migrations import PG_MIGRATIONS
from bot.store.sql import POSTGRESQL, Dialect, SqlConnection, SqlRow, to_postgres

P = ParamSpec("P")
T = TypeVar("T")

# pg_advisory_lock key held while migrating (any constant that no other application on the
# database uses; the digits spell nothing).
MIGRATION_LOCK_KEY = 0x6B1E_B07_0001
DEFAULT_POOL_SIZE = 10
CONNECT_TIMEOUT_S = 10.0
# Attempts of a body that lost a deadlock or a serialization check.
RETRIES = 5


class PgRow:
    """A result row by index and by column name (the first column of that name), like sqlite3.Row."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: tuple[Any, ...], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._index)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PgRow):
            return self._values == other._values
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        return f"PgRow{self._values!r}"


def pg_row(cursor: psycopg.Cursor[Any]) -> RowMaker[PgRow]:
    """psycopg row factory making PgRow."""
    description = cursor.description
    index: dict[str, int] = {}
    for position, column in enumerate(description or ()):
        index.setdefault(column.name, position)

    def make(values: Sequence[Any]) -> PgRow:
        return PgRow(tuple(values), index)

    return make


class PgPoolConnection(psycopg.Connection[PgRow]):
    """The pool's connections (made with row_factory=pg_row)."""


class PgConnection:
    """What a body gets on PostgreSQL (bot.store.sql.SqlConnection)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: PgPoolConnection) -> None:
        self._conn = conn

    @property
    def dialect(self) -> Dialect:
        return POSTGRESQL

    @property
    def in_transaction(self) -> bool:
        return self._conn.info.transaction_status != pq.TransactionStatus.IDLE

    def execute(self, sql: str, parameters: Any = (), /) -> psycopg.Cursor[PgRow]:
        return self._conn.execute(to_postgres(sql), parameters)


def redact_url(url: str) -> str:
    """The URL with its password replaced by ***, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class SchemaTooNew(Exception):
    def __init__(self, found: int) -> None:
        super().__init__(
            f"has schema version {found}, newer than this bot ({len(PG_MIGRATIONS)}); upgrade the bot"
        )


def migrate(conn: psycopg.Connection[Any]) -> int:
    """Apply the pending migrations on an autocommit connection; returns the schema version.

    Two instances starting together: the second waits on the advisory lock, then finds the schema
    up to date. Each migration is one transaction (PostgreSQL's DDL is transactional).
    """
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        if row is None:
            conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            current = 0
        else:
            current = int(row[0])
        if current > len(PG_MIGRATIONS):
            raise SchemaTooNew(current)
        for version, script in enumerate(PG_MIGRATIONS, start=1):
            if version <= current:
                continue
            with conn.transaction():
                for statement in split_sql(script):
                    conn.execute(statement)
                conn.execute("UPDATE schema_version SET version = %s", (version,))
            current = version
        # Prove the database takes writes now (a read-only replica, missing grants), not at the
        # first payment.
        conn.execute("UPDATE schema_version SET version = version")
        return current
    finally:
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


class PostgresDatabase(Database):
    dialect = POSTGRESQL

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.url = url
        self.pool_size = pool_size
        self.connect_timeout_s = connect_timeout_s
        self._pool: ConnectionPool[PgPoolConnection] | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def description(self) -> str:
        return f"DATABASE_URL={redact_url(self.url)}"

    # --- lifecycle --------------------------------------------------------------------------------

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=self.pool_size, thread_name_prefix="postgres")
        try:
            self._pool = await self._call(self._open_sync)
        except (psycopg.Error, PoolTimeout, SchemaTooNew, OSError) as exc:
            await self.close()
            raise StoreError(f"{self.description} cannot be used: {one_line(exc)}") from None

    def _open_sync(self) -> ConnectionPool[PgPoolConnection]:
        # One plain connection first: its error says why (refused, no such database, bad password),
        # where a pool would only time out.
        timeout = max(1, round(self.connect_timeout_s))
        with psycopg.connect(self.url, autocommit=True, connect_timeout=timeout) as conn:
            migrate(conn)
        pool = ConnectionPool(
            self.url,
            min_size=1,
            max_size=self.pool_size,
            kwargs={"autocommit": True, "row_factory": pg_row, "connect_timeout": timeout},
            connection_class=PgPoolConnection,
            open=False,
            name="bot",
            timeout=self.connect_timeout_s,
        )
        try:
            pool.open(wait=True, timeout=self.connect_timeout_s)
        except BaseException:
            pool.close()
            raise
        return pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        executor, self._executor = self._executor, None
        if pool is not None:
            await asyncio.to_thread(pool.close)
        if executor is not None:
            executor.shutdown(wait=False)

    @property
    def pool(self) -> ConnectionPool[PgPoolConnection]:
        if self._pool is None:
            raise StoreError("database is not open")
        return self._pool

    async def _call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        if self._executor is None:
            raise StoreError("database is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    # --- bodies -----------------------------------------------------------------------------------

    async def run_in_transaction(
        self, body: Callable[Concatenate[SqlConnection, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._call(self._transaction_sync, body, args, kwargs)

    async def run_locked(
        self, body: Callable[Concatenate[SqlConnection, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        # No transaction needed: committed transactions are atomic on PostgreSQL, a read never sees
        # half of one.
        return await self._call(self._autocommit_sync, body, args, kwargs)

    def _autocommit_sync(self, body: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        try:
            with self.pool.connection() as conn:
                return body(PgConnection(conn), *args, **kwargs)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreError(f"{self.description}: {one_line(exc)}") from exc

    def _transaction_sync(
        self, body: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                with self.pool.connection() as conn, conn.transaction():
                    return body(PgConnection(conn), *args, **kwargs)
            except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure):
                if attempt >= RETRIES:
                    raise
                # Both sides of a deadlock were told; retrying at once would meet again.
                time.sleep(random.uniform(0.001, 0.01 * attempt))
            except (psycopg.OperationalError, PoolTimeout) as exc:
                raise StoreError(f"{self.description}: {one_line(exc)}") from exc

    # --- single statements ----------------------------------------------------------------------

    def _statement_sync(self, sql: str, params: Sequence[Any], fetch: str) -> Any:
        try:
            with self.pool.connection() as conn:
                cursor = conn.execute(to_postgres(sql), params)
                if fetch == "one":
                    return cursor.fetchone()
                if fetch == "all":
                    return cursor.fetchall()
                return cursor.rowcount
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreError(f"{self.description}: {one_line(exc)}") from exc

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        rowcount: int = await self._call(self._statement_sync, sql, params, "rowcount")
        return rowcount

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> SqlRow | None:
        row: SqlRow | None = await self._call(self._statement_sync, sql, params, "one")
        return row

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[SqlRow]:
        rows: list[SqlRow] = await self._call(self._statement_sync, sql, params, "all")
        return rows

    async def ping(self) -> bool:
        try:
            await self.fetchone("SELECT 1")
        except (psycopg.Error, StoreError):
            return False
        return True
