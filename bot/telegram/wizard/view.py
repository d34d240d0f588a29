"""What the wizard shows: its callback data, one renderer per step, and the keyboards.

Pure: a draft and its step in, (HTML text, keyboard) out; no I/O, no storage.
"""

from __future__ import annotations

from collections.abc import Callable

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.catalog.availability import DEGRADED_MARK
from bot.catalog.model import Catalog, InvalidOrder, ModelEntry, category_name, mode_name
from bot.store.users import UserRow
from bot.telegram.common import MenuCb, escape, shorten
from bot.telegram.wizard.draft import (
    ALL_MODELS,
    PHOTO_START,
    TEXT_START,
    Action,
    Draft,
    Step,
    is_last_input,
    prompt_fits,
)
from bot.telegram.wizard.inputs import rule_limits_text

SUMMARY_PROMPT_CHARS = 300


class WizardCallback(CallbackData, prefix="w"):
    """A wizard button. Field order is the wire format ("w:<draft>:<action>:<value>")."""

    draft: str  # the draft's id: a button of another draft is out of date
    action: str  # an Action's code; a plain string so an unknown code reaches a polite answer
    value: str = ""  # the chosen value; "key=value" for options, ratios via encode_ratio


def encode_ratio(ratio: str) -> str:
    """A ratio as it travels in callback data: ":" is aiogram's field separator ("9:16" → "9x16")."""
    return ratio.replace(":", "x")


def decode_ratio(value: str) -> str:
    return value.replace("x", ":")


def button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def wizard_button(text: str, draft_id: str, action: Action, value: str = "") -> InlineKeyboardButton:
    assert action.code is not None, f"{action} has no button"
    return button(text, WizardCallback(draft=draft_id, action=action.code, value=value))


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


def summary_keyboard(
    first: InlineKeyboardButton, draft: Draft, entry: ModelEntry | None, lang: str
) -> InlineKeyboardMarkup:
    """The summary's keyboard: one main button (Confirm or Buy), a ✏️ button per field the user
    chose (changing one keeps the others), then Cancel."""
    edits = [
        wizard_button(
            _("wizard-edit-field").format(field=field_title(name, draft, entry, lang)),
            draft.id,
            Action.EDIT,
            encode_field(name),
        )
        for name in draft.editable_fields()
    ]
    cancel = wizard_button(_("wizard-cancel"), draft.id, Action.CANCEL)
    return InlineKeyboardMarkup(inline_keyboard=[[first], *layout(edits, 2), [cancel]])


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


class Screen:
    """One step's text lines and buttons, before the Back / Cancel row is added."""

    def __init__(self, draft: Draft, step: Step, entry: ModelEntry | None, user: UserRow) -> None:
        self.draft = draft
        self.step = step
        self.entry = entry
        self.user = user
        self.lang = user.language
        self.lines: list[str] = []
        self.buttons: list[InlineKeyboardButton] = []
        self.sizes: tuple[int, ...] = (1,)

    def add(self, text: str, action: Action, value: str = "") -> None:
        self.buttons.append(wizard_button(text, self.draft.id, action, value))


def _category(screen: Screen, catalog: Catalog) -> None:
    screen.lines.append(_("wizard-choose-category"))
    for category in screen.step.values:
        title = _("wizard-all-models") if category == ALL_MODELS else category_name(category, screen.lang)
        screen.add(title, Action.CATEGORY, category)
    screen.sizes = (1, 2)


def _model(screen: Screen, catalog: Catalog) -> None:
    category = screen.draft.category
    kept = screen.draft.kept_prompt()
    if category == PHOTO_START:
        screen.lines.append(_("wizard-start-photo"))
    elif category == TEXT_START:
        screen.lines.append(_("wizard-start-text"))
    else:
        all_models = category == ALL_MODELS
        title = _("wizard-all-models") if all_models else category_name(category or "", screen.lang)
        screen.lines.append(_("wizard-choose-model").format(category=escape(title)))
    if category in (PHOTO_START, TEXT_START) and kept:
        prompt = escape(shorten(kept, SUMMARY_PROMPT_CHARS))
        screen.lines.append(f"{_('wizard-summary-prompt')}: <i>{prompt}</i>")
    degraded = False
    for key in screen.step.values:
        model = catalog.get(key)
        if model is None:
            continue
        price = model.min_user_price
        label = ngettext("wizard-model-button", "wizard-model-button", price).format(
            name=model.display_name(screen.lang), price=price
        )
        if catalog.is_degraded(model):
            label = f"{DEGRADED_MARK} {label}"
            degraded = True
        screen.add(label, Action.MODEL, key)
    if degraded:
        screen.lines.append(_("wizard-degraded-note").format(mark=DEGRADED_MARK))


def _mode(screen: Screen, catalog: Catalog) -> None:
    screen.lines.append(_("wizard-choose-mode"))
    entry = screen.entry
    for mode in screen.step.values:
        label = mode_name(mode, screen.lang)
        if entry is not None:  # the cheapest order in this mode: modes of one model can differ a lot
            label = _("wizard-mode-button").format(name=label, price=entry.cheapest(mode))
        if entry is not None and catalog.is_degraded(entry, mode):
            label = f"{DEGRADED_MARK} {label}"
        screen.add(label, Action.MODE, mode)


def _ratio(screen: Screen, catalog: Catalog) -> None:
    screen.lines.append(_("wizard-choose-ratio"))
    for ratio in screen.step.values:
        label = ratio_label(ratio)
        if ratio == screen.user.default_ratio:
            label = f"✓ {label}"
        screen.add(label, Action.RATIO, encode_ratio(ratio))


def _option(screen: Screen, catalog: Catalog) -> None:
    draft, step, entry = screen.draft, screen.step, screen.entry
    if entry is None or not draft.mode or not step.option:
        return
    option = entry.mode_spec(draft.mode).option(step.option)
    assert option is not None
    screen.lines.append(_("wizard-choose-option").format(option=escape(option.title(screen.lang))))
    # Each value's price with the choices made so far (the cheapest of the options still to come).
    chosen = draft.options
    prices = {value: entry.cheapest(draft.mode, {**chosen, option.key: value}) for value in step.values}
    priced = len(set(prices.values())) > 1
    for value in step.values:
        label = option.value_title(value, screen.lang)
        if priced:
            label = _("wizard-option-button").format(title=label, price=prices[value])
        screen.add(label, Action.OPTION, f"{option.key}={value}")
    screen.sizes = (2,)


def _input(screen: Screen, catalog: Catalog) -> None:
    rule, step = screen.step.rule, screen.step
    if rule is None:
        return
    key = f"wizard-send-{rule.kind.value}"
    if rule.count > 1:
        key = f"wizard-send-{rule.kind.value}-nth"
    limits = rule_limits_text(rule)
    screen.lines.append(_(key).format(n=step.index + 1, count=rule.count, limits=limits))
    # A caption becomes the prompt only on the file right before the prompt step.
    entry = screen.entry
    if rule.kind.value == "image" and entry is not None and is_last_input(entry, screen.draft, step):
        screen.lines.append(_("wizard-caption-hint"))


def _prompt(screen: Screen, catalog: Catalog) -> None:
    rule = screen.step.prompt_rule
    if rule is None:
        return
    kept = screen.draft.kept_prompt()
    if kept and not prompt_fits(rule, kept):
        # The text sent earlier (the idea, a caption) does not suit this model: say why it is asked.
        try:
            rule.check(kept)
        except InvalidOrder as exc:
            screen.lines.append(_("wizard-kept-prompt-refused").format(reason=reason_text(exc)))
    screen.lines.append(_("wizard-send-prompt").format(max=rule.max_length))
    if rule.english_only:
        screen.lines.append(_("wizard-english-only"))
    if not rule.required:
        screen.add(_("wizard-skip"), Action.PROMPT)


RENDERERS: dict[Action, Callable[[Screen, Catalog], None]] = {
    Action.CATEGORY: _category,
    Action.MODEL: _model,
    Action.MODE: _mode,
    Action.RATIO: _ratio,
    Action.OPTION: _option,
    Action.INPUT: _input,
    Action.PROMPT: _prompt,
}


def _choices_so_far(draft: Draft, entry: ModelEntry, lang: str) -> list[str]:
    """The header: model · mode · ratio, then one line per option chosen."""
    head = f"<b>{escape(entry.name(lang))}</b>"
    if draft.mode:
        head += f" · {escape(mode_name(draft.mode, lang))}"
    if draft.ratio:
        head += f" · {escape(draft.ratio)}"
    lines = [head]
    for key, value in draft.options.items():
        option = entry.mode_spec(draft.mode or "").option(key) if draft.mode else None
        if option is not None:
            lines.append(f"{escape(option.title(lang))}: {escape(option.value_title(value, lang))}")
    return [*lines, ""]


def render(
    draft: Draft, step: Step, user: UserRow, balance: int, catalog: Catalog
) -> tuple[str, InlineKeyboardMarkup]:
    """The wizard message for `step` of `draft`; `balance` is read only by the summary."""
    entry = catalog.get(draft.model) if draft.model else None
    if step.name is Action.SUMMARY and entry is not None:
        return render_summary(draft, user, balance, catalog)
    screen = Screen(draft, step, entry, user)
    if entry is not None:
        screen.lines.extend(_choices_so_far(draft, entry, screen.lang))
    renderer = RENDERERS.get(step.name)
    if renderer is not None:
        renderer(screen, catalog)
    nav = []
    if draft.choices:
        nav.append(wizard_button(_("wizard-back"), draft.id, Action.BACK))
    nav.append(wizard_button(_("wizard-cancel"), draft.id, Action.CANCEL))
    keyboard = InlineKeyboardMarkup(inline_keyboard=[*layout(screen.buttons, *screen.sizes), nav])
    return "\n".join(screen.lines), keyboard


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
    lines.append(_("wizard-summary-price").format(price=quote.user_credits))
    after = balance - quote.user_credits
    if after < 0:
        lines.append(_("wizard-summary-not-enough").format(balance=balance, price=quote.user_credits))
        lines.append(_("wizard-summary-order-kept"))
        return "\n".join(lines), summary_keyboard(buy_button(), draft, entry, lang)
    lines.append(_("wizard-summary-balance-after").format(balance=balance, after=after))
    confirm = wizard_button(_("wizard-confirm").format(price=quote.user_credits), draft.id, Action.SUMMARY)
    return "\n".join(lines), summary_keyboard(confirm, draft, entry, lang)
