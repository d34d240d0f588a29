"""/grant <user_id> <credits> [note]: add (or take) credits by hand, never below zero."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.services.billing import BillingService, InsufficientCredits, UnknownUser
from bot.telegram.admin.args import parse_grant_args
from bot.telegram.balance import credits_text, signed_credits_text
from bot.telegram.common import escape

log = logging.getLogger(__name__)


def make_grant_router() -> Router:
    router = Router(name="admin-grant")

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

    return router
