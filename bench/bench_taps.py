"""Taps from /generate to the summary with ✅ Confirm, for a new and a returning user, per model.

Run from the repository root: .venv/bin/python bench/bench_taps.py [--models N] [--languages en,ru]
Smallest run (a smoke test): --models 2 --languages en

Offline: the real bot (bot.app.run through tests/e2e/harness.running_bot, built-in KIE sandbox) polls
a FakeTelegram (a real HTTP fake Bot API on 127.0.0.1); a user is driven by tests/e2e/wizard_driver,
which presses only buttons the bot shows. A tap is a callback query the user sends; each is counted
by the driver and checked against the bot's answerCallbackQuery calls. Files and the prompt are
messages, not taps.

Per model (every model the menu offers, in menu order), a fresh user in each language:
* new user: /generate ▸ 📋 All models ▸ the model ▸ (files, prompt) ▸ the summary; Confirm;
* returning user: /generate ▸ 🔁 Same as last time ▸ (files, prompt) ▸ the summary.
Mode, ratio and options are preset (the user's last order of the model, else the recommended values),
so their steps are skipped. The figure per target is the worst model. Targets: a new user at most 5
taps, a returning user at most 3 (issue 13, item 4).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import load_average, print_table, verdict
from tests.e2e.harness import RunningBot, make_settings, running_bot
from tests.e2e.wizard_driver import WizardDriver
from tests.fakes.telegram import FakeTelegram, TgUser

NEW_USER_TARGET = 5
RETURNING_USER_TARGET = 3
FIRST_USER_ID = 910_001
GRANT = 100_000


class Counted:
    """Taps sent by a driver since the mark, checked against the bot's answers to them."""

    def __init__(self, user: WizardDriver) -> None:
        self.user = user
        self.taps = user.taps
        self.answers = len(user.fake.calls_of("answerCallbackQuery"))

    def taps_to_confirm(self) -> int:
        if self.user.step_action() != "ok":
            raise AssertionError(f"not at a summary with Confirm: {self.user.wizard_message().text}")
        taps = self.user.taps - self.taps
        answers = len(self.user.fake.calls_of("answerCallbackQuery")) - self.answers
        if taps != answers:
            raise AssertionError(f"{taps} taps sent but {answers} answered")
        return taps


async def walk(bot: RunningBot, fake: FakeTelegram, user_id: int, key: str, language: str) -> tuple[int, int]:
    """(taps for a new user, taps when returning) for model `key`."""
    client = fake.as_user(TgUser(id=user_id, first_name=f"B{user_id}", language_code=language))
    user = WizardDriver(fake, bot, client)
    await user.send("/start")
    await bot.components.billing.grant(admin_id=0, user_id=user_id, credits=GRANT, note="bench")
    catalog = bot.components.catalog
    entry = catalog.get(key)
    assert entry is not None
    mode = catalog.offered_modes(entry)[0]

    counted = Counted(user)
    await user.open()
    await user.tap("cat", "all")
    await user.tap("model", key)
    await user.send_inputs_and_prompt(key, mode)
    new = counted.taps_to_confirm()
    await user.confirm()

    counted = Counted(user)
    await user.open()
    await user.tap("cat", "last")
    await user.send_inputs_and_prompt(key, mode)
    returning = counted.taps_to_confirm()
    await user.tap("cancel")
    return new, returning


async def measure(args: argparse.Namespace) -> bool:
    fake = FakeTelegram()
    await fake.start()
    rows: list[tuple[str, str, int, int]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with running_bot(make_settings(Path(tmp), fake, None, log_level="WARNING")) as bot:
                models = bot.components.catalog.offerable()
                if args.models:
                    models = models[: args.models]
                user_id = FIRST_USER_ID
                for language in args.languages.split(","):
                    for entry in models:
                        new, returning = await walk(bot, fake, user_id, entry.key, language)
                        rows.append((language, entry.key, new, returning))
                        user_id += 1
    finally:
        await fake.stop()
    print_table(["language", "model", "new user", "returning user"], rows)
    worst_new = max(r[2] for r in rows)
    worst_returning = max(r[3] for r in rows)
    print(
        f"taps to Confirm: new user {worst_new} (target <={NEW_USER_TARGET}), "
        f"returning user {worst_returning} (target <={RETURNING_USER_TARGET}); "
        f"worst of {len(rows)} walks, the prompt and files not counted"
    )
    met_new = verdict("taps to Confirm, new user", worst_new, "<=", NEW_USER_TARGET, digits=0)
    met_returning = verdict(
        "taps to Confirm, returning user", worst_returning, "<=", RETURNING_USER_TARGET, digits=0
    )
    return met_new and met_returning


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=0, help="the first N offered models (0: all)")
    parser.add_argument("--languages", default="en,ru", help="comma-separated: en, ru")
    args = parser.parse_args()
    print(f"load average before: {load_average()}")
    logging.basicConfig(level=logging.WARNING)
    for name in ("aiogram", "bot", "tests"):
        logging.getLogger(name).setLevel(logging.WARNING)
    started = time.perf_counter()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(measure(args))
    print(f"total {time.perf_counter() - started:.0f} s; load average after: {load_average()}")


if __name__ == "__main__":
    main()
