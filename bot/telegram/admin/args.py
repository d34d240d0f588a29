"""Admin command arguments: what /grant, /user and /refund accept (pure, unit-tested)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Larger grants are almost certainly a typo (and would overflow nothing, but ruin the books).
MAX_GRANT_CREDITS = 1_000_000_000
MAX_NOTE_CHARS = 200
# Telegram charge ids are ~40 characters; anything much longer is not one.
MAX_CHARGE_ID_CHARS = 128
# ASCII only: str.isdigit() and int() would also take "٤٢" or fullwidth digits.
_USER_ID_RE = re.compile(r"[0-9]{1,16}")
_CREDITS_RE = re.compile(r"[+-]?[0-9]{1,10}")


@dataclass(frozen=True)
class GrantArgs:
    user_id: int
    credits: int
    note: str


def parse_user_id(text: str | None) -> int | None:
    """A Telegram user id (a positive integer), or None."""
    text = (text or "").strip()
    if not _USER_ID_RE.fullmatch(text):
        return None
    value = int(text)
    # Telegram user ids fit in 52 bits.
    return value if 0 < value < 2**52 else None


def parse_grant_args(args: str | None) -> GrantArgs | None:
    """`<user_id> <credits> [note...]`; credits may be negative but not zero. None if malformed."""
    parts = (args or "").split(maxsplit=2)
    if len(parts) < 2:
        return None
    user_id = parse_user_id(parts[0])
    if user_id is None or not _CREDITS_RE.fullmatch(parts[1]):
        return None
    credits = int(parts[1])
    if credits == 0 or abs(credits) > MAX_GRANT_CREDITS:
        return None
    note = parts[2].strip() if len(parts) == 3 else ""
    return GrantArgs(user_id=user_id, credits=credits, note=note[:MAX_NOTE_CHARS])


def parse_charge_id(args: str | None) -> str | None:
    """One token of printable characters, as Telegram charge ids are; None otherwise."""
    text = (args or "").strip()
    if not text or len(text) > MAX_CHARGE_ID_CHARS or any(c.isspace() or not c.isprintable() for c in text):
        return None
    return text
