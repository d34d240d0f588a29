"""Shared pytest fixtures.

* ``fake_tg``: a started `FakeTelegram` (real HTTP on 127.0.0.1), stopped at teardown.
* autouse ``_fail_on_handler_errors``: aiogram only *logs* handler exceptions in polling and
  webhook mode; this turns such a log record into a test failure unless the test is marked
  ``@pytest.mark.allow_handler_errors``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests import pg_support
from tests.fakes.telegram import FakeTelegram
from tests.pg_support import StoreBackend
from tests.redis_support import (  # noqa: F401  (fixtures)
    redis_client,
    redis_prefix,
    redis_settings,
    redis_url,
    shared_state,
)

HANDLER_ERROR_LOGGERS = ("aiogram.event", "aiogram.dispatcher", "bot")
HANDLER_ERROR_TEXT = "Cause exception while process update"


def _is_crash(record: logging.LogRecord) -> bool:
    """aiogram's unhandled-handler log, or any error with a traceback logged by our own code."""
    if HANDLER_ERROR_TEXT in record.getMessage():
        return True
    return (
        record.name.split(".")[0] == "bot" and record.levelno >= logging.ERROR and record.exc_info is not None
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    pg_support.drop_template()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreBackend]:
    """The store's database, once on SQLite (a file in tmp_path) and once on PostgreSQL (a fresh
    database on TEST_DATABASE_URL's server; skipped without one)."""
    if request.param == "sqlite":
        yield StoreBackend("sqlite", path=tmp_path / "bot.sqlite3")
        return
    with pg_support.fresh_database() as url:
        yield StoreBackend("postgresql", url=url)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "allow_handler_errors: the test expects aiogram to log 'Cause exception while process update'",
    )


class _RecordCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def _fail_on_handler_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    # A handler attached to the aiogram loggers themselves, so it works whatever the
    # logging configuration (caplog level, propagation) of the test is.
    collector = _RecordCollector()
    loggers = [logging.getLogger(name) for name in HANDLER_ERROR_LOGGERS]
    for lg in loggers:
        lg.addHandler(collector)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeHandler(collector)
    if request.node.get_closest_marker("allow_handler_errors"):
        return
    crashes = [r for r in collector.records if _is_crash(r)]
    if crashes:
        details = "\n\n".join(
            logging.Formatter("%(name)s %(levelname)s %(message)s").format(r) for r in crashes[:3]
        )
        pytest.fail(
            f"{len(crashes)} update handler(s) crashed (mark the test allow_handler_errors if expected):\n"
            f"{details}",
            pytrace=False,
        )


@pytest.fixture
async def fake_tg() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
    assert not fake.internal_errors, f"FakeTelegram crashed internally: {fake.internal_errors!r}"
