"""A retried webhook delivery of an update is handled once: in one process (no REDIS_URL) and across
two instances on one Redis (the retry reaches the other instance). Both run on both backends where
they can: `shared_state` is in-process or Redis (skipped without TEST_REDIS_URL)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import RunningBot, free_port, make_settings, start_bot
from tests.fakes.telegram import FakeTelegram, TgUser

USER = 9301
SECRET = "dedupe-test-secret_0123456789"


@contextlib.asynccontextmanager
async def webhook_bots(
    fake_tg: FakeTelegram, tmp_path: Path, count: int, shared: dict[str, Any]
) -> AsyncIterator[list[RunningBot]]:
    """`count` instances in webhook mode on one database (and one Redis when `shared` says so)."""
    bots: list[RunningBot] = []
    try:
        for _ in range(count):
            port = free_port()
            settings = make_settings(
                tmp_path,
                fake_tg,
                None,
                web_port=port,
                telegram_webhook=True,
                public_url=f"http://127.0.0.1:{port}",
                webhook_secret=SECRET,
                **shared,
            )
            bots.append(await start_bot(settings))
        yield bots
    finally:
        for bot in bots:
            if not bot.task.done():
                await bot.stop()


def start_update(update_id: int, text: str = "/start") -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": USER, "type": "private", "first_name": "Dora"},
            "from": {"id": USER, "is_bot": False, "first_name": "Dora", "language_code": "en"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }


async def post(client: httpx.AsyncClient, bot: RunningBot, update: dict[str, Any]) -> None:
    answer = await client.post(
        f"{bot.web_base}/tg/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert answer.status_code == 200


async def test_the_same_update_posted_twice_is_answered_once(
    fake_tg: FakeTelegram, tmp_path: Path, shared_state: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    fake_tg.add_user(TgUser(id=USER, first_name="Dora"))
    # With Redis the retry goes to the other instance; in-process there is only one to go to.
    count = 2 if shared_state else 1
    async with webhook_bots(fake_tg, tmp_path, count, shared_state) as bots:
        first, second = bots[0], bots[-1]

        def skipped() -> int:
            return sum("delivered again" in r.getMessage() for r in caplog.records)

        async def wait_skipped(n: int) -> None:
            deadline = time.monotonic() + 10
            while skipped() < n:
                assert time.monotonic() < deadline, "the second delivery was never seen"
                await asyncio.sleep(0.01)

        with caplog.at_level(logging.INFO, logger="bot.telegram.middlewares"):
            async with httpx.AsyncClient() as client:
                # A delivery whose 200 Telegram did not get, retried later.
                update = start_update(7001)
                await post(client, first, update)
                await fake_tg.wait_for("sendMessage", predicate=lambda c: c.ok)
                await post(client, second, update)
                await wait_skipped(1)

                # Two deliveries at the same moment (to both instances with Redis).
                again = start_update(7002, "/help")
                await asyncio.gather(post(client, first, again), post(client, second, again))
                await wait_skipped(2)
                await fake_tg.wait_for("sendMessage", count=2, predicate=lambda c: c.ok)

        for bot in bots:
            assert await bot.components.inflight.wait_idle(10)
            health = (await bot.healthz()).json()
            assert health["ok"] and health.get("redis", "absent") == (True if shared_state else "absent")
        sent = [c for c in fake_tg.calls_of("sendMessage") if c.ok]
        # One greeting, one help text: each update answered once.
        assert len(sent) == 2, [c.params.get("text") for c in sent]
        assert skipped() == 2
