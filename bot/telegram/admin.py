"""Admin commands: /grant, /user, /stats, /refund. Only for ADMIN_IDS.

The router filters on the sender, so for anyone else no handler here matches and the update falls
through to the other routers (the fallback answers "unknown command"): non-admins cannot even
learn that these commands exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.i18n import language_of, translate, translate_plural
from bot.kie.client import KieClient
from bot.services.accounts import AccountsService
from bot.services.billing import (
    BillingService,
    InsufficientCredits,
    RefundOutcome,
    RefundRefusal,
    RefundResult,
    UnknownUser,
)
from bot.services.catalog_sync import CatalogCheckSummary, CatalogSync
from bot.store.jobs import Job, JobsRepo, JobState
from bot.store.users import UserRow
from bot.telegram.admin_kie_costs import kie_balance_lines, kie_cost_lines
from bot.telegram.balance import credits_text, date_text, reason_text, signed_credits_text
from bot.telegram.common import escape, shorten

log = logging.getLogger(__name__)

# Larger grants are almost certainly a typo (and would overflow nothing, but ruin the books).
MAX_GRANT_CREDITS = 1_000_000_000
MAX_NOTE_CHARS = 200
# Telegram charge ids are ~40 characters; anything much longer is not one.
MAX_CHARGE_ID_CHARS = 128
# /stats must answer even when KIE hangs: the client's own retries could take a minute.
CREDIT_LOOKUP_TIMEOUT_S = 10.0
USER_RECENT_MOVEMENTS = 10
USER_RECENT_JOBS = 8
NOTE_SHOWN_CHARS = 60
# ASCII only: str.isdigit() and int() would also take "٤٢" or fullwidth digits.
_USER_ID_RE = re.compile(r"[0-9]{1,16}")
_CREDITS_RE = re.compile(r"[+-]?[0-9]{1,10}")


def catalog_check_line(summary: CatalogCheckSummary, language: str) -> str:
    """One line: how our catalog fared against KIE's model list (services/catalog_sync.py)."""
    if summary.checked_at is None:
        key = "admin-stats-models-unreadable" if summary.problem else "admin-stats-models-not-checked"
        return _(key).format(problem=summary.problem or "")
    names = ", ".join(escape(e.name(language)) for e in summary.hidden) or _("admin-none")
    line = _("admin-stats-models").format(
        listed=summary.listed,
        total=summary.kie_total,
        hidden=len(summary.hidden),
        names=names,
        checked=datetime.fromtimestamp(summary.checked_at, UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    if summary.problem:
        line += " " + _("admin-stats-models-stale").format(problem=summary.problem)
    return line


# --- argument parsing (pure, unit-tested) ---------------------------------------------------------


@dataclass(frozen=True)
class GrantArgs:
    user_id: int
    credits: int
    note: str


def parse_user_id(text: str | None) -> int | None:
    """A Telegram user id (a positive integer), or None."""
    text = (text or "").strip()
    if not _USER_ID_RE.fullmatch(text):
        return None
    value = int(text)
    # Telegram user ids fit in 52 bits.
    return value if 0 < value < 2**52 else None


def parse_grant_args(args: str | None) -> GrantArgs | None:
    """`<user_id> <credits> [note...]`; credits may be negative but not zero. None if malformed."""
    parts = (args or "").split(maxsplit=2)
    if len(parts) < 2:
        return None
    user_id = parse_user_id(parts[0])
    if user_id is None or not _CREDITS_RE.fullmatch(parts[1]):
        return None
    credits = int(parts[1])
    if credits == 0 or abs(credits) > MAX_GRANT_CREDITS:
        return None
    note = parts[2].strip() if len(parts) == 3 else ""
    return GrantArgs(user_id=user_id, credits=credits, note=note[:MAX_NOTE_CHARS])


def parse_charge_id(args: str | None) -> str | None:
    """One token of printable characters, as Telegram charge ids are; None otherwise."""
    text = (args or "").strip()
    if not text or len(text) > MAX_CHARGE_ID_CHARS or any(c.isspace() or not c.isprintable() for c in text):
        return None
    return text


# --- texts ----------------------------------------------------------------------------------------


def job_state_text(state: str) -> str:
    texts: dict[str, str] = {
        JobState.CREATED: _("admin-job-state-created"),
        JobState.SUBMITTED: _("admin-job-state-submitted"),
        JobState.RUNNING: _("admin-job-state-running"),
        JobState.SUCCEEDED: _("admin-job-state-succeeded"),
        JobState.FAILED: _("admin-job-state-failed"),
        JobState.TIMED_OUT: _("admin-job-state-timed_out"),
        JobState.DELIVERED: _("admin-job-state-delivered"),
        JobState.UNDELIVERABLE: _("admin-job-state-undeliverable"),
    }
    return texts.get(state, state)


def job_line(job: Job) -> str:
    return _("admin-user-job-line").format(
        id=job.id,
        date=date_text(job.created_at),
        model=escape(job.model_key),
        state=job_state_text(job.state),
        cost=credits_text(job.cost),
    )


def user_heading(user_id: int, user: UserRow | None) -> str:
    if user is None:
        return _("admin-user-heading").format(user_id=user_id, name="?", username="", language="?")
    return _("admin-user-heading").format(
        user_id=user_id,
        name=escape(user.first_name or "—"),
        username=f" @{escape(user.username)}" if user.username else "",
        language=user.language,
    )


def refund_refusal_text(
    refusal: RefundRefusal, charge_id: str, credits: int | None, balance: int | None
) -> str:
    if refusal is RefundRefusal.ALREADY_REFUNDED:
        return _("admin-refund-already").format(charge_id=escape(charge_id))
    if refusal is RefundRefusal.CREDITS_SPENT:
        return _("admin-refund-credits-spent").format(
            charge_id=escape(charge_id),
            credits=credits_text(credits or 0),
            balance=credits_text(balance or 0),
        )
    return _("admin-refund-unknown").format(charge_id=escape(charge_id))


def refund_done_text(outcome: RefundOutcome) -> str:
    if outcome.result is RefundResult.ALREADY_REFUNDED:
        return _("admin-refund-already").format(charge_id=escape(outcome.charge_id))
    if outcome.result is RefundResult.UNKNOWN_PAYMENT:
        return _("admin-refund-unknown").format(charge_id=escape(outcome.charge_id))
    lines = [
        _("admin-refund-done").format(
            charge_id=escape(outcome.charge_id),
            user_id=outcome.user_id,
            credits=credits_text(outcome.credits_taken),
            balance=credits_text(outcome.balance or 0),
        )
    ]
    if outcome.shortfall:
        lines.append(_("admin-refund-shortfall").format(credits=credits_text(outcome.shortfall)))
    return "\n".join(lines)


# --- the router -----------------------------------------------------------------------------------


def make_admin_router(admin_ids: frozenset[int]) -> Router:
    router = Router(name="admin")
    # Router-level filter: for a non-admin nothing here matches, and the update moves on.
    router.message.filter(F.from_user.id.in_(admin_ids))

    @router.message(Command("grant"))
    async def grant(message: Message, command: CommandObject, billing: BillingService) -> None:
        args = parse_grant_args(command.args)
        if args is None:
            await message.answer(_("admin-grant-usage"))
            return
        admin_id = message.from_user.id if message.from_user else 0
        try:
            movement = await billing.grant(admin_id, args.user_id, args.credits, args.note)
        except UnknownUser:
            await message.answer(_("admin-unknown-user").format(user_id=args.user_id))
            return
        except InsufficientCredits as exc:
            await message.answer(
                _("admin-grant-below-zero").format(
                    user_id=args.user_id, balance=credits_text(exc.balance), credits=credits_text(exc.needed)
                )
            )
            return
        log.info("Admin %s granted %+d credits to %s (%s)", admin_id, args.credits, args.user_id, args.note)
        await message.answer(
            _("admin-grant-done").format(
                user_id=args.user_id,
                amount=signed_credits_text(movement.amount),
                balance=credits_text(movement.balance_after),
                note=escape(args.note) if args.note else "—",
            )
        )

    @router.message(Command("user"))
    async def user_info(
        message: Message,
        command: CommandObject,
        billing: BillingService,
        accounts: AccountsService,
        jobs: JobsRepo,
    ) -> None:
        user_id = parse_user_id(command.args)
        if user_id is None:
            await message.answer(_("admin-user-usage"))
            return
        summary = await billing.user_summary(user_id, recent_limit=USER_RECENT_MOVEMENTS)
        if summary is None:
            await message.answer(_("admin-unknown-user").format(user_id=user_id))
            return
        user = await accounts.get(user_id)
        lines = [
            user_heading(user_id, user),
            _("admin-user-money").format(
                balance=credits_text(summary.balance),
                ledger_sum=credits_text(summary.ledger_sum),
                stars=summary.stars_paid,
                payments=summary.payments,
                purchased=credits_text(summary.credits_purchased),
                spent=credits_text(summary.credits_spent),
                held=credits_text(summary.credits_held),
                refunded=credits_text(summary.credits_refunded),
            ),
        ]
        if summary.ledger_sum != summary.balance:
            lines.append(_("admin-user-ledger-mismatch"))
        lines.append("")
        lines.append(_("admin-user-ledger-title"))
        if not summary.recent:
            lines.append(_("admin-none"))
        for movement in summary.recent:
            details = [reason_text(movement.reason)]
            if movement.job_id is not None:
                details.append(f"#{movement.job_id}")
            if movement.charge_id:
                details.append(f"<code>{escape(movement.charge_id)}</code>")
            if movement.actor != "system":
                details.append(escape(movement.actor))
            if movement.note:
                details.append(f"«{escape(shorten(movement.note, NOTE_SHOWN_CHARS))}»")
            lines.append(
                _("admin-user-ledger-line").format(
                    date=date_text(movement.created_at),
                    amount=signed_credits_text(movement.amount),
                    balance=movement.balance_after,
                    details=" · ".join(details),
                )
            )
        lines.append("")
        lines.append(_("admin-user-jobs-title"))
        recent_jobs = await jobs.recent_for_user(user_id, limit=USER_RECENT_JOBS)
        if not recent_jobs:
            lines.append(_("admin-none"))
        lines.extend(job_line(job) for job in recent_jobs)
        await message.answer("\n".join(lines))

    @router.message(Command("stats"))
    async def stats(
        message: Message,
        billing: BillingService,
        kie: KieClient,
        settings: Settings,
        jobs: JobsRepo,
        catalog_sync: CatalogSync,
        db_user: UserRow,
    ) -> None:
        # Start the KIE call first: it is the slow part, and the database reads run meanwhile.
        kie_call = asyncio.create_task(kie_balance(kie))
        figures = await billing.stats()
        totals = figures.totals
        lines = [
            _("admin-stats-title"),
            _("admin-stats-money").format(
                users=totals.users,
                balances=credits_text(totals.balances),
                stars=totals.stars_received,
                sold=credits_text(totals.credits_sold),
                stars_refunded=totals.stars_refunded,
                spent=credits_text(totals.credits_spent),
                held=credits_text(totals.credits_held),
                refunded=credits_text(totals.credits_refunded),
                granted=credits_text(totals.credits_granted)
                if totals.credits_granted >= 0
                else signed_credits_text(totals.credits_granted),
                bonuses=credits_text(totals.signup_bonuses),
            ),
            "",
            _("admin-stats-jobs-title"),
        ]
        if not figures.jobs_by_state:
            lines.append(_("admin-none"))
        for state, count in sorted(figures.jobs_by_state.items()):
            lines.append(_("admin-stats-job-line").format(state=job_state_text(state), count=count))
        lines.append("")
        lines.extend(kie_balance_lines(await kie_call, settings.kie_low_balance_warning))
        cost_lines = kie_cost_lines(await jobs.kie_costs_by_model())
        if cost_lines:
            lines.extend(["", *cost_lines])
        lines.append(catalog_check_line(catalog_sync.summary(), db_user.language))
        await message.answer("\n".join(lines))

    @router.message(Command("refund"))
    async def refund(
        message: Message,
        command: CommandObject,
        bot: Bot,
        billing: BillingService,
        accounts: AccountsService,
    ) -> None:
        charge_id = parse_charge_id(command.args)
        if charge_id is None:
            await message.answer(_("admin-refund-usage"))
            return
        admin_id = message.from_user.id if message.from_user else 0

        async def refund_stars(user_id: int, charge: str) -> None:
            try:
                await bot.refund_star_payment(user_id=user_id, telegram_payment_charge_id=charge)
            except TelegramBadRequest as exc:
                # Telegram sometimes answers this although the refund it refers to went through
                # (tdlib/td#3209); billing's contract counts it as refunded.
                if "CHARGE_ALREADY_REFUNDED" in exc.message:
                    log.warning("refundStarPayment %s: CHARGE_ALREADY_REFUNDED, treated as done", charge)
                    return
                raise

        try:
            result = await billing.refund_payment(charge_id, admin_id, refund_stars)
        except TelegramAPIError as exc:
            log.warning("Refund of %s by admin %s failed at Telegram: %s", charge_id, admin_id, exc)
            await message.answer(
                _("admin-refund-telegram-failed").format(
                    charge_id=escape(charge_id), error=escape(exc.message)
                )
            )
            return
        if isinstance(result, RefundRefusal):
            credits: int | None = None
            balance: int | None = None
            if result is RefundRefusal.CREDITS_SPENT:
                payment = await billing.payment(charge_id)
                credits = payment.credits if payment else None
                balance = await billing.balance(payment.user_id) if payment else None
            await message.answer(refund_refusal_text(result, charge_id, credits, balance))
            return
        log.info("Admin %s refunded %s: %s", admin_id, charge_id, result)
        await message.answer(refund_done_text(result))
        if result.result is RefundResult.REFUNDED and result.user_id is not None:
            await notify_refunded_user(bot, accounts, result)

    return router


async def kie_balance(kie: KieClient) -> Decimal | None:
    """The operator's KIE credits, or None when KIE cannot be asked right now."""
    try:
        async with asyncio.timeout(CREDIT_LOOKUP_TIMEOUT_S):
            return await kie.get_credit()
    except Exception as exc:
        # /stats is a diagnostic: whatever went wrong with KIE is reported, not raised.
        log.warning("KIE balance unavailable for /stats: %s", exc)
        return None


async def notify_refunded_user(bot: Bot, accounts: AccountsService, outcome: RefundOutcome) -> None:
    """Tell the user, in their language, that the Stars came back and the credits went."""
    assert outcome.user_id is not None
    user = await accounts.get(outcome.user_id)
    language = language_of(user)
    text = translate(
        "refund-user-notice",
        language,
        charge_id=escape(outcome.charge_id),
        credits=translate_plural("credits-count", outcome.credits_taken, language),
    )
    # Best effort: the refund is done whether or not the user can be messaged.
    with contextlib.suppress(TelegramAPIError):
        await bot.send_message(outcome.user_id, text)
