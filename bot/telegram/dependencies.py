"""What handlers may ask for by parameter name.

aiogram injects the dispatcher's workflow_data into a handler by parameter name; this TypedDict is
that data, so a handler's `billing: BillingService` is checked against what the composition root
(bot/app.py) really puts there. Per-update values (db_user, i18n, state, bot) come from aiogram and
the middlewares, not from here.
"""

from __future__ import annotations

from typing import TypedDict

from bot.catalog.model import Catalog
from bot.config import Settings
from bot.kie.client import KieClient
from bot.services.accounts import AccountsService
from bot.services.billing import BillingService
from bot.services.generation import GenerationService
from bot.services.payment_recorder import PaymentRecorder
from bot.services.referrals import ReferralService
from bot.services.tracker import JobTracker
from bot.store.jobs import JobsRepo


class HandlerDependencies(TypedDict):
    settings: Settings
    catalog: Catalog
    accounts: AccountsService
    billing: BillingService
    jobs: JobsRepo
    kie: KieClient
    generation: GenerationService
    tracker: JobTracker
    payment_recorder: PaymentRecorder
    referrals: ReferralService
