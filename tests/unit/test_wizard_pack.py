"""The wizard packs its buttons' callback data by hand: exactly what aiogram's CallbackData makes."""

from __future__ import annotations

import pytest

from bot.telegram.wizard.view import WizardCallback, pack_wizard


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
