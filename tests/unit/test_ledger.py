"""The ledger primitive: idempotent, never negative, balance == sum(ledger)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.store.db import Database, SqliteDatabase
from bot.store.ledger import (
    InsufficientCredits,
    LedgerRepo,
    Reason,
    UnknownUser,
    apply_movement_sync,
)
from bot.store.sql import SqlConnection
from bot.store.users import UsersRepo
from tests.pg_support import StoreBackend


@pytest.fixture
async def db(backend: StoreBackend) -> AsyncIterator[Database]:
    database = backend.new()
    await database.open()
    yield database
    await database.close()


def assert_no_open_transaction(db: Database) -> None:
    if isinstance(db, SqliteDatabase):  # one shared connection; PostgreSQL's go back to their pool
        assert not db.conn.in_transaction


async def add_user(db: Database, user_id: int, balance: int = 0) -> None:
    await UsersRepo(db).upsert(user_id, language="en")
    if balance:
        await LedgerRepo(db).apply(
            user_id=user_id, amount=balance, reason=Reason.ADMIN_GRANT, op_id=f"seed:{user_id}"
        )


async def test_credit_writes_row_and_balance(db: Database) -> None:
    await add_user(db, 1)
    ledger = LedgerRepo(db)
    movement = await ledger.apply(
        user_id=1, amount=30, reason=Reason.PURCHASE, op_id="payment:a", charge_id="a"
    )
    assert movement is not None
    assert (movement.amount, movement.balance_after) == (30, 30)
    assert (movement.reason, movement.charge_id) == ("purchase", "a")
    assert await ledger.balance(1) == 30
    assert await ledger.sum_for_user(1) == 30


async def test_same_op_id_twice_changes_nothing(db: Database) -> None:
    await add_user(db, 1)
    ledger = LedgerRepo(db)
    assert await ledger.apply(user_id=1, amount=10, reason=Reason.PURCHASE, op_id="x") is not None
    assert await ledger.apply(user_id=1, amount=10, reason=Reason.PURCHASE, op_id="x") is None
    # Even a different amount under the same op_id is ignored: the op_id names the event.
    assert await ledger.apply(user_id=1, amount=-5, reason=Reason.GENERATION, op_id="x") is None
    assert await ledger.balance(1) == 10
    assert len(await ledger.recent(1, 10)) == 1


async def test_overdraft_raises_and_changes_nothing(db: Database) -> None:
    await add_user(db, 1, balance=5)
    ledger = LedgerRepo(db)
    with pytest.raises(InsufficientCredits) as info:
        await ledger.apply(user_id=1, amount=-6, reason=Reason.GENERATION, op_id="job:1:reserve")
    assert (info.value.balance, info.value.needed) == (5, 6)
    assert await ledger.balance(1) == 5
    assert await ledger.by_op_id("job:1:reserve") is None
    # The whole balance can be spent, down to exactly zero.
    movement = await ledger.apply(user_id=1, amount=-5, reason=Reason.GENERATION, op_id="job:2:reserve")
    assert movement is not None and movement.balance_after == 0


async def test_overdraft_inside_transaction_leaves_it_usable(db: Database) -> None:
    await add_user(db, 1, balance=5)

    def body(conn: SqlConnection) -> None:
        with pytest.raises(InsufficientCredits):
            apply_movement_sync(conn, user_id=1, amount=-50, reason=Reason.GENERATION, op_id="a")
        apply_movement_sync(conn, user_id=1, amount=-2, reason=Reason.GENERATION, op_id="b")

    await db.run_in_transaction(body)
    ledger = LedgerRepo(db)
    assert await ledger.balance(1) == 3
    assert await ledger.sum_for_user(1) == 3


async def test_unknown_user(db: Database) -> None:
    with pytest.raises(UnknownUser):
        await LedgerRepo(db).apply(user_id=404, amount=5, reason=Reason.PURCHASE, op_id="p")
    assert await LedgerRepo(db).balance(404) is None


async def test_requires_a_transaction(db: Database) -> None:
    await add_user(db, 1)
    with pytest.raises(RuntimeError):
        await db.run_locked(apply_movement_sync, user_id=1, amount=1, reason=Reason.PURCHASE, op_id="p")


async def test_rollback_of_caller_transaction_undoes_movement(db: Database) -> None:
    await add_user(db, 1)

    def body(conn: SqlConnection) -> None:
        apply_movement_sync(conn, user_id=1, amount=7, reason=Reason.PURCHASE, op_id="p")
        _ = 1 / 0

    with pytest.raises(ZeroDivisionError):
        await db.run_in_transaction(body)
    ledger = LedgerRepo(db)
    assert await ledger.balance(1) == 0
    assert await ledger.by_op_id("p") is None


async def test_recent_is_newest_first_and_limited(db: Database) -> None:
    await add_user(db, 1)
    ledger = LedgerRepo(db)
    for n in range(5):
        await ledger.apply(user_id=1, amount=n + 1, reason=Reason.ADMIN_GRANT, op_id=f"g{n}")
    recent = await ledger.recent(1, 3)
    assert [m.op_id for m in recent] == ["g4", "g3", "g2"]
    assert [m.balance_after for m in recent] == [15, 10, 6]


async def test_check_constraint_is_the_last_line_of_defence(db: Database, backend: StoreBackend) -> None:
    await add_user(db, 1, balance=3)
    with pytest.raises(backend.integrity_error):
        await db.execute("UPDATE users SET balance = balance - 4 WHERE id = 1")
    assert await LedgerRepo(db).balance(1) == 3


async def test_replay_after_reopen_is_ignored(backend: StoreBackend) -> None:
    first = backend.new()
    await first.open()
    await add_user(first, 1)
    assert await LedgerRepo(first).apply(user_id=1, amount=9, reason=Reason.PURCHASE, op_id="p") is not None
    await first.close()

    second = backend.new()
    await second.open()
    try:
        ledger = LedgerRepo(second)
        assert await ledger.apply(user_id=1, amount=9, reason=Reason.PURCHASE, op_id="p") is None
        assert await ledger.balance(1) == 9
        assert await ledger.sum_for_user(1) == 9
    finally:
        await second.close()


def test_aiosqlite_private_dispatcher_is_available() -> None:
    # run_on_connection_thread relies on aiosqlite's private `_execute` and `_conn` (pinned 0.22.x).
    import aiosqlite

    assert callable(getattr(aiosqlite.Connection, "_execute", None))
    assert isinstance(getattr(aiosqlite.Connection, "_conn", None), property)


async def test_one_round_trip_transaction_rolls_back_on_error(db: Database) -> None:
    await add_user(db, 1)

    def body(raw: SqlConnection) -> None:
        apply_movement_sync(raw, user_id=1, amount=5, reason=Reason.PURCHASE, op_id="p")
        raise ValueError("after the movement")

    with pytest.raises(ValueError):
        await db.run_in_transaction(body)
    ledger = LedgerRepo(db)
    assert await ledger.balance(1) == 0
    assert await ledger.by_op_id("p") is None
    assert_no_open_transaction(db)


async def test_cancelled_movements_are_all_or_nothing(db: Database) -> None:
    await add_user(db, 1)
    ledger = LedgerRepo(db)
    tasks = [
        asyncio.create_task(ledger.apply(user_id=1, amount=1, reason=Reason.PURCHASE, op_id=f"p{n}"))
        for n in range(50)
    ]
    await asyncio.sleep(0)
    for task in tasks[::3]:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    # Let any body already handed to the worker thread finish.
    await db.fetchone("SELECT 1")
    assert await ledger.balance(1) == await ledger.sum_for_user(1)
    assert_no_open_transaction(db)
