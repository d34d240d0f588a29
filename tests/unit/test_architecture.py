"""The layering rules of docs/architecture.md, checked on the source so a change cannot quietly undo them."""

from __future__ import annotations

import re
from pathlib import Path

BOT = Path(__file__).resolve().parents[2] / "bot"
AIOGRAM_IMPORT = re.compile(r"^\s*(import aiogram|from aiogram)", re.MULTILINE)
SQL = re.compile(r"\b(select|insert|update|delete)\b .*(from|into|set)\b", re.IGNORECASE)


def sources(folder: str) -> list[Path]:
    return sorted((BOT / folder).rglob("*.py"))


def test_services_import_no_aiogram() -> None:
    offenders = [str(p.relative_to(BOT)) for p in sources("services") if AIOGRAM_IMPORT.search(p.read_text())]
    assert offenders == []


def test_services_hold_no_sql() -> None:
    offenders = [
        f"{p.relative_to(BOT)}:{number}"
        for p in sources("services")
        for number, line in enumerate(p.read_text().splitlines(), start=1)
        if SQL.search(line)
    ]
    assert offenders == []


def test_only_the_store_knows_which_database_it_runs_on() -> None:
    """Services, handlers and the rest reach the database through bot.store's repositories, which
    run on SQLite and PostgreSQL alike: no driver import, no SQLite-only transaction() outside it."""
    driver = re.compile(r"^\s*(import|from) (aiosqlite|sqlite3|psycopg|psycopg_pool|asyncpg)\b", re.MULTILINE)
    offenders = [
        str(p.relative_to(BOT))
        for p in sorted(BOT.rglob("*.py"))
        if p.parent.name != "store" and (driver.search(p.read_text()) or ".transaction()" in p.read_text())
    ]
    assert offenders == []


def test_catalog_does_no_io() -> None:
    forbidden = re.compile(
        r"\b(os\.environ|open\(|read_text|dotenv|tomllib|httpx|aiohttp|aiosqlite|sqlite3)\b"
    )
    offenders = [str(p.relative_to(BOT)) for p in sources("catalog") if forbidden.search(p.read_text())]
    assert offenders == []



TELEGRAM_FILE_MAX_LINES = 300


def test_every_telegram_module_is_small_enough_to_read() -> None:
    sizes = {str(p.relative_to(BOT)): len(p.read_text().splitlines()) for p in sources("telegram")}
    assert {name: n for name, n in sizes.items() if n >= TELEGRAM_FILE_MAX_LINES} == {}
