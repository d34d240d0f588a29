"""Throughput of the credit path: reserve + settle pairs per second on a realistic database.

Run from the repository root: .venv/bin/python bench/bench_billing.py [--pairs N] [--runs N]
[--users N] [--ledger-rows N] [--warmup N]

Seeds 10,000 users and 100,000 ledger rows into a temporary SQLite file (WAL, as in production),
then measures reserve+settle pairs sequentially and with 50 concurrent coroutines, printing the
median of a few runs and one verdict line per mode. Target: >= 2,000 pairs/s.
Smallest run (a smoke test): --users 100 --ledger-rows 1000 --pairs 50 --runs 1 --warmup 10
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import verdict
from bot.config import StarPack
from bot.services.billing import BillingService
from bot.store.db import SqliteDatabase as Database
from bot.store.db import now

START_BALANCE = 1_000_000
TARGET_PAIRS_PER_S = 2_000


@dataclass(frozen=True)
class RunResult:
    pairs_per_s: float
    p50_ms: float
    p99_ms: float


async def seed(db: Database, users: int, ledger_rows_total: int) -> None:
    """Users with a large balance and ledger rows (10 each by default) whose sum equals that balance."""
    t = now()
    rows_per_user = max(1, ledger_rows_total // users)
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO users (id, created_at, last_seen_at, balance) VALUES (?, ?, ?, ?)",
            [(user_id, t, t, START_BALANCE) for user_id in range(1, users + 1)],
        )
        ledger_rows = []
        for user_id in range(1, users + 1):
            running = 0
            for n in range(rows_per_user):
                amount = START_BALANCE // rows_per_user
                running += amount
                ledger_rows.append((user_id, amount, "purchase", f"seed:{user_id}:{n}", running, t))
        await conn.executemany(
            "INSERT INTO ledger (user_id, amount, reason, op_id, balance_after, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            ledger_rows,
        )


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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5_000, help="reserve+settle pairs per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per mode; the median is printed")
    parser.add_argument("--users", type=int, default=10_000, help="users seeded into the database")
    parser.add_argument("--ledger-rows", type=int, default=100_000, help="ledger rows seeded in all")
    parser.add_argument("--warmup", type=int, default=500, help="pairs run before measuring")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.sqlite3")
        await db.open()
        try:
            seed_started = time.perf_counter()
            await seed(db, args.users, args.ledger_rows)
            seed_s = time.perf_counter() - seed_started
            print(f"seeded {args.users:,} users and {args.ledger_rows:,} ledger rows in {seed_s:.1f}s")
            billing = BillingService(db, signup_bonus=0, star_packs=(StarPack(50, 50),))
            await run_pairs(billing, users=args.users, pairs=args.warmup, concurrency=1, tag="warmup")

            verdicts: list[tuple[int, float]] = []
            for concurrency in (1, 50):
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
                verdicts.append((concurrency, result.pairs_per_s))
            await verify(db)
            print("ledger check: every balance equals the sum of its ledger rows")
            for concurrency, pairs_per_s in verdicts:
                mode = "sequential" if concurrency == 1 else f"{concurrency} concurrent"
                verdict(f"reserve+settle pairs/s, {mode}", pairs_per_s, ">=", TARGET_PAIRS_PER_S, digits=0)
        finally:
            await db.close()


if __name__ == "__main__":
    asyncio.run(main())
