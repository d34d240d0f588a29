"""Run the real bot (bot.app.run, the code path of `python -m bot`) against the fakes on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bot.app import Components, run
from bot.config import Settings, load_settings
from bot.kie.sandbox import KieSimulator
from tests.fakes.telegram import FakeTelegram


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_settings(
    tmp_path: Path, tg: FakeTelegram, sim: KieSimulator | None, *, callbacks: bool = False, **overrides: Any
) -> Settings:
    """Settings for a bot wired to the fakes. callbacks=True: KIE calls back to this bot's web server."""
    port = overrides.pop("web_port", None) or free_port()
    values: dict[str, Any] = {
        "_env_file": None,  # never read a developer's .env in tests
        "bot_token": tg.token,
        "telegram_api_base": tg.base_url,
        "database_path": tmp_path / "bot.sqlite3",
        "web_host": "127.0.0.1",
        "web_port": port,
        "kie_poll_scale": 0.05,
        "log_level": "INFO",
        # The fake enforces no flood control unless asked to (tests/e2e/test_shaping.py): the pace
        # is lifted so a test's quick taps are not spaced a second apart. The queue is still in the path.
        "telegram_max_messages_per_s": 1000.0,
        "telegram_max_per_chat_per_s": 1000.0,
    }
    if sim is not None:
        values.update(
            kie_api_key=sim.api_key,
            kie_api_base=sim.base_url,
            kie_upload_base=sim.base_url,
            # The simulator serves result files on 127.0.0.1: allow exactly its host:port.
            result_fetch_allow_hosts=(sim.base_url.removeprefix("http://"),),
        )
    else:
        values["kie_sandbox"] = True
    if callbacks:
        values["public_url"] = f"http://127.0.0.1:{port}"
    values.update(overrides)
    return load_settings(**values)


@dataclass
class RunningBot:
    settings: Settings
    components: Components
    task: asyncio.Task[None]
    stop_event: asyncio.Event

    @property
    def web_base(self) -> str:
        return f"http://127.0.0.1:{self.settings.web_port}"

    async def stop(self, timeout: float = 30.0) -> None:
        self.stop_event.set()
        await asyncio.wait_for(asyncio.shield(self.task), timeout)

    async def healthz(self) -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.get(f"{self.web_base}/healthz")


async def start_bot(settings: Settings, timeout: float = 15.0) -> RunningBot:
    stop_event = asyncio.Event()
    ready: asyncio.Future[Components] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run(settings, stop_event, ready))
    await asyncio.wait({task, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)  # type: ignore[arg-type]
    if ready.done():
        return RunningBot(settings, ready.result(), task, stop_event)
    if task.done():
        task.result()  # raises the start error
    task.cancel()
    raise TimeoutError("the bot did not become ready")


@contextlib.asynccontextmanager
async def running_bot(settings: Settings) -> AsyncIterator[RunningBot]:
    bot = await start_bot(settings)
    try:
        yield bot
    finally:
        if not bot.task.done():
            await bot.stop()
