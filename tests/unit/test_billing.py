"""BillingService: exactly-once money movements under repetition, reordering, concurrency, restart."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from bot.config import StarPack
from bot.services.billing import (
    BillingService,
    InsufficientCredits,
    PaymentResult,
    PreCheckoutError,
    Reason,
    RefundPlan,
    RefundRefusal,
    RefundResult,
    ReservationExists,
    UnknownUser,
    pack_payload,
    parse_pack_payload,
)
from bot.store.db import Database
from bot.store.payments import PaymentRow
from bot.store.reservations import refund_sync, reserve_sync, settle_sync
from bot.store.sql import SqlConnection
from bot.store.users import UsersRepo
from tests.pg_support import StoreBackend

PACKS = (StarPack(50, 50), StarPack(250, 260))
SMALL = PACKS[0]
BIG = PACKS[1]


@pytest.fixture
async def db(backend: StoreBackend) -> AsyncIterator[Database]:
    database = backend.new()
    await database.open()
    yield database
    await database.close()


@pytest.fixture
def billing(db: Database) -> BillingService:
    return BillingService(db, signup_bonus=10, star_packs=PACKS)


async def add_user(billing: BillingService, user_id: int, balance: int = 0) -> None:
    await UsersRepo(billing.db).upsert(user_id, language="en")
    if balance:
        await billing.grant(0, user_id, balance, "seed")


async def ledger_rows(db: Database, user_id: int) -> int:
    row = await db.fetchone("SELECT COUNT(*) FROM ledger WHERE user_id = ?", (user_id,))
    assert row is not None
    return int(row[0])


async def assert_invariants(db: Database) -> None:
    """balance == sum(ledger) and >= 0 for every user; every reservation and payment matches its rows."""
    mismatched = await db.fetchall(
        "SELECT u.id, u.balance, COALESCE(SUM(l.amount), 0) AS total FROM users u "
        "LEFT JOIN ledger l ON l.user_id = u.id GROUP BY u.id "
        "HAVING u.balance != COALESCE(SUM(l.amount), 0) OR u.balance < 0"
    )
    assert [tuple(r) for r in mismatched] == []
    # Each reservation has its debit; a refund row exists exactly when it was refunded.
    broken_reservations = await db.fetchall(
        """
        SELECT r.key FROM reservations r
        LEFT JOIN ledger d ON d.op_id = r.key || ':reserve'
        LEFT JOIN ledger c ON c.op_id = r.key || ':refund'
        WHERE d.id IS NULL OR d.amount != -r.amount
           OR (r.status = 'refunded') != (c.id IS NOT NULL)
           OR (c.id IS NOT NULL AND c.amount != r.amount)
        """
    )
    assert [r[0] for r in broken_reservations] == []
    broken_payments = await db.fetchall(
        """
        SELECT p.charge_id FROM payments p
        LEFT JOIN ledger c ON c.op_id = 'payment:' || p.charge_id
        LEFT JOIN ledger r ON r.op_id = 'stars_refund:' || p.charge_id
        WHERE c.id IS NULL OR c.amount != p.credits OR (p.status = 'refunded') != (r.id IS NOT NULL)
        """
    )
    assert [r[0] for r in broken_payments] == []


# --- signup bonus ---


async def test_signup_bonus_once(billing: BillingService) -> None:
    await add_user(billing, 1)
    assert await billing.grant_signup_bonus(1) is True
    assert await billing.grant_signup_bonus(1) is False
    assert await billing.balance(1) == 10
    assert (await billing.ledger.recent(1))[0].reason == Reason.SIGNUP_BONUS


async def test_no_signup_bonus_when_zero(db: Database) -> None:
    billing = BillingService(db, signup_bonus=0, star_packs=PACKS)
    await add_user(billing, 1)
    assert await billing.grant_signup_bonus(1) is False
    assert await ledger_rows(db, 1) == 0


# --- reservations ---


async def test_reserve_debits_and_holds(billing: BillingService) -> None:
    await add_user(billing, 1, balance=100)
    await billing.reserve(1, 30, "job:1", job_id=1)
    assert await billing.balance(1) == 70
    reservation = await billing.reservation("job:1")
    assert reservation is not None and (reservation.status, reservation.amount) == ("held", 30)
    movement = (await billing.ledger.recent(1))[0]
    assert (movement.amount, movement.reason, movement.op_id, movement.job_id) == (
        -30,
        "generation",
        "job:1:reserve",
        1,
    )


async def test_reserve_insufficient_reports_balance_and_price(billing: BillingService) -> None:
    await add_user(billing, 1, balance=20)
    with pytest.raises(InsufficientCredits) as info:
        await billing.reserve(1, 35, "job:1")
    assert (info.value.balance, info.value.needed) == (20, 35)
    assert await billing.balance(1) == 20
    assert await billing.reservation("job:1") is None


async def test_reserve_unknown_user(billing: BillingService) -> None:
    with pytest.raises(UnknownUser):
        await billing.reserve(99, 1, "job:1")


async def test_reserve_same_key_twice(billing: BillingService) -> None:
    await add_user(billing, 1, balance=100)
    await billing.reserve(1, 30, "job:1")
    with pytest.raises(ReservationExists):
        await billing.reserve(1, 30, "job:1")
    assert await billing.balance(1) == 70


async def test_settle_then_refund_refused(billing: BillingService, db: Database) -> None:
    await add_user(billing, 1, balance=100)
    await billing.reserve(1, 30, "job:1")
    assert await billing.settle("job:1") is True
    assert await billing.settle("job:1") is False
    assert await billing.refund("job:1") is False
    assert await billing.balance(1) == 70
    await assert_invariants(db)


async def test_refund_once_then_settle_refused(billing: BillingService, db: Database) -> None:
    await add_user(billing, 1, balance=100)
    await billing.reserve(1, 30, "job:1")
    assert await billing.refund("job:1") is True
    assert await billing.refund("job:1") is False
    assert await billing.settle("job:1") is False
    assert await billing.balance(1) == 100
    refund = (await billing.ledger.recent(1))[0]
    assert (refund.amount, refund.reason, refund.op_id) == (30, "refund", "job:1:refund")
    assert await ledger_rows(db, 1) == 3
    await assert_invariants(db)


async def test_unknown_reservation(billing: BillingService) -> None:
    assert await billing.settle("job:404") is False
    assert await billing.refund("job:404") is False


async def test_concurrent_refunds_of_one_reservation(billing: BillingService, db: Database) -> None:
    await add_user(billing, 1, balance=100)
    await billing.reserve(1, 30, "job:1")
    results = await asyncio.gather(*(billing.refund("job:1") for _ in range(20)), billing.settle("job:1"))
    assert sum(results) == 1
    assert await ledger_rows(db, 1) in (2, 3)
    await assert_invariants(db)


async def test_reserve_in_callers_transaction_rolls_back_with_it(
    billing: BillingService, db: Database
) -> None:
    await add_user(billing, 1, balance=100)

    def body(conn: SqlConnection) -> None:
        reserve_sync(conn, user_id=1, amount=40, key="job:7", job_id=7)
        raise RuntimeError("the job insert failed")

    with pytest.raises(RuntimeError):
        await db.run_in_transaction(body)
    assert await billing.balance(1) == 100
    assert await billing.reservation("job:7") is None
    # The key is still free afterwards.
    await billing.reserve(1, 40, "job:7")
    assert await billing.balance(1) == 60


async def test_refund_in_and_settle_in_inside_callers_transaction(
    billing: BillingService, db: Database
) -> None:
    await add_user(billing, 1, balance=100)
    await billing.reserve(1, 40, "job:1")
    await billing.reserve(1, 20, "job:2")

    def body(conn: SqlConnection) -> None:
        assert refund_sync(conn, key="job:1", job_id=1) is True
        assert refund_sync(conn, key="job:1", job_id=1) is False
        assert settle_sync(conn, "job:2") is True
        assert settle_sync(conn, "job:2") is False

    await db.run_in_transaction(body)
    assert await billing.balance(1) == 80
    await assert_invariants(db)


async def test_200_concurrent_reserves_against_100(billing: BillingService, db: Database) -> None:
    await add_user(billing, 1, balance=100)

    async def attempt(n: int) -> bool:
        try:
            await billing.reserve(1, 1, f"job:{n}")
        except InsufficientCredits:
            return False
        return True

    results = await asyncio.gather(*(attempt(n) for n in range(200)))
    assert sum(results) == 100
    assert await billing.balance(1) == 0
    row = await db.fetchone("SELECT COUNT(*) FROM reservations WHERE status = 'held'")
    assert row is not None and row[0] == 100
    await assert_invariants(db)


async def test_refund_replay_after_restart(backend: StoreBackend) -> None:
    first = backend.new()
    await first.open()
    billing = BillingService(first, signup_bonus=0, star_packs=PACKS)
    await add_user(billing, 1, balance=50)
    await billing.reserve(1, 20, "job:1")
    assert await billing.refund("job:1") is True
    await first.close()

    second = backend.new()
    await second.open()
    try:
        billing = BillingService(second, signup_bonus=0, star_packs=PACKS)
        assert await billing.refund("job:1") is False
        assert await billing.balance(1) == 50
        assert await ledger_rows(second, 1) == 3
        await assert_invariants(second)
    finally:
        await second.close()


# --- Stars payments ---


def test_payload_round_trip(billing: BillingService) -> None:
    payload = pack_payload(BIG)
    assert payload == "pack:250:260"
    assert 1 <= len(payload.encode()) <= 128
    assert billing.pack_for_payload(payload) == BIG
    assert billing.pack_for_payload("pack:250:999") is None  # well-formed but not on sale
    assert parse_pack_payload("pack:250:999") == StarPack(250, 999)
    for bad in ("", "pack:", "pack:0:5", "pack:5:0", "pack:-1:5", "pack:1:2:3", "xpack:1:2", "pack:1:2\n"):
        assert parse_pack_payload(bad) is None


async def test_pre_checkout(billing: BillingService) -> None:
    await add_user(billing, 1)
    payload = pack_payload(SMALL)
    assert await billing.check_pre_checkout(1, payload, "XTR", 50) is None
    assert await billing.check_pre_checkout(1, payload, "USD", 50) == PreCheckoutError.WRONG_CURRENCY
    assert await billing.check_pre_checkout(1, "pack:1:1000", "XTR", 1) == "unknown_pack"
    assert await billing.check_pre_checkout(1, payload, "XTR", 49) == "wrong_amount"
    assert await billing.check_pre_checkout(2, payload, "XTR", 50) == "unknown_user"


async def test_duplicate_successful_payment_credits_once(billing: BillingService, db: Database) -> None:
    await add_user(billing, 1)
    first = await billing.credit_payment(1, "ch-1", pack_payload(BIG), 250)
    second = await billing.credit_payment(1, "ch-1", pack_payload(BIG), 250)
    assert (first.result, first.credits, first.balance) == (PaymentResult.CREDITED, 260, 260)
    assert (second.result, second.credits, second.balance) == (PaymentResult.DUPLICATE, 260, 260)
    assert await ledger_rows(db, 1) == 1
    movement = (await billing.ledger.recent(1))[0]
    assert (movement.reason, movement.charge_id) == ("purchase", "ch-1")
    await assert_invariants(db)


async def test_concurrent_duplicate_payments(billing: BillingService, db: Database) -> None:
    await add_user(billing, 1)
    outcomes = await asyncio.gather(
        *(billing.credit_payment(1, "ch-1", pack_payload(SMALL), 50) for _ in range(10))
    )
    assert [o.result for o in outcomes].count(PaymentResult.CREDITED) == 1
    assert await billing.balance(1) == 50


async def test_payment_replay_after_restart(backend: StoreBackend) -> None:
    first = backend.new()
    await first.open()
    billing = BillingService(first, signup_bonus=0, star_packs=PACKS)
    await add_user(billing, 1)
    assert (await billing.credit_payment(1, "ch-1", pack_payload(SMALL), 50)).result == PaymentResult.CREDITED
    await first.close()

    second = backend.new()
    await second.open()
    try:
        billing = BillingService(second, signup_bonus=0, star_packs=PACKS)
        outcome = await billing.credit_payment(1, "ch-1", pack_payload(SMALL), 50)
        assert outcome.result == PaymentResult.DUPLICATE
        assert await billing.balance(1) == 50
        assert await ledger_rows(second, 1) == 1
    finally:
        await second.close()


async def test_payment_for_pack_removed_after_pre_checkout_is_honoured(db: Database) -> None:
    before = BillingService(db, signup_bonus=0, star_packs=(StarPack(50, 55),))
    await add_user(before, 1)
    assert await before.check_pre_checkout(1, "pack:50:55", "XTR", 50) is None
    # The operator restarts with other packs before the successful_payment arrives.
    billing = BillingService(db, signup_bonus=0, star_packs=(StarPack(10, 10),))
    outcome = await billing.credit_payment(1, "ch-1", "pack:50:55", 50)
    assert (outcome.result, outcome.credits, outcome.balance) == (PaymentResult.CREDITED, 55, 55)
    # Accepted for user 1 only: the same payload from someone else was never sold.
    await add_user(billing, 2)
    other = await billing.credit_payment(2, "ch-2", "pack:50:55", 50)
    assert (other.result, other.credits, other.balance) == (PaymentResult.UNRECOGNIZED, 0, 0)
    await assert_invariants(db)


class RecordedAlerts:
    """UnsoldPaymentAlerts that keeps what it was told."""

    def __init__(self) -> None:
        self.unsold: list[PaymentRow] = []

    async def unsold_payment(self, payment: PaymentRow) -> None:
        self.unsold.append(payment)


async def test_payment_for_pack_never_sold_credits_nothing(db: Database) -> None:
    alerts = RecordedAlerts()
    billing = BillingService(db, signup_bonus=10, star_packs=PACKS, alerts=alerts)
    await add_user(billing, 1)
    alerted = alerts.unsold
    cases = [
        ("ch-1", "pack:1:1000000", 1, "XTR"),  # not on sale
        ("ch-2", pack_payload(SMALL), 50, "USD"),  # not Stars
        ("ch-3", pack_payload(BIG), 50, "XTR"),  # not the pack's price
    ]
    for charge_id, payload, amount, currency in cases:
        outcome = await billing.credit_payment(1, charge_id, payload, amount, currency)
        assert (outcome.result, outcome.credits, outcome.balance) == (PaymentResult.UNRECOGNIZED, 0, 0)
        again = await billing.credit_payment(1, charge_id, payload, amount, currency)
        assert (again.result, again.first_delivery) == (PaymentResult.UNRECOGNIZED, False)
    assert [p.charge_id for p in alerted] == ["ch-1", "ch-2", "ch-3"]
    assert alerted[1].currency == "USD"
    assert await billing.balance(1) == 0
    await assert_invariants(db)


async def test_unrecognized_payload_is_recorded_with_zero_credits(
    billing: BillingService, db: Database
) -> None:
    await add_user(billing, 1)
    outcome = await billing.credit_payment(1, "ch-x", "garbage", 50)
    assert (outcome.result, outcome.credits) == (PaymentResult.UNRECOGNIZED, 0)
    plan = await billing.prepare_refund("ch-x")
    assert isinstance(plan, RefundPlan) and (plan.stars, plan.credits) == (50, 0)
    await assert_invariants(db)


async def test_payment_from_unregistered_user_still_credits(billing: BillingService, db: Database) -> None:
    outcome = await billing.credit_payment(77, "ch-1", pack_payload(SMALL), 50)
    assert outcome.result == PaymentResult.CREDITED
    assert await billing.balance(77) == 50
    await assert_invariants(db)


# --- Stars refunds ---


async def test_stars_refund_flow(billing: BillingService, db: Database) -> None:
    await add_user(billing, 1)
    await billing.credit_payment(1, "ch-1", pack_payload(SMALL), 50)
    plan = await billing.prepare_refund("ch-1")
    assert plan == RefundPlan(charge_id="ch-1", user_id=1, stars=50, credits=50, balance=50)
    outcome = await billing.complete_refund("ch-1", admin_id=900)
    assert (outcome.result, outcome.credits_taken, outcome.shortfall, outcome.balance) == (
        RefundResult.REFUNDED,
        50,
        0,
        0,
    )
    again = await billing.complete_refund("ch-1", admin_id=900)
    assert again.result == RefundResult.ALREADY_REFUNDED
    assert await billing.prepare_refund("ch-1") == RefundRefusal.ALREADY_REFUNDED
    movement = (await billing.ledger.recent(1))[0]
    assert (movement.amount, movement.reason, movement.actor, movement.charge_id) == (
        -50,
        "stars_refund",
        "admin:900",
        "ch-1",
    )
    payment = await billing.payments.get("ch-1")
    assert payment is not None and payment.refunded and payment.refunded_at is not None
    assert await ledger_rows(db, 1) == 2
    await assert_invariants(db)


async def test_stars_refund_refused_when_credits_spent(billing: BillingService, db: Database) -> None:
    await add_user(billing, 1)
    await billing.credit_payment(1, "ch-1", pack_payload(SMALL), 50)
    await billing.reserve(1, 10, "job:1")
    assert await billing.prepare_refund("ch-1") == RefundRefusal.CREDITS_SPENT
    called: list[tuple[int, str]] = []

    async def refund_stars(user_id: int, charge_id: str) -> None:
        called.append((user_id, charge_id))

    assert await billing.refund_payment("ch-1", 900, refund_stars) == RefundRefusal.CREDITS_SPENT
    assert called == []
    assert await billing.balance(1) == 40
    # Credits coming back (failed generation) make the refund possible again.
    await billing.refund("job:1")
    outcome = await billing.refund_payment("ch-1", 900, refund_stars)
    assert not isinstance(outcome, RefundRefusal) and outcome.result == RefundResult.REFUNDED
    assert called == [(1, "ch-1")]
    await assert_invariants(db)


async def test_stars_refund_unknown_payment(billing: BillingService) -> None:
    assert await billing.prepare_refund("nope") == RefundRefusal.UNKNOWN_PAYMENT
    assert (await billing.complete_refund("nope", 900)).result == RefundResult.UNKNOWN_PAYMENT


async def test_stars_refund_telegram_failure_changes_nothing(billing: BillingService, db: Database) -> None:
    await add_user(billing, 1)
    await billing.credit_payment(1, "ch-1", pack_payload(SMALL), 50)

    async def refund_stars(user_id: int, charge_id: str) -> None:
        raise ConnectionError("Telegram is down")

    with pytest.raises(ConnectionError):
        await billing.refund_payment("ch-1", 900, refund_stars)
    assert await billing.balance(1) == 50
    assert isinstance(await billing.prepare_refund("ch-1"), RefundPlan)


async def test_stars_refund_spent_between_prepare_and_complete(billing: BillingService, db: Database) -> None:
    await add_user(billing, 1)
    await billing.credit_payment(1, "ch-1", pack_payload(SMALL), 50)
    assert isinstance(await billing.prepare_refund("ch-1"), RefundPlan)
    await billing.reserve(1, 45, "job:1")  # the user raced the admin
    outcome = await billing.complete_refund("ch-1", 900)
    assert (outcome.result, outcome.credits_taken, outcome.shortfall, outcome.balance) == (
        RefundResult.REFUNDED,
        5,
        45,
        0,
    )
    await assert_invariants(db)


async def test_concurrent_complete_refund_once(billing: BillingService, db: Database) -> None:
    await add_user(billing, 1)
    await billing.credit_payment(1, "ch-1", pack_payload(BIG), 250)
    outcomes = await asyncio.gather(*(billing.complete_refund("ch-1", 900) for _ in range(10)))
    assert [o.result for o in outcomes].count(RefundResult.REFUNDED) == 1
    assert await billing.balance(1) == 0
    assert await ledger_rows(db, 1) == 2


# --- admin ---


async def test_admin_grant(billing: BillingService) -> None:
    await add_user(billing, 1)
    movement = await billing.grant(900, 1, 25, "compensation")
    assert (movement.amount, movement.reason, movement.actor, movement.note) == (
        25,
        "admin_grant",
        "admin:900",
        "compensation",
    )
    taken = await billing.grant(900, 1, -20, "typo")
    assert taken.balance_after == 5
    with pytest.raises(InsufficientCredits) as info:
        await billing.grant(900, 1, -6, "too much")
    assert (info.value.balance, info.value.needed) == (5, 6)
    with pytest.raises(ValueError):
        await billing.grant(900, 1, 0)
    with pytest.raises(UnknownUser):
        await billing.grant(900, 2, 5)
    # A retried command with the same op_id returns the first movement and changes nothing.
    first = await billing.grant(900, 1, 3, op_id="cmd:1")
    again = await billing.grant(900, 1, 3, op_id="cmd:1")
    assert first == again
    assert await billing.balance(1) == 8


async def test_user_summary_and_stats(billing: BillingService, db: Database) -> None:
    await add_user(billing, 1)
    await add_user(billing, 2)
    await billing.grant_signup_bonus(1)
    await billing.credit_payment(1, "ch-1", pack_payload(BIG), 250)
    await billing.credit_payment(2, "ch-2", pack_payload(SMALL), 50)
    await billing.reserve(1, 30, "job:1")
    await billing.settle("job:1")
    await billing.reserve(1, 20, "job:2")
    await billing.refund("job:2")
    await billing.reserve(1, 5, "job:3")
    await billing.complete_refund("ch-2", 900)
    await billing.grant(900, 2, 7, "gift")
    for n, state in enumerate(("done", "done", "failed", "running")):
        await db.execute(
            "INSERT INTO jobs (user_id, chat_id, draft_key, model_key, mode, family, kie_credits, cost, "
            "callback_token, state, deadline_at, created_at, updated_at) "
            "VALUES (1, 1, ?, 'm', 't2v', 'veo', 1, 1, ?, ?, 0, 0, 0)",
            (f"d{n}", f"t{n}", state),
        )

    summary = await billing.user_summary(1)
    assert summary is not None
    assert summary.balance == summary.ledger_sum == 10 + 260 - 30 - 5
    assert (summary.stars_paid, summary.credits_purchased, summary.payments) == (250, 260, 1)
    assert (summary.credits_spent, summary.credits_held, summary.credits_refunded) == (30, 5, 20)
    assert summary.recent[0].op_id == "job:3:reserve"
    assert await billing.user_summary(404) is None

    stats = await billing.stats()
    totals = stats.totals
    assert (totals.users, totals.balances) == (2, 235 + 7)
    assert (totals.stars_received, totals.credits_sold, totals.stars_refunded) == (250, 260, 50)
    assert (totals.credits_spent, totals.credits_held, totals.credits_refunded) == (30, 5, 20)
    assert (totals.credits_granted, totals.signup_bonuses) == (7, 10)
    assert stats.jobs_by_state == {"done": 2, "failed": 1, "running": 1}


async def test_check_constraint_holds_against_direct_writes(
    db: Database, billing: BillingService, backend: StoreBackend
) -> None:
    await add_user(billing, 1, balance=5)
    with pytest.raises(backend.integrity_error):
        await db.execute("UPDATE users SET balance = -1 WHERE id = 1")
    with pytest.raises(backend.integrity_error):
        await db.execute(
            "INSERT INTO reservations (key, user_id, amount, created_at, updated_at) "
            "VALUES ('k', 1, -1, 0, 0)"
        )


# --- randomized invariant ---


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
async def test_random_operations_keep_invariants(billing: BillingService, db: Database, seed: int) -> None:
    rng = random.Random(seed)
    users = [1, 2, 3, 4]
    for user_id in users:
        await add_user(billing, user_id)
    keys: list[str] = []
    charges: list[str] = []

    async def one_operation(step: int) -> None:
        user_id = rng.choice(users)
        op = rng.choice(("bonus", "pay", "reserve", "settle", "refund", "grant", "stars_refund", "replay"))
        try:
            if op == "bonus":
                await billing.grant_signup_bonus(user_id)
            elif op == "pay":
                charge_id = f"ch-{step}"
                pack = rng.choice(PACKS)
                await billing.credit_payment(user_id, charge_id, pack_payload(pack), pack.stars)
                # Once recorded: a replay is a redelivery of a payment the bot has taken (on
                # PostgreSQL the concurrent steps really run at once).
                charges.append(charge_id)
            elif op == "reserve":
                key = f"job:{step}"
                await billing.reserve(user_id, rng.randint(0, 120), key)
                keys.append(key)
            elif op == "settle" and keys:
                await billing.settle(rng.choice(keys))
            elif op == "refund" and keys:
                await billing.refund(rng.choice(keys))
            elif op == "grant":
                await billing.grant(900, user_id, rng.choice((-50, -5, 5, 50)))
            elif op == "stars_refund" and charges:
                charge_id = rng.choice(charges)
                if rng.random() < 0.5:
                    plan = await billing.prepare_refund(charge_id)
                    if isinstance(plan, RefundPlan):
                        await billing.complete_refund(charge_id, 900)
                else:
                    await billing.complete_refund(charge_id, 900)  # may hit the shortfall path
            elif op == "replay" and charges:
                charge_id = rng.choice(charges)
                payment = await billing.payments.get(charge_id)
                assert payment is not None
                outcome = await billing.credit_payment(
                    payment.user_id, charge_id, payment.payload, payment.stars
                )
                assert outcome.result == PaymentResult.DUPLICATE
        except InsufficientCredits:
            pass

    for batch in range(20):
        # Half the batches run concurrently to interleave operations on the shared connection.
        steps = range(batch * 25, batch * 25 + 25)
        if batch % 2:
            await asyncio.gather(*(one_operation(step) for step in steps))
        else:
            for step in steps:
                await one_operation(step)
        await assert_invariants(db)
    # The sequence must actually have exercised every path, or the invariant proves little.
    statuses = {r[0] for r in await db.fetchall("SELECT DISTINCT status FROM reservations")}
    assert statuses == {"held", "settled", "refunded"}
    payment_statuses = {r[0] for r in await db.fetchall("SELECT DISTINCT status FROM payments")}
    assert payment_statuses == {"paid", "refunded"}


async def test_bodies_refuse_to_run_outside_a_transaction(billing: BillingService, db: Database) -> None:
    await add_user(billing, 1, balance=10)
    await billing.reserve(1, 4, "job:1")
    with pytest.raises(RuntimeError):
        await db.run_locked(reserve_sync, user_id=1, amount=1, key="job:2")
    with pytest.raises(RuntimeError):
        await db.run_locked(refund_sync, key="job:1")
    reservation = await billing.reservation("job:1")
    assert reservation is not None and reservation.status == "held"
    assert await billing.balance(1) == 6
    with pytest.raises(ValueError):
        await billing.reserve(1, -1, "job:3")
