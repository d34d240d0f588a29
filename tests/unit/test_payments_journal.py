"""The payments journal: durable entries, applied exactly once however often they are replayed."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import StarPack
from bot.services.billing import BillingService, PaymentOutcome, PaymentResult
from bot.services.payment_recorder import PaymentRecorder
from bot.services.ports import PaymentNotices
from bot.store.db import SqliteDatabase
from bot.store.payments import payment_op_id
from bot.store.payments_journal import JournaledPayment, PaymentsJournal, journal_path_for

PACKS = (StarPack(50, 50), StarPack(250, 260))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    database = SqliteDatabase(tmp_path / "bot.sqlite3", busy_timeout_ms=50)
    await database.open()
    try:
        yield database
    finally:
        await database.close()


def recorder_for(db: SqliteDatabase, notices: PaymentNotices | None = None) -> PaymentRecorder:
    billing = BillingService(db, signup_bonus=0, star_packs=PACKS)
    return PaymentRecorder(
        billing, PaymentsJournal(journal_path_for(db.path)), notices=notices, retry_delays_s=(0.01,)
    )


class RecordedNotices:
    """PaymentNotices that keeps what it was told."""

    def __init__(self) -> None:
        self.applied: list[PaymentOutcome] = []

    async def journaled_payment_applied(self, entry: JournaledPayment, outcome: PaymentOutcome) -> None:
        self.applied.append(outcome)


async def books(db: SqliteDatabase) -> list[tuple[int, int, int]]:
    rows = await db.fetchall(
        "SELECT u.id, u.balance, COALESCE(SUM(l.amount), 0) FROM users u "
        "LEFT JOIN ledger l ON l.user_id = u.id GROUP BY u.id"
    )
    return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]


async def test_applying_the_same_journal_twice_credits_once(db: SqliteDatabase) -> None:
    notices = RecordedNotices()
    recorder = recorder_for(db, notices)
    journal = recorder.journal
    await journal.append(
        user_id=7, charge_id="ch-1", payload="pack:250:260", currency="XTR", total_amount=250
    )
    await journal.append(user_id=8, charge_id="ch-2", payload="pack:50:50", currency="XTR", total_amount=50)
    # A crash after the database commit but before the journal rewrite: the same file comes back.
    saved = journal.path.with_name("saved")
    shutil.copy(journal.path, saved)
    applied = notices.applied
    assert await recorder.apply_journal() == 0
    assert not journal.path.exists()
    shutil.copy(saved, journal.path)
    assert await recorder_for(db).apply_journal() == 0

    assert [(o.charge_id, o.result, o.credits) for o in applied] == [
        ("ch-1", PaymentResult.CREDITED, 260),
        ("ch-2", PaymentResult.CREDITED, 50),
    ]
    assert await books(db) == [(7, 260, 260), (8, 50, 50)]
    for charge_id in ("ch-1", "ch-2"):
        row = await db.fetchone("SELECT COUNT(*) FROM ledger WHERE op_id = ?", (payment_op_id(charge_id),))
        assert row is not None and row[0] == 1
    assert not journal.path.exists()


async def test_a_locked_database_journals_the_payment_and_keeps_it_until_applied(db: SqliteDatabase) -> None:
    recorder = recorder_for(db)
    blocker = sqlite3.connect(db.path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        outcome = await recorder.record(5, "ch-9", "pack:50:50", 50, "XTR")
        assert outcome.result is PaymentResult.JOURNALED
        assert [e.charge_id for e in await recorder.journal.entries()] == ["ch-9"]
        # Still locked: nothing applied, nothing lost.
        assert await recorder.apply_journal() == 1
        assert [e.charge_id for e in await recorder.journal.entries()] == ["ch-9"]
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()
    assert await recorder.apply_journal() == 0
    assert await recorder.journal.entries() == []
    assert await books(db) == [(5, 50, 50)]


async def test_a_torn_last_line_is_skipped_and_the_rest_kept(tmp_path: Path) -> None:
    journal = PaymentsJournal(tmp_path / "x.payments-journal")
    await journal.append(user_id=1, charge_id="a", payload="pack:50:50", currency="XTR", total_amount=50)
    with journal.path.open("a") as file:
        file.write('{"user_id": 2, "charge')  # a crash in the middle of an append
    assert [e.charge_id for e in await journal.entries()] == ["a"]
    await journal.append(user_id=3, charge_id="b", payload="pack:50:50", currency="XTR", total_amount=50)
    await journal.remove({"a"})
    assert [e.charge_id for e in await journal.entries()] == ["b"]
