"""The store on both databases: one text per query, the PostgreSQL schema and migrations, and
several instances confirming orders on one PostgreSQL server at once."""

from __future__ import annotations

import asyncio
import itertools
import re
import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from bot.store.db import Database, SqliteDatabase, StoreError, now
from bot.store.jobs import Claim, InFlightLimit, Job, JobsRepo, JobState, NewJob, reservation_key
from bot.store.ledger import InsufficientCredits, LedgerRepo, Reason
from bot.store.migrations import MIGRATIONS
from bot.store.payments import PaymentsRepo
from bot.store.pg_migrations import PG_MIGRATIONS
from bot.store.referrals import AttachResult, ReferralsRepo
from bot.store.reports import ReportsRepo
from bot.store.reservations import ReservationsRepo
from bot.store.sql import to_postgres
from bot.store.users import UsersRepo
from tests import pg_support
from tests.pg_support import StoreBackend

_serial = itertools.count(1)


@pytest.fixture
async def db(backend: StoreBackend) -> AsyncIterator[Database]:
    database = backend.new()
    await database.open()
    yield database
    await database.close()


def new_job(
    user_id: int, *, cost: int = 10, model_key: str = "kling/test", draft_key: str | None = None
) -> NewJob:
    serial = next(_serial)
    return NewJob(
        user_id=user_id,
        chat_id=user_id,
        draft_key=draft_key or f"draft:{serial}",
        model_key=model_key,
        mode="t2v",
        ratio="16:9",
        options={"duration": "5"},
        prompt="a lighthouse «в шторм» 100%",
        inputs={},
        family="kling",
        kie_model=model_key,
        kie_credits=7,
        cost=cost,
        callback_token=f"token-{serial}",
        deadline_at=now() + 600,
    )


async def add_user(db: Database, user_id: int, balance: int) -> None:
    await UsersRepo(db).upsert(user_id, language="en", first_name="Ann")
    if balance:
        await LedgerRepo(db).apply(
            user_id=user_id, amount=balance, reason=Reason.ADMIN_GRANT, op_id=f"seed:{user_id}"
        )


async def assert_books(db: Database) -> None:
    """balance == sum(ledger) for every user; one ledger row per op id; every reservation matches
    its rows (a refund row exactly when refunded)."""
    rows = await db.fetchall(
        "SELECT u.id FROM users u LEFT JOIN ledger l ON l.user_id = u.id GROUP BY u.id, u.balance "
        "HAVING u.balance != COALESCE(SUM(l.amount), 0) OR u.balance < 0"
    )
    assert [tuple(r) for r in rows] == []
    rows = await db.fetchall("SELECT op_id FROM ledger GROUP BY op_id HAVING COUNT(*) > 1")
    assert [tuple(r) for r in rows] == []
    rows = await db.fetchall(
        """
        SELECT r.key FROM reservations r
        LEFT JOIN ledger d ON d.op_id = r.key || ':reserve'
        LEFT JOIN ledger c ON c.op_id = r.key || ':refund'
        WHERE d.id IS NULL OR d.amount != -r.amount
           OR (r.status = 'refunded') != (c.id IS NOT NULL)
        """
    )
    assert [tuple(r) for r in rows] == []


# --- the dialect layer -------------------------------------------------------------------------


def test_placeholders_literals_and_percent_signs() -> None:
    assert to_postgres("SELECT * FROM t WHERE a = ? AND b IN (?, ?)") == (
        "SELECT * FROM t WHERE a = %s AND b IN (%s, %s)"
    )
    assert to_postgres("INSERT INTO t VALUES (:a, :b_2, :a)") == (
        "INSERT INTO t VALUES (%(a)s, %(b_2)s, %(a)s)"
    )
    # Inside literals nothing is a placeholder, and every % is doubled (psycopg reads them all).
    assert to_postgres("SELECT 1 WHERE x LIKE 'referral:%:inviter' AND y = '?'") == (
        "SELECT 1 WHERE x LIKE 'referral:%%:inviter' AND y = '?'"
    )
    assert to_postgres("SELECT 'it''s ?' , ? % 2") == "SELECT 'it''s ?' , %s %% 2"
    assert to_postgres("SELECT x::text, ? -- why? 100%\nFROM t") == "SELECT x::text, %s -- why? 100%%\nFROM t"


def test_insert_or_ignore_becomes_on_conflict_do_nothing() -> None:
    assert to_postgres("INSERT OR IGNORE INTO t (a) VALUES (?)") == (
        "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING"
    )
    assert to_postgres("insert or ignore into t (a) values (?) RETURNING a") == (
        "INSERT INTO t (a) values (%s) ON CONFLICT DO NOTHING RETURNING a"
    )


def test_every_sqlite_migration_has_its_postgresql_twin() -> None:
    assert len(PG_MIGRATIONS) == len(MIGRATIONS), (
        "a new migration in bot/store/migrations.py needs its PostgreSQL twin in bot/store/pg_migrations.py"
    )


_TYPE_CLASSES = {
    "INTEGER": "integer", "BIGINT": "integer", "REAL": "real", "DOUBLE PRECISION": "real", "TEXT": "text",
}


async def test_both_schemas_have_the_same_tables_and_columns(tmp_path: Path) -> None:
    """The PostgreSQL migrations build the schema the SQLite ones do: tables, columns, kinds of
    type, NOT NULL (what every query relies on)."""
    sqlite_db = SqliteDatabase(tmp_path / "bot.sqlite3")
    await sqlite_db.open()
    await sqlite_db.close()
    expected: dict[str, dict[str, tuple[str, bool]]] = {}
    with sqlite3.connect(tmp_path / "bot.sqlite3") as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            if table.startswith("sqlite_"):
                continue
            expected[table] = {
                name: (_TYPE_CLASSES[kind.upper()], bool(notnull or pk))
                for _cid, name, kind, notnull, _default, pk in conn.execute(f"PRAGMA table_info({table})")
            }
    with pg_support.fresh_database() as url:
        import psycopg

        with psycopg.connect(url) as pg:
            actual: dict[str, dict[str, tuple[str, bool]]] = {}
            for table, name, kind, nullable in pg.execute(
                "SELECT table_name, column_name, upper(data_type), is_nullable "
                "FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name != 'schema_version'"
            ):
                actual.setdefault(table, {})[name] = (_TYPE_CLASSES[kind], nullable == "NO")
            version = pg.execute("SELECT version FROM schema_version").fetchone()
    assert actual == expected
    assert version == (len(PG_MIGRATIONS),)


# --- PostgreSQL start: migrations once, under a lock; clear errors --------------------------------


async def test_instances_starting_together_migrate_once() -> None:
    with pg_support.fresh_database(migrated=False) as url:
        from bot.store.postgres import PostgresDatabase

        instances = [PostgresDatabase(url, pool_size=2) for _ in range(4)]
        try:
            await asyncio.gather(*(instance.open() for instance in instances))
            row = await instances[0].fetchone("SELECT version FROM schema_version")
            assert row is not None and row[0] == len(PG_MIGRATIONS)
            count = await instances[1].fetchone("SELECT COUNT(*) FROM schema_version")
            assert count is not None and count[0] == 1
            await add_user(instances[2], 1, 5)
            assert await LedgerRepo(instances[3]).balance(1) == 5
        finally:
            for instance in instances:
                await instance.close()


async def test_sqlite_instances_starting_together_on_one_file_migrate_once(tmp_path: Path) -> None:
    # Two bots started together on one SQLite file (the multi-instance e2e setup): each used to read
    # user_version before taking the write lock, so the second re-ran a migration the first had
    # just committed ("duplicate column name"). Several rounds, fresh file each, to give the race room.
    for round_ in range(6):
        path = tmp_path / f"bot-{round_}.sqlite3"
        instances = [SqliteDatabase(path) for _ in range(4)]
        try:
            await asyncio.gather(*(instance.open() for instance in instances))
            row = await instances[0].fetchone("PRAGMA user_version")
            assert row is not None and row[0] == len(MIGRATIONS)
            await add_user(instances[1], 1, 5)
            assert await LedgerRepo(instances[3]).balance(1) == 5
        finally:
            for instance in instances:
                await instance.close()


async def test_a_newer_schema_is_refused_in_one_line() -> None:
    with pg_support.fresh_database() as url:
        import psycopg

        from bot.store.postgres import PostgresDatabase

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE schema_version SET version = version + 1")
        database = PostgresDatabase(url)
        with pytest.raises(StoreError) as info:
            await database.open()
        message = str(info.value)
        assert "newer than this bot" in message and "\n" not in message


async def test_unreachable_server_is_one_line_without_the_password() -> None:
    import socket

    from bot.store.postgres import PostgresDatabase

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    database = PostgresDatabase(f"postgresql://bot:hunter2@127.0.0.1:{port}/bot", connect_timeout_s=2)
    with pytest.raises(StoreError) as info:
        await database.open()
    message = str(info.value)
    assert message.startswith(f"DATABASE_URL=postgresql://bot:***@127.0.0.1:{port}/bot cannot be used: ")
    assert "hunter2" not in message and "\n" not in message
    await database.close()


# --- every repository query, on both databases ------------------------------------------------


async def test_jobs_queries(db: Database) -> None:
    await add_user(db, 1, 100)
    jobs = JobsRepo(db)
    first, created = await jobs.create_reserved(new_job(1), max_in_flight=2)
    assert created and first.state is JobState.CREATED and first.options == {"duration": "5"}
    again, created = await jobs.create_reserved(new_job(1, draft_key=first.draft_key), max_in_flight=2)
    assert (again.id, created) == (first.id, False)
    second, _ = await jobs.create_reserved(new_job(1, model_key="veo"), max_in_flight=2)
    with pytest.raises(InFlightLimit):
        await jobs.create_reserved(new_job(1), max_in_flight=2)
    with pytest.raises(InsufficientCredits):
        await jobs.create_reserved(new_job(1, cost=1000), max_in_flight=10)
    assert await LedgerRepo(db).balance(1) == 80

    submitted = await jobs.record_task_id(first.id, "task-a", submitted_at=now() - 30)
    assert submitted is not None and submitted.state is JobState.SUBMITTED
    await jobs.update_fields(first.id, next_poll_at=now() - 1, progress=40)
    assert (await jobs.next_event_time() or 0) <= now()
    claimed = await jobs.claim_due_polls(Claim("a", now(), now() + 30))
    assert [(j.id, j.claimed_by) for j in claimed] == [(first.id, "a")]
    assert await jobs.claim_due_polls(Claim("b", now(), now() + 30)) == []  # taken by "a" until then
    assert await jobs.count_polled() == 1
    in_states = await jobs.in_states([JobState.CREATED, JobState.SUBMITTED])
    assert [j.id for j in in_states] == [first.id, second.id]
    assert (await jobs.by_callback_token(first.callback_token)).id == first.id  # type: ignore[union-attr]
    await jobs.set_inputs(first.id, {"files": [], "urls": {"image": "https://x/1.png"}})
    assert (await jobs.get(first.id)).inputs["urls"] == {"image": "https://x/1.png"}  # type: ignore[union-attr]

    done = await jobs.succeed(
        first.id, result_urls=["https://r/1.mp4"], finished_at=now(), kie_credits_consumed=Decimal("7.5")
    )
    assert done is not None and done.state is JobState.SUCCEEDED
    assert done.kie_credits_consumed == Decimal("7.5")
    assert [j.id for j in await jobs.claim_due_deliveries(Claim("a", now() + 1, now() + 30))] == [first.id]
    assert await jobs.transition(first.id, [JobState.SUCCEEDED], JobState.DELIVERED, delivered_at=now())
    assert not await jobs.transition(first.id, [JobState.SUCCEEDED], JobState.DELIVERED)
    assert len(await jobs.completion_times("kling/test")) == 1
    assert len(await jobs.recent_durations("kling/test")) == 1
    assert await jobs.charged_for(first.id) == 10
    assert [(c.model_key, c.jobs, c.kie_credits, c.charged) for c in await jobs.kie_costs_by_model()] == [
        ("kling/test", 1, Decimal("7.5"), 10)
    ]

    await jobs.update_fields(second.id, create_started_at=now(), deadline_at=now() - 1)
    assert [j.id for j in await jobs.overdue(now())] == [second.id]
    failed = await jobs.fail(second.id, fail_reason="submission_unknown: no answer", finished_at=now())
    assert failed is not None and await jobs.charged_for(second.id) == 0
    assert [j.id for j in await jobs.unalerted_possible_orphans()] == [second.id]
    await jobs.mark_orphans_alerted([second.id], now())
    assert await jobs.unalerted_possible_orphans() == []
    revived = await jobs.succeed(
        second.id, result_urls=["https://r/2.mp4"], finished_at=now(), task_id="late"
    )
    assert revived is not None and revived.state is JobState.SUCCEEDED and revived.task_id == "late"
    assert [j.id for j in await jobs.recent_for_user(1)] == [second.id, first.id]
    assert await ReportsRepo(db).jobs_by_state() == {"delivered": 1, "succeeded": 1}
    assert await LedgerRepo(db).balance(1) == 90
    await assert_books(db)


async def test_payments_referrals_and_reports(db: Database) -> None:
    users, payments, referrals = UsersRepo(db), PaymentsRepo(db), ReferralsRepo(db)
    inviter, created = await users.upsert(10, language="ru", first_name="Inna", username="inna")
    assert created and inviter.language == "ru" and inviter.balance == 0
    _, created = await users.upsert(10, language="en")
    assert not created and (await users.get(10)).language == "en"  # type: ignore[union-attr]
    await users.set_language(10, "ru")
    _, _ = await users.upsert(10, language="en")
    assert (await users.get(10)).language == "ru"  # type: ignore[union-attr]  # chosen sticks
    await users.set_default_ratio(10, "9:16")
    await users.upsert(11, language="en")
    assert await users.count() == 2

    assert await referrals.attach(invited_id=11, inviter_id=10) is AttachResult.ATTACHED
    assert await referrals.attach(invited_id=11, inviter_id=10) is AttachResult.ALREADY_INVITED
    assert await referrals.attach(invited_id=11, inviter_id=11) is AttachResult.SELF
    assert await referrals.attach(invited_id=11, inviter_id=404) is AttachResult.UNKNOWN_INVITER

    await payments.record_pre_checkout(user_id=11, payload="pack:50:50", currency="XTR", stars=50, credits=50)
    await payments.record_pre_checkout(user_id=11, payload="pack:50:50", currency="XTR", stars=50, credits=55)
    assert await payments.accepted_at_pre_checkout(11, "pack:50:50") == ("XTR", 50, 55)
    paid = await payments.record_and_credit(
        user_id=11, charge_id="ch-1", payload="pack:50:50", currency="XTR", stars=50, credits=55,
        referral_bonus=5,
    )
    assert not paid.already_recorded and paid.balance == 60 and paid.referral is not None
    replay = await payments.record_and_credit(
        user_id=11, charge_id="ch-1", payload="pack:50:50", currency="XTR", stars=50, credits=55,
        referral_bonus=5,
    )
    assert replay.already_recorded and replay.balance == 60 and replay.referral is None
    await payments.record_and_credit(
        user_id=11, charge_id="ch-2", payload="pack:50:50", currency="XTR", stars=50, credits=55,
        referral_bonus=5,
    )
    assert [p.charge_id for p in await payments.for_user(11)] == ["ch-2", "ch-1"]
    stats = await referrals.stats(10)
    assert (stats.invited, stats.paid, stats.credits_earned) == (1, 1, 5)

    refund = await payments.take_back_refunded("ch-1", actor="admin:1")
    assert (refund.taken, refund.balance) == (55, 60)
    assert (await payments.take_back_refunded("ch-1", actor="admin:1")).status == "already_refunded"
    assert (await payments.take_back_refunded("nope", actor="admin:1")).status == "unknown_payment"

    await ReservationsRepo(db).reserve(11, 20, "job:1")
    money = await ReportsRepo(db).user_money(11)
    assert money is not None
    assert (money.balance, money.ledger_sum, money.stars_paid, money.credits_held) == (40, 40, 50, 20)
    totals = await LedgerRepo(db).totals()
    assert (totals.users, totals.balances, totals.stars_received, totals.stars_refunded) == (2, 45, 50, 50)
    movement = await LedgerRepo(db).apply_or_existing(
        user_id=10, amount=3, reason=Reason.ADMIN_GRANT, op_id="admin:x"
    )
    assert movement == await LedgerRepo(db).apply_or_existing(
        user_id=10, amount=3, reason=Reason.ADMIN_GRANT, op_id="admin:x"
    )
    assert [m.op_id for m in await LedgerRepo(db).recent(10, 2)] == ["admin:x", "referral:11:inviter"]
    await assert_books(db)


# --- several instances at once on one server ---------------------------------------------------


@pytest.mark.timeout(180)
async def test_200_concurrent_confirms_from_4_instances_make_exactly_100_jobs(backend: StoreBackend) -> None:
    """Four Database objects (four bot processes, each its own connections) confirm 200 orders of 1
    credit, each tapped twice, for a user holding 100: exactly 100 jobs, the double taps get the
    same job, then every job ends once while the instances race its outcome."""
    instances = [backend.new() for _ in range(4)]
    for instance in instances:
        await instance.open()
    try:
        await add_user(instances[0], 1, 100)
        repos = [JobsRepo(instance) for instance in instances]
        orders = [new_job(1, cost=1, draft_key=f"tap:{n}") for n in range(200)]

        async def confirm(n: int, tap: int) -> Job | None:
            try:
                job, _created = await repos[(n + tap) % 4].create_reserved(orders[n], max_in_flight=10_000)
            except InsufficientCredits:
                return None
            return job

        results = await asyncio.gather(*(confirm(n, tap) for n in range(200) for tap in (0, 1)))
        jobs = {job.id: job for job in results if job is not None}
        assert len(jobs) == 100
        for n in range(200):  # both taps of one draft: the same job, or both refused
            first, second = results[2 * n], results[2 * n + 1]
            assert (first is None) == (second is None)
            assert first is None or second is None or first.id == second.id
        count = await instances[1].fetchone("SELECT COUNT(*) FROM jobs")
        assert count is not None and count[0] == 100
        assert await LedgerRepo(instances[2]).balance(1) == 0
        await assert_books(instances[3])

        # The outcomes race across the instances: a callback, a poll and a timeout per job.
        async def outcome(job: Job, n: int) -> None:
            repo = repos[n % 4]
            await repo.record_task_id(job.id, f"task-{job.id}", submitted_at=now())
            events = [
                repos[(n + 1) % 4].succeed(job.id, result_urls=["https://r/v.mp4"], finished_at=now()),
                repos[(n + 2) % 4].fail(job.id, fail_reason="content policy", finished_at=now()),
                repos[(n + 3) % 4].time_out(job.id, finished_at=now(), late_poll_at=None),
            ]
            await asyncio.gather(*events)

        await asyncio.gather(*(outcome(job, n) for n, job in enumerate(jobs.values())))
        reservations = ReservationsRepo(instances[0])
        for job_id in jobs:
            reservation = await reservations.get(reservation_key(job_id))
            assert reservation is not None and reservation.status in ("settled", "refunded")
        settled = await instances[0].fetchone("SELECT COUNT(*) FROM reservations WHERE status = 'settled'")
        assert settled is not None
        assert await LedgerRepo(instances[1]).balance(1) == 100 - int(settled[0])
        await assert_books(instances[2])
    finally:
        for instance in instances:
            await instance.close()


def test_pg_skip_reason_names_the_variable() -> None:
    assert re.search(r"TEST_DATABASE_URL .*\.ci/run", pg_support.SKIP_REASON)
