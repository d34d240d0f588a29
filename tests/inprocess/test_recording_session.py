"""The in-process session answers like the HTTP fake: real result objects, Telegram's errors."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.methods import SendMessage
from aiogram.types import BufferedInputFile

from tests.fakes.telegram import FakeTelegram, TgUser
from tests.fakes.telegram.inprocess import RecordingSession

USER = TgUser(id=6001, first_name="Dana")


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    fake = FakeTelegram()
    fake.add_user(USER)
    html = DefaultBotProperties(parse_mode=ParseMode.HTML)
    bot = Bot(fake.token, session=RecordingSession(fake), default=html)
    yield bot
    await bot.session.close()
    assert not fake.internal_errors


def fake_of(bot: Bot) -> FakeTelegram:
    assert isinstance(bot.session, RecordingSession)
    return bot.session.fake


async def test_results_are_real_objects_and_the_chat_keeps_them(bot: Bot) -> None:
    first = await bot.send_message(USER.id, "Hello <b>Dana</b>")
    second = await bot.send_message(USER.id, "Again")
    assert (first.message_id, second.message_id) == (1, 2)  # per-chat ids
    assert first.text == "Hello Dana" and first.entities is not None and first.entities[0].type == "bold"
    assert first.from_user is not None and first.from_user.is_bot
    fake = fake_of(bot)
    assert [m.text for m in fake.messages(USER.id)] == ["Hello <b>Dana</b>", "Again"]
    assert fake.calls_of("sendMessage")[0].params["parse_mode"] == "HTML"  # the default, as on the wire
    assert isinstance(bot.session, RecordingSession)
    assert [type(m) for m in bot.session.requests] == [SendMessage, SendMessage]


async def test_telegram_errors_become_aiograms_exceptions(bot: Bot) -> None:
    sent = await bot.send_message(USER.id, "Same")
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Same", chat_id=USER.id, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(USER.id, "a <b> never closed")
    fake = fake_of(bot)
    fake.fail_next("sendMessage", 429, retry_after=3)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(USER.id, "flood")
    assert caught.value.retry_after == 3
    fake.block_user(USER.id)
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(USER.id, "anyone there?")
    assert [c.ok for c in fake.calls] == [True, False, False, False, False]


async def test_uploads_arrive_byte_for_byte_and_download_back(bot: Bot) -> None:
    data = b"\x00\x00\x00\x18ftypmp42" + bytes(range(200))
    sent = await bot.send_video(USER.id, BufferedInputFile(data, filename="clip.mp4"), caption="<i>done</i>")
    assert sent.video is not None and sent.caption == "done"
    call = fake_of(bot).calls_of("sendVideo")[0]
    assert call.files["video"].sha256 == hashlib.sha256(data).hexdigest()
    file = await bot.get_file(sent.video.file_id)
    assert file.file_path is not None
    target = io.BytesIO()
    await bot.download_file(file.file_path, target)
    assert target.getvalue() == data
