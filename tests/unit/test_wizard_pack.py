"""The wizard packs its buttons' callback data and makes its buttons by hand: exactly what aiogram makes."""

from __future__ import annotations

import pytest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram.wizard.view import WizardCallback, callback_button, pack_wizard


@pytest.mark.parametrize(
    ("draft", "action", "value"),
    [("a1b2c3", "m", "kling25"), ("a1b2c3", "b", ""), ("x", "o", "opt=duration=10"), ("d", "r", "9x16")],
)
def test_same_string_as_aiogram(draft: str, action: str, value: str) -> None:
    packed = pack_wizard(draft, action, value)
    assert packed == WizardCallback(draft=draft, action=action, value=value).pack()
    assert WizardCallback.unpack(packed) == WizardCallback(draft=draft, action=action, value=value)


@pytest.mark.parametrize(
    ("draft", "action", "value"), [("a:b", "m", "x"), ("d", "m", "9:16"), ("d", "m", "x" * 60)]
)
def test_refused_like_aiogram(draft: str, action: str, value: str) -> None:
    with pytest.raises(ValueError):
        WizardCallback(draft=draft, action=action, value=value).pack()
    with pytest.raises(ValueError):
        pack_wizard(draft, action, value)


@pytest.mark.parametrize("text", ["🎬 Veo 3.1", "", "Назад <b>&"])
def test_a_callback_button_is_the_model_aiogram_makes(text: str) -> None:
    made = callback_button(text, "w:d:m:veo3")
    validated = InlineKeyboardButton(text=text, callback_data="w:d:m:veo3")
    assert made == validated
    assert made.model_dump(exclude_none=True) == {"text": text, "callback_data": "w:d:m:veo3"}
    assert made.model_fields_set == validated.model_fields_set
    # Two buttons share nothing, and a keyboard validates them as any other.
    other = callback_button("x", "w:d:b:")
    assert (made.text, made.callback_data) == (text, "w:d:m:veo3")
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[made, other]])
    assert keyboard.inline_keyboard[0][1].callback_data == "w:d:b:"
    # aiogram's buttons are mutable: changing one changes no other, nor the next one made.
    made.text = "changed"
    assert other.text == "x" and callback_button("y", "w:d:c:").model_dump(exclude_none=True) == {
        "text": "y",
        "callback_data": "w:d:c:",
    }
