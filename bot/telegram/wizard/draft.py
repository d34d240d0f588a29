"""The wizard's draft: an ordered list of choices (the next step is derived in rules.py).

Keeping choices as a list makes Back exact (drop the last choice the user made, and whatever was
filled in after the one before it) and keeps every rule in the catalog: which steps exist, which
values are allowed, which inputs are needed. A choice is the user's, automatic (the only possible
answer) or preset (the user's default, see defaults.py: the step is skipped, the summary's ✏️ button
changes it).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.catalog.model import InputRule, Mode, Order, PromptRule
from bot.telegram.wizard.defaults import Defaults

ALL_MODELS = "all"
# An order started by sending something outside the wizard: the "category" is what was sent, the
# models offered are those that start from it, and the sent photo / text is kept in a "seed" choice.
PHOTO_START = "from_photo"
TEXT_START = "from_text"
START_MODES: dict[str, Mode] = {PHOTO_START: Mode.I2V, TEXT_START: Mode.T2V}
# "🔁 Same as last time": the model of the user's latest order, preset with its settings (the model
# list, if the user changes the model, is every model).
SAME_AS_LAST = "last"


@dataclass
class Choice:
    step: str  # seed | category | model | mode | ratio | opt:<key> | input:<kind> | prompt
    value: Any  # str, or a file ref dict for inputs
    auto: bool = False  # filled in because there was only one possibility
    preset: bool = False  # filled in from the user's defaults (or a text / photo sent earlier)

    @property
    def asked(self) -> bool:
        """The user gave this answer at its own step (Back returns to such steps only)."""
        return not (self.auto or self.preset)

    def as_list(self) -> list[Any]:
        return [self.step, self.value, self.auto, self.preset]

    @classmethod
    def from_list(cls, item: list[Any]) -> Choice:
        step, value, auto, *rest = item  # drafts saved before presets have three fields
        return cls(str(step), value, bool(auto), bool(rest[0]) if rest else False)


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
    INFO = "info", "info"  # the model step's ℹ️: a model's full card (value: its key; empty: the list again)

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
    # puts them back as they were, and the field's name (asked, not preset). None otherwise.
    before_edit: list[Choice] | None = None
    editing: str | None = None
    # What next_step presets instead of asking (taken when the draft began).
    defaults: Defaults = field(default_factory=Defaults)

    # --- storage in FSM data ------------------------------------------------------------------
    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "message_id": self.message_id,
            "choices": [c.as_list() for c in self.choices],
        }
        if self.before_edit is not None:
            data["before_edit"] = [c.as_list() for c in self.before_edit]
            data["editing"] = self.editing
        if self.defaults != Defaults():
            data["defaults"] = self.defaults.to_data()
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any] | None) -> Draft | None:
        if not data or "id" not in data:
            return None
        before = data.get("before_edit")
        return cls(
            id=str(data["id"]),
            message_id=data.get("message_id"),
            choices=[Choice.from_list(c) for c in data.get("choices", [])],
            before_edit=None if before is None else [Choice.from_list(c) for c in before],
            editing=data.get("editing"),
            defaults=Defaults.from_data(data.get("defaults")),
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

    def add(self, step: str, value: Any, *, auto: bool = False, preset: bool = False) -> None:
        self.choices.append(Choice(step, value, auto, preset))

    def fill(self, step: Step) -> None:
        """Take the answers next_step found to have one possibility (once per computed step)."""
        self.choices.extend(step.filled)

    def copy(self) -> Draft:
        before = None if self.before_edit is None else list(self.before_edit)
        return Draft(self.id, self.message_id, list(self.choices), before, self.editing, self.defaults)

    def editable_fields(self) -> list[str]:
        """The fields the user chose or that were preset (not those with a single possible
        answer), in the order they were answered: each can be asked again (start_edit). Files count
        as one field."""
        found: list[str] = []
        for choice in self.choices:
            name = "input" if choice.step.startswith("input:") else choice.step
            if choice.auto or name == "category" or name in found:
                continue
            found.append(name)
        return found

    def start_edit(self, name: str) -> bool:
        """Ask field `name` (see editable_fields) again and keep every other choice; False when the
        draft has no such field. Automatic and preset answers go too: next_step fills in again what
        has one possibility or a default, and `prune` drops what the new answer makes invalid."""
        if name not in self.editable_fields():
            return False
        if self.before_edit is None:
            self.before_edit = list(self.choices)
        self.editing = name

        def dropped(choice: Choice) -> bool:
            step = "input" if choice.step.startswith("input:") else choice.step
            if step == "seed":
                return False  # what the order began with: its photo and text are preset again
            return not choice.asked or step == name

        self.choices = [c for c in self.choices if not dropped(c)]
        return True

    def end_edit(self) -> None:
        self.before_edit = None
        self.editing = None

    def back(self) -> bool:
        """Undo the last choice the user made at its step (and the automatic and preset ones
        after the one before it). While a field is asked again, put the choices back as they were."""
        if self.before_edit is not None:
            self.choices = self.before_edit
            self.end_edit()
            return True
        while self.choices and not self.choices[-1].asked:
            self.choices.pop()
        if not self.choices:
            return False
        self.choices.pop()
        while self.choices and not self.choices[-1].asked:
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
