"""/start, /help, /language and the main menu."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import SUPPORTED_LANGUAGES, translate
from bot.services.accounts import AccountsService
from bot.services.billing import BillingService
from bot.services.referrals import AttachResult, ReferralService
from bot.store.users import UserRow
from bot.telegram.balance import credits_text
from bot.telegram.common import MenuCb, escape, main_menu_keyboard


class LanguageCb(CallbackData, prefix="lang"):
    code: str


def _language_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for code in SUPPORTED_LANGUAGES:
        builder.button(text=translate("language-name", code), callback_data=LanguageCb(code=code))
    return builder.as_markup()


def _referral_note(result: AttachResult, bonus: int) -> str:
    """What a /start with an invite code tells the user; never an error, whatever the code was."""
    texts: dict[AttachResult, str] = {
        AttachResult.ATTACHED: _("referral-attached").format(bonus=credits_text(bonus)),
        AttachResult.SELF: _("referral-self"),
        AttachResult.UNKNOWN_INVITER: _("referral-unknown"),
        AttachResult.ALREADY_INVITED: _("referral-existing-user"),
    }
    return texts[result]


def make_start_router() -> Router:
    router = Router(name="start")

    @router.message(CommandStart())
    async def start(
        message: Message,
        command: CommandObject,
        db_user: UserRow,
        billing: BillingService,
        referrals: ReferralService,
        new_user: bool = False,
    ) -> None:
        lines = [_("start-greeting").format(name=escape(db_user.first_name or ""))]
        if new_user and billing.free_first_video > 0:
            # Granted by the new-user hook before this handler ran (once per user, ledger op id).
            lines.append(_("start-free-first-video").format(credits=credits_text(billing.free_first_video)))
        if command.args and referrals.is_referral_payload(command.args):
            attached = await referrals.attach_from_start(db_user.id, command.args, new_user=new_user)
            if attached is not None:
                lines.append(_referral_note(attached, referrals.bonus))
        await message.answer("\n\n".join(lines), reply_markup=main_menu_keyboard())

    @router.message(Command("invite"))
    async def invite(message: Message, db_user: UserRow, bot: Bot, referrals: ReferralService) -> None:
        if not referrals.enabled:
            await message.answer(_("invite-off"))
            return
        me = await bot.me()
        stats = await referrals.stats(db_user.id)
        await message.answer(
            _("invite-text").format(
                bonus=credits_text(referrals.bonus),
                link=escape(referrals.link(db_user.id, me.username or "")),
                invited=stats.invited,
                paid=stats.paid,
                earned=credits_text(stats.credits_earned),
            )
        )

    @router.message(Command("help"))
    async def help_command(message: Message) -> None:
        await message.answer(_("help-text"), reply_markup=main_menu_keyboard())

    @router.callback_query(MenuCb.filter(F.action == "help"))
    async def help_button(query: CallbackQuery) -> None:
        await query.answer()
        if query.message is not None:
            await query.message.answer(_("help-text"), reply_markup=main_menu_keyboard())

    @router.message(Command("language"))
    async def language_command(message: Message) -> None:
        await message.answer(_("language-choose"), reply_markup=_language_keyboard())

    @router.callback_query(MenuCb.filter(F.action == "language"))
    async def language_button(query: CallbackQuery) -> None:
        await query.answer()
        if query.message is not None:
            await query.message.answer(_("language-choose"), reply_markup=_language_keyboard())

    @router.callback_query(LanguageCb.filter())
    async def language_chosen(
        query: CallbackQuery, callback_data: LanguageCb, accounts: AccountsService
    ) -> None:
        if callback_data.code not in SUPPORTED_LANGUAGES:
            await query.answer(_("stale-button"), show_alert=True)
            return
        await accounts.set_language(query.from_user.id, callback_data.code)
        await query.answer()
        if query.message is not None:
            await query.message.answer(
                translate("language-set", callback_data.code),
            )

    return router


def make_fallback_router() -> Router:
    """Last in line: anything no feature router took gets a hint, never silence."""
    router = Router(name="fallback")

    @router.message(F.text.startswith("/"))
    async def unknown_command(message: Message) -> None:
        await message.answer(_("unknown-command"))

    @router.message()
    async def anything_else(message: Message) -> None:
        await message.answer(_("fallback-hint"), reply_markup=main_menu_keyboard())

    @router.callback_query()
    async def stale_callback(query: CallbackQuery) -> None:
        await query.answer(_("stale-button"), show_alert=True)

    return router
