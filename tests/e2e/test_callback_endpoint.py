"""The KIE callback endpoint under abuse: slow senders, oversized bodies, floods of forged callbacks."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path

import httpx
import pytest

from bot.kie.sandbox import KieSimulator, SimTimings
from bot.store.jobs import JobState
from bot.web import CALLBACK_MAX_BYTES
from tests.e2e.harness import RunningBot, make_settings, running_bot
from tests.e2e.jobs_support import books_balance, ledger_for_job, order_job, prepare_user, wait_job_state
from tests.fakes.telegram import FakeTelegram

USER = 5101
PRICE = 42  # Kling 2.5 Turbo, 5 s (kie-api.md §8.2)
READ_TIMEOUT_S = 1.0


async def read_until_closed(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection; fails if it stays open."""
    try:
        async with asyncio.timeout(timeout):
            return await reader.read()  # until EOF
    except TimeoutError:
        raise AssertionError(f"the bot kept the connection open for more than {timeout} s") from None


async def open_callback_request(
    bot: RunningBot, head: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", bot.settings.web_port)
    writer.write(head.encode())
    await writer.drain()
    return reader, writer


async def test_slow_callback_sender_is_cut_off_while_the_bot_keeps_serving(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, fake_tg, None, kie_callback_read_timeout_s=READ_TIMEOUT_S)
    async with running_bot(settings) as bot:
        # Headers and part of the body, then nothing: a slow-loris sender.
        reader, writer = await open_callback_request(
            bot,
            "POST /kie/callback/some-token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            '{"code": 200, "data": {"taskId": "',
        )
        try:
            started = time.monotonic()
            # Meanwhile the bot answers everyone else.
            health = await bot.healthz()
            assert health.status_code == 200
            answer = await read_until_closed(reader, READ_TIMEOUT_S + 5)
            elapsed = time.monotonic() - started
        finally:
            writer.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
        assert elapsed < READ_TIMEOUT_S + 5
        assert (await bot.healthz()).status_code == 200


async def test_oversized_callback_body_is_refused(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, fake_tg, None, kie_callback_read_timeout_s=READ_TIMEOUT_S)
    async with running_bot(settings) as bot:
        # Declared too large: refused before a byte of the body is read.
        reader, writer = await open_callback_request(
            bot,
            "POST /kie/callback/some-token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {50 * 1024 * 1024}\r\n\r\n",
        )
        try:
            answer = await read_until_closed(reader, READ_TIMEOUT_S + 5)
        finally:
            writer.close()
        assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
        # Not declared (chunked): refused once more than the limit has arrived.
        too_big = b"x" * (CALLBACK_MAX_BYTES + 1)
        reader, writer = await open_callback_request(
            bot,
            "POST /kie/callback/some-token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            f"{len(too_big):x}\r\n",
        )
        try:
            writer.write(too_big + b"\r\n")
            await writer.drain()
            answer = await read_until_closed(reader, READ_TIMEOUT_S + 5)
        finally:
            writer.close()
        assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
        assert (await bot.healthz()).status_code == 200


async def test_a_flood_of_forged_callbacks_logs_a_few_lines_and_a_real_one_delivers(
    fake_tg: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    interval = 1.0
    sim = KieSimulator("sim-test-key", timings=SimTimings.manual())
    await sim.start()
    try:
        settings = make_settings(tmp_path, fake_tg, sim, callbacks=True, kie_callback_log_interval_s=interval)
        async with running_bot(settings) as bot:
            await prepare_user(bot, fake_tg, USER)
            job = await order_job(bot, USER)
            submitted = await wait_job_state(bot, job.id, JobState.SUBMITTED, JobState.RUNNING)
            assert submitted.task_id is not None
            base = f"{bot.web_base}/kie/callback/"
            forged = {
                "code": 200,
                "data": {"taskId": "someone-elses-task", "state": "success", "resultJson": "{}"},
            }
            caplog.set_level(logging.WARNING, logger="bot.web")
            caplog.clear()
            started = time.monotonic()
            limits = asyncio.Semaphore(25)

            async def forge(client: httpx.AsyncClient, n: int) -> int:
                async with limits:
                    if n % 3 == 0:
                        answer = await client.post(base + f"guessed-token-{n}", json=forged)
                    elif n % 3 == 1:
                        answer = await client.post(base + submitted.callback_token, content=b"not json")
                    else:
                        answer = await client.post(base + submitted.callback_token, json=forged)
                    return answer.status_code

            async with httpx.AsyncClient(timeout=30) as client:
                statuses = await asyncio.gather(*(forge(client, n) for n in range(1000)))
            elapsed = time.monotonic() - started
            assert sorted(set(statuses)) == [400, 403, 404]
            # The real callback still delivers, and the forged ones changed nothing.
            sim.complete(submitted.task_id)
            await wait_job_state(bot, job.id, JobState.DELIVERED)
            assert len(fake_tg.calls_of("sendVideo")) == 1
            assert await ledger_for_job(bot, job.id) == [(-PRICE, "generation")]
            assert await books_balance(bot)
        lines = [
            r.getMessage() for r in caplog.records if r.name == "bot.web" and "rejected" in r.getMessage()
        ]
        # At most one line per interval (plus the first in full and the last count at shutdown)...
        assert 2 <= len(lines) <= elapsed / interval + 3, lines
        # ...and together they account for every rejection.
        counted = sum(
            int(m.group(1)) for line in lines if (m := re.match(r"(\d+) KIE callbacks rejected", line))
        )
        assert counted + 1 == 1000, lines
    finally:
        await sim.stop()
