"""What a repository body sees of the database, whichever it is (SQLite or PostgreSQL).

A body is a short synchronous function `body(conn, ...)` run on a worker thread inside one
transaction (`Database.run_in_transaction`): on SQLite a `sqlite3.Connection` (subclass
`SqliteConnection`), on PostgreSQL a psycopg connection behind `bot.store.postgres.PgConnection`.
Both satisfy `SqlConnection`, so one text per query serves both: the SQL is written in the dialect
SQLite reads (`?` and `:name` parameters), and the PostgreSQL connection rewrites the few
differences as it executes (`to_postgres`): placeholders, `%` escaping, INSERT OR IGNORE.

Where the dialects really differ, a body asks `conn.dialect` for a fragment (e.g. `for_update`:
SQLite serializes writers with BEGIN IMMEDIATE, PostgreSQL locks the rows a read decides on).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol


@dataclass(frozen=True)
class Dialect:
    name: str
    # Appended to a SELECT whose rows the transaction goes on to change on the strength of what it
    # read (a balance checked before a debit): PostgreSQL locks them; SQLite holds the whole database
    # from BEGIN IMMEDIATE on, so it needs (and reads) nothing there. NO KEY UPDATE, not UPDATE: the
    # foreign-key checks of other inserts (a payment or ledger row of the same user) hold KEY SHARE
    # on the user's row, and FOR UPDATE would wait for them while they wait for us (a deadlock).
    for_update: str
    # Appended to the sub-select that picks rows for an instance to claim (jobs.py claims): on
    # PostgreSQL rows another instance is claiming right now are skipped instead of waited for.
    # SQLite runs one writer at a time, so two instances never see the same unclaimed row.
    skip_locked: str


SQLITE = Dialect(name="sqlite", for_update="", skip_locked="")
POSTGRESQL = Dialect(
    name="postgresql", for_update=" FOR NO KEY UPDATE", skip_locked=" FOR UPDATE SKIP LOCKED"
)


class SqlRow(Protocol):
    """A result row by index and by column name, like sqlite3.Row."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...

    def keys(self) -> list[str]: ...


class SqlCursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class SqlConnection(Protocol):
    """The connection a body gets. Statements use `?` or `:name` parameters."""

    @property
    def dialect(self) -> Dialect: ...

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, parameters: Any = ..., /) -> SqlCursor: ...


class SqliteConnection(sqlite3.Connection):
    """sqlite3's connection, telling bodies its dialect (no other change, no cost per statement)."""

    @property
    def dialect(self) -> Dialect:
        return SQLITE


# String literals, quoted identifiers and comments are copied (with `%` doubled: psycopg reads
# `%` everywhere); `::` casts are kept; `?` and `:name` become psycopg placeholders.
_TOKENS = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|::|\?|(?<![\w:]):([A-Za-z_]\w*)|%"""
)
_INSERT_OR_IGNORE = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\s+INTO\b", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)


@lru_cache(maxsize=1024)
def to_postgres(sql: str) -> str:
    """One SQLite-dialect statement as psycopg runs it on PostgreSQL (always with parameters,
    possibly empty: then every `%` must be doubled)."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if match.group(1) is not None:
            return f"%({match.group(1)})s"
        return token.replace("%", "%%")

    text = _TOKENS.sub(replace, sql)
    if _INSERT_OR_IGNORE.match(text):
        text = _INSERT_OR_IGNORE.sub("INSERT INTO", text, count=1)
        returning = _RETURNING.search(text)
        if returning is None:
            text = text.rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"
        else:
            text = f"{text[: returning.start()]}ON CONFLICT DO NOTHING {text[returning.start() :]}"
    return text
