"""Showing the wizard: the one place a draft's step is rendered, shown and saved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware, Bot

from bot.catalog.model import Catalog, InvalidOrder
from bot.services.billing import BillingService
from bot.services.job_history import JobHistory
from bot.store.users import UserRow
from bot.telegram.replies import edit_or_send, remove_keyboard
from bot.telegram.wizard.defaults import Defaults
from bot.telegram.wizard.draft import Action, Draft, Step, new_draft_id
from bot.telegram.wizard.rules import advance, next_step
from bot.telegram.wizard.session import Handler, WizardSession
from bot.telegram.wizard.view_steps import render


@dataclass(frozen=True)
class WaitingOrder:
    """The open draft's model and its price with the choices made so far (defaults for the rest)."""

    model_name: str
    price: int


async def waiting_order(session: WizardSession, catalog: Catalog, language: str) -> WaitingOrder | None:
    draft = await session.load()
    if draft is None or draft.model is None or draft.mode is None:
        return None
    entry = catalog.get(draft.model)
    if entry is None or draft.mode not in entry.modes:
        return None
    try:
        quote = entry.quote(draft.mode, draft.options)
    except InvalidOrder:
        return None
    return WaitingOrder(entry.name(language), quote.user_credits)


@dataclass(frozen=True)
class WizardScreen:
    """What showing a step takes, for the user of the current update."""

    bot: Bot
    session: WizardSession
    user: UserRow
    billing: BillingService
    catalog: Catalog
    history: JobHistory

    async def show(
        self, chat_id: int, draft: Draft, *, edit: int | None = None, step: Step | None = None
    ) -> None:
        """Show the draft's next step in message `edit` (or a fresh message), then save the draft.

        `step`: the draft's step when the caller already computed it for this very draft.
        """
        if step is None or draft.before_edit is not None:
            step = advance(draft, self.catalog)
        else:
            draft.fill(step)
        if step.name is Action.SUMMARY:
            draft.end_edit()
        balance = await self.billing.balance(self.user.id) if step.name is Action.SUMMARY else 0
        text, markup = render(draft, step, self.user, balance, self.catalog)
        shown = await edit_or_send(self.bot, chat_id, edit, text, markup)
        old_id, draft.message_id = draft.message_id, shown
        await self.session.save(draft)
        if old_id != shown:
            await remove_keyboard(self.bot, chat_id, old_id)  # one live wizard message

    async def refresh_summary(self, chat_id: int) -> bool:
        """After a top-up: the open order's summary shows the new balance (Confirm instead of Buy),
        edited in place or sent anew if that message cannot be edited. False when no order is open."""
        draft = await self.session.load()
        if draft is None:
            return False
        step = next_step(draft, self.catalog)
        if step.name is Action.SUMMARY and draft.before_edit is None:
            await self.show(chat_id, draft, edit=draft.message_id, step=step)
        return True

    async def resume(self, chat_id: int) -> bool:
        """The open order again, in a fresh message at the bottom of the chat (the old one loses its
        buttons). False when no order is open."""
        draft = await self.session.load()
        if draft is None:
            return False
        await self.show(chat_id, draft)
        return True

    async def defaults(self) -> Defaults:
        """What a new draft presets: the user's last settings per model and last ratio."""
        settings = await self.history.last_settings(self.user.id)
        return Defaults.from_history(settings, self.user.default_ratio)

    async def start(self, chat_id: int, draft: Draft | None = None) -> None:
        """A new draft (`draft`, or an empty one) at its first step, with the user's defaults; the
        previous wizard message loses its buttons."""
        draft = draft or Draft(id=new_draft_id())
        draft.defaults = await self.defaults()
        old = await self.session.load()
        await remove_keyboard(self.bot, chat_id, old.message_id if old else None)
        await self.session.reset()
        await self.show(chat_id, draft)


class ScreenMiddleware(BaseMiddleware):
    """Gives the wizard's handlers `session` (the user's WizardSession) and `screen`."""

    async def __call__(self, handler: Handler, event: Any, data: dict[str, Any]) -> Any:
        session = WizardSession(data["state"])
        data["session"] = session
        user: UserRow | None = data.get("db_user")
        if user is not None:
            data["screen"] = WizardScreen(
                data["bot"], session, user, data["billing"], data["catalog"], data["job_history"]
            )
        return await handler(event, data)
