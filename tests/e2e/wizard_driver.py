"""Drive the /generate wizard like a user: tap the buttons the bot shows, send the files it asks for.

The driver knows nothing of the wizard's internals beyond its callback data (WizardCallback) and the catalog:
it finds the button for a choice on the *current* wizard message and presses it, so a choice the
bot does not offer fails loudly instead of being forged. Tests that want to forge callbacks use
`forge` explicitly.

After every action it waits until the bot is idle (every pushed update acknowledged and no handler
running), so tests can read the chat state right away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pytest

from bot.catalog.model import Catalog, ModelEntry
from bot.telegram.wizard.rules import ratios_in_menu_order
from bot.telegram.wizard.view import WizardCallback, decode_field, encode_field, encode_ratio
from tests.e2e.harness import RunningBot
from tests.fakes.telegram import FakeTelegram, StoredMessage, UserClient

WIZARD_PREFIX = f"{WizardCallback.__prefix__}:"
CHOICE_ACTIONS = ("cat", "model", "mode", "ratio", "opt")
DEFAULT_PROMPT = "A red fox runs through fresh snow at sunrise, slow motion"
SENT_SECONDS = 3  # the length of audio and video the driver sends


def fake_bytes(kind: str, tag: str) -> bytes:
    """Small, recognisable file content: the upload to KIE must carry exactly these bytes."""
    magic = {"image": b"\xff\xd8\xff\xe0JFIF", "audio": b"ID3\x04", "video": b"\x00\x00\x00\x18ftypmp42"}
    return magic[kind] + f"|{tag}|".encode() + bytes(range(64))


@dataclass(frozen=True)
class SentInput:
    kind: str
    data: bytes


@dataclass
class WizardOrder:
    """What the driver chose on the way to the summary (for computing the expected KIE request)."""

    entry: ModelEntry
    mode: str
    ratio: str | None
    options: dict[str, str]
    prompt: str
    inputs: list[SentInput] = field(default_factory=list)


def parse_wizard_data(data: str) -> WizardCallback | None:
    if not data.startswith(WIZARD_PREFIX):
        return None
    try:
        return WizardCallback.unpack(data)
    except (TypeError, ValueError):
        return None


class WizardDriver:
    def __init__(self, fake: FakeTelegram, bot: RunningBot, user: UserClient) -> None:
        self.fake = fake
        self.bot = bot
        self.user = user
        self.taps = 0  # callback queries this driver sent (tests of the number of taps read it)

    @property
    def catalog(self) -> Catalog:
        return self.bot.components.catalog

    @property
    def chat_id(self) -> int:
        return self.user.id

    # --- waiting ----------------------------------------------------------------------------------

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until the bot took every update and no handler is running (twice in a row, so a
        handler that was just scheduled is not missed)."""
        deadline = time.monotonic() + timeout
        await self.fake.wait_updates_acknowledged(timeout)
        quiet = 0
        while quiet < 2:
            if time.monotonic() > deadline:
                raise AssertionError("the bot did not become idle")
            if self.bot.components.inflight.count == 0 and not self.fake.pending_updates:
                quiet += 1
            else:
                quiet = 0
            await asyncio.sleep(0.01)

    # --- reading the chat ---------------------------------------------------------------------------

    def find_wizard_message(self) -> StoredMessage | None:
        """The latest bot message that shows wizard buttons, if any."""
        for message in reversed(self.fake.messages(self.chat_id)):
            if any(d.startswith(WIZARD_PREFIX) for d in message.callback_datas):
                return message
        return None

    def wizard_message(self) -> StoredMessage:
        message = self.find_wizard_message()
        if message is None:
            raise AssertionError(f"no wizard message in chat {self.chat_id}: {self.texts()[-3:]}")
        return message

    def wizard_buttons(self, message: StoredMessage | None = None) -> list[tuple[str, WizardCallback]]:
        message = message or self.wizard_message()
        found = []
        for row in message.buttons:
            for button in row:
                parsed = parse_wizard_data(button.get("callback_data", ""))
                if parsed is not None:
                    found.append((button.get("text", ""), parsed))
        return found

    def choices(self, action: str) -> list[tuple[str, str]]:
        """(label, value) of the current wizard message's buttons for `action`."""
        return [(text, cb.value) for text, cb in self.wizard_buttons() if cb.action == action]

    def step_action(self) -> str | None:
        """The choice the current wizard message asks for (cat/model/mode/ratio/opt/ok), or None
        for a step that waits for a message (input, prompt)."""
        actions = {cb.action for _text, cb in self.wizard_buttons()}
        for action in (*CHOICE_ACTIONS, "ok"):
            if action in actions:
                return action
        return None

    @property
    def draft_id(self) -> str:
        return self.wizard_buttons()[0][1].draft

    def texts(self) -> list[str]:
        return [m.text or m.caption or "" for m in self.fake.messages(self.chat_id)]

    def last_text(self) -> str:
        last = self.fake.last_message(self.chat_id)
        assert last is not None, "the bot sent nothing"
        return last.text or ""

    # --- acting -----------------------------------------------------------------------------------

    async def send(self, text: str) -> None:
        await self.user.send_text(text)
        await self.settle()

    async def open(self) -> StoredMessage:
        await self.send("/generate")
        return self.wizard_message()

    async def tap(self, action: str, value: str = "") -> str:
        """Press the button for (action, value) on the current wizard message; returns the query id."""
        message = self.wizard_message()
        for row in message.buttons:
            for button in row:
                parsed = parse_wizard_data(button.get("callback_data", ""))
                if parsed is not None and parsed.action == action and parsed.value == value:
                    query_id = await self.user.click(message, button["callback_data"])
                    self.taps += 1
                    await self.settle()
                    return query_id
        raise AssertionError(
            f"no button {action}={value!r} on the wizard message; has "
            f"{[(cb.action, cb.value, text) for text, cb in self.wizard_buttons(message)]}"
        )

    async def tap_text(self, text: str) -> str:
        query_id = await self.user.click_button(text)
        self.taps += 1
        await self.settle()
        return query_id

    async def forge(self, data: str | WizardCallback, message: StoredMessage | None = None) -> str:
        """Send a callback query with arbitrary data, as a modified client could."""
        packed = data.pack() if isinstance(data, WizardCallback) else data
        target = message or self.wizard_message()
        query_id = await self.user.click(target, packed, strict=False)
        self.taps += 1
        await self.settle()
        return query_id

    def answer_text(self, query_id: str) -> str | None:
        answer = self.fake.callback_answer(query_id)
        assert answer is not None, f"callback query {query_id} was never answered"
        text = answer.params.get("text")
        return str(text) if text is not None else None

    async def send_input(
        self, kind: str, data: bytes, *, caption: str | None = None, duration: int = SENT_SECONDS
    ) -> None:
        if kind == "image":
            await self.user.send_photo(data, caption=caption)
        elif kind == "audio":
            await self.user.send_audio(data, duration=duration, caption=caption)
        elif kind == "video":
            await self.user.send_video(data, duration=duration, caption=caption)
        else:  # pragma: no cover - the catalog has no other kinds
            raise ValueError(kind)
        await self.settle()

    def editable(self) -> list[str]:
        """The fields the current wizard message has a ✏️ button for ("mode", "ratio", "opt:duration"...)."""
        return [decode_field(cb.value) for _text, cb in self.wizard_buttons() if cb.action == "edit"]

    async def change(self, name: str, action: str, value: str) -> None:
        """Change one field with its ✏️ button (at a file or prompt step, or on the summary)."""
        await self.tap("edit", encode_field(name))
        await self.tap(action, value)

    async def choose_model(self, key: str, category: str = "all") -> None:
        if self.find_wizard_message() is None or self.step_action() != "cat":
            await self.open()
        await self.tap("cat", category)
        await self.tap("model", key)

    async def walk_to_summary(
        self,
        key: str,
        mode: str | None = None,
        *,
        ratio: str | None = None,
        options: Mapping[str, str] | None = None,
        prompt: str = DEFAULT_PROMPT,
        caption_prompt: bool = False,
        tag: str = "in",
    ) -> WizardOrder:
        """From a fresh /generate to the summary, choosing `mode`, `ratio` and `options` (the entry's
        first mode, the first ratio shown and each option's default otherwise) with the ✏️ buttons
        of the first file or prompt step (the wizard presets them and skips their steps), then
        sending a file for every input slot and the prompt."""
        entry = self.catalog.get(key)
        assert entry is not None, key
        mode = mode or next(iter(entry.modes))
        wanted = dict(options or {})
        await self.open()
        await self.choose_model(key)
        assert self.step_action() is None, f"expected a file or prompt step, got {self.step_action()}"
        if "mode" in self.editable():
            await self.change("mode", "mode", mode)
        chosen_ratio: str | None = None
        if "ratio" in self.editable():
            chosen_ratio = ratio or ratios_in_menu_order(entry.ratios_for(mode))[0]
            await self.change("ratio", "ratio", encode_ratio(chosen_ratio))
        chosen: dict[str, str] = {}
        for option in entry.options_for(mode):
            if f"opt:{option.key}" in self.editable():
                value = wanted.get(option.key, option.default)
                await self.change(f"opt:{option.key}", "opt", f"{option.key}={value}")
                chosen[option.key] = value
        spec = entry.mode_spec(mode)
        if chosen_ratio is None and spec.ratios:
            assert len(spec.ratios) == 1, "the wizard skipped a ratio step it should have shown"
            chosen_ratio = spec.ratios[0]
        # Options the wizard did not ask about had a single allowed value, filled in by the wizard,
        # or cap an input's length: the file comes first and its length picks the smallest value.
        length_keys = {r.duration_option for r in spec.inputs if r.duration_option}
        resolved: dict[str, str] = {}
        for option in spec.options:
            if option.key in chosen:
                resolved[option.key] = chosen[option.key]
            elif option.key in length_keys:
                # The driver sends a file as long as the wanted value: that value is picked.
                allowed = entry.allowed_values(mode, option.key, resolved)
                seconds = int(wanted.get(option.key, SENT_SECONDS))
                resolved[option.key] = str(min(int(v) for v in allowed if int(v) >= seconds))
            else:
                allowed = entry.allowed_values(mode, option.key, resolved)
                assert len(allowed) == 1, f"the wizard skipped {option.key} with choices {allowed}"
                resolved[option.key] = allowed[0]
        order = WizardOrder(entry, mode, chosen_ratio, resolved, prompt)
        # Inputs whose length sets an option are asked first.
        rules = sorted(entry.input_rules(mode, resolved), key=lambda r: r.duration_option is None)
        prompt_sent = False
        for rule_index, rule in enumerate(rules):
            for n in range(rule.count):
                data = fake_bytes(rule.kind.value, f"{tag}-{rule.kind.value}-{rule_index}-{n}")
                caption = None
                is_last_file = rule_index == len(rules) - 1 and n == rule.count - 1
                if caption_prompt and is_last_file and rule.kind.value == "image" and prompt:
                    caption = prompt
                    prompt_sent = True
                assert self.step_action() is None, f"expected an input step, got {self.step_action()}"
                seconds = int(resolved[rule.duration_option]) if rule.duration_option else SENT_SECONDS
                await self.send_input(rule.kind.value, data, caption=caption, duration=seconds)
                order.inputs.append(SentInput(rule.kind.value, data))
        if spec.prompt.max_length > 0 and not prompt_sent:
            assert self.step_action() is None, f"expected the prompt step, got {self.step_action()}"
            if prompt:
                await self.send(prompt)
            else:
                await self.tap("skip")
        summary = self.wizard_message()
        # The summary: Confirm, or Buy credits instead when the balance is too low.
        assert self.step_action() == "ok" or "menu:buy" in summary.callback_datas, (
            f"expected the summary, got: {summary.text}"
        )
        return order

    async def send_inputs_and_prompt(self, key: str, mode: str, prompt: str = DEFAULT_PROMPT) -> None:
        """From the first file or prompt step of `key` in `mode`, with its options as the wizard
        preset them: a file for every input slot (the one whose length sets an option first), then
        the prompt. Sends messages only: no button is tapped."""
        entry = self.catalog.get(key)
        assert entry is not None, key
        rules = sorted(entry.input_rules(mode), key=lambda r: r.duration_option is None)
        for rule_index, rule in enumerate(rules):
            for n in range(rule.count):
                assert self.step_action() is None, f"expected an input step, got {self.step_action()}"
                data = fake_bytes(rule.kind.value, f"{key}-{rule_index}-{n}")
                await self.send_input(rule.kind.value, data)
        if entry.prompt_rule(mode).max_length > 0:
            assert self.step_action() is None, f"expected the prompt step, got {self.step_action()}"
            await self.send(prompt)

    async def confirm(self) -> str:
        """Tap Confirm and wait until the submission (upload + create) has run."""
        query_id = await self.tap("ok", "")
        await self.bot.components.generation.wait_submissions(timeout=10)
        return query_id


class BotErrorCollector(logging.Handler):
    """Records ERROR logs of the bot's error router: a handler crash turned into "error-generic"."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def fail_on_bot_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """The bot's error router swallows handler crashes (the user sees a polite message); in these
    tests any such crash is a bug. Import this fixture into a test module to enable it."""
    collector = BotErrorCollector()
    watched = logging.getLogger("bot.errors")
    watched.addHandler(collector)
    try:
        yield
    finally:
        watched.removeHandler(collector)
    if request.node.get_closest_marker("allow_handler_errors"):
        return
    if collector.records:
        formatter = logging.Formatter("%(name)s %(message)s")
        details = "\n".join(formatter.format(r) for r in collector.records[:3])
        pytest.fail(
            f"the bot's error router caught {len(collector.records)} crash(es):\n{details}", pytrace=False
        )
