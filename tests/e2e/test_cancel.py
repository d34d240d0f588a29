"""/cancel answers exactly once, whatever state the user is in (issue 13, item 12).

The one answer is the wizard message turned into "Cancelled" when there is an open order whose
message can still be edited, and a plain "Cancelled." reply otherwise, never both.
"""

from __future__ import annotations

import pytest

from bot.i18n import translate
from bot.telegram.wizard.view import encode_field
from tests.e2e.harness import RunningBot
from tests.e2e.wizard_driver import (
    WizardDriver,
    fail_on_bot_errors,  # noqa: F401  (autouse fixture: a crash caught by the error router fails the test)
)
from tests.fakes.telegram import Call, FakeTelegram, TgUser

pytestmark = pytest.mark.kie_manual

ANSWERS = ("sendMessage", "editMessageText", "editMessageCaption", "sendPhoto", "sendVideo")


async def cancel_once(user: WizardDriver) -> Call:
    """/cancel; exactly one message sent or edited in the user's chat, which is returned."""
    since = user.fake.mark()
    await user.send("/cancel")
    answers = [
        call
        for method in ANSWERS
        for call in user.fake.calls_of(method, since=since)
        if call.ok and call.params.get("chat_id") == user.chat_id
    ]
    assert len(answers) == 1, [(c.method, c.params.get("text")) for c in answers]
    return answers[0]


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_cancel_answers_exactly_once_in_every_state(
    fake_tg: FakeTelegram, bot: RunningBot, language: str
) -> None:
    client = fake_tg.as_user(TgUser(id=7601 if language == "en" else 7602, language_code=language))
    user = WizardDriver(fake_tg, bot, client)
    await user.send("/start")
    cancelled, nothing_open = translate("wizard-cancelled", language), translate("cancelled", language)

    async def cancel_edits_the_wizard() -> bool:
        message_id = user.wizard_message().message_id
        answer = await cancel_once(user)
        return (
            answer.method == "editMessageText"
            and answer.params.get("message_id") == message_id
            and answer.params.get("text") == cancelled
        )

    # Nothing open: a plain reply.
    assert (await cancel_once(user)).params["text"] == nothing_open
    # At each step of the wizard: the wizard message says it, nothing else.
    await user.open()  # the category step
    assert await cancel_edits_the_wizard()
    await user.open()
    await user.tap("cat", "all")  # the model step
    assert await cancel_edits_the_wizard()
    await user.choose_model("kling25")  # settings preselected: the prompt step
    assert user.step_action() is None
    assert await cancel_edits_the_wizard()
    await user.choose_model("kling25")
    await user.tap("edit", encode_field("mode"))  # the mode step
    assert user.step_action() == "mode"
    assert await cancel_edits_the_wizard()
    # At the photo step, at the summary (with and without enough credits).
    await user.choose_model("kling25")
    await user.change("mode", "mode", "i2v")
    assert await cancel_edits_the_wizard()
    await user.walk_to_summary("kling25", "t2v", ratio="9:16")
    assert user.step_action() is None  # the summary, offering Buy: no credits
    assert await cancel_edits_the_wizard()
    await bot.components.billing.grant(admin_id=0, user_id=user.chat_id, credits=5000, note="test")
    await user.walk_to_summary("kling25", "t2v", ratio="9:16")
    assert user.step_action() == "ok"
    assert await cancel_edits_the_wizard()
    # Twice in a row: the second has nothing to cancel.
    assert (await cancel_once(user)).params["text"] == nothing_open
    # The wizard message is gone (deleted in the chat): one plain reply instead of the edit.
    await user.open()
    await bot.components.bot.delete_message(user.chat_id, user.wizard_message().message_id)
    assert (await cancel_once(user)).params["text"] == nothing_open
    # After Confirm the order is running, not open: still one answer.
    await user.walk_to_summary("kling25", "t2v", ratio="9:16")
    await user.confirm()
    await cancel_once(user)
