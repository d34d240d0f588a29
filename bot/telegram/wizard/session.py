"""The wizard's session: the draft in FSM storage (load, save, reset), and the two middlewares that
make a handler's view of it safe: one update per user at a time, and buttons of an old draft or
message refused before any handler runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message, TelegramObject, User
from aiogram.utils.i18n import gettext as _

from bot.coordination.locks import LocalUserLocks, UserLocks
from bot.telegram.replies import answer_query
from bot.telegram.wizard.draft import CHOICE_STEPS, Action, Draft
from bot.telegram.wizard.rules import next_step
from bot.telegram.wizard.view import WizardCallback

# Draft ids of the user's last confirmed orders, so a replayed Confirm says "already confirmed".
CONFIRMED_KEPT = 10

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class WizardStates(StatesGroup):
    active = State()


class WizardSession:
    """One user's wizard state: the open draft (if any) and the ids of recently confirmed drafts."""

    def __init__(self, state: FSMContext) -> None:
        self.state = state

    async def load(self) -> Draft | None:
        data = await self.state.get_data()
        return Draft.from_data(data.get("draft"))

    async def save(self, draft: Draft) -> None:
        await self.state.set_state(WizardStates.active)
        await self.state.update_data(draft=draft.to_data())

    async def confirmed_ids(self) -> list[str]:
        data = await self.state.get_data()
        return [str(d) for d in data.get("confirmed", [])]

    async def reset(self, *, confirmed: str | None = None) -> None:
        """Forget the draft but keep the ids of confirmed drafts (a late Confirm of one of them is
        answered "already confirmed", not "out of date")."""
        kept = await self.confirmed_ids()
        if confirmed is not None:
            kept = [*kept, confirmed][-CONFIRMED_KEPT:]
        await self.state.clear()
        if kept:
            await self.state.update_data(confirmed=kept)

    async def begin(self, draft: Draft) -> None:
        """Replace whatever draft was open with `draft`."""
        await self.reset()
        await self.save(draft)


class OneUpdatePerUser(BaseMiddleware):
    """One wizard update per user at a time: a double tap or an album of photos must not read the
    same draft twice and lose one of the changes. `locks` (bot/coordination/locks.py): in-process for
    one instance, a Redis lock with a lease when several instances share the FSM storage."""

    def __init__(self, locks: UserLocks | None = None) -> None:
        self.locks: UserLocks = locks or LocalUserLocks()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        async with self.locks.hold(user.id):
            return await handler(event, data)


class LiveDraft(BaseMiddleware):
    """Loads the open draft and computes its step, once, as `draft` and `step` for the handler.

    It reads the draft from the FSM storage on every update (RedisStorage keeps no copy in the
    process), under the user's lock, so the check sees what every instance wrote.

    Refuses before any handler runs: a message while no draft is open (a hint); a button of
    another draft or message, or one answering a step the draft is not at ("out of date"); a
    replayed Confirm of a draft already confirmed ("already confirmed"). After ScreenMiddleware (flow.py).
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        session: WizardSession = data["session"]
        draft = await session.load()
        if isinstance(event, CallbackQuery):
            callback: WizardCallback = data["callback_data"]
            refusal = await _button_refusal(event, callback, draft, session)
            if refusal is not None:
                await answer_query(event, refusal.text, alert=refusal.alert)
                return None
        if draft is None:
            if isinstance(event, Message):
                await session.reset()
                await event.answer(_("fallback-hint"))
            return None
        data["draft"] = draft
        answered = Action.from_code(data["callback_data"].action) if "callback_data" in data else None
        if answered in (Action.BACK, Action.CANCEL):
            return await handler(event, data)  # moves that do not depend on the step
        step = next_step(draft, data["catalog"])
        if answered is Action.EDIT and step.name not in EDIT_STEPS:
            answered = Action.SUMMARY  # out of date: no ✏️ buttons at this step
        if answered is Action.INFO:
            answered = Action.MODEL  # ℹ️ buttons are on the model step
        if answered in STEPS_WITH_BUTTONS and answered is not step.name:
            await answer_query(event, _("stale-button"), alert=True)  # type: ignore[arg-type]
            return None
        data["step"] = step
        return await handler(event, data)


# A button naming one of these answers that step; it is out of date when the draft is elsewhere.
STEPS_WITH_BUTTONS = CHOICE_STEPS | {Action.PROMPT, Action.SUMMARY}
# Steps showing ✏️ buttons: the summary (every field), and the file and prompt steps (the preset
# mode, ratio and options, so they can be changed before the files and the prompt are sent).
EDIT_STEPS = frozenset({Action.INPUT, Action.PROMPT, Action.SUMMARY})


@dataclass(frozen=True)
class Refusal:
    text: str
    alert: bool


async def _button_refusal(
    query: CallbackQuery, callback: WizardCallback, draft: Draft | None, session: WizardSession
) -> Refusal | None:
    """Why a button of another draft or message changes nothing; None when it is this draft's."""
    message = query.message if isinstance(query.message, Message) else None
    if draft is None or draft.id != callback.draft or message is None:
        is_confirm = Action.from_code(callback.action) is Action.SUMMARY
        if is_confirm and callback.draft in await session.confirmed_ids():
            # A replayed or double-tapped Confirm: the draft is gone because it was confirmed.
            return Refusal(_("wizard-already-confirmed"), alert=False)
        # An old message, another user's draft id, or a forged button.
        return Refusal(_("stale-button"), alert=True)
    if message.message_id != draft.message_id:
        return Refusal(_("stale-button"), alert=True)
    return None
