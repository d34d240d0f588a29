"""Admin commands: /grant, /user, /stats, /refund. Only for ADMIN_IDS.

The router filters on the sender, so for anyone else no handler here matches and the update falls
through to the other routers (the fallback answers "unknown command"): non-admins cannot even
learn that these commands exist. The filter sits on this parent router: aiogram checks a router's
own filters before its sub-routers see the update.
"""

from __future__ import annotations

from aiogram import F, Router

from bot.telegram.admin.args import (
    MAX_CHARGE_ID_CHARS,
    MAX_GRANT_CREDITS,
    MAX_NOTE_CHARS,
    GrantArgs,
    parse_charge_id,
    parse_grant_args,
    parse_user_id,
)
from bot.telegram.admin.grant import make_grant_router
from bot.telegram.admin.refund import make_refund_router
from bot.telegram.admin.stats import make_stats_router
from bot.telegram.admin.user import make_user_router

__all__ = [
    "MAX_CHARGE_ID_CHARS",
    "MAX_GRANT_CREDITS",
    "MAX_NOTE_CHARS",
    "GrantArgs",
    "make_admin_router",
    "parse_charge_id",
    "parse_grant_args",
    "parse_user_id",
]


def make_admin_router(admin_ids: frozenset[int]) -> Router:
    router = Router(name="admin")
    # Router-level filter: for a non-admin nothing here matches, and the update moves on.
    router.message.filter(F.from_user.id.in_(admin_ids))
    router.include_routers(make_grant_router(), make_user_router(), make_stats_router(), make_refund_router())
    return router
