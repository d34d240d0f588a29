"""Telling the operator (ADMIN_IDS) about problems only they can fix: KIE balance, KIE key, a Stars
payment that bought nothing, KIE tasks the bot may have paid for but cannot track.

This decides what is worth a message and how often; the AdminMessenger port (bot/telegram/alerts.py)
words it and sends it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.services.ports import AdminMessenger
from bot.store.jobs import Job
from bot.store.payments import PaymentRow

if TYPE_CHECKING:
    from bot.catalog.model import ModelEntry
    from bot.services.catalog_sync import HiddenModel

log = logging.getLogger(__name__)

# Operator message keys (bot/kie/errors.py) worth a Telegram message, not just a log line.
ALERTED_KEYS = frozenset({"kie_balance_empty", "kie_bad_key", "kie_key_limit"})
ALERT_INTERVAL_S = 600.0


class OperatorAlerts:
    """The KieAlerts and UnsoldPaymentAlerts ports, for the generation service and billing."""

    def __init__(self, admins: AdminMessenger, *, interval_s: float = ALERT_INTERVAL_S) -> None:
        self.admins = admins
        self.interval_s = interval_s
        self._last_sent: dict[str, float] = {}

    async def kie_problem(self, operator_key: str, detail: str = "") -> None:
        """Log always; message the admins at most once per interval per problem."""
        log.error("Operator action needed: %s %s", operator_key, detail)
        if operator_key not in ALERTED_KEYS:
            return
        now = time.monotonic()
        last = self._last_sent.get(operator_key)
        if last is not None and now - last < self.interval_s:
            return
        self._last_sent[operator_key] = now
        await self.admins.kie_problem(operator_key)

    async def unsold_payment(self, payment: PaymentRow) -> None:
        """A payment recorded with 0 credits (it matched no pack sold): the Stars may need a refund.

        Called once per charge id (billing calls it on the first delivery only), so no rate limit.
        """
        log.error(
            "Operator action needed: payment %s of user %s (%s %s, payload %r) credited nothing",
            payment.charge_id,
            payment.user_id,
            payment.stars,
            payment.currency,
            payment.payload,
        )
        await self.admins.unsold_payment(payment)

    async def possible_orphans(self, jobs: Sequence[Job]) -> None:
        """Name the orders that may exist on KIE with no task id here, so the operator can find them
        in KIE's dashboard. The caller sends each job once (it records that the alert went out)."""
        if jobs:
            await self.admins.possible_orphans(jobs)

    async def models_availability_changed(
        self, hidden: Sequence[HiddenModel], returned: Sequence[ModelEntry]
    ) -> None:
        """KIE's model list hid models from the menu or brought them back (services/catalog_sync.py
        calls this once per change)."""
        if hidden or returned:
            log.warning(
                "KIE's model list changed the menu: hidden %s, back %s",
                [h.entry.key for h in hidden],
                [e.key for e in returned],
            )
            await self.admins.models_availability_changed(hidden, returned)
