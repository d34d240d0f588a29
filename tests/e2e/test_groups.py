"""Updates a private-chat bot does not serve: groups, anonymous admins, other bots, channel posts."""

from __future__ import annotations

from pathlib import Path

import httpx
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import translate
from bot.telegram.common import MenuCb
from tests.e2e.harness import RunningBot, free_port, make_settings, running_bot
from tests.e2e.jobs_support import books_balance
from tests.fakes.telegram import FakeTelegram, TgUser

GROUP = -1001234567890
CHANNEL = -1009876543210
BOT_LINK = "https://t.me/test_video_bot"  # the fake Bot API's bot username
OTHER_BOT = {"id": 777001, "is_bot": True, "first_name": "Other", "username": "other_helper_bot"}


async def settle(bot: RunningBot, fake_tg: FakeTelegram) -> None:
    """Every pushed update taken by the bot and every handler finished."""
    await fake_tg.wait_updates_acknowledged()
    assert await bot.components.inflight.wait_idle(10)


async def test_in_a_group_only_a_command_gets_one_line_pointing_to_the_private_chat(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, None)) as bot:
        fake_tg.add_group(GROUP, "Video fans")
        alice = TgUser(id=6101, first_name="Alice", language_code="en")
        boris = TgUser(id=6102, first_name="Борис", language_code="ru")
        # Ordinary chatter, a command meant for another bot, an anonymous admin, another bot:
        # no answer, no crash.
        await fake_tg.send_group_text(GROUP, "hello everyone", sender=alice)
        await fake_tg.send_group_text(GROUP, "/start@other_helper_bot", sender=alice)
        await fake_tg.send_group_text(GROUP, "/start", anonymous_admin=True)
        await fake_tg.send_group_text(GROUP, "/generate", sender_bot=OTHER_BOT)
        await fake_tg.send_group_text(GROUP, "/start", sender=boris)
        await fake_tg.send_group_text(GROUP, "/generate@test_video_bot", sender=alice)
        await fake_tg.wait_for("sendMessage", count=2, predicate=lambda c: c.params.get("chat_id") == GROUP)
        await settle(bot, fake_tg)

        replies = fake_tg.messages(GROUP)
        assert [m.text for m in replies] == [
            translate("group-use-private-chat", "ru", link=BOT_LINK),
            translate("group-use-private-chat", "en", link=BOT_LINK),
        ]
        # Each answers the command it is about.
        assert [m.data["reply_to_message"]["from"]["id"] for m in replies] == [boris.id, alice.id]
        # Talking in a group registers nobody (no signup bonus, no rows).
        assert await bot.components.accounts.get(alice.id) is None
        assert await bot.components.accounts.get(boris.id) is None
        assert await books_balance(bot)
        # The private chat still works as before.
        await fake_tg.send_text(alice, "/start")
        await fake_tg.wait_for("sendMessage", predicate=lambda c: c.params.get("chat_id") == alice.id)
        assert fake_tg.last_message(alice.id).text == translate("start-greeting", "en", name="Alice")  # type: ignore[union-attr]


async def test_a_button_under_a_group_message_is_answered_harmlessly(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, None)) as bot:
        fake_tg.add_group(GROUP, "Video fans")
        # A menu that ended up in the group (e.g. sent there by an older version of the bot).
        menu = await bot.components.bot.send_message(
            GROUP,
            "menu",
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[
                    [InlineKeyboardButton(text="Balance", callback_data=MenuCb(action="balance").pack())]
                ]
            ),
        )
        carol = TgUser(id=6103, first_name="Carol", language_code="ru")
        query_id = await fake_tg.click(carol, menu.message_id, MenuCb(action="balance").pack(), chat_id=GROUP)
        await fake_tg.wait_until(lambda: fake_tg.callback_answer(query_id) is not None)
        await settle(bot, fake_tg)
        answer = fake_tg.callback_answer(query_id)
        assert answer is not None and not answer.params.get("text")
        assert len(fake_tg.messages(GROUP)) == 1  # just the menu itself
        assert fake_tg.messages(carol.id) == []
        assert await bot.components.accounts.get(carol.id) is None


async def test_a_channel_post_is_ignored_silently(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    settings = make_settings(
        tmp_path,
        fake_tg,
        None,
        web_port=port,
        telegram_webhook=True,
        public_url=public,
        webhook_secret="group-test-secret",
    )
    async with running_bot(settings) as bot:
        fake_tg.add_channel(CHANNEL, "News")
        # Telegram sends channel posts only to bots asking for them; post one anyway, as an
        # update type the bot did not ask for.
        update = dict(fake_tg.channel_post_update(CHANNEL, "/start"), update_id=4242)
        mark = fake_tg.mark()
        async with httpx.AsyncClient() as client:
            answer = await client.post(
                f"{public}/tg/webhook",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": "group-test-secret"},
            )
        assert answer.status_code == 200
        assert await bot.components.inflight.wait_idle(10)
        assert [c.method for c in fake_tg.calls[mark:] if c.method != "getUpdates"] == []
        assert fake_tg.messages(CHANNEL) == []
