"""The bot's real dispatcher and routers, fed updates in process: handler tests without HTTP.

`in_process_bot` builds the components exactly as `python -m bot` does (`bot.app.build_components`:
database, services, middlewares, every router) but gives the Bot a `RecordingSession`, so each
Bot API call runs against a `FakeTelegram` that is never started: no sockets, no polling, no
web server. A test acts as a user through the fake (`send_text`, `click` ...), which queues the
update Telegram would create, then `deliver` feeds the queue to ``dp.feed_update`` and returns
when the handlers are done. Assert on the fake's chats and calls, as in e2e tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher

from bot.app import Components, build_components, shutdown
from bot.config import load_settings
from tests.fakes.telegram import Call, FakeTelegram, StoredMessage, TgUser
from tests.fakes.telegram.inprocess import RecordingSession

# KIE is never reached by the handlers these tests drive; a port nothing listens on says so loudly.
UNREACHABLE_KIE = "http://127.0.0.1:9"


@dataclass
class InProcessBot:
    fake: FakeTelegram
    components: Components

    @property
    def bot(self) -> Bot:
        return self.components.bot

    @property
    def dp(self) -> Dispatcher:
        return self.components.dispatcher

    @property
    def session(self) -> RecordingSession:
        session = self.bot.session
        assert isinstance(session, RecordingSession)
        return session

    async def deliver(self) -> int:
        """Feed every update the fake has queued to the dispatcher, in order, as polling would,
        and wait for each one's handlers. Returns how many were fed."""
        fed = 0
        while self.fake.pending_updates:
            update = self.fake.pending_updates[0]
            self.fake._ack(update["update_id"] + 1)  # taken, as a getUpdates with this offset would
            await self.dp.feed_raw_update(self.bot, update)
            fed += 1
        return fed

    async def send_text(self, user: TgUser, text: str) -> StoredMessage | None:
        """The user sends `text`; returns the bot's latest message in the chat afterwards."""
        await self.fake.send_text(user, text)
        await self.deliver()
        return self.fake.last_message(user.id)

    async def click(
        self, user: TgUser, message: StoredMessage, callback_data: str, *, strict: bool = True
    ) -> Call:
        """The user presses a button (`strict=False`: any data, as a modified client could send);
        returns the bot's answerCallbackQuery, which every press must get."""
        query_id = await self.fake.click(user, message, callback_data, strict=strict)
        await self.deliver()
        answer = self.fake.callback_answer(query_id)
        assert answer is not None, f"the bot never answered the press of {callback_data!r}"
        return answer


@contextlib.asynccontextmanager
async def in_process_bot(tmp_path: Path, **overrides: Any) -> AsyncIterator[InProcessBot]:
    """The bot wired in process; `overrides` are settings (e.g. ``signup_bonus=7``)."""
    fake = FakeTelegram()
    values: dict[str, Any] = {
        "_env_file": None,  # never read a developer's .env in tests
        "bot_token": fake.token,
        "database_path": tmp_path / "bot.sqlite3",
        "kie_api_key": "in-process-test-key",
        "kie_api_base": UNREACHABLE_KIE,
        "kie_upload_base": UNREACHABLE_KIE,
        # No flood control in the recording session: the pace is lifted, the queue still in the path.
        "telegram_max_messages_per_s": 1000.0,
        "telegram_max_per_chat_per_s": 1000.0,
    }
    values.update(overrides)
    components = await build_components(load_settings(**values), session=RecordingSession(fake))
    try:
        yield InProcessBot(fake, components)
    finally:
        await shutdown(components, runner=None, polling=None)
    assert not fake.internal_errors, f"FakeTelegram crashed internally: {fake.internal_errors!r}"
