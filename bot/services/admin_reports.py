"""What the admin views show (/user, /stats): the books, the user's last jobs, KIE's balance.

The Telegram layer only formats these; it never reads the jobs table or calls KIE itself.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal

from bot.kie.client import KieClient
from bot.services.accounts import AccountsService
from bot.services.billing import BillingService, BillingStats, UserBillingSummary
from bot.store.jobs import Job, JobsRepo, ModelKieCost
from bot.store.users import UserRow

log = logging.getLogger(__name__)

# /stats must answer even when KIE hangs: the client's own retries could take a minute.
CREDIT_LOOKUP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class UserReport:
    summary: UserBillingSummary
    user: UserRow | None  # None: the user row has no profile (e.g. created by a payment)
    recent_jobs: list[Job]


@dataclass(frozen=True)
class StatsReport:
    billing: BillingStats
    kie_balance: Decimal | None  # None: KIE could not be asked right now
    kie_costs: list[ModelKieCost]  # per model: KIE's creditsConsumed next to what users paid


class AdminReports:
    def __init__(
        self,
        *,
        billing: BillingService,
        accounts: AccountsService,
        jobs: JobsRepo,
        kie: KieClient,
        credit_lookup_timeout_s: float = CREDIT_LOOKUP_TIMEOUT_S,
    ) -> None:
        self.billing = billing
        self.accounts = accounts
        self.jobs = jobs
        self.kie = kie
        self.credit_lookup_timeout_s = credit_lookup_timeout_s

    async def user(self, user_id: int, *, movements: int, jobs: int) -> UserReport | None:
        """The user's money, latest `movements` ledger rows and `jobs` jobs; None if unknown."""
        summary = await self.billing.user_summary(user_id, recent_limit=movements)
        if summary is None:
            return None
        return UserReport(
            summary=summary,
            user=await self.accounts.get(user_id),
            recent_jobs=await self.jobs.recent_for_user(user_id, limit=jobs),
        )

    async def stats(self) -> StatsReport:
        # Start the KIE call first: it is the slow part, and the database reads run meanwhile.
        kie_call = asyncio.create_task(self.kie_balance())
        figures = await self.billing.stats()
        kie_costs = await self.jobs.kie_costs_by_model()
        return StatsReport(billing=figures, kie_balance=await kie_call, kie_costs=kie_costs)

    async def kie_balance(self) -> Decimal | None:
        """The operator's KIE credits, or None when KIE cannot be asked right now."""
        try:
            async with asyncio.timeout(self.credit_lookup_timeout_s):
                return await self.kie.get_credit()
        except Exception as exc:
            # /stats is a diagnostic: whatever went wrong with KIE is reported, not raised.
            log.warning("KIE balance unavailable for /stats: %s", exc)
            return None
