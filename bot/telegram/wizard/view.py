"""What the wizard shows: its callback data, buttons, keyboards and the summary (steps: view_steps.py).

Pure: a draft and its step in, (HTML text, keyboard) out; no I/O, no storage.
"""

from __future__ import annotations

import functools

from aiogram.filters.callback_data import MAX_CALLBACK_LENGTH, CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.catalog.model import Catalog, InvalidOrder, ModelEntry, mode_name
from bot.store.users import UserRow
from bot.telegram.balance import credits_text
from bot.telegram.common import MenuCb, escape, shorten
from bot.telegram.wizard.draft import Action, Draft

SUMMARY_PROMPT_CHARS = 300


class WizardCallback(CallbackData, prefix="w"):
    """A wizard button. Field order is the wire format ("w:<draft>:<action>:<value>")."""

    draft: str  # the draft's id: a button of another draft is out of date
    action: str  # an Action's code; a plain string so an unknown code reaches a polite answer
    value: str = ""  # the chosen value; "key=value" for options, ratios via encode_ratio

    @classmethod
    def unpack(cls, value: str) -> WizardCallback:
        # Each button handler's filter unpacks the tap's data again (Back is the fifth to try): the
        # last few taps' data, parsed once. Handlers only read it.
        return _unpack_wizard(value)


@functools.lru_cache(maxsize=256)
def _unpack_wizard(value: str) -> WizardCallback:
    return super(WizardCallback, WizardCallback).unpack(value)


def encode_ratio(ratio: str) -> str:
    """A ratio as it travels in callback data: ":" is aiogram's field separator ("9:16" → "9x16")."""
    return ratio.replace(":", "x")


def decode_ratio(value: str) -> str:
    return value.replace("x", ":")


def button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return callback_button(text, data.pack())


def wizard_button(text: str, draft_id: str, action: Action, value: str = "") -> InlineKeyboardButton:
    assert action.code is not None, f"{action} has no button"
    return callback_button(text, pack_wizard(draft_id, action.code, value))


_CALLBACK_BUTTON = InlineKeyboardButton(text="", callback_data="")


def callback_button(text: str, callback_data: str) -> InlineKeyboardButton:
    """`InlineKeyboardButton(text=text, callback_data=callback_data)`, the same model, made at half the
    cost: a step shows up to ~25 buttons on every tap, and validating each of them (two strings
    whose types are already known) was a twentieth of the bot's CPU per tap (bench/bench_wizard.py).
    """
    return _CALLBACK_BUTTON.model_copy(update={"text": text, "callback_data": callback_data})


def pack_wizard(draft_id: str, code: str, value: str = "") -> str:
    """`WizardCallback(draft=..., action=..., value=...).pack()` without making the pydantic model
    (a model step has ~25 buttons, made on every tap): the same string, refused alike."""
    separator = WizardCallback.__separator__
    for name, part in (("draft", draft_id), ("action", code), ("value", value)):
        if separator in part:
            raise ValueError(f"Separator symbol {separator!r} can not be used in value {name}={part!r}")
    data = separator.join((WizardCallback.__prefix__, draft_id, code, value))
    if len(data.encode()) > MAX_CALLBACK_LENGTH:
        raise ValueError(f"callback data longer than {MAX_CALLBACK_LENGTH} bytes: {data!r}")
    return data


def layout(buttons: list[InlineKeyboardButton], *sizes: int) -> list[list[InlineKeyboardButton]]:
    """Rows of the given sizes, the last size repeating (like InlineKeyboardBuilder.adjust).

    Built by hand because the builder copies the whole keyboard on every button, which made a
    21-model menu cost milliseconds per tap (bench/bench_wizard.py).
    """
    sizes = sizes or (1,)
    rows: list[list[InlineKeyboardButton]] = []
    index = 0
    while index < len(buttons):
        size = sizes[min(len(rows), len(sizes) - 1)]
        rows.append(buttons[index : index + size])
        index += size
    return rows


def encode_field(name: str) -> str:
    """A field name as it travels in callback data ("opt:duration" → "opt=duration")."""
    return name.replace(":", "=", 1)


def decode_field(value: str) -> str:
    return value.replace("=", ":", 1)


def field_title(name: str, draft: Draft, entry: ModelEntry | None, lang: str) -> str:
    """What a summary line (and its ✏️ button) calls a field of the order."""
    if name.startswith("opt:") and entry is not None and draft.mode in entry.modes:
        option = entry.mode_spec(draft.mode or "").option(name[4:])
        if option is not None:
            return option.title(lang)
    keys = {
        "model": "wizard-summary-model",
        "mode": "wizard-summary-mode",
        "ratio": "wizard-summary-ratio",
        "input": "wizard-summary-inputs",
        "prompt": "wizard-summary-prompt",
    }
    return _(keys[name]) if name in keys else name


def field_value(name: str, draft: Draft, entry: ModelEntry | None, lang: str) -> str | None:
    """What a ✏️ button shows for a field: its value (model, mode, ratio, an option's value title),
    or None for the files and the prompt (named by their title instead)."""
    if entry is None:
        return None
    if name == "model":
        return entry.name(lang)
    if name == "mode" and draft.mode:
        return mode_name(draft.mode, lang)
    if name == "ratio" and draft.ratio:
        return _("ratio-auto") if draft.ratio.lower() == "auto" else draft.ratio
    if name.startswith("opt:") and draft.mode in entry.modes:
        option = entry.mode_spec(draft.mode or "").option(name[4:])
        value = draft.options.get(name[4:])
        if option is not None and value is not None:
            return option.value_title(value, lang)
    return None


def ordered_fields(draft: Draft, entry: ModelEntry | None) -> list[str]:
    """The draft's editable fields in the order the wizard would ask them (options as declared)."""
    mode = draft.mode or ""
    options = entry.options_for(mode) if entry is not None and mode in entry.modes else ()
    order = ["model", "mode", "ratio", *(f"opt:{o.key}" for o in options), "input", "prompt"]
    fields = draft.editable_fields()
    return sorted(fields, key=lambda f: order.index(f) if f in order else len(order))


def edit_buttons(
    draft: Draft, entry: ModelEntry | None, lang: str, names: list[str]
) -> list[InlineKeyboardButton]:
    """A ✏️ button per field: it asks that one field again and keeps the others."""
    buttons = []
    for name in names:
        shown = field_value(name, draft, entry, lang) or field_title(name, draft, entry, lang)
        label = _("wizard-edit-field").format(field=shown)
        buttons.append(wizard_button(label, draft.id, Action.EDIT, encode_field(name)))
    return buttons


def summary_keyboard(
    first: InlineKeyboardButton, draft: Draft, entry: ModelEntry | None, lang: str
) -> InlineKeyboardMarkup:
    """The summary's keyboard: one main button (Confirm or Buy), a ✏️ button per field that can be
    changed (model, mode, ratio, each option, files, prompt), showing its value; then Cancel."""
    edits = edit_buttons(draft, entry, lang, ordered_fields(draft, entry))
    cancel = wizard_button(_("wizard-cancel"), draft.id, Action.CANCEL)
    return InlineKeyboardMarkup(inline_keyboard=[[first], *layout(edits, 1, 2), [cancel]])


def buy_button() -> InlineKeyboardButton:
    return button(_("menu-buy"), MenuCb(action="buy"))


def ratio_label(ratio: str) -> str:
    if ratio == "9:16":
        return _("ratio-9-16")
    if ratio == "16:9":
        return _("ratio-16-9")
    if ratio == "1:1":
        return _("ratio-1-1")
    if ratio.lower() == "auto":
        return _("ratio-auto")
    return ratio


def reason_text(exc: InvalidOrder) -> str:
    """A catalog refusal in the user's words."""
    params = {k: (", ".join(v) if isinstance(v, tuple | list) else v) for k, v in exc.params.items()}
    text = _(f"order-{exc.reason_key}")
    try:
        return text.format(**params)
    except (KeyError, IndexError):
        return text


def render_summary(
    draft: Draft, user: UserRow, balance: int, catalog: Catalog
) -> tuple[str, InlineKeyboardMarkup]:
    lang = user.language
    entry = catalog.get(draft.model or "")
    assert entry is not None and draft.mode is not None
    quote = entry.quote(draft.mode, draft.options)
    lines = [
        _("wizard-summary-title"),
        "",
        f"{_('wizard-summary-model')}: <b>{escape(entry.name(lang))}</b>",
        f"{_('wizard-summary-mode')}: {escape(mode_name(draft.mode, lang))}",
    ]
    if draft.ratio:
        lines.append(f"{_('wizard-summary-ratio')}: {escape(draft.ratio)}")
    spec = entry.mode_spec(draft.mode)
    for key, value in draft.options.items():
        option = spec.option(key)
        if option is not None:
            lines.append(f"{escape(option.title(lang))}: {escape(option.value_title(value, lang))}")
    if spec.option("duration") is None:  # with a duration option, its line says the length
        seconds = entry.clip_length(draft.mode, draft.options)
        if seconds is not None:
            lines.append(_("wizard-summary-clip-seconds").format(seconds=seconds))
        elif any(rule.kind.value == "video" for rule in spec.inputs):
            lines.append(_("wizard-summary-clip-input"))
    if draft.files:
        kinds = ", ".join(_(f"input-kind-{f['kind']}") for f in draft.files)
        lines.append(f"{_('wizard-summary-inputs')}: {kinds}")
    if draft.prompt:
        prompt = escape(shorten(draft.prompt, SUMMARY_PROMPT_CHARS))
        lines.append(f"{_('wizard-summary-prompt')}: <i>{prompt}</i>")
    lines.append("")
    lines.append(_("wizard-summary-price").format(price=credits_text(quote.user_credits)))
    after = balance - quote.user_credits
    if after < 0:
        lines.append(_("wizard-summary-not-enough").format(balance=balance, price=quote.user_credits))
        lines.append(_("wizard-summary-order-kept"))
        return "\n".join(lines), summary_keyboard(buy_button(), draft, entry, lang)
    lines.append(_("wizard-summary-balance-after").format(balance=balance, after=after))
    confirm_text = _("wizard-confirm").format(price=credits_text(quote.user_credits))
    confirm = wizard_button(confirm_text, draft.id, Action.SUMMARY)
    return "\n".join(lines), summary_keyboard(confirm, draft, entry, lang)
