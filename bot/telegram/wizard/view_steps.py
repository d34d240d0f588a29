"""The wizard's screens for each step before the summary: one renderer per step, and `render`.

Pure: a draft and its step in, (HTML text, keyboard) out; no I/O, no storage.
"""

from __future__ import annotations

from collections.abc import Callable

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from bot.catalog.availability import DEGRADED_MARK
from bot.catalog.categories import category_name, category_rule
from bot.catalog.model import Catalog, InvalidOrder, ModelEntry, mode_name
from bot.store.users import UserRow
from bot.telegram.common import escape, shorten
from bot.telegram.model_cards import card_line
from bot.telegram.wizard.draft import (
    ALL_MODELS,
    PHOTO_START,
    SAME_AS_LAST,
    START_MODES,
    TEXT_START,
    Action,
    Draft,
    Step,
)
from bot.telegram.wizard.inputs import rule_limits_text
from bot.telegram.wizard.rules import is_last_input, options_before, prompt_fits, same_as_last
from bot.telegram.wizard.view import (
    SUMMARY_PROMPT_CHARS,
    edit_buttons,
    encode_ratio,
    field_value,
    layout,
    ordered_fields,
    ratio_label,
    reason_text,
    render_summary,
    wizard_button,
)

# The model step's cards, HTML included: with the title, a kept prompt and the notes the message
# stays under Telegram's 4096 characters; a longer list shows the brief cards.
MODEL_CARDS_CHARS = 3400


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

    def current(self, step: str) -> str | None:
        """The value a field asked again had before (ticked ✓ among the choices)."""
        before = self.draft.before_edit or []
        return next((str(c.value) for c in before if c.step == step), None)


def same_as_last_label(draft: Draft, catalog: Catalog, lang: str) -> str | None:
    """ "🔁 Same as last time: model · mode · ratio · options", as that button would preset them."""
    last = same_as_last(catalog, draft.defaults)
    entry = catalog.get(last.model or "") if last is not None else None
    if last is None or entry is None:
        return None
    names = ["model", "mode", "ratio", *(f"opt:{o.key}" for o in entry.options_for(last.mode or ""))]
    parts = [value for name in names if (value := field_value(name, last, entry, lang)) is not None]
    return _("wizard-same-as-last").format(order=" · ".join(parts))


def _category(screen: Screen, catalog: Catalog) -> None:
    screen.lines.append(_("wizard-choose-category"))
    screen.sizes = (1, 2)
    for category in screen.step.values:
        if category == SAME_AS_LAST:
            title = same_as_last_label(screen.draft, catalog, screen.lang) or category
            screen.sizes = (1, 1, 2)
        elif category == ALL_MODELS:
            title = _("wizard-all-models")
        else:
            title = category_name(category, screen.lang)
        screen.add(title, Action.CATEGORY, category)


def _model(screen: Screen, catalog: Catalog) -> None:
    """The models of the chosen category: a one-line card each in the text (model_cards.py); a
    button with the name and marks, and an ℹ️ button for the full card, per model."""
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
        rule = category_rule(category or "", screen.lang)
        if rule:
            screen.lines.append(f"<i>{escape(rule)}</i>")
    if category in (PHOTO_START, TEXT_START) and kept:
        prompt = escape(shorten(kept, SUMMARY_PROMPT_CHARS))
        screen.lines.append(f"{_('wizard-summary-prompt')}: <i>{prompt}</i>")
    # An order begun with a photo or a text offers one mode: cards price and time that mode only.
    start = START_MODES.get(category or "")
    modes = (start.value,) if start is not None else None
    models = [m for m in (catalog.get(key) for key in screen.step.values) if m is not None]
    cards = [card_line(catalog, m, screen.lang, modes) for m in models]
    if sum(len(card) + 2 for card in cards) > MODEL_CARDS_CHARS:  # a long list: the brief cards
        cards = [card_line(catalog, m, screen.lang, modes, brief=True) for m in models]
    degraded = False
    for model, card in zip(models, cards, strict=True):
        screen.lines.extend(("", card))
        label = model.display_name(screen.lang)
        if catalog.is_degraded(model):
            label = f"{DEGRADED_MARK} {label}"
            degraded = True
        screen.add(label, Action.MODEL, model.key)
        screen.add(_("card-info-button"), Action.INFO, model.key)
    screen.sizes = (2,)
    if degraded:
        screen.lines.extend(("", _("wizard-degraded-note").format(mark=DEGRADED_MARK)))


def _mode(screen: Screen, catalog: Catalog) -> None:
    screen.lines.append(_("wizard-choose-mode"))
    entry = screen.entry
    current = screen.current("mode")
    for mode in screen.step.values:
        label = mode_name(mode, screen.lang)
        if entry is not None:  # the cheapest order in this mode: modes of one model can differ a lot
            label = _("wizard-mode-button").format(name=label, price=entry.cheapest(mode))
        if entry is not None and catalog.is_degraded(entry, mode):
            label = f"{DEGRADED_MARK} {label}"
        if mode == current:
            label = f"✓ {label}"
        screen.add(label, Action.MODE, mode)


def _ratio(screen: Screen, catalog: Catalog) -> None:
    screen.lines.append(_("wizard-choose-ratio"))
    current = screen.current("ratio")
    for ratio in screen.step.values:
        label = ratio_label(ratio)
        if ratio == current:
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
    prices = {value: _price(entry, draft, option.key, value) for value in step.values}
    priced = len(set(prices.values())) > 1
    current = screen.current(f"opt:{option.key}")
    for value in step.values:
        label = option.value_title(value, screen.lang)
        if priced:
            label = _("wizard-option-button").format(title=label, price=prices[value])
        if value == current:
            label = f"✓ {label}"
        screen.add(label, Action.OPTION, f"{option.key}={value}")
    screen.sizes = (2,)


def _price(entry: ModelEntry, draft: Draft, key: str, value: str) -> int:
    """The order's price with option `key` = `value`: with the other options kept, or, when this
    value rules one of them out (it is then dropped), with the options asked before it only."""
    mode = draft.mode or ""
    try:
        return entry.cheapest(mode, {**draft.options, key: value})
    except ValueError:
        return entry.cheapest(mode, {**options_before(entry, mode, key, draft.options), key: value})


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


def _preset_chips(screen: Screen) -> None:
    """At a file or prompt step: a ✏️ button per setting the wizard preset (mode, ratio, options;
    the model when "Same as last time" chose it), so it can be changed before anything is sent."""
    draft, entry = screen.draft, screen.entry
    preset_model = any(c.step == "model" and c.preset for c in draft.choices)
    names = [
        name
        for name in ordered_fields(draft, entry)
        if name in ("mode", "ratio") or name.startswith("opt:") or (name == "model" and preset_model)
    ]
    if names:
        screen.lines.append(_("wizard-preset-hint"))
        above = len(screen.buttons)  # the prompt step's Skip keeps a row of its own
        screen.buttons.extend(edit_buttons(draft, entry, screen.lang, names))
        screen.sizes = (above, 2) if above else (2,)


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
    if step.name in (Action.INPUT, Action.PROMPT) and entry is not None:
        _preset_chips(screen)
    nav = []
    if draft.choices:
        nav.append(wizard_button(_("wizard-back"), draft.id, Action.BACK))
    nav.append(wizard_button(_("wizard-cancel"), draft.id, Action.CANCEL))
    keyboard = InlineKeyboardMarkup(inline_keyboard=[*layout(screen.buttons, *screen.sizes), nav])
    return "\n".join(screen.lines), keyboard
