"""Admin command arguments: what /grant, /user and /refund accept and what gets the usage text."""

from __future__ import annotations

import pytest

from bot.telegram.admin import MAX_GRANT_CREDITS, GrantArgs, parse_charge_id, parse_grant_args, parse_user_id


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("42 100", GrantArgs(42, 100, "")),
        ("42 +5 welcome back", GrantArgs(42, 5, "welcome back")),
        ("42 -7   double charge  ", GrantArgs(42, -7, "double charge")),
        (f"42 {MAX_GRANT_CREDITS}", GrantArgs(42, MAX_GRANT_CREDITS, "")),
    ],
)
def test_grant_arguments_that_are_accepted(args: str, expected: GrantArgs) -> None:
    assert parse_grant_args(args) == expected


@pytest.mark.parametrize(
    "args",
    [
        None,
        "",
        "42",
        "42 0",
        "42 -0",
        "42 ten",
        "42 1.5",
        "42 --5",
        "x 5",
        "-42 5",
        "0 5",
        f"42 {MAX_GRANT_CREDITS + 1}",
        "42 ５",
    ],
)
def test_grant_arguments_that_get_the_usage_text(args: str | None) -> None:
    assert parse_grant_args(args) is None


def test_grant_note_is_capped() -> None:
    parsed = parse_grant_args("42 5 " + "x" * 1000)
    assert parsed is not None and len(parsed.note) == 200


@pytest.mark.parametrize(("text", "expected"), [("42", 42), (" 42 ", 42), ("7000000000", 7_000_000_000)])
def test_user_ids(text: str, expected: int) -> None:
    assert parse_user_id(text) == expected


@pytest.mark.parametrize("text", [None, "", "0", "-5", "abc", "4 2", str(2**60), "٤٢"])
def test_bad_user_ids(text: str | None) -> None:
    assert parse_user_id(text) is None


def test_charge_ids() -> None:
    assert parse_charge_id(" stxAbC_123-xyz ") == "stxAbC_123-xyz"
    for bad in (None, "", "   ", "two words", "x" * 129, "bad\x00id"):
        assert parse_charge_id(bad) is None
