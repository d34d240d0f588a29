"""Throughput of the credit path: reserve + settle pairs per second on a realistic database.

Run from the repository root: .venv/bin/python bench/bench_billing.py [--pairs N] [--runs N]
[--users N] [--ledger-rows N] [--warmup N] [--database-url URL] [--pool-size N]

Seeds 10,000 users and 100,000 ledger rows into a temporary SQLite file (WAL, as in production),
then measures reserve+settle pairs with 1 client and with 50 concurrent clients (coroutines), printing
the median of a few runs and one verdict line per mode. Target: >= 2,000 pairs/s.

The same on PostgreSQL when a server is given (--database-url, else TEST_DATABASE_URL): a throwaway
database is created on it (the URL's role must be allowed to create databases) and dropped at the
end; the store's pool has --pool-size connections (DATABASE_POOL_SIZE, 10 by default). The two are
then printed side by side. Without a server the PostgreSQL part is skipped, saying why.
Smallest run (a smoke test): --users 100 --ledger-rows 1000 --pairs 50 --runs 1 --warmup 10
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import (
    DATABASE_URL_ENV,
    load_average,
    postgres_unusable,
    print_table,
    redact,
    server_url,
    throwaway_database,
    verdict,
)
from bot.config import StarPack
from bot.services.billing import BillingService
from bot.store.db import Database, SqliteDatabase, now

START_BALANCE = 1_000_000
TARGET_PAIRS_PER_S = 2_000


@dataclass(frozen=True)
class RunResult:
    pairs_per_s: float
    p50_ms: float
    p99_ms: float


USER_COLUMNS = "id, created_at, last_seen_at, balance"
LEDGER_COLUMNS = "user_id, amount, reason, op_id, balance_after, created_at"


def seed_rows(
    users: int, ledger_rows_total: int
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Users with a balance of START_BALANCE and ledger rows (10 each by default) summing to it."""
    t = now()
    rows_per_user = max(1, ledger_rows_total // users)
    amount = START_BALANCE // rows_per_user
    user_rows: list[tuple[object, ...]] = [
        (user_id, t, t, amount * rows_per_user) for user_id in range(1, users + 1)
    ]
    ledger_rows: list[tuple[object, ...]] = [
        (user_id, amount, "purchase", f"seed:{user_id}:{n}", amount * (n + 1), t)
        for user_id in range(1, users + 1)
        for n in range(rows_per_user)
    ]
    return user_rows, ledger_rows


async def seed_sqlite(db: SqliteDatabase, users: int, ledger_rows_total: int) -> None:
    user_rows, ledger_rows = seed_rows(users, ledger_rows_total)
    async with db.transaction() as conn:
        await conn.executemany(f"INSERT INTO users ({USER_COLUMNS}) VALUES (?, ?, ?, ?)", user_rows)
        await conn.executemany(
            f"INSERT INTO ledger ({LEDGER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", ledger_rows
        )


def seed_postgres(url: str, users: int, ledger_rows_total: int) -> None:
    """COPY into the migrated database (the store opened it first)."""
    import psycopg

    user_rows, ledger_rows = seed_rows(users, ledger_rows_total)
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        tables = (("users", USER_COLUMNS, user_rows), ("ledger", LEDGER_COLUMNS, ledger_rows))
        for table, columns, rows in tables:
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)


async def run_pairs(
    billing: BillingService, *, users: int, pairs: int, concurrency: int, tag: str
) -> RunResult:
    latencies: list[float] = []
    counter = iter(range(pairs))

    async def worker(worker_id: int) -> None:
        for n in counter:
            user_id = 1 + (n * 7919 + worker_id) % users
            key = f"bench:{tag}:{n}"
            started = time.perf_counter()
            await billing.reserve(user_id, 1, key)
            await billing.settle(key)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return RunResult(
        pairs_per_s=pairs / elapsed,
        p50_ms=latencies[len(latencies) // 2] * 1000,
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    )


def median_result(results: list[RunResult]) -> RunResult:
    return RunResult(
        pairs_per_s=statistics.median(r.pairs_per_s for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
    )


async def verify(db: Database) -> None:
    """The bench is only meaningful if the books still balance afterwards."""
    row = await db.fetchone(
        "SELECT COUNT(*) FROM users u WHERE u.balance != "
        "(SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE user_id = u.id)"
    )
    assert row is not None and row[0] == 0, f"{row[0] if row else '?'} users out of balance"


@dataclass(frozen=True)
class BackendResult:
    name: str
    by_concurrency: dict[int, RunResult]


CONCURRENCIES = (1, 50)


async def measure(
    db: Database, name: str, seed: Callable[[], Awaitable[None]], args: argparse.Namespace
) -> BackendResult:
    """Seed, warm up, then the median of `args.runs` runs per concurrency; check the books after."""
    seed_started = time.perf_counter()
    await seed()
    seed_s = time.perf_counter() - seed_started
    print(f"seeded {args.users:,} users and {args.ledger_rows:,} ledger rows in {seed_s:.1f}s")
    billing = BillingService(db, signup_bonus=0, star_packs=(StarPack(50, 50),))
    await run_pairs(billing, users=args.users, pairs=args.warmup, concurrency=1, tag="warmup")
    by_concurrency: dict[int, RunResult] = {}
    for concurrency in CONCURRENCIES:
        results = [
            await run_pairs(
                billing,
                users=args.users,
                pairs=args.pairs,
                concurrency=concurrency,
                tag=f"c{concurrency}r{run}",
            )
            for run in range(args.runs)
        ]
        result = median_result(results)
        runs = ", ".join(f"{r.pairs_per_s:,.0f}" for r in results)
        print(
            f"concurrency {concurrency:>2}: {result.pairs_per_s:,.0f} pairs/s (runs: {runs}), "
            f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms per pair"
        )
        by_concurrency[concurrency] = result
    await verify(db)
    print("ledger check: every balance equals the sum of its ledger rows")
    return BackendResult(name, by_concurrency)


async def bench_sqlite(args: argparse.Namespace) -> BackendResult:
    print(f"\n== SQLite (a temporary file, WAL) (load {load_average()})")
    with tempfile.TemporaryDirectory() as tmp:
        db = SqliteDatabase(Path(tmp) / "bench.sqlite3")
        await db.open()
        try:
            return await measure(db, "SQLite", lambda: seed_sqlite(db, args.users, args.ledger_rows), args)
        finally:
            await db.close()


async def bench_postgres(args: argparse.Namespace, url: str) -> BackendResult:
    from bot.store.postgres import PostgresDatabase

    print(f"\n== PostgreSQL on {redact(url)}, pool of {args.pool_size} (load {load_average()})")
    with throwaway_database(url, "bench_billing") as db_url:
        db = PostgresDatabase(db_url, pool_size=args.pool_size)
        await db.open()  # migrates the empty database
        try:
            seed = functools.partial(seed_postgres, db_url, args.users, args.ledger_rows)
            return await measure(db, "PostgreSQL", lambda: asyncio.to_thread(seed), args)
        finally:
            await db.close()


def side_by_side(results: list[BackendResult]) -> None:
    print("\n== side by side (median pairs/s; p50 and p99 ms per pair)")
    headers = ["clients"]
    for r in results:
        headers += [f"{r.name} pairs/s", f"{r.name} p50", f"{r.name} p99"]
    rows: list[list[object]] = []
    for concurrency in CONCURRENCIES:
        row: list[object] = [concurrency]
        for r in results:
            one = r.by_concurrency[concurrency]
            row += [f"{one.pairs_per_s:,.0f}", f"{one.p50_ms:.2f}", f"{one.p99_ms:.2f}"]
        rows.append(row)
    print_table(headers, rows)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5_000, help="reserve+settle pairs per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per mode; the median is printed")
    parser.add_argument("--users", type=int, default=10_000, help="users seeded into the database")
    parser.add_argument("--ledger-rows", type=int, default=100_000, help="ledger rows seeded in all")
    parser.add_argument("--warmup", type=int, default=500, help="pairs run before measuring")
    parser.add_argument(
        "--database-url", help=f"a PostgreSQL server to compare with (default: ${DATABASE_URL_ENV})"
    )
    parser.add_argument(
        "--pool-size", type=int, default=10, help="PostgreSQL connections (DATABASE_POOL_SIZE)"
    )
    args = parser.parse_args()

    results = [await bench_sqlite(args)]
    url = server_url(args.database_url, DATABASE_URL_ENV)
    why_not = postgres_unusable(url)
    if why_not is None and url is not None:
        results.append(await bench_postgres(args, url))
    else:
        print(f"\n== PostgreSQL skipped: {why_not}")
    side_by_side(results)
    for result in results:
        for concurrency in CONCURRENCIES:
            mode = "sequential" if concurrency == 1 else f"{concurrency} concurrent"
            verdict(
                f"reserve+settle pairs/s, {result.name}, {mode}",
                result.by_concurrency[concurrency].pairs_per_s,
                ">=",
                TARGET_PAIRS_PER_S,
                digits=0,
            )


if __name__ == "__main__":
    asyncio.run(main())
