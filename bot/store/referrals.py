"""Referrals: who invited whom, and the one-time reward when the invited user first pays.

A user can be invited only once, by someone else who is a known user, and only when first seen
(the caller checks that the user was created by this very update). The reward runs inside the
transaction that credits the invited user's first paid top-up, so the payment and both bonuses
land together or not at all; its op ids make it exactly once even if that is replayed:

    referral:<invited_id>:inviter   the inviter's bonus
    referral:<invited_id>:invited   the invited user's bonus
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.store.db import Database, now
from bot.store.ledger import Reason, apply_movement_sync, require_transaction
from bot.store.sql import SqlConnection

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def referral_code(user_id: int) -> str:
    """The user's code in invite links: the user id in base 36 (short; guessing it gains nothing)."""
    if user_id <= 0:
        raise ValueError("Telegram user ids are positive")
    digits = []
    while user_id:
        user_id, digit = divmod(user_id, 36)
        digits.append(_BASE36[digit])
    return "".join(reversed(digits))


def user_id_for_code(code: str) -> int | None:
    """The user id a code stands for, or None for a malformed code."""
    if not 1 <= len(code) <= 13 or any(ch not in _BASE36 for ch in code):
        return None
    value = int(code, 36)
    return value or None


def inviter_op_id(invited_id: int) -> str:
    return f"referral:{invited_id}:inviter"


def invited_op_id(invited_id: int) -> str:
    return f"referral:{invited_id}:invited"


class AttachResult(StrEnum):
    ATTACHED = "attached"
    SELF = "self"  # the user's own code
    UNKNOWN_INVITER = "unknown_inviter"
    ALREADY_INVITED = "already_invited"


@dataclass(frozen=True)
class ReferralReward:
    inviter_id: int
    invited_id: int
    bonus: int


@dataclass(frozen=True)
class InviterStats:
    invited: int  # users who joined by the link
    paid: int  # of them, those whose first top-up rewarded both
    credits_earned: int


def attach_sync(raw: SqlConnection, *, invited_id: int, inviter_id: int) -> AttachResult:
    if invited_id == inviter_id:
        return AttachResult.SELF
    if raw.execute("SELECT 1 FROM users WHERE id = ?", (inviter_id,)).fetchone() is None:
        return AttachResult.UNKNOWN_INVITER
    cursor = raw.execute(
        "INSERT INTO referrals (invited_id, inviter_id, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT(invited_id) DO NOTHING",
        (invited_id, inviter_id, now()),
    )
    return AttachResult.ATTACHED if cursor.rowcount == 1 else AttachResult.ALREADY_INVITED


def reward_sync(raw: SqlConnection, *, invited_id: int, bonus: int) -> ReferralReward | None:
    """Reward the referral of `invited_id` once, inside the caller's transaction (a paid top-up).

    The guarded flip of `rewarded_at` is what makes it happen once; the op ids back it up.
    """
    require_transaction(raw)
    if bonus <= 0:
        return None
    row = raw.execute(
        "UPDATE referrals SET rewarded_at = ? WHERE invited_id = ? AND rewarded_at IS NULL "
        "RETURNING inviter_id",
        (now(), invited_id),
    ).fetchone()
    if row is None:
        return None
    inviter_id = int(row[0])
    note = f"invited {invited_id}"
    apply_movement_sync(
        raw, user_id=inviter_id, amount=bonus, reason=Reason.REFERRAL_BONUS,
        op_id=inviter_op_id(invited_id), note=note,
    )
    apply_movement_sync(
        raw, user_id=invited_id, amount=bonus, reason=Reason.REFERRAL_BONUS,
        op_id=invited_op_id(invited_id), note=f"invited by {inviter_id}",
    )
    return ReferralReward(inviter_id=inviter_id, invited_id=invited_id, bonus=bonus)


class ReferralsRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def attach(self, *, invited_id: int, inviter_id: int) -> AttachResult:
        return await self.db.run_in_transaction(attach_sync, invited_id=invited_id, inviter_id=inviter_id)

    async def stats(self, inviter_id: int) -> InviterStats:
        row = await self.db.fetchone(
            """
            SELECT
              (SELECT COUNT(*) FROM referrals WHERE inviter_id = ?),
              (SELECT COUNT(*) FROM referrals WHERE inviter_id = ? AND rewarded_at IS NOT NULL),
              (SELECT COALESCE(SUM(amount), 0) FROM ledger
                 WHERE user_id = ? AND reason = ? AND op_id LIKE 'referral:%:inviter')
            """,
            (inviter_id, inviter_id, inviter_id, Reason.REFERRAL_BONUS.value),
        )
        assert row is not None
        return InviterStats(invited=int(row[0]), paid=int(row[1]), credits_earned=int(row[2]))
