"""Named leases in the database: one holder at a time, taken over when the holder stops renewing.

The Telegram long poll is the user: Telegram answers 409 Conflict to a second getUpdates, so only
the instance holding the `telegram-polling` lease polls (bot/services/leadership.py). A lease is a
row (name, holder, expires_at) taken by one conditional statement: inserted, or updated when it is
already this holder's or has expired. Expiry compares the instances' wall clocks: keep them in sync
(NTP), the lease time being far longer than any usual drift.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.store.db import Database, now


class DbLeaderLock:
    """`LeaderLock` (bot/services/leadership.py) on the `leases` table."""

    def __init__(self, db: Database, name: str, holder: str, *, clock: Callable[[], float] = now) -> None:
        self.db = db
        self.name = name
        self.holder = holder
        self.clock = clock

    async def acquire(self, ttl_s: float) -> bool:
        """Take the lease for `ttl_s` when it is free, expired or already ours."""
        t = self.clock()
        changed = await self.db.execute(
            """INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
               ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
               WHERE leases.holder = excluded.holder OR leases.expires_at <= ?""",
            (self.name, self.holder, t + ttl_s, t),
        )
        return changed == 1

    async def renew(self, ttl_s: float) -> bool:
        """Extend our lease; False when another holder has it (ours had expired and was taken)."""
        changed = await self.db.execute(
            "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?",
            (self.clock() + ttl_s, self.name, self.holder),
        )
        return changed == 1

    async def release(self) -> None:
        """Give the lease up at once (a clean stop), so another instance need not wait for it."""
        await self.db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (self.name, self.holder))

    async def holder_now(self) -> str | None:
        """Who holds the lease now (None: nobody, or it expired)."""
        row = await self.db.fetchone(
            "SELECT holder FROM leases WHERE name = ? AND expires_at > ?", (self.name, self.clock())
        )
        return str(row[0]) if row else None
