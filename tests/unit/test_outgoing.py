"""The shaping middleware on a real aiogram Bot (the fake Bot API in process), on a fake clock.

What is shaped and what is not, the priority a caller marks, and edits of one message coalesced.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageText,
    GetMe,
    SendChatAction,
    SendMessage,
    SendVideo,
)

from bot.shaping.budget import BudgetLimits, LocalSendBudget
from bot.shaping.scheduler import Priority, SendScheduler
from bot.telegram.outgoing import ShapingMiddleware, coalesce_key, is_shaped, sending_as
from tests.fakes.telegram import FakeTelegram, TgUser
from tests.fakes.telegram.inprocess import RecordingSession
from tests.unit.test_shaping import FakeClock, until

USER = TgUser(id=501, first_name="Ann")
OTHER = TgUser(id=502, first_name="Bo")


def test_what_telegram_counts_as_messages_is_shaped() -> None:
    assert all(is_shaped(m.__api_method__) for m in (SendMessage, SendVideo, EditMessageText))
    assert not any(is_shaped(m.__api_method__) for m in (AnswerCallbackQuery, SendChatAction, GetMe))


def test_only_an_edit_of_one_identified_message_can_be_coalesced() -> None:
    edit = EditMessageText(text="x", chat_id=5, message_id=7)
    assert coalesce_key(edit, 5) == (5, 7)
    assert coalesce_key(EditMessageText(text="x", inline_message_id="abc"), None) is None
    assert coalesce_key(SendMessage(chat_id=5, text="x"), 5) is None


class Rig:
    def __init__(self) -> None:
        self.fake = FakeTelegram()
        self.fake.add_user(USER)
        self.fake.add_user(OTHER)
        self.clock = FakeClock()
        budget = LocalSendBudget(BudgetLimits(per_s=1000.0, per_chat_per_s=1.0), clock=self.clock)
        self.scheduler = SendScheduler(budget, clock=self.clock, background=False)
        session = RecordingSession(self.fake)
        session.middleware(ShapingMiddleware(self.scheduler))
        self.bot = Bot(self.fake.token, session=session)

    def start(self, call: Awaitable[Any]) -> asyncio.Task[Any]:
        async def run() -> Any:
            return await call

        return asyncio.create_task(run())

    async def queued(self, count: int) -> None:
        await until(lambda: self.scheduler.pending == count, f"{count} sends queued")

    async def at(self, seconds: float) -> None:
        self.clock.now = seconds
        await self.scheduler.dispatch()

    def texts(self, method: str) -> list[str]:
        return [str(c.params.get("text") or c.params.get("caption")) for c in self.fake.calls_of(method)]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    rig = Rig()
    yield rig
    await rig.scheduler.close()
    await rig.bot.session.close()


async def test_callback_answers_and_chat_actions_never_wait_for_the_chat_budget(rig: Rig) -> None:
    status = await rig.bot.send_message(USER.id, "one")
    await rig.bot.send_message(USER.id, "two")  # the chat's burst is spent
    third = rig.start(rig.bot.send_message(USER.id, "three"))
    await rig.queued(1)
    query_id = await rig.fake.click(USER, status.message_id, "tap", strict=False)
    assert await rig.bot.answer_callback_query(query_id) is True
    assert await rig.bot.send_chat_action(USER.id, "typing") is True
    assert not third.done()
    await rig.at(1.0)
    await asyncio.wait_for(third, 5)
    assert rig.texts("sendMessage") == ["one", "two", "three"]


async def test_a_delivery_goes_before_a_reply_queued_earlier_in_the_same_chat(rig: Rig) -> None:
    await rig.bot.send_message(USER.id, "one")
    await rig.bot.send_message(USER.id, "two")
    reply = rig.start(rig.bot.send_message(USER.id, "reply"))
    await rig.queued(1)
    with sending_as(Priority.DELIVERY):
        delivery = rig.start(rig.bot.send_message(USER.id, "your video"))
    await rig.queued(2)
    await rig.at(1.0)
    await asyncio.wait_for(delivery, 5)
    assert not reply.done()
    await rig.at(2.0)
    await asyncio.wait_for(reply, 5)
    assert rig.texts("sendMessage")[2:] == ["your video", "reply"]


async def test_a_newer_status_edit_replaces_a_queued_one(rig: Rig) -> None:
    status = await rig.bot.send_message(USER.id, "queued 0:00")
    await rig.bot.send_message(USER.id, "filler")  # the chat's burst is spent

    def edit(text: str) -> asyncio.Task[Any]:
        with sending_as(Priority.PROGRESS, coalesce=True):
            return rig.start(rig.bot.edit_message_text(text, chat_id=USER.id, message_id=status.message_id))

    older = edit("generating 0:15")
    await rig.queued(1)
    newer = edit("done")
    await until(lambda: older.done(), "the older edit told it was superseded")
    assert older.result() is True
    assert rig.scheduler.pending == 1
    await rig.at(1.0)
    assert not newer.done()  # a progress edit keeps a token of headroom: it needs two
    await rig.at(2.0)
    await asyncio.wait_for(newer, 5)
    assert rig.texts("editMessageText") == ["done"]
    assert rig.fake.message(USER.id, status.message_id).text == "done"  # type: ignore[union-attr]


async def test_a_429_holds_the_chat_for_its_retry_after(rig: Rig) -> None:
    rig.fake.fail_next("sendMessage", 429, retry_after=5)
    with pytest.raises(TelegramRetryAfter):
        await rig.bot.send_message(USER.id, "refused")
    later = rig.start(rig.bot.send_message(USER.id, "after the wait"))
    await rig.queued(1)
    other = rig.start(rig.bot.send_message(OTHER.id, "another chat"))
    await rig.queued(2)
    await rig.at(0.0)
    await asyncio.wait_for(other, 5)
    await rig.at(4.9)
    assert not later.done()
    await rig.at(5.0)
    await asyncio.wait_for(later, 5)
    assert rig.texts("sendMessage") == ["refused", "another chat", "after the wait"]  # the fake saw all
