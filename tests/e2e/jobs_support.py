"""Helpers for job lifecycle tests: order a job through the generation service, wait for states."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from itertools import count
from typing import Any

from bot.catalog.model import Order
from bot.store.jobs import Job, JobState
from tests.e2e.harness import RunningBot
from tests.fakes.telegram import FakeTelegram, TgUser

_draft_ids = count(1)

DEFAULT_PROMPT = "A red fox running through fresh snow at sunrise"


async def wait_until(
    condition: Callable[[], Any] | Callable[[], Awaitable[Any]],
    timeout: float = 15.0,
    what: str = "condition",
) -> Any:
    """Re-check `condition` until it is truthy; fail after `timeout` seconds (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def prepare_user(
    bot: RunningBot, fake_tg: FakeTelegram, user_id: int, *, credits: int = 1000, language: str = "en"
) -> None:
    """A user who has opened the chat (the fake knows the chat) and holds `credits`."""
    fake_tg.add_user(TgUser(id=user_id, first_name=f"User{user_id}", language_code=language))
    await bot.components.accounts.register(user_id, language_code=language, first_name=f"User{user_id}")
    if credits:
        await bot.components.billing.grant(admin_id=0, user_id=user_id, credits=credits, note="test")


async def order_job(
    bot: RunningBot,
    user_id: int,
    *,
    prompt: str = DEFAULT_PROMPT,
    model: str = "kling25",
    mode: str = "t2v",
    ratio: str | None = "9:16",
    options: dict[str, str] | None = None,
) -> Job:
    """Confirm an order as the wizard does (status message, reservation, background submission)."""
    status = await bot.components.bot.send_message(user_id, "⏳")
    confirmed = await bot.components.generation.confirm(
        user_id=user_id,
        chat_id=user_id,
        draft_key=f"{user_id}:test{next(_draft_ids)}",
        order=Order(
            model_key=model, mode=mode, ratio=ratio, options=options or {"duration": "5"}, prompt=prompt
        ),
        files=[],
        status_message_id=status.message_id,
    )
    bot.components.generation.start_submission(confirmed.job)
    return confirmed.job


async def job_state(bot: RunningBot, job_id: int) -> Job:
    job = await bot.components.jobs.get(job_id)
    assert job is not None
    return job


async def wait_job_state(bot: RunningBot, job_id: int, *states: JobState, timeout: float = 15.0) -> Job:
    async def reached() -> Job | None:
        job = await job_state(bot, job_id)
        return job if job.state in states else None

    return await wait_until(reached, timeout, f"job {job_id} in {[s.value for s in states]}")


async def ledger_for_job(bot: RunningBot, job_id: int) -> list[tuple[int, str]]:
    rows = await bot.components.db.fetchall(
        "SELECT amount, reason FROM ledger WHERE job_id = ? ORDER BY id", (job_id,)
    )
    return [(int(r[0]), str(r[1])) for r in rows]


async def books_balance(bot: RunningBot) -> bool:
    """Every user's balance equals the sum of their ledger."""
    rows = await bot.components.db.fetchall(
        """SELECT u.id, u.balance, COALESCE(SUM(l.amount), 0) FROM users u
           LEFT JOIN ledger l ON l.user_id = u.id GROUP BY u.id"""
    )
    return all(int(r[1]) == int(r[2]) for r in rows)


async def wait_status(fake_tg: FakeTelegram, job: Job, needle: str, timeout: float = 15.0) -> str:
    """Wait until the job's status message shows `needle` (edits follow state changes)."""

    def shown() -> str | None:
        message = fake_tg.message(job.chat_id, job.status_message_id or 0)
        text = (message.text or "") if message is not None else ""
        return text if needle in text else None

    return await fake_tg.wait_until(shown, timeout=timeout)
