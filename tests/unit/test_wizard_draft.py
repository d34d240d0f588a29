"""The wizard's pure parts: the draft and its next step, rendering's callback data, reading inputs."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from aiogram.types import Message

from bot.catalog import build_catalog
from bot.catalog.model import MB, InputKind, InputRule, ModelEntry
from bot.i18n import get_i18n
from bot.store.jobs import OrderSettings
from bot.store.users import UserRow
from bot.telegram.wizard.defaults import Defaults
from bot.telegram.wizard.draft import ALL_MODELS, PHOTO_START, SAME_AS_LAST, Draft, Step
from bot.telegram.wizard.inputs import InputProblem, read_input, rule_limits_text
from bot.telegram.wizard.rules import (
    advance,
    is_last_input,
    next_step,
    options_before,
    ratios_in_menu_order,
    same_as_last,
)
from bot.telegram.wizard.view import WizardCallback, decode_ratio, encode_ratio
from bot.telegram.wizard.view_steps import render

CATALOG = build_catalog()
CASES = [pytest.param(e.key, m, id=f"{e.key}-{m}") for e in CATALOG.offerable() for m in e.modes]
CALLBACK_DATA_LIMIT = 64  # bytes, Bot API


def entry(key: str) -> ModelEntry:
    found = CATALOG.get(key)
    assert found is not None
    return found


def fake_file(kind: str, n: int = 0) -> dict[str, Any]:
    mime = {"image": "image/jpeg", "audio": "audio/mpeg", "video": "video/mp4"}[kind]
    return {"kind": kind, "file_id": f"F{kind}{n}", "file_name": f"{kind}-{n}.bin", "mime_type": mime}


def walk(draft: Draft, *, pick: int = 0) -> Iterator[Step]:
    """Answer every step of `draft` (value index `pick`, clamped), yielding each step asked; as the
    wizard does (flow.py: advance), so a field asked again drops what its new value rules out."""
    while True:
        step = advance(draft, CATALOG)
        yield step
        if step.name == "summary":
            return
        if step.name in ("category", "model", "mode", "ratio"):
            draft.add(step.name, step.values[min(pick, len(step.values) - 1)])
        elif step.name == "option":
            draft.add(f"opt:{step.option}", step.values[min(pick, len(step.values) - 1)])
        elif step.name == "input":
            assert step.rule is not None
            draft.end_edit()  # as the wizard does when a file or the prompt arrives (messages.py)
            draft.add(f"input:{step.rule.kind.value}", fake_file(step.rule.kind.value, step.index))
        elif step.name == "prompt":
            draft.end_edit()
            draft.add("prompt", "a prompt")


# --- the draft ----------------------------------------------------------------------------------------


def test_draft_survives_fsm_storage() -> None:
    draft = Draft(id="abc", message_id=7)
    draft.add("category", ALL_MODELS)
    draft.add("model", "runway")
    draft.add("mode", "t2v")
    draft.add("opt:duration", "10")
    draft.add("opt:resolution", "720p", auto=True)
    draft.add("input:image", fake_file("image"))
    draft.add("prompt", "a cat", preset=True)
    draft.defaults = Defaults.from_history([OrderSettings("runway", "t2v", "4:3", {"duration": "10"})], "1:1")
    restored = Draft.from_data(draft.to_data())
    assert restored == draft
    assert restored is not None and restored.options == {"duration": "10", "resolution": "720p"}
    assert restored.files == [fake_file("image")] and restored.files_of("audio") == []
    assert Draft.from_data(None) is None and Draft.from_data({}) is None
    assert restored.choices[-1].preset and restored.defaults.last_model == "runway"
    assert restored.start_edit("prompt") and Draft.from_data(restored.to_data()) == restored
    # A draft saved before presets existed (three fields a choice) still loads.
    old = {"id": "x", "choices": [["category", ALL_MODELS, False], ["model", "aleph", False]]}
    loaded = Draft.from_data(old)
    assert loaded is not None and loaded.defaults == Defaults()
    steps = [(c.step, c.auto, c.preset) for c in loaded.choices]
    assert steps == [("category", False, False), ("model", False, False)]


def test_back_undoes_the_last_user_choice_and_what_was_filled_in_after_it() -> None:
    draft = Draft(id="d")
    draft.add("category", ALL_MODELS)
    draft.add("model", "aleph")
    draft.add("mode", "v2v", auto=True)
    assert draft.back()  # the automatic mode goes with the model
    assert [c.step for c in draft.choices] == ["category"]
    assert draft.back() and draft.choices == []
    assert not draft.back()

    draft = Draft(id="d")
    for step, value in (
        ("category", ALL_MODELS),
        ("model", "runway"),
        ("mode", "t2v"),
        ("ratio", "9:16"),
        ("opt:duration", "10"),
    ):
        draft.add(step, value)
    draft.fill(next_step(draft, CATALOG))  # fills resolution=720p: the only value allowed with 10 s
    assert draft.options == {"duration": "10", "resolution": "720p"} and draft.choices[-1].auto
    assert draft.back()
    assert draft.options == {} and draft.ratio == "9:16"


def test_order_carries_the_choices() -> None:
    draft = Draft(id="d")
    for step, value in (
        ("category", "fast"),
        ("model", "runway"),
        ("mode", "t2v"),
        ("ratio", "4:3"),
        ("opt:duration", "5"),
        ("opt:resolution", "1080p"),
        ("prompt", "waves"),
    ):
        draft.add(step, value)
    order = draft.order()
    assert (order.model_key, order.mode, order.ratio, order.options, order.prompt) == (
        "runway",
        "t2v",
        "4:3",
        {"duration": "5", "resolution": "1080p"},
        "waves",
    )
    CATALOG.validate(order)


# --- next_step over the whole catalog --------------------------------------------------------------------


def test_first_steps_are_category_then_model() -> None:
    draft = Draft(id="d")
    step = next_step(draft, CATALOG)
    assert step.name == "category" and step.values == (ALL_MODELS, *CATALOG.categories())
    draft.add("category", ALL_MODELS)
    step = next_step(draft, CATALOG)
    assert step.name == "model" and step.values == tuple(e.key for e in CATALOG.offerable())
    draft.back()
    draft.add("category", "avatar")
    assert next_step(draft, CATALOG).values == tuple(e.key for e in CATALOG.in_category("avatar"))


def _assert_orderable(draft: Draft, model: ModelEntry, mode: str) -> None:
    """The finished draft is an order the catalog accepts (with the files uploaded)."""
    assert set(draft.options) == {o.key for o in model.options_for(mode)}
    model.resolve_options(mode, draft.options)  # never a forbidden combination
    order = draft.order()
    CATALOG.validate(
        type(order)(
            order.model_key,
            order.mode,
            order.ratio,
            order.options,
            order.prompt,
            {k.value: tuple("u" for _ in range(n)) for k, n in _counts(model, mode).items()},
        )
    )


@pytest.mark.parametrize(("key", "mode"), CASES)
@pytest.mark.parametrize("pick", [0, 9])
def test_steps_follow_the_catalog(key: str, mode: str, pick: int) -> None:
    """Mode, ratio and options are preset (the catalog's defaults for a new user) and not asked: the
    steps a user sees are the files and the prompt, in a fixed order. Each preset field, asked again
    with its ✏️ button, offers exactly the catalog's choices; every finished draft is orderable."""
    model = entry(key)
    draft = Draft(id="d")
    draft.add("category", ALL_MODELS)
    draft.add("model", key)
    if len(model.modes) > 1:
        draft.add("mode", mode)
    steps = list(walk(draft, pick=pick))
    names = [s.name for s in steps]
    order = ["input", "prompt", "summary"]
    assert names == sorted(names, key=order.index), names
    assert draft.mode == mode
    ratios = model.ratios_for(mode)
    assert draft.ratio == (ratios[0] if ratios else None)  # the model's recommended ratio
    chosen: dict[str, str] = {}
    for option in model.options_for(mode):
        allowed = model.allowed_values(mode, option.key, chosen)
        if not any(r.duration_option == option.key for r in model.input_rules(mode)):
            assert draft.options[option.key] == (option.default if option.default in allowed else allowed[0])
        chosen[option.key] = draft.options[option.key]
    _assert_orderable(draft, model, mode)

    input_steps = [s for s in steps if s.name == "input"]
    # An input whose length sets an option (Kling Avatar's audio) is asked first.
    rules = sorted(model.input_rules(mode, draft.options), key=lambda r: r.duration_option is None)
    expected_inputs = [(r.kind, i) for r in rules for i in range(r.count)]
    assert [(s.rule.kind, s.index) for s in input_steps if s.rule] == expected_inputs
    assert ("prompt" in names) == (model.prompt_rule(mode).max_length > 0)

    # Every preset field asked again: the catalog's real choices, and back to the summary.
    preset = [c.step for c in draft.choices if c.preset]
    assert set(preset) <= set(draft.editable_fields())
    for name in (n for n in preset if n == "ratio" or n.startswith("opt:")):
        probe = Draft.from_data(draft.to_data())
        assert probe is not None and probe.start_edit(name)
        step = advance(probe, CATALOG)
        if name == "ratio":
            assert step.name == "ratio" and step.values == ratios_in_menu_order(ratios)
            assert ("9:16" not in ratios) or step.values[0] == "9:16"
        else:
            key_ = name[4:]
            assert step.name == "option" and step.option == key_
            before = options_before(model, mode, key_, probe.options)
            assert step.values == model.allowed_values(mode, key_, before)
        assert len(step.values) > 1, "a field with one possible answer has no ✏️ button"
        value = step.values[min(pick, len(step.values) - 1)]
        probe.add(name, value)
        assert [s.name for s in walk(probe, pick=pick)] == ["summary"]  # files and prompt kept
        assert probe.text(name) == value and probe.prompt == draft.prompt and probe.files == draft.files
        _assert_orderable(probe, model, mode)


def _counts(model: ModelEntry, mode: str) -> dict[InputKind, int]:
    return {r.kind: r.count for r in model.input_rules(mode)}


def test_forbidden_combinations_are_not_offered() -> None:
    draft = Draft(id="d")
    for step, value in (("category", ALL_MODELS), ("model", "hailuo23_pro"), ("opt:duration", "10")):
        draft.add(step, value)
    step = next_step(draft, CATALOG)
    draft.fill(step)
    assert step.name == "input" and draft.options == {"duration": "10", "resolution": "768P"}
    assert "opt:resolution" not in draft.editable_fields()  # the only value with 10 s
    draft.back()
    draft.add("opt:duration", "6")
    draft.fill(next_step(draft, CATALOG))
    assert draft.options == {"duration": "6", "resolution": "768P"}  # preset: the catalog's default
    assert draft.start_edit("opt:resolution")
    step = next_step(draft, CATALOG)
    assert step.name == "option" and step.values == ("768P", "1080P")


def test_an_option_asked_again_offers_every_value_that_fits_the_options_before_it() -> None:
    """Runway: 1080p only with 5 s. With 1080p chosen, ✏️ Duration still offers 10 s; taking it
    drops 1080p and the only resolution 10 s has is filled in."""
    draft = Draft(id="d")
    for step, value in (("category", ALL_MODELS), ("model", "runway"), ("mode", "t2v")):
        draft.add(step, value)
    assert advance(draft, CATALOG).name == "prompt"
    assert draft.start_edit("opt:resolution")
    draft.add("opt:resolution", advance(draft, CATALOG).values[-1])
    draft.add("prompt", "waves")
    assert advance(draft, CATALOG).name == "summary" and draft.options["resolution"] == "1080p"
    draft.end_edit()
    assert draft.start_edit("opt:duration")
    step = advance(draft, CATALOG)
    assert step.name == "option" and step.values == ("5", "10")
    draft.add("opt:duration", "10")
    assert advance(draft, CATALOG).name == "summary"
    assert draft.options == {"duration": "10", "resolution": "720p"} and draft.prompt == "waves"


# --- defaults: the user's last settings, "Same as last time" --------------------------------------------

HISTORY = [
    OrderSettings("kling25", "i2v", None, {"duration": "10"}),
    OrderSettings("runway", "t2v", "4:3", {"duration": "5", "resolution": "1080p"}),
    OrderSettings("wan25", "t2v", "21:9", {"duration": "99", "resolution": "1080p"}),  # 21:9, 99 s: gone
]


def drafted(key: str, defaults: Defaults) -> tuple[Draft, Step]:
    draft = Draft(id="d", defaults=defaults)
    draft.add("category", ALL_MODELS)
    draft.add("model", key)
    return draft, advance(draft, CATALOG)


def test_the_last_order_of_a_model_is_preset_and_its_steps_skipped() -> None:
    defaults = Defaults.from_history(HISTORY, ratio="1:1")
    draft, step = drafted("kling25", defaults)
    assert step.name == "input" and (draft.mode, draft.options) == ("i2v", {"duration": "10"})
    draft, step = drafted("runway", defaults)
    assert step.name == "prompt" and draft.ratio == "4:3" and draft.options["resolution"] == "1080p"
    assert all(c.preset for c in draft.choices[2:])
    assert draft.editable_fields() == ["model", "mode", "ratio", "opt:duration", "opt:resolution"]
    # Values the model no longer takes fall back: the user's last ratio, then the catalog's default.
    draft, _step = drafted("wan25", defaults)
    assert draft.ratio == "1:1" and draft.options == {"duration": "5", "resolution": "1080p"}
    # No history for the model: the catalog's first mode, the user's last ratio, the defaults.
    draft, _step = drafted("kling26", defaults)
    assert (draft.mode, draft.ratio, draft.options) == ("t2v", "1:1", {"duration": "5", "sound": "on"})
    draft, _step = drafted("veo_fast", Defaults())
    assert draft.ratio == "9:16" and draft.options == {"resolution": "720p"}
    # Back from the first file or prompt step skips the preset fields: the model list.
    assert draft.back() and draft.model is None and advance(draft, CATALOG).name == "model"


def test_same_as_last_time_goes_to_the_first_file_or_prompt_step_with_everything_preset() -> None:
    assert next_step(Draft(id="d"), CATALOG).values[0] == ALL_MODELS  # a new user: not offered
    defaults = Defaults.from_history(HISTORY, ratio="16:9")
    draft = Draft(id="d", defaults=defaults)
    first = advance(draft, CATALOG)
    assert first.name == "category" and first.values[:2] == (SAME_AS_LAST, ALL_MODELS)
    draft.add("category", SAME_AS_LAST)
    step = advance(draft, CATALOG)
    assert step.name == "input"
    assert (draft.model, draft.mode, draft.options) == ("kling25", "i2v", {"duration": "10"})
    assert [c.step for c in draft.choices if c.preset] == ["model", "mode", "opt:duration"]
    probe = same_as_last(CATALOG, defaults)
    assert probe is not None and probe.choices == draft.choices  # what the button's label describes
    # ✏️ Model offers every model; Back returns to the first step.
    changed = Draft.from_data(draft.to_data())
    assert changed is not None and changed.start_edit("model")
    step = advance(changed, CATALOG)
    assert step.name == "model" and step.values == tuple(e.key for e in CATALOG.offerable())
    assert draft.back() and draft.choices == [] and advance(draft, CATALOG).name == "category"
    # A retired (or hidden) last model is not offered.
    retired = Defaults.from_history([OrderSettings("sora2", "t2v", "9:16", {"duration": "10"})], None)
    assert SAME_AS_LAST not in next_step(Draft(id="d", defaults=retired), CATALOG).values
    assert same_as_last(CATALOG, retired) is None


def test_a_photo_and_text_sent_earlier_are_preset_and_can_be_changed() -> None:
    photo = {**fake_file("image"), "mime_type": "image/jpeg", "size": 1000}
    draft = Draft.started_with(PHOTO_START, image=photo, prompt="A cat jumps")
    draft.add("model", "kling25")
    assert advance(draft, CATALOG).name == "summary"
    assert draft.files == [photo] and draft.prompt == "A cat jumps"
    assert {"input", "prompt", "opt:duration"} <= set(draft.editable_fields())
    assert draft.start_edit("prompt")
    assert advance(draft, CATALOG).name == "prompt"  # asked, not filled in from the caption again
    draft.back()
    assert draft.start_edit("input")
    assert advance(draft, CATALOG).name == "input"  # a new photo, not the one sent first
    draft.end_edit()
    draft.add("input:image", fake_file("image", 1))
    assert advance(draft, CATALOG).name == "summary"
    assert draft.files == [fake_file("image", 1)] and draft.prompt == "A cat jumps"  # the text kept


def test_avatar_audio_is_capped_by_the_length_paid_for() -> None:
    draft = Draft(id="d")
    for step, value in (
        ("category", ALL_MODELS),
        ("model", "kavatar_pro"),
        ("opt:duration", "5"),
        ("input:image", fake_file("image")),
    ):
        draft.add(step, value)
    step = next_step(draft, CATALOG)
    assert step.name == "input" and step.rule is not None
    assert step.rule.kind is InputKind.AUDIO and step.rule.max_duration_s == 5


@pytest.mark.parametrize(
    ("key", "files", "last"),
    [
        ("veo_lite", 0, False),  # first of two frames
        ("veo_lite", 1, True),
        ("kavatar_std", 0, False),  # the photo; the audio comes next
    ],
)
def test_is_last_input(key: str, files: int, last: bool) -> None:
    model = entry(key)
    mode = "frames" if key == "veo_lite" else next(iter(model.modes))
    draft = Draft(id="d")
    for step_name, value in (("category", ALL_MODELS), ("model", key), ("mode", mode)):
        draft.add(step_name, value)
    if key == "veo_lite":
        draft.add("ratio", "9:16")
        draft.add("opt:resolution", "720p")
    else:
        draft.add("opt:duration", "5")
    for n in range(files):
        draft.add("input:image", fake_file("image", n))
    step = next_step(draft, CATALOG)
    assert step.name == "input"
    assert is_last_input(model, draft, step) is last


def test_ratios_in_menu_order_puts_9_16_first() -> None:
    assert ratios_in_menu_order(("16:9", "4:3", "9:16", "1:1")) == ("9:16", "16:9", "4:3", "1:1")
    assert ratios_in_menu_order(("16:9", "1:1")) == ("16:9", "1:1")


# --- rendering: every button fits Telegram's callback_data -------------------------------------------


def user_row(default_ratio: str | None = None, language: str = "en") -> UserRow:
    return UserRow(
        id=1,
        language=language,
        language_chosen=False,
        first_name="A",
        username=None,
        balance=0,
        default_ratio=default_ratio,
        created_at=0.0,
        last_seen_at=0.0,
    )


@pytest.fixture
def i18n_en() -> Iterator[None]:
    i18n = get_i18n()
    with i18n.context(), i18n.use_locale("en"):
        yield


@pytest.fixture(params=["en", "ru"])
def i18n_any(request: pytest.FixtureRequest) -> Iterator[str]:
    i18n = get_i18n()
    with i18n.context(), i18n.use_locale(request.param):
        yield str(request.param)


def walk_and_change(draft: Draft, *, pick: int) -> Iterator[Step]:
    """`walk` to the summary, then each mode, ratio and option asked again and answered."""
    yield from walk(draft, pick=pick)
    for name in list(draft.editable_fields()):
        if name in draft.editable_fields() and name not in ("model", "input", "prompt"):
            assert draft.start_edit(name)
            asked = advance(draft, CATALOG)
            yield asked
            if not asked.values:  # a single possible answer (a mode given by the test): filled in
                yield from walk(draft, pick=pick)
                continue
            value = asked.values[min(pick, len(asked.values) - 1)]
            draft.add(f"opt:{asked.option}" if asked.option else asked.name.value, value)
            yield from walk(draft, pick=pick)


@pytest.mark.parametrize(("key", "mode"), CASES)
def test_every_rendered_step_renders_and_its_buttons_pack_into_64_bytes(
    key: str, mode: str, i18n_any: str
) -> None:
    draft = Draft(id="Ab3-_x9Z")  # as long as new_draft_id() makes them
    draft.add("category", ALL_MODELS)
    draft.add("model", key)
    draft.add("mode", mode)
    for pick in (0, 9):
        probe = Draft.from_data(draft.to_data())
        assert probe is not None
        for step in walk_and_change(probe, pick=pick):
            text, markup = render(probe, step, user_row("9:16", i18n_any), 10_000, CATALOG)
            assert text and "{" not in text  # every placeholder filled
            for row in markup.inline_keyboard:
                for button in row:
                    data = button.callback_data or ""
                    assert 0 < len(data.encode()) <= CALLBACK_DATA_LIMIT, data
                    if data.startswith("w:"):
                        parsed = WizardCallback.unpack(data)
                        assert parsed.draft == draft.id
                        if parsed.action == "ratio":
                            assert decode_ratio(parsed.value) in entry(key).ratios_for(probe.mode or mode)


@pytest.mark.usefixtures("i18n_en")
def test_ratio_buttons_mark_the_current_value_and_shorts() -> None:
    draft = Draft(id="d", defaults=Defaults(ratio="4:3"))
    for step, value in (("category", ALL_MODELS), ("model", "runway"), ("mode", "t2v")):
        draft.add(step, value)
    advance(draft, CATALOG)
    assert draft.ratio == "4:3" and draft.start_edit("ratio")
    step = advance(draft, CATALOG)
    _text, markup = render(draft, step, user_row("4:3"), 0, CATALOG)
    labels = [b.text for row in markup.inline_keyboard for b in row]
    assert labels[0].startswith("📱 9:16") and "Shorts" in labels[0]
    assert "✓ 4:3" in labels and sum(label.startswith("✓") for label in labels) == 1


def test_every_catalog_ratio_survives_callback_encoding() -> None:
    ratios = {r for e in CATALOG.entries for m in e.modes for r in e.ratios_for(m)}
    for ratio in ratios:
        packed = WizardCallback(draft="d", action="ratio", value=encode_ratio(ratio)).pack()
        assert decode_ratio(WizardCallback.unpack(packed).value) == ratio


# --- reading inputs -----------------------------------------------------------------------------------


def message(**fields: Any) -> Message:
    return Message.model_validate(
        {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 5, "type": "private"},
            "from": {"id": 5, "is_bot": False, "first_name": "A"},
            **fields,
        }
    )


IMAGE_RULE = InputRule(InputKind.IMAGE, 1, ("image/jpeg", "image/png"), 10 * MB)
AUDIO_RULE = InputRule(InputKind.AUDIO, 1, ("audio/mpeg", "audio/ogg", "audio/wav"), 10 * MB, 15)
VIDEO_RULE = InputRule(InputKind.VIDEO, 1, ("video/mp4",), 20 * MB, 10)


def test_photo_takes_the_largest_size_and_a_fresh_file_name() -> None:
    photo = [
        {"file_id": f"p{i}", "file_unique_id": f"u{i}", "width": w, "height": w, "file_size": w * 10}
        for i, w in enumerate((90, 320, 1280))
    ]
    first = read_input(message(photo=photo, caption="a caption"), IMAGE_RULE)
    second = read_input(message(photo=photo), IMAGE_RULE)
    assert first.ref.file_id == "p2" and first.ref.mime_type == "image/jpeg" and first.caption == "a caption"
    # KIE overwrites an upload with the same name: every input gets its own.
    assert first.ref.file_name != second.ref.file_name
    assert first.ref.file_name.endswith(".jpg") and "/" not in first.ref.file_name


def test_documents_and_voice_notes() -> None:
    doc = read_input(
        message(
            document={
                "file_id": "d",
                "file_unique_id": "u",
                "file_name": "../x Y.PNG",
                "mime_type": "image/png",
                "file_size": 100,
            }
        ),
        IMAGE_RULE,
    )
    assert doc.ref.mime_type == "image/png" and doc.ref.file_name.endswith(".png")
    assert ".." not in doc.ref.file_name and " " not in doc.ref.file_name
    voice = read_input(message(voice={"file_id": "v", "file_unique_id": "u", "duration": 4}), AUDIO_RULE)
    assert (voice.ref.kind, voice.ref.mime_type, voice.ref.duration) == ("audio", "audio/ogg", 4)
    assert voice.ref.file_name.endswith(".ogg")
    mp3 = read_input(
        message(audio={"file_id": "a", "file_unique_id": "u", "duration": 3, "mime_type": "audio/mp3"}),
        AUDIO_RULE,
    )
    assert mp3.ref.mime_type == "audio/mpeg"  # an alias Telegram clients use


@pytest.mark.parametrize(
    ("fields", "rule", "key"),
    [
        (
            {
                "sticker": {
                    "file_id": "s",
                    "file_unique_id": "u",
                    "type": "regular",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                }
            },
            IMAGE_RULE,
            "input-wrong-file",
        ),
        (
            {
                "animation": {"file_id": "g", "file_unique_id": "u", "width": 1, "height": 1, "duration": 1},
                "document": {"file_id": "g", "file_unique_id": "u", "mime_type": "video/mp4"},
            },
            VIDEO_RULE,
            "input-wrong-file",
        ),
        ({"text": "hello"}, IMAGE_RULE, "input-wrong-file"),
        (
            {"document": {"file_id": "d", "file_unique_id": "u", "mime_type": "application/pdf"}},
            IMAGE_RULE,
            "input-wrong-file",
        ),
        (
            {"document": {"file_id": "d", "file_unique_id": "u", "mime_type": "image/webp"}},
            IMAGE_RULE,
            "input-wrong-file",
        ),
        (
            {
                "document": {
                    "file_id": "d",
                    "file_unique_id": "u",
                    "mime_type": "image/png",
                    "file_size": 11 * MB,
                }
            },
            IMAGE_RULE,
            "input-too-big",
        ),
        (
            {
                "video": {
                    "file_id": "v",
                    "file_unique_id": "u",
                    "width": 1,
                    "height": 1,
                    "duration": 5,
                    "mime_type": "video/mp4",
                    "file_size": 21 * MB,
                }
            },
            VIDEO_RULE,
            "input-too-big-telegram",
        ),
        (
            {
                "video": {
                    "file_id": "v",
                    "file_unique_id": "u",
                    "width": 1,
                    "height": 1,
                    "duration": 11,
                    "mime_type": "video/mp4",
                }
            },
            VIDEO_RULE,
            "input-too-long",
        ),
        ({"audio": {"file_id": "a", "file_unique_id": "u", "duration": 16}}, AUDIO_RULE, "input-too-long"),
        (
            {"photo": [{"file_id": "p", "file_unique_id": "u", "width": 1, "height": 1}]},
            AUDIO_RULE,
            "input-wrong-file",
        ),
    ],
)
def test_refusals_name_the_problem(fields: dict[str, Any], rule: InputRule, key: str) -> None:
    with pytest.raises(InputProblem) as caught:
        read_input(message(**fields), rule)
    assert caught.value.key == key


@pytest.mark.usefixtures("i18n_en")
def test_limits_text_mentions_a_length_only_when_there_is_one() -> None:
    assert rule_limits_text(IMAGE_RULE) == "JPG, PNG, up to 10 MB"
    assert rule_limits_text(VIDEO_RULE) == "MP4, up to 20 MB, at most 10 s"


# --- next_step is pure: computed once per draft state, it changes nothing -------------------------------


def _snapshot(draft: Draft) -> dict[str, Any]:
    return copy.deepcopy(draft.to_data())


@pytest.mark.parametrize(("key", "mode"), CASES)
@pytest.mark.parametrize("pick", [0, 9])
def test_next_step_is_pure(key: str, mode: str, pick: int) -> None:
    """Same draft in, same step out, draft unchanged: at every step of every model and mode."""
    draft = Draft(id="d")
    draft.add("category", ALL_MODELS)
    draft.add("model", key)
    if len(entry(key).modes) > 1:
        draft.add("mode", mode)
    for _ in range(50):  # far more steps than any model has
        before = _snapshot(draft)
        first = next_step(draft, CATALOG)
        assert _snapshot(draft) == before, "next_step changed the draft"
        assert next_step(draft, CATALOG) == first, "same draft, another step"
        draft.fill(first)
        # Filled in once, there is nothing more to fill: the step stays, with nothing to add.
        assert next_step(draft, CATALOG) == replace(first, filled=())
        if first.name == "summary":
            return
        _answer(draft, first, pick)
    raise AssertionError("the wizard never reached the summary")


def _answer(draft: Draft, step: Step, pick: int) -> None:
    """The walk's answer to `step` (see walk), without asking next_step again."""
    if step.name in ("category", "model", "mode", "ratio"):
        draft.add(step.name, step.values[min(pick, len(step.values) - 1)])
    elif step.name == "option":
        draft.add(f"opt:{step.option}", step.values[min(pick, len(step.values) - 1)])
    elif step.name == "input":
        assert step.rule is not None
        draft.add(f"input:{step.rule.kind.value}", fake_file(step.rule.kind.value, step.index))
    elif step.name == "prompt":
        draft.add("prompt", "a prompt")


def test_next_step_reports_what_it_would_fill_in_without_filling_it() -> None:
    draft = Draft(id="d")
    for step, value in (("category", ALL_MODELS), ("model", "aleph")):
        draft.add(step, value)
    step = next_step(draft, CATALOG)
    assert [c.step for c in draft.choices] == ["category", "model"], "the draft is untouched"
    assert [(c.step, c.value, c.auto) for c in step.filled][:1] == [("mode", "v2v", True)]
    draft.fill(step)
    assert draft.mode == "v2v" and draft.choices[-1].auto
