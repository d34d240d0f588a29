"""Edits and uploads whose answer the bot reads only in part: the same request as aiogram's own, the
answer read into the small models, Telegram's refusals raised as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.telegram.http_session import TelegramHttpSession
from bot.telegram.job_results import UploadFile
from bot.telegram.lean_answers import (
    EDITED,
    MessageRef,
    SentFile,
    answer_read_as,
    edit_markup,
    edit_text,
    read_sent_file,
)
from tests.fakes.telegram import FakeTelegram, TgUser

USER = TgUser(id=77, first_name="Ann")
MARKUP = InlineKeyboardMarkup(
    inline_keyboard=[[InlineKeyboardButton(text="9:16", callback_data="w:ratio:9:16")]]
)


@pytest.fixture
async def rig() -> AsyncIterator[tuple[FakeTelegram, Bot]]:
    fake = FakeTelegram()
    await fake.start()
    fake.as_user(USER)
    bot = Bot(
        fake.token,
        session=TelegramHttpSession(api=TelegramAPIServer.from_base(fake.base_url)),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
    try:
        yield fake, bot
    finally:
        await bot.session.close()
        await fake.stop()


async def test_an_edit_sends_what_aiograms_own_edit_sends(rig: tuple[FakeTelegram, Bot]) -> None:
    fake, bot = rig
    sent = await bot.send_message(USER.id, "start")
    chat, message_id = USER.id, sent.message_id
    await bot.edit_message_text("<b>one</b> &lt;", chat_id=chat, message_id=message_id, reply_markup=MARKUP)
    await edit_text(bot, chat_id=chat, message_id=message_id, text="<b>two</b> &lt;", reply_markup=MARKUP)
    theirs, ours = fake.calls_of("editMessageText")
    assert {**ours.params, "text": "<b>one</b> &lt;"} == theirs.params
    assert ours.params["parse_mode"] == "HTML" and ours.params["reply_markup"]

    await edit_markup(bot, chat_id=USER.id, message_id=sent.message_id, reply_markup=None)
    assert fake.calls_of("editMessageReplyMarkup")[-1].ok


async def test_the_answer_is_read_into_the_small_models(
    rig: tuple[FakeTelegram, Bot], tmp_path: Path
) -> None:
    fake, bot = rig
    sent = await bot.send_message(USER.id, "start")
    with answer_read_as(EDITED):
        edited = await bot.edit_message_text("next", chat_id=USER.id, message_id=sent.message_id)
    assert type(edited) is MessageRef and edited.message_id == sent.message_id
    # Outside the block, and for the calls after it, aiogram's own models.
    assert type(await bot.edit_message_text("then", chat_id=USER.id, message_id=sent.message_id)) is Message

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(4_000))
    video = await read_sent_file(bot.send_video(USER.id, UploadFile(clip), width=720, height=1280))
    document = await read_sent_file(bot.send_document(USER.id, UploadFile(clip)))
    assert type(video) is SentFile and type(document) is SentFile
    assert video.video is not None and video.document is None
    assert document.document is not None and document.video is None
    # The ids are Telegram's: the video can be sent again by its file id without an upload.
    again = await bot.send_video(USER.id, video.video.file_id)
    assert again.video is not None and again.video.file_id == video.video.file_id
    assert fake.calls_of("sendVideo")[0].params["width"] == 720


async def test_refusals_and_limits_are_raised_as_aiograms_own(rig: tuple[FakeTelegram, Bot]) -> None:
    fake, bot = rig
    sent = await bot.send_message(USER.id, "same")
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await edit_text(bot, chat_id=USER.id, message_id=sent.message_id, text="same")
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await edit_text(bot, chat_id=USER.id, message_id=sent.message_id + 1000, text="other")
    fake.fail_next("editMessageText", 429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as raised:
        await edit_text(bot, chat_id=USER.id, message_id=sent.message_id, text="other")
    assert raised.value.retry_after == 7
    fake.fail_next("sendVideo", 403)
    with pytest.raises(TelegramForbiddenError):
        await read_sent_file(bot.send_video(USER.id, "BAAC-any"))


async def test_an_answer_the_small_model_cannot_read_goes_to_aiogram(rig: tuple[FakeTelegram, Bot]) -> None:
    _fake, bot = rig
    # A call whose answer is not a message (`true`) under the message's small model: aiogram's reading.
    with answer_read_as(SentFile):
        assert await bot.send_chat_action(USER.id, "typing") is True
