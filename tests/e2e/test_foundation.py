"""The bot starts through bot.app.run and answers /start in the user's language, over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx

from bot.i18n import translate
from tests.e2e.harness import make_settings, running_bot
from tests.fakes.telegram import FakeTelegram, TgUser


async def test_start_in_english_and_russian(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, None)) as bot:
        alice = fake_tg.as_user(TgUser(id=1001, first_name="Alice", language_code="en"))
        boris = fake_tg.as_user(TgUser(id=1002, first_name="Борис", language_code="ru-RU"))
        await alice.send_text("/start")
        await boris.send_text("/start")
        await fake_tg.wait_for(
            "sendMessage", count=2, predicate=lambda c: c.params.get("chat_id") in (1001, 1002)
        )
        greeting_en = fake_tg.last_message(1001)
        greeting_ru = fake_tg.last_message(1002)
        assert greeting_en is not None and greeting_ru is not None
        assert greeting_en.text == translate("start-greeting", "en", name="Alice")
        assert greeting_ru.text == translate("start-greeting", "ru", name="Борис")
        assert translate("menu-generate", "ru") in greeting_ru.button_texts
        user = await bot.components.accounts.get(1002)
        assert user is not None and user.language == "ru"


async def test_commands_are_set_for_both_languages(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, None)):
        ru = fake_tg.commands_for(language_code="ru")
        en = fake_tg.commands_for(language_code="en")
        assert ru and en
        assert {c["command"] for c in ru} == {c["command"] for c in en}
        generate_ru = next(c for c in ru if c["command"] == "generate")
        assert generate_ru["description"] == translate("cmd-generate", "ru")


async def test_healthz_reports_database_and_version(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, None)) as bot:
        response = await bot.healthz()
        assert response.status_code == 200
        body = response.json()
        assert body["database"] is True and body["version"]


async def test_flood_control_429_is_waited_out(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, None)):
        fake_tg.fail_next(
            "sendMessage", status=429, description="Too Many Requests: retry after 1", retry_after=1
        )
        user = fake_tg.as_user(TgUser(id=2001, first_name="Eve"))
        await user.send_text("/start")
        calls = await fake_tg.wait_for("sendMessage", count=2, timeout=10)
        assert calls[0].error is not None and calls[0].error.status == 429
        assert calls[1].ok
        assert fake_tg.last_message(2001) is not None


async def test_webhook_mode_checks_the_secret(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    port_settings = make_settings(tmp_path, fake_tg, None)
    public = f"http://127.0.0.1:{port_settings.web_port}"
    settings = make_settings(
        tmp_path,
        fake_tg,
        None,
        web_port=port_settings.web_port,
        telegram_webhook=True,
        public_url=public,
        webhook_secret="s3cret-Token_1",
    )
    async with running_bot(settings):
        assert fake_tg.webhook_url == f"{public}/tg/webhook"
        assert fake_tg.webhook_secret == "s3cret-Token_1"
        # Without the header: 401, and nothing reaches the handlers.
        update = {
            "update_id": 900,
            "message": {
                "message_id": 1,
                "date": 0,
                "text": "/start",
                "chat": {"id": 3001, "type": "private"},
                "from": {"id": 3001, "is_bot": False, "first_name": "W"},
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }
        async with httpx.AsyncClient() as client:
            bad = await client.post(f"{public}/tg/webhook", json=update)
            assert bad.status_code == 401
            wrong = await client.post(
                f"{public}/tg/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"}
            )
            assert wrong.status_code == 401
        assert fake_tg.last_message(3001) is None
        # Telegram's own delivery carries the secret: the user gets an answer.
        user = fake_tg.as_user(TgUser(id=3002, first_name="Wanda"))
        await user.send_text("/start")
        await fake_tg.wait_for("sendMessage", predicate=lambda c: c.params.get("chat_id") == 3002)


async def test_updates_sent_while_the_bot_is_down_are_answered_after_restart(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, fake_tg, None)
    async with running_bot(settings):
        pass
    user = fake_tg.as_user(TgUser(id=4001, first_name="Lena"))
    await user.send_text("/start")
    assert fake_tg.last_message(4001) is None, "nobody answers while the bot is down"
    async with running_bot(settings):
        replies = await fake_tg.wait_for("sendMessage", predicate=lambda c: c.params.get("chat_id") == 4001)
        assert replies[0].params["text"] == translate("start-greeting", "en", name="Lena")
    assert len([c for c in fake_tg.calls_of("sendMessage") if c.params.get("chat_id") == 4001]) == 1
