"""Shared first step of every create call: check the order against the catalog entry."""

from __future__ import annotations

from bot.catalog import Family, ModelEntry, ModeSpec, Order


def prepare(entry: ModelEntry, order: Order, family: Family) -> tuple[ModeSpec, dict[str, str]]:
    """Validate `order` (InvalidOrder if not orderable) and return its mode spec and full options.

    Validating again here is cheap and means no path can send KIE a request the catalog forbids.
    """
    if entry.family != family:
        raise ValueError(f"model {entry.key} belongs to the {entry.family} family, not {family}")
    entry.validate(order)
    return entry.mode_spec(order.mode), entry.resolve_options(order.mode, order.options)


def with_callback(body: dict[str, object], callback_url: str | None) -> dict[str, object]:
    # KIE POSTs results to callBackUrl when present; without a public URL we rely on polling only.
    if callback_url:
        body["callBackUrl"] = callback_url
    return body
