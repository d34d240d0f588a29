"""What the catalog makes of a draft: the next step to ask, and which choices stay valid together.

Pure functions of a Draft and the Catalog (bot/telegram/wizard/draft.py holds the draft itself).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.catalog.model import Catalog, InputKind, InputRule, InvalidOrder, ModelEntry, PromptRule
from bot.telegram.wizard.defaults import Defaults
from bot.telegram.wizard.draft import ALL_MODELS, SAME_AS_LAST, START_MODES, Action, Choice, Draft, Step
from bot.telegram.wizard.inputs import normalize_mime


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
    for step in ("seed", "category", "model", "mode"):
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


def last_model(catalog: Catalog, defaults: Defaults) -> ModelEntry | None:
    """The model of the user's latest order while the menu still offers it ("Same as last time")."""
    return catalog.get_offerable(defaults.last_model) if defaults.last_model else None


def same_as_last(catalog: Catalog, defaults: Defaults) -> Draft | None:
    """What "🔁 Same as last time" presets (model, mode, ratio, options); None when not offered."""
    if last_model(catalog, defaults) is None:
        return None
    probe = Draft(id="", defaults=defaults)
    probe.add("category", SAME_AS_LAST)
    probe.fill(next_step(probe, catalog))
    return probe


def first_step_values(catalog: Catalog, defaults: Defaults) -> tuple[str, ...]:
    last = (SAME_AS_LAST,) if last_model(catalog, defaults) is not None else ()
    return (*last, ALL_MODELS, *catalog.categories())


def options_before(entry: ModelEntry, mode: str, key: str, chosen: dict[str, str]) -> dict[str, str]:
    """The chosen options declared before `key`: an option asked again offers every value that fits
    those (a later option the new value rules out is dropped by `prune` and filled in again)."""
    keys = [o.key for o in entry.options_for(mode)]
    return {k: v for k, v in chosen.items() if k in keys and keys.index(k) < keys.index(key)}


def next_step(draft: Draft, catalog: Catalog) -> Step:
    """The first unanswered step. Pure: `draft` (with the defaults it carries) is not changed.
    Steps with one possible answer, and mode, ratio and options (the user's defaults, see
    defaults.py) unless that field is being asked again (Draft.editing), are not asked: their
    answers are returned in Step.filled for the caller to keep."""
    defaults, editing = draft.defaults, draft.editing
    work = draft.copy()  # the answers filled in below go here, never into `draft`

    def ask(step: Step) -> Step:
        return replace(step, filled=tuple(work.choices[len(draft.choices) :]))

    if draft.model is None:
        if draft.category is None:
            return Step(Action.CATEGORY, values=first_step_values(catalog, defaults))
        last = last_model(catalog, defaults) if draft.category == SAME_AS_LAST else None
        if last is not None and editing != "model":
            work.add("model", last.key, preset=True)
        else:
            # Only what the menu offers now (not retired, listed by KIE): a hidden model's old
            # button is then "out of date", because its key is not among the step's values.
            if draft.category in START_MODES:
                models = models_starting_from(catalog, draft.category)
            elif draft.category in (ALL_MODELS, SAME_AS_LAST):
                models = catalog.offerable()
            else:
                models = catalog.in_category(draft.category)
            return Step(Action.MODEL, values=tuple(e.key for e in models))
    entry = catalog.get(work.model or "")
    assert entry is not None, "draft names a model the catalog does not have"

    start_mode = START_MODES.get(draft.category or "")
    if work.mode is None and start_mode is not None and start_mode in entry.modes:
        work.add("mode", start_mode.value, auto=True)  # what the user sent decides the mode
    if work.mode is None:
        # A draft started before its model was hidden keeps the model's modes (nothing else to offer).
        modes = catalog.offered_modes(entry) or tuple(entry.modes)
        if len(modes) == 1:
            work.add("mode", modes[0], auto=True)
        elif editing == "mode":
            return ask(Step(Action.MODE, values=modes))
        else:  # a mode KIE reports trouble with is not preset while another one is fine
            healthy = tuple(m for m in modes if not catalog.is_degraded(entry, m)) or modes
            work.add("mode", defaults.mode(entry.key, healthy), preset=True)
    mode = work.mode
    assert mode is not None
    ratios = entry.ratios_for(mode)
    if ratios and work.ratio is None:
        if len(ratios) == 1:
            work.add("ratio", ratios[0], auto=True)
        elif editing == "ratio":
            return ask(Step(Action.RATIO, values=ratios_in_menu_order(ratios)))
        else:
            work.add("ratio", defaults.ratio_for(entry.key, ratios), preset=True)
    chosen = work.options
    # Options that cap an input's length (Kling Avatar's "up to N s" of audio): the input comes
    # first, and its length picks the smallest value that fits, instead of refusing a longer file.
    length_rules = {r.duration_option: r for r in entry.input_rules(mode) if r.duration_option}
    for option in entry.options_for(mode):
        if option.key in chosen:
            continue
        asked = editing == f"opt:{option.key}"
        fitting_with = options_before(entry, mode, option.key, chosen) if asked else chosen
        allowed = entry.allowed_values(mode, option.key, fitting_with)
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
        if len(allowed) == 1:
            work.add(f"opt:{option.key}", allowed[0], auto=True)
        elif asked:
            return ask(Step(Action.OPTION, option=option.key, values=allowed))
        else:
            work.add(f"opt:{option.key}", defaults.option(entry.key, option, allowed), preset=True)
        chosen = work.options
    seed_image = draft.seed.get("image")
    for rule in entry.input_rules(mode, chosen):
        have = len(work.files_of(rule.kind.value))
        usable = seed_image and editing != "input" and _seed_fits(seed_image, rule)
        if have == 0 and rule.kind is InputKind.IMAGE and usable:
            work.add("input:image", seed_image, preset=True)  # the photo that started the order
            seed_image = None
            have = 1
        if have < rule.count:
            return ask(Step(Action.INPUT, rule=rule, index=have))
    prompt_rule = entry.prompt_rule(mode)
    if work.prompt is None and prompt_rule.max_length > 0:
        kept = work.kept_prompt() if editing != "prompt" else None
        if kept and prompt_fits(prompt_rule, kept):
            work.add("prompt", kept, preset=True)
        else:
            return ask(Step(Action.PROMPT, prompt_rule=prompt_rule))
    return ask(Step(Action.SUMMARY))


def advance(draft: Draft, catalog: Catalog) -> Step:
    """Bring `draft` to its next step and return it: take what next_step fills in and, while a field
    is asked again, drop what the new answer rules out (also after answers filled in: a single
    mode, a preset option)."""
    if draft.before_edit is not None:
        for _round in range(len(draft.choices) + 3):
            draft.choices = prune(draft, catalog)
            step = next_step(draft, catalog)
            if not step.filled:
                break
            draft.fill(step)
    step = next_step(draft, catalog)
    draft.fill(step)
    return step


def is_last_input(entry: ModelEntry, draft: Draft, step: Step) -> bool:
    """True when `step` asks for the last file of the order and a prompt step comes next."""
    if step.rule is None or draft.mode is None or entry.prompt_rule(draft.mode).max_length <= 0:
        return False
    rules = entry.input_rules(draft.mode, draft.options)
    last = rules[-1] if rules else None
    return last is not None and last.kind == step.rule.kind and step.index == last.count - 1
