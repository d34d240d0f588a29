"""Read-only figures for the admin views (/user, /stats): one statement each, one snapshot."""

from __future__ import annotations

from dataclasses import dataclass

from bot.store.db import Database


@dataclass(frozen=True)
class UserMoney:
    """One user's credit figures, from the ledger, payments and reservations."""

    balance: int
    ledger_sum: int  # equals balance unless the database was edited by hand
    stars_paid: int  # payments not refunded
    credits_purchased: int
    payments: int
    credits_spent: int  # settled generations
    credits_held: int  # generations still running
    credits_refunded: int  # failed generations


class ReportsRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def user_money(self, user_id: int) -> UserMoney | None:
        """None for a user who never registered."""
        # Scalar subqueries in one statement: one consistent snapshot, one round trip.
        row = await self.db.fetchone(
            """
            SELECT u.balance,
              (SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE user_id = u.id),
              (SELECT COALESCE(SUM(stars), 0) FROM payments WHERE user_id = u.id AND status = 'paid'),
              (SELECT COALESCE(SUM(credits), 0) FROM payments WHERE user_id = u.id AND status = 'paid'),
              (SELECT COUNT(*) FROM payments WHERE user_id = u.id),
              (SELECT COALESCE(SUM(amount), 0) FROM reservations WHERE user_id = u.id AND status = 'settled'),
              (SELECT COALESCE(SUM(amount), 0) FROM reservations WHERE user_id = u.id AND status = 'held'),
              (SELECT COALESCE(SUM(amount), 0) FROM reservations WHERE user_id = u.id AND status = 'refunded')
            FROM users u WHERE u.id = ?
            """,
            (user_id,),
        )
        if row is None:
            return None
        return UserMoney(*(int(value) for value in row))

    async def jobs_by_state(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state")
        return {str(r[0]): int(r[1]) for r in rows}
