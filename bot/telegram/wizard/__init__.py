"""/generate: category ▸ model ▸ inputs ▸ prompt ▸ price ▸ confirm, in one message.

Mode, ratio and options are preset (defaults.py: the user's last order of the model, else the
catalog's defaults) and changed with ✏️ buttons; a returning user can start with "Same as last time".

Rooms: draft.py (the draft, the Action vocabulary), rules.py (the pure next_step), defaults.py (what
is preset), view.py and view_steps.py (callback data, one renderer per step), session.py (the draft
in FSM storage, the per-user lock and the stale-button check as middlewares), flow.py (render, show,
save), entry.py (/generate, /cancel), buttons.py (one handler per button), messages.py (files and the
prompt), inputs.py (reading files).
GenerationService reserves and submits.
"""

from __future__ import annotations

from aiogram import Router

from bot.coordination.locks import UserLocks
from bot.telegram.wizard.buttons import make_buttons_router
from bot.telegram.wizard.entry import make_entry_router
from bot.telegram.wizard.flow import ScreenMiddleware
from bot.telegram.wizard.messages import make_messages_router, make_outside_router
from bot.telegram.wizard.session import LiveDraft, OneUpdatePerUser


def make_wizard_routers(locks: UserLocks | None = None) -> tuple[Router, Router]:
    """(buttons, the rest). `locks`: the per-user lock (in-process when None; shared through Redis
    with REDIS_URL).

    The wizard's buttons are most of the bot's updates, so app.py puts their router first: aiogram
    tries routers in order, and every router before it would try its own callback filters on each
    tap. That order cannot change who handles a tap (the wizard's callback data has a prefix of its
    own). The rest (/generate, /cancel, files and the prompt) goes after payments and balance, which
    its "any message while a draft is open" handler would otherwise swallow. Both share one per-user
    lock and screen middleware: a tap and a message of one user still go one at a time."""
    one_at_a_time = OneUpdatePerUser(locks)
    screens = ScreenMiddleware()
    buttons = Router(name="wizard-buttons-first")
    buttons.callback_query.middleware(one_at_a_time)
    buttons.callback_query.middleware(screens)
    rest = Router(name="wizard")
    # Inner middlewares of a router also wrap the handlers of the routers included in it.
    for observer in (rest.message, rest.callback_query):
        observer.middleware(one_at_a_time)
        observer.middleware(screens)
    taps, messages = make_buttons_router(), make_messages_router()
    for child in (taps, messages):
        child.message.middleware(LiveDraft())
        child.callback_query.middleware(LiveDraft())
    buttons.include_router(taps)
    rest.include_routers(make_entry_router(), messages, make_outside_router())
    return buttons, rest
