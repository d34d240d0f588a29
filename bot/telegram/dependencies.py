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
from bot.services.accounts import AccountsService
from bot.services.admin_reports import AdminReports
from bot.services.billing import BillingService
from bot.services.catalog_sync import CatalogSync
from bot.services.generation import GenerationService
from bot.services.job_history import JobHistory
from bot.services.payment_recorder import PaymentRecorder
from bot.services.referrals import ReferralService
from bot.services.tracker import JobTracker


class HandlerDependencies(TypedDict):
    settings: Settings
    catalog: Catalog
    accounts: AccountsService
    billing: BillingService
    generation: GenerationService
    tracker: JobTracker
    payment_recorder: PaymentRecorder
    catalog_sync: CatalogSync
    admin_reports: AdminReports
    job_history: JobHistory
    referrals: ReferralService
