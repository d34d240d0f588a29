"""Handler tests in process: the real dispatcher and routers, a recording session, no HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.i18n import translate, translate_plural
from bot.telegram.common import MenuCb
from bot.telegram.start import LanguageCb
from bot.telegram.wizard.view import WizardCallback
from bot.text import escape
from tests.fakes.telegram import StoredMessage, TgUser
from tests.inprocess.harness import InProcessBot, in_process_bot

MENU_KEYS = ("menu-generate", "menu-balance", "menu-buy", "menu-history", "menu-help", "menu-language")
WIZARD_PREFIX = f"{WizardCallback.__prefix__}:"


def wizard_message(tg: InProcessBot, chat_id: int) -> StoredMessage:
    """The latest bot message showing wizard buttons."""
    for message in reversed(tg.fake.messages(chat_id)):
        if any(data.startswith(WIZARD_PREFIX) for data in message.callback_datas):
            return message
    raise AssertionError(f"no wizard message in chat {chat_id}")


def draft_id_of(message: StoredMessage) -> str:
    return WizardCallback.unpack(message.callback_datas[0]).draft


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_start_greets_in_the_users_language_with_the_main_menu(tg: InProcessBot, language: str) -> None:
    # A name with HTML in it: the greeting must escape it, or Telegram rejects the message.
    user = TgUser(id=5001, first_name="Ann <b>&", language_code=language)
    reply = await tg.send_text(user, "/start")
    assert reply is not None
    assert reply.text == translate("start-greeting", language, name=escape("Ann <b>&"))
    assert reply.plain_text is not None and "Ann <b>&" in reply.plain_text
    assert reply.button_texts == [translate(key, language) for key in MENU_KEYS]
    assert translate("start-greeting", "en") != translate("start-greeting", "ru")


async def test_help_command_and_menu_button_show_the_help(tg: InProcessBot) -> None:
    user = TgUser(id=5002, language_code="ru")
    reply = await tg.send_text(user, "/help")
    assert reply is not None and reply.text == translate("help-text", "ru")
    answer = await tg.click(user, reply, MenuCb(action="help").pack())
    assert answer.params.get("text") is None  # a plain acknowledgement, no alert
    again = tg.fake.last_message(user.id)
    assert again is not None and again.message_id != reply.message_id
    assert again.text == translate("help-text", "ru")


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_balance_shows_the_signup_bonus_and_its_ledger_row(tmp_path: Path, language: str) -> None:
    async with in_process_bot(tmp_path, signup_bonus=7) as tg:
        user = TgUser(id=5003, language_code=language)
        await tg.send_text(user, "/start")
        reply = await tg.send_text(user, "/balance")
        assert reply is not None and reply.text is not None
        lines = reply.text.split("\n")
        credits = translate_plural("credits-count", 7, language)
        assert lines[0] == translate("balance-title", language, credits=credits)
        bonus = translate("reason-signup_bonus", language)
        assert any(bonus in line and f"+{credits}" in line for line in lines)
        assert reply.button_texts == [translate("menu-buy", language)]


async def test_a_button_of_an_older_wizard_is_out_of_date_and_changes_nothing(tg: InProcessBot) -> None:
    user = TgUser(id=5004)
    await tg.send_text(user, "/generate")
    old = wizard_message(tg, user.id)
    old_button = old.callback_datas[0]
    await tg.send_text(user, "/generate")  # a fresh wizard: the old message loses its keyboard
    fresh = wizard_message(tg, user.id)
    assert fresh.message_id != old.message_id
    old_now = tg.fake.message(user.id, old.message_id)
    assert old_now is not None and not old_now.buttons
    shown = (fresh.text, fresh.callback_datas)

    mark = tg.fake.mark()
    answer = await tg.click(user, old_now, old_button, strict=False)
    assert answer.params.get("text") == translate("stale-button", "en")
    assert answer.params.get("show_alert") is True
    assert [call.method for call in tg.fake.calls[mark:]] == ["answerCallbackQuery"]
    assert (fresh.text, fresh.callback_datas) == shown


async def test_forged_callback_data_is_refused_and_changes_nothing(tg: InProcessBot) -> None:
    user = TgUser(id=5005)
    await tg.send_text(user, "/start")
    await tg.send_text(user, "/generate")
    wizard = wizard_message(tg, user.id)
    draft = draft_id_of(wizard)
    shown = (wizard.text, wizard.callback_datas)
    stale = translate("stale-button", "en")
    forged = [
        WizardCallback(draft=draft, action="model", value="kling25").pack(),  # a model before the category
        WizardCallback(draft="someoneelse", action="cat", value="all").pack(),  # another draft
        WizardCallback(draft=draft, action="ok").pack(),  # Confirm with no summary shown
        "w:garbage",  # not even wizard data
        LanguageCb(code="xx").pack(),  # a language the bot does not speak
    ]
    for data in forged:
        mark = tg.fake.mark()
        answer = await tg.click(user, wizard, data, strict=False)
        assert answer.params.get("text") == stale, data
        assert [call.method for call in tg.fake.calls[mark:]] == ["answerCallbackQuery"], data
    assert (wizard.text, wizard.callback_datas) == shown
    stored = await tg.components.accounts.get(user.id)
    assert stored is not None and stored.language == "en"


async def test_the_language_button_switches_the_replies(tg: InProcessBot) -> None:
    user = TgUser(id=5006, language_code="en")
    await tg.send_text(user, "/start")
    choose = await tg.send_text(user, "/language")
    assert choose is not None
    await tg.click(user, choose, LanguageCb(code="ru").pack())
    assert tg.fake.last_message(user.id).text == translate("language-set", "ru")  # type: ignore[union-attr]
    reply = await tg.send_text(user, "/help")
    assert reply is not None and reply.text == translate("help-text", "ru")
