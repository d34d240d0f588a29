"""The wizard's draft: an ordered list of choices, and the next step derived from the catalog.

Keeping choices as a list makes Back exact (drop the last choice the user made, and whatever was
filled in automatically after the one before it) and keeps every rule in the catalog: which steps
exist, which values are allowed, which inputs are needed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from bot.catalog.model import (
    Catalog,
    InputKind,
    InputRule,
    InvalidOrder,
    Mode,
    ModelEntry,
    Order,
    PromptRule,
)
from bot.telegram.wizard.inputs import normalize_mime

ALL_MODELS = "all"
# An order started by sending something outside the wizard: the "category" is what was sent, the
# models offered are those that start from it, and the sent photo / text is kept in a "seed" choice.
PHOTO_START = "from_photo"
TEXT_START = "from_text"
START_MODES: dict[str, Mode] = {PHOTO_START: Mode.I2V, TEXT_START: Mode.T2V}


@dataclass
class Choice:
    step: str  # seed | category | model | mode | ratio | opt:<key> | input:<kind> | prompt
    value: Any  # str, or a file ref dict for inputs
    auto: bool = False  # filled in because there was only one possibility

    def as_list(self) -> list[Any]:
        return [self.step, self.value, self.auto]


class Action(StrEnum):
    """The wizard's one vocabulary: every step it asks and every move a button makes.

    A button answers the step it names with its value (the SUMMARY button confirms, the PROMPT
    button skips an optional prompt); BACK and CANCEL move through the wizard; INPUT is answered by
    a message, never a button. `code` is the short form callback data carries (64-byte limit).
    """

    code: str | None

    def __new__(cls, name: str, code: str | None) -> Action:
        member = str.__new__(cls, name)
        member._value_ = name
        member.code = code
        return member

    CATEGORY = "category", "cat"
    MODEL = "model", "model"
    MODE = "mode", "mode"
    RATIO = "ratio", "ratio"
    OPTION = "option", "opt"
    INPUT = "input", None
    PROMPT = "prompt", "skip"
    SUMMARY = "summary", "ok"
    EDIT = "edit", "edit"  # a summary button: ask one field again, keep the others
    BACK = "back", "back"
    CANCEL = "cancel", "cancel"

    @classmethod
    def from_code(cls, code: str) -> Action | None:
        """The action a button's code stands for; None for a code no button carries."""
        return _BY_CODE.get(code)


_BY_CODE = {a.code: a for a in Action if a.code is not None}
# Steps answered by picking one of Step.values.
CHOICE_STEPS = frozenset({Action.CATEGORY, Action.MODEL, Action.MODE, Action.RATIO, Action.OPTION})


@dataclass(frozen=True)
class Step:
    """What the wizard asks next, and what it filled in on the way (see next_step)."""

    name: Action  # one of CATEGORY ... SUMMARY
    option: str | None = None  # option key, for OPTION
    values: tuple[str, ...] = ()  # allowed values for button steps
    rule: InputRule | None = None  # for INPUT
    index: int = 0  # which file of this kind (0-based) for inputs
    prompt_rule: PromptRule | None = None
    # Choices with a single possible answer before this step: the draft takes them (Draft.fill).
    filled: tuple[Choice, ...] = ()


def new_draft_id() -> str:
    return secrets.token_urlsafe(6)[:8]


@dataclass
class Draft:
    id: str
    message_id: int | None = None
    choices: list[Choice] = field(default_factory=list)
    # While one field is asked again from the summary (start_edit): the choices before, so Back
    # puts them back as they were. None otherwise.
    before_edit: list[Choice] | None = None

    # --- storage in FSM data ------------------------------------------------------------------
    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "message_id": self.message_id,
            "choices": [c.as_list() for c in self.choices],
        }
        if self.before_edit is not None:
            data["before_edit"] = [c.as_list() for c in self.before_edit]
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any] | None) -> Draft | None:
        if not data or "id" not in data:
            return None
        before = data.get("before_edit")
        return cls(
            id=str(data["id"]),
            message_id=data.get("message_id"),
            choices=[Choice(str(s), v, bool(a)) for s, v, a in data.get("choices", [])],
            before_edit=None if before is None else [Choice(str(s), v, bool(a)) for s, v, a in before],
        )

    @classmethod
    def started_with(cls, category: str, *, image: dict[str, Any] | None = None, prompt: str = "") -> Draft:
        """A draft begun by a photo (PHOTO_START) or a text (TEXT_START) sent outside the wizard.

        The seed is an automatic choice before the category, so Back from the model list drops
        both and shows the usual first step.
        """
        draft = cls(id=new_draft_id())
        seed: dict[str, Any] = {"prompt": prompt} if prompt else {}
        if image is not None:
            seed["image"] = image
        draft.add("seed", seed, auto=True)
        draft.add("category", category)
        return draft

    # --- derived values -----------------------------------------------------------------------
    @property
    def seed(self) -> dict[str, Any]:
        value = self.value("seed")
        return value if isinstance(value, dict) else {}

    def kept_prompt(self) -> str | None:
        """Text the user gave before the prompt step: the seed, or a caption on an earlier file."""
        prompt = self.seed.get("prompt")
        if prompt:
            return str(prompt)
        for file in self.files:
            if file.get("caption"):
                return str(file["caption"])
        return None

    def value(self, step: str) -> Any:
        for choice in self.choices:
            if choice.step == step:
                return choice.value
        return None

    def text(self, step: str) -> str | None:
        """The answer to a step answered with text (a key, a ratio, the prompt)."""
        value = self.value(step)
        return value if isinstance(value, str) else None

    @property
    def category(self) -> str | None:
        return self.text("category")

    @property
    def model(self) -> str | None:
        return self.text("model")

    @property
    def mode(self) -> str | None:
        return self.text("mode")

    @property
    def ratio(self) -> str | None:
        return self.text("ratio")

    @property
    def options(self) -> dict[str, str]:
        return {c.step[4:]: c.value for c in self.choices if c.step.startswith("opt:")}

    @property
    def files(self) -> list[dict[str, Any]]:
        return [c.value for c in self.choices if c.step.startswith("input:")]

    def files_of(self, kind: str) -> list[dict[str, Any]]:
        return [c.value for c in self.choices if c.step == f"input:{kind}"]

    @property
    def prompt(self) -> str | None:
        return self.text("prompt")

    def add(self, step: str, value: Any, *, auto: bool = False) -> None:
        self.choices.append(Choice(step, value, auto))

    def fill(self, step: Step) -> None:
        """Take the answers next_step found to have one possibility (once per computed step)."""
        self.choices.extend(step.filled)

    def copy(self) -> Draft:
        before = None if self.before_edit is None else list(self.before_edit)
        return Draft(id=self.id, message_id=self.message_id, choices=list(self.choices), before_edit=before)

    def editable_fields(self) -> list[str]:
        """The fields the user chose (not filled in automatically), in the order they were asked:
        each can be asked again from the summary (start_edit). Files count as one field."""
        found: list[str] = []
        for choice in self.choices:
            name = "input" if choice.step.startswith("input:") else choice.step
            if choice.auto or name == "category" or name in found:
                continue
            found.append(name)
        return found

    def start_edit(self, name: str) -> bool:
        """Ask field `name` (see editable_fields) again and keep every other choice; False when the
        draft has no such field. Automatic answers go too: next_step fills in what still has one
        possibility, and `prune` drops what the new answer makes invalid."""
        if name not in self.editable_fields():
            return False
        if self.before_edit is None:
            self.before_edit = list(self.choices)

        def dropped(choice: Choice) -> bool:
            step = "input" if choice.step.startswith("input:") else choice.step
            return choice.auto or step == name

        self.choices = [c for c in self.choices if not dropped(c)]
        return True

    def end_edit(self) -> None:
        self.before_edit = None

    def back(self) -> bool:
        """Undo the last choice the user made (and the automatic ones after the one before it).
        While a field is asked again from the summary, put the choices back as they were."""
        if self.before_edit is not None:
            self.choices, self.before_edit = self.before_edit, None
            return True
        while self.choices and self.choices[-1].auto:
            self.choices.pop()
        if not self.choices:
            return False
        self.choices.pop()
        while self.choices and self.choices[-1].auto:
            self.choices.pop()
        return True

    def order(self) -> Order:
        return Order(
            model_key=self.model or "",
            mode=self.mode or "",
            ratio=self.ratio,
            options=self.options,
            prompt=self.prompt or "",
            inputs={},
        )


def _file_fits(file: dict[str, Any], rule: InputRule) -> bool:
    """True when a file taken for another choice still meets `rule` (type, size, length)."""
    if normalize_mime(str(file.get("mime_type", ""))) not in {normalize_mime(m) for m in rule.mime_types}:
        return False
    size, duration = file.get("size"), file.get("duration")
    if size is not None and size > rule.max_bytes:
        return False
    return rule.max_duration_s is None or duration is None or duration <= rule.max_duration_s


def prune(draft: Draft, catalog: Catalog) -> list[Choice]:
    """The draft's choices that are still valid together, in their order: after one field was
    answered again, the others stay unless the new answer rules them out (a ratio the new model
    lacks, files of a kind the new mode does not take, a prompt too long for it)."""
    kept: list[Choice] = []

    def keep(step: str) -> Choice | None:
        choice = next((c for c in draft.choices if c.step == step), None)
        if choice is not None:
            kept.append(choice)
        return choice

    entry = catalog.get(draft.model) if draft.model else None
    mode = draft.mode
    if entry is None or mode is None:
        # The model or mode is being asked again: judge the rest once it is answered.
        return list(draft.choices)
    if mode not in entry.modes:
        return [c for c in draft.choices if c.step != "mode"]  # the new model asks for its mode
    for step in ("category", "model", "mode"):
        keep(step)
    if draft.ratio in entry.ratios_for(mode):
        keep("ratio")
    chosen: dict[str, str] = {}
    for option in entry.options_for(mode):
        value = draft.options.get(option.key)
        if value is not None and value in entry.allowed_values(mode, option.key, chosen):
            keep(f"opt:{option.key}")
            chosen[option.key] = value
    for rule in entry.input_rules(mode, chosen):
        files = [c for c in draft.choices if c.step == f"input:{rule.kind.value}"]
        fitting = [c for c in files if isinstance(c.value, dict) and _file_fits(c.value, rule)]
        kept.extend(fitting[: rule.count])
    prompt_rule = entry.prompt_rule(mode)
    prompt = draft.prompt
    if prompt is not None and prompt_rule.max_length > 0:
        try:
            prompt_rule.check(prompt)
        except InvalidOrder:
            pass
        else:
            keep("prompt")
    return [c for c in draft.choices if any(c is k for k in kept)]


def ratios_in_menu_order(ratios: tuple[str, ...]) -> tuple[str, ...]:
    """9:16 first (Shorts / Reels / TikTok), the rest as the catalog lists them."""
    return tuple(sorted(ratios, key=lambda r: 0 if r == "9:16" else 1))


def models_starting_from(catalog: Catalog, category: str) -> tuple[ModelEntry, ...]:
    """The models offered for an order begun by a photo or a text (see START_MODES)."""
    mode = START_MODES[category]
    return tuple(e for e in catalog.offerable() if mode in e.modes)


def prompt_fits(rule: PromptRule, prompt: str) -> bool:
    try:
        rule.check(prompt)
    except InvalidOrder:
        return False
    return True


def _seed_fits(seed: dict[str, Any], rule: InputRule) -> bool:
    """The seed photo meets this model's rule for its first image (type and size)."""
    mime = normalize_mime(str(seed.get("mime_type") or ""))
    size = seed.get("size")
    allowed = {normalize_mime(m) for m in rule.mime_types}
    return mime in allowed and (size is None or int(size) <= rule.max_bytes)


def next_step(draft: Draft, catalog: Catalog) -> Step:
    """The first unanswered step. Pure: `draft` is not changed; steps with exactly one possible
    answer are skipped and their answers returned in Step.filled for the caller to keep."""
    if draft.model is None:
        if draft.category is None:
            return Step(Action.CATEGORY, values=(ALL_MODELS, *catalog.categories()))
        # Only what the menu offers now (not retired, listed by KIE): a hidden model's old button
        # is then "out of date", because its key is not among the step's values.
        if draft.category in START_MODES:
            models = models_starting_from(catalog, draft.category)
        elif draft.category == ALL_MODELS:
            models = catalog.offerable()
        else:
            models = catalog.in_category(draft.category)
        return Step(Action.MODEL, values=tuple(e.key for e in models))
    entry = catalog.get(draft.model)
    assert entry is not None, "draft names a model the catalog does not have"
    work = draft.copy()  # the answers filled in below go here, never into `draft`

    def ask(step: Step) -> Step:
        return replace(step, filled=tuple(work.choices[len(draft.choices) :]))

    start_mode = START_MODES.get(draft.category or "")
    if work.mode is None and start_mode is not None and start_mode in entry.modes:
        work.add("mode", start_mode.value, auto=True)  # what the user sent decides the mode
    if work.mode is None:
        # A draft started before its model was hidden keeps the model's modes (nothing else to offer).
        modes = catalog.offered_modes(entry) or tuple(entry.modes)
        if len(modes) > 1:
            return ask(Step(Action.MODE, values=modes))
        work.add("mode", modes[0], auto=True)
    mode = work.mode
    assert mode is not None
    ratios = ratios_in_menu_order(entry.ratios_for(mode))
    if ratios and work.ratio is None:
        if len(ratios) > 1:
            return ask(Step(Action.RATIO, values=ratios))
        work.add("ratio", ratios[0], auto=True)
    chosen = work.options
    # Options that cap an input's length (Kling Avatar's "up to N s" of audio): the input comes
    # first, and its length picks the smallest value that fits, instead of refusing a longer file.
    length_rules = {r.duration_option: r for r in entry.input_rules(mode) if r.duration_option}
    for option in entry.options_for(mode):
        if option.key in chosen:
            continue
        allowed = entry.allowed_values(mode, option.key, chosen)
        rule = length_rules.get(option.key)
        lengths = sorted(int(v) for v in allowed if v.isdigit())
        if rule is not None and lengths:
            files = work.files_of(rule.kind.value)
            if len(files) < rule.count:
                longest = min(lengths[-1], rule.max_duration_s or lengths[-1])
                first = replace(rule, max_duration_s=longest)
                return ask(Step(Action.INPUT, rule=first, index=len(files)))
            length = max(int(f.get("duration") or 0) for f in files)
            fitting = next((n for n in lengths if n >= length), lengths[-1])
            work.add(f"opt:{option.key}", str(fitting), auto=True)
            chosen = work.options
            continue
        if len(allowed) > 1:
            return ask(Step(Action.OPTION, option=option.key, values=allowed))
        work.add(f"opt:{option.key}", allowed[0], auto=True)
        chosen = work.options
    seed_image = draft.seed.get("image")
    for rule in entry.input_rules(mode, chosen):
        have = len(work.files_of(rule.kind.value))
        if have == 0 and rule.kind is InputKind.IMAGE and seed_image and _seed_fits(seed_image, rule):
            work.add("input:image", seed_image, auto=True)  # the photo that started the order
            seed_image = None
            have = 1
        if have < rule.count:
            return ask(Step(Action.INPUT, rule=rule, index=have))
    prompt_rule = entry.prompt_rule(mode)
    if work.prompt is None and prompt_rule.max_length > 0:
        kept = work.kept_prompt()
        if kept and prompt_fits(prompt_rule, kept):
            work.add("prompt", kept, auto=True)
        else:
            return ask(Step(Action.PROMPT, prompt_rule=prompt_rule))
    return ask(Step(Action.SUMMARY))


def is_last_input(entry: ModelEntry, draft: Draft, step: Step) -> bool:
    """True when `step` asks for the last file of the order and a prompt step comes next."""
    if step.rule is None or draft.mode is None or entry.prompt_rule(draft.mode).max_length <= 0:
        return False
    rules = entry.input_rules(draft.mode, draft.options)
    last = rules[-1] if rules else None
    return last is not None and last.kind == step.rule.kind and step.index == last.count - 1
