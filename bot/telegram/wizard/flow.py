"""Showing the wizard: the one place a draft's step is rendered, shown and saved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware, Bot

from bot.catalog.model import Catalog
from bot.services.billing import BillingService
from bot.store.users import UserRow
from bot.telegram.replies import edit_or_send, remove_keyboard
from bot.telegram.wizard.draft import Action, Draft, Step, new_draft_id, next_step
from bot.telegram.wizard.session import Handler, WizardSession
from bot.telegram.wizard.view import render


@dataclass(frozen=True)
class WizardScreen:
    """What showing a step takes, for the user of the current update."""

    bot: Bot
    session: WizardSession
    user: UserRow
    billing: BillingService
    catalog: Catalog

    async def show(
        self, chat_id: int, draft: Draft, *, edit: int | None = None, step: Step | None = None
    ) -> None:
        """Show the draft's next step in message `edit` (or a fresh message), then save the draft.

        `step`: the draft's step when the caller already computed it for this very draft.
        """
        if step is None:
            step = next_step(draft, self.catalog)
        draft.fill(step)
        balance = await self.billing.balance(self.user.id) if step.name is Action.SUMMARY else 0
        text, markup = render(draft, step, self.user, balance, self.catalog)
        shown = await edit_or_send(self.bot, chat_id, edit, text, markup)
        old_id, draft.message_id = draft.message_id, shown
        await self.session.save(draft)
        if old_id != shown:
            await remove_keyboard(self.bot, chat_id, old_id)  # one live wizard message

    async def start(self, chat_id: int, draft: Draft | None = None) -> None:
        """A new draft (`draft`, or an empty one) at its first step; the previous wizard message
        loses its buttons."""
        old = await self.session.load()
        await remove_keyboard(self.bot, chat_id, old.message_id if old else None)
        await self.session.reset()
        await self.show(chat_id, draft or Draft(id=new_draft_id()))


class ScreenMiddleware(BaseMiddleware):
    """Gives the wizard's handlers `session` (the user's WizardSession) and `screen`."""

    async def __call__(self, handler: Handler, event: Any, data: dict[str, Any]) -> Any:
        session = WizardSession(data["state"])
        data["session"] = session
        user: UserRow | None = data.get("db_user")
        if user is not None:
            data["screen"] = WizardScreen(data["bot"], session, user, data["billing"], data["catalog"])
        return await handler(event, data)
