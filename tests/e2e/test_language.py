"""/language switches between English and Russian, and the choice outlives Telegram's language_code."""

from __future__ import annotations

from pathlib import Path

from bot.i18n import translate
from tests.e2e.harness import make_settings, running_bot
from tests.fakes.telegram import FakeTelegram, TgUser


async def test_language_choice_is_remembered(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, fake_tg, None)
    user = fake_tg.as_user(TgUser(id=4501, first_name="Olga", language_code="en"))
    async with running_bot(settings) as bot:
        await user.send_text("/language")
        await fake_tg.wait_for("sendMessage", predicate=lambda c: c.params.get("chat_id") == 4501)
        mark = fake_tg.mark()
        await user.click_button(translate("language-name", "ru"))
        done = await fake_tg.wait_for("sendMessage", since=mark)
        assert done[0].params["text"] == translate("language-set", "ru")
        mark = fake_tg.mark()
        await user.send_text("/help")
        reply = await fake_tg.wait_for("sendMessage", since=mark)
        assert reply[0].params["text"] == translate("help-text", "ru")
        stored = await bot.components.accounts.get(4501)
        assert stored is not None and stored.language == "ru" and stored.language_chosen
    # After a restart, and although Telegram still says "en", the bot speaks Russian.
    async with running_bot(settings):
        mark = fake_tg.mark()
        await user.send_text("/start")
        reply = await fake_tg.wait_for("sendMessage", since=mark)
        assert reply[0].params["text"] == translate("start-greeting", "ru", name="Olga")
