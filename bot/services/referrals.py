"""Referral links: attach an invited user from a /start payload; what a user's link earned."""

from __future__ import annotations

import re

from bot.store.referrals import (
    AttachResult,
    InviterStats,
    ReferralsRepo,
    referral_code,
    user_id_for_code,
)

__all__ = ["START_PREFIX", "AttachResult", "InviterStats", "ReferralService"]

START_PREFIX = "ref_"
_PAYLOAD_RE = re.compile(rf"{START_PREFIX}([0-9a-z]{{1,13}})")


class ReferralService:
    def __init__(self, repo: ReferralsRepo, *, bonus: int) -> None:
        self.repo = repo
        self.bonus = bonus

    @property
    def enabled(self) -> bool:
        return self.bonus > 0

    @staticmethod
    def is_referral_payload(payload: str | None) -> bool:
        return bool(payload) and payload.startswith(START_PREFIX)  # type: ignore[union-attr]

    def start_payload(self, user_id: int) -> str:
        return f"{START_PREFIX}{referral_code(user_id)}"

    def link(self, user_id: int, bot_username: str) -> str:
        return f"https://t.me/{bot_username}?start={self.start_payload(user_id)}"

    async def attach_from_start(self, user_id: int, payload: str, *, new_user: bool) -> AttachResult | None:
        """Record who invited `user_id`; None when referrals are off or the payload is not one.

        Only a user first seen in this very update can be invited (an existing user cannot become
        "invited" later to collect a bonus), never by their own code, never by an unknown user.
        """
        if not self.enabled:
            return None
        match = _PAYLOAD_RE.fullmatch(payload)
        if match is None:
            return AttachResult.UNKNOWN_INVITER
        inviter_id = user_id_for_code(match.group(1))
        if inviter_id is None:
            return AttachResult.UNKNOWN_INVITER
        if inviter_id == user_id:
            return AttachResult.SELF
        if not new_user:
            return AttachResult.ALREADY_INVITED
        return await self.repo.attach(invited_id=user_id, inviter_id=inviter_id)

    async def stats(self, user_id: int) -> InviterStats:
        return await self.repo.stats(user_id)
