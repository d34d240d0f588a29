"""Long polling with several instances: only the holder of the `telegram-polling` lease polls.

Telegram answers 409 Conflict to a second getUpdates, so the instances elect one poller through a
lease (bot/services/leadership.py); the others keep serving KIE callbacks, polling KIE and
delivering, and take the long poll over when the leader stops renewing its lease.
"""

from __future__ import annotations

from aiogram import Bot, Dispatcher

from bot.services.leadership import LeaderLock, Leadership

POLLING_LEASE = "telegram-polling"


def polling_leadership(
    dp: Dispatcher,
    bot: Bot,
    lock: LeaderLock,
    *,
    ttl_s: float,
    allowed_updates: list[str],
    polling_timeout: int,
) -> Leadership:
    async def lead() -> None:
        await dp.start_polling(
            bot,
            handle_signals=False,
            close_bot_session=False,
            allowed_updates=allowed_updates,
            polling_timeout=polling_timeout,
        )

    async def step_down() -> None:
        await dp.stop_polling()

    return Leadership(lock, lead=lead, step_down=step_down, ttl_s=ttl_s)
