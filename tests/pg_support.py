"""PostgreSQL for tests: a fresh database per test on the server TEST_DATABASE_URL names.

`.ci/run` starts a throwaway server (tools/ci/start-postgres.sh) and exports TEST_DATABASE_URL;
without it the PostgreSQL variants skip with `SKIP_REASON`. The URL's role must be allowed to
create databases. Each test gets `CREATE DATABASE ... TEMPLATE` of a database migrated once per
test session (fast: a file copy), dropped at the end of the test.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.store.db import Database

if TYPE_CHECKING:
    import psycopg

SKIP_REASON = "PostgreSQL not available: set TEST_DATABASE_URL (.ci/run starts one)"
ENV = "TEST_DATABASE_URL"

_template: str | None = None


def server_url() -> str:
    """TEST_DATABASE_URL, or skip the test."""
    url = os.environ.get(ENV, "").strip()
    if not url:
        pytest.skip(SKIP_REASON)
    return url


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _migrated_template(url: str) -> str:
    """A database migrated to the current schema, made once per test session (per process)."""
    global _template
    if _template is None:
        import psycopg

        from bot.store.postgres import migrate

        name = f"bot_test_template_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        with psycopg.connect(with_database(url, name), autocommit=True) as conn:
            migrate(conn)
        _template = name
    return _template


def drop_template() -> None:
    """At the end of the session (tests/conftest.py)."""
    global _template
    url = os.environ.get(ENV, "").strip()
    if _template is None or not url:
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        drop_database(admin, _template)
    _template = None


@contextmanager
def fresh_database(*, migrated: bool = True) -> Iterator[str]:
    """The URL of a new, empty database (migrated to the current schema unless `migrated=False`),
    dropped afterwards even if connections to it were left open. Skips without a server."""
    import psycopg

    url = server_url()
    template = _migrated_template(url) if migrated else "template0"
    name = f"bot_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        try:
            # FILE_COPY: a few times faster than PostgreSQL 15's default for a small template.
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        except psycopg.errors.SyntaxError:  # before PostgreSQL 15
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield with_database(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            drop_database(admin, name)


# How long a drop waits for an autovacuum worker it may not end to leave the database.
DROP_WAIT_S = 30.0


def drop_database(admin: psycopg.Connection[Any], name: str) -> None:
    """DROP DATABASE ... WITH (FORCE), which ends the sessions left on it. An autovacuum worker on
    the database can be ended only by a role with pg_signal_backend (tools/ci/start-postgres.sh grants
    it); without it the drop waits, up to DROP_WAIT_S, for the worker to finish, and tries again."""
    import psycopg

    deadline = time.monotonic() + DROP_WAIT_S
    while True:
        try:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.errors.InsufficientPrivilege:
            if time.monotonic() > deadline:
                raise
        # Wait for the condition (no other backend on the database), not for a fixed time.
        while time.monotonic() <= deadline:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            ).fetchone()
            if row is None or row[0] == 0:
                break
            time.sleep(0.05)


class StoreBackend:
    """One database the store can run on, for tests parametrized over both (fixture `backend`).

    `new()` is another Database object on the same data: a second process, or the same one after
    a restart.
    """

    def __init__(self, name: str, *, path: object = None, url: str | None = None) -> None:
        self.name = name
        self.path = path
        self.url = url

    @property
    def integrity_error(self) -> type[Exception]:
        if self.name == "sqlite":
            import sqlite3

            return sqlite3.IntegrityError
        import psycopg

        return psycopg.IntegrityError

    def new(self, **kwargs: object) -> Database:
        if self.name == "sqlite":
            from bot.store.db import SqliteDatabase

            return SqliteDatabase(self.path, **kwargs)  # type: ignore[arg-type]
        from bot.store.postgres import PostgresDatabase

        assert self.url is not None
        return PostgresDatabase(self.url, **kwargs)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"StoreBackend({self.name})"
