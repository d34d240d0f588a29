"""A Stars payment that arrives while another process holds the database's write lock (issue 10, item 4).

The lock is real: a second sqlite3 connection in BEGIN IMMEDIATE, held longer than the bot's
busy_timeout (short here: DATABASE_BUSY_TIMEOUT_MS), so every write of the bot fails as it would
in production during a long backup or an sqlite3 shell left open.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.i18n import translate
from bot.store.payments import payment_op_id
from bot.store.payments_journal import journal_path_for
from tests.e2e.harness import RunningBot, make_settings, running_bot, start_bot
from tests.e2e.jobs_support import wait_until
from tests.e2e.test_payments import books_balance, bot_calls_to, open_invoice
from tests.fakes.telegram import FakeTelegram, Payment, TgUser, UserClient

BUSY_TIMEOUT_MS = 200


class WriteLock:
    """Another process's write transaction on the database file, taken and released on demand."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=10)

    def take(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def close(self) -> None:
        self.release()
        self.conn.close()


@contextmanager
def write_lock(path: Path) -> Iterator[WriteLock]:
    lock = WriteLock(path)
    try:
        yield lock
    finally:
        lock.close()


def journal_charge_ids(database_path: Path) -> list[str]:
    path = journal_path_for(database_path)
    if not path.exists():
        return []
    return [json.loads(line)["charge_id"] for line in path.read_text().splitlines() if line.strip()]


async def purchase_rows(bot: RunningBot, charge_id: str) -> int:
    row = await bot.components.db.fetchone(
        "SELECT COUNT(*) FROM ledger WHERE op_id = ?", (payment_op_id(charge_id),)
    )
    return int(row[0]) if row else 0


async def pay_while_locked(fake: FakeTelegram, user: UserClient, lock: WriteLock) -> Payment:
    """Buy the 50-star pack; the lock is taken after pre-checkout, before successful_payment."""
    invoice = await open_invoice(fake, user, 50, 50)

    async def take_lock() -> None:
        lock.take()

    since = fake.mark()
    payment = await user.pay(invoice, before_successful_payment=take_lock)
    assert payment.ok and payment.charge_id is not None
    # Handled without a crash: the user is told the payment arrived and credits follow.
    [answer] = await fake.wait_for(
        "sendMessage",
        predicate=lambda c: bot_calls_to(user.id)(c) and payment.charge_id in c.params["text"],
        since=since,
        timeout=20,
    )
    assert answer.params["text"] == (
        translate("payment-received-pending", "en", stars=50)
        + "\n\n"
        + translate("payment-charge-id", "en", charge_id=payment.charge_id)
    )
    return payment


async def test_payment_during_a_long_write_lock_is_journaled_and_credited_once_when_free(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, fake_tg, None, database_busy_timeout_ms=BUSY_TIMEOUT_MS)
    async with running_bot(settings) as bot:
        billing = bot.components.billing
        alice = fake_tg.as_user(TgUser(id=1301, first_name="Alice"))
        with write_lock(settings.database_path) as lock:
            # The user cache expired meanwhile: even registering the sender needs a write.
            bot.components.accounts.forget(alice.id)
            payment = await pay_while_locked(fake_tg, alice, lock)
            assert payment.charge_id is not None
            assert journal_charge_ids(settings.database_path) == [payment.charge_id]
            await fake_tg.wait_updates_acknowledged()
            assert await billing.balance(alice.id) == 0  # reads still work under WAL
            lock.release()

            since = fake_tg.mark()
            await wait_until(lambda: billing.balance(alice.id), 30, "the journaled credits")
            assert await billing.balance(alice.id) == 50
            [confirmation] = await fake_tg.wait_for(
                "sendMessage", predicate=bot_calls_to(alice.id), since=since, timeout=10
            )
            assert confirmation.params["text"] == (
                translate("payment-credited", "en", stars=50, credits="50 credits", balance="50 credits")
                + "\n\n"
                + translate("payment-charge-id", "en", charge_id=payment.charge_id)
            )
            await wait_until(lambda: not journal_charge_ids(settings.database_path), 10, "an empty journal")
            assert await purchase_rows(bot, payment.charge_id) == 1
            assert fake_tg.calls_of("sendMessage", since=since)[-1] is confirmation  # no error, no repeat
            assert translate("error-generic", "en") not in [
                c.params["text"] for c in fake_tg.calls_of("sendMessage")
            ]
            await books_balance(bot)


async def test_journal_left_at_shutdown_is_applied_once_at_the_next_start(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, fake_tg, None, database_busy_timeout_ms=BUSY_TIMEOUT_MS)
    bob = fake_tg.as_user(TgUser(id=1302, first_name="Bob"))
    first = await start_bot(settings)
    try:
        with write_lock(settings.database_path) as lock:
            payment = await pay_while_locked(fake_tg, bob, lock)
            # The lock is held through shutdown: the entry cannot be applied before the bot stops.
            await first.stop()
    finally:
        if not first.task.done():
            await first.stop()
    assert payment.charge_id is not None
    assert journal_charge_ids(settings.database_path) == [payment.charge_id]

    since = fake_tg.mark()
    async with running_bot(settings) as second:
        # Applied at start, before the bot took any update.
        assert journal_charge_ids(settings.database_path) == []
        assert await second.components.billing.balance(bob.id) == 50
        assert await purchase_rows(second, payment.charge_id) == 1
        await fake_tg.wait_for("sendMessage", predicate=bot_calls_to(bob.id), since=since)
        await books_balance(second)
    async with running_bot(settings) as third:
        assert await third.components.billing.balance(bob.id) == 50
        assert await purchase_rows(third, payment.charge_id) == 1
        await books_balance(third)
