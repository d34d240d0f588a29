"""A successful Stars payment is never acknowledged unrecorded, even if the database is busy.

Telegram delivers `successful_payment` once; after the handler returns, the update is confirmed
and gone. So the payment is written with retries and backoff, and if the database still refuses
(another process holds the write lock past busy_timeout, a full disk ...), the raw payment goes
to the durable journal (bot/store/payments_journal.py) before the handler returns. The journal
is applied at start, before updates are taken, and by a background loop as soon as the database
takes writes again. Applying goes through `BillingService.credit_payment`, idempotent per charge
id, so an entry applied twice (a crash between commit and journal rewrite) credits once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from bot.services.billing import BillingService, PaymentOutcome, PaymentResult
from bot.services.ports import PaymentNotices
from bot.store.payments_journal import JournaledPayment, PaymentsJournal

log = logging.getLogger(__name__)

# Pauses between the attempts to write a payment before it is journaled. Each attempt itself
# may wait busy_timeout for the lock, so with the default 5 s the handler gives up after ~17 s.
WRITE_RETRY_DELAYS_S: tuple[float, ...] = (0.5, 1.5)
# How often the journal is retried while it holds entries: first after this, then doubling up to
# the cap while the database stays busy (each failed try holds the connection for busy_timeout).
JOURNAL_RETRY_INTERVAL_S = 2.0
JOURNAL_RETRY_MAX_INTERVAL_S = 60.0


class PaymentRecorder:
    def __init__(
        self,
        billing: BillingService,
        journal: PaymentsJournal,
        *,
        notices: PaymentNotices | None = None,
        retry_delays_s: Sequence[float] = WRITE_RETRY_DELAYS_S,
        journal_retry_interval_s: float = JOURNAL_RETRY_INTERVAL_S,
    ) -> None:
        self.billing = billing
        self.journal = journal
        self.retry_delays_s = tuple(retry_delays_s)
        self.journal_retry_interval_s = journal_retry_interval_s
        # Told about a journaled payment once it is credited (normally: the user gets the confirmation).
        self.notices = notices
        self._task: asyncio.Task[None] | None = None
        self._apply_lock = asyncio.Lock()

    async def record(
        self, user_id: int, charge_id: str, payload: str, total_amount: int, currency: str
    ) -> PaymentOutcome:
        """Credit the payment now, or journal it durably. Raises only if the journal write fails too."""
        attempts = len(self.retry_delays_s) + 1
        for attempt in range(1, attempts + 1):
            try:
                return await self.billing.credit_payment(user_id, charge_id, payload, total_amount, currency)
            except Exception as exc:
                if attempt == attempts:
                    log.error(
                        "Stars payment %s of user %s not written after %d attempts (%s): journaling it",
                        charge_id,
                        user_id,
                        attempts,
                        exc,
                    )
                    break
                log.warning(
                    "Stars payment %s: write attempt %d failed (%s), retrying", charge_id, attempt, exc
                )
                await asyncio.sleep(self.retry_delays_s[attempt - 1])
        await self.journal.append(
            user_id=user_id,
            charge_id=charge_id,
            payload=payload,
            currency=currency,
            total_amount=total_amount,
        )
        return PaymentOutcome(
            result=PaymentResult.JOURNALED, charge_id=charge_id, credits=0, balance=0, first_delivery=True
        )

    async def apply_journal(self) -> int:
        """Credit every journaled payment the database takes now; returns how many are left.

        Stops at the first entry that still fails (the database is most likely still busy).
        """
        async with self._apply_lock:
            entries = await self.journal.entries()
            if not entries:
                return 0
            applied: list[tuple[JournaledPayment, PaymentOutcome]] = []
            try:
                for entry in entries:
                    outcome = await self.billing.credit_payment(
                        entry.user_id, entry.charge_id, entry.payload, entry.total_amount, entry.currency
                    )
                    applied.append((entry, outcome))
            except Exception as exc:
                log.warning(
                    "Payments journal: %d of %d entries still not written (%s)",
                    len(entries) - len(applied),
                    len(entries),
                    exc,
                )
            # Removed only after the commit: a crash in between re-applies them, which is harmless.
            await self.journal.remove({entry.charge_id for entry, _ in applied})
        for entry, outcome in applied:
            log.info(
                "Payments journal: %s of user %s applied (%s, %s credits)",
                entry.charge_id,
                entry.user_id,
                outcome.result,
                outcome.credits,
            )
            if outcome.first_delivery and self.notices is not None:
                try:
                    await self.notices.journaled_payment_applied(entry, outcome)
                except Exception:
                    log.exception("Notice about applied payment %s failed", entry.charge_id)
        return len(entries) - len(applied)

    async def start(self) -> None:
        """Apply what an earlier run left in the journal, then keep retrying in the background."""
        try:
            left = await self.apply_journal()
        except Exception:
            log.exception("Payments journal could not be applied at start")
            left = 1
        if left:
            log.warning(
                "Payments journal: %d payments wait for the database; retrying in the background", left
            )
        self._task = asyncio.create_task(self._loop(), name="payments-journal")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        interval = self.journal_retry_interval_s
        while True:
            await asyncio.sleep(interval)
            if not self.journal.exists():
                interval = self.journal_retry_interval_s
                continue
            try:
                left = await self.apply_journal()
            except Exception:
                log.exception("Payments journal retry failed")
                left = 1
            if left:
                interval = min(interval * 2, JOURNAL_RETRY_MAX_INTERVAL_S)
            else:
                interval = self.journal_retry_interval_s
