"""Wizard taps per second with 500 users over HTTP, against a bare aiogram bot on the same fake.

Run from the repository root: .venv/bin/python bench/bench_wizard.py [--users N] [--taps N] [--runs N]
[--warmup-users N] [--in-process] [--production-logging] [--profile N]
Smallest run (a smoke test): --users 5 --taps 3 --runs 1 --warmup-users 2

Each bot polls its own FakeTelegram (a real HTTP fake Bot API on 127.0.0.1):

1. the real bot: bot.app.run through tests/e2e/harness.running_bot (built-in KIE sandbox; taps before
   Confirm never reach KIE): every middleware, the wizard router, SQLite;
2. a bare aiogram 3 bot: a Dispatcher with one callback_query handler that answers the query and
   edits the message text and keyboard, i.e. the same two Bot API calls per tap as a wizard step,
   with the same messages: it sends, in turn, the texts and keyboards the real wizard sent in its
   warm-up (Replay), so both bots move the same bytes and the ratio measures the real bot's own
   work per tap (middlewares, routing, the draft, rendering), not the size of its messages.

A run: N fresh users each send /generate (not timed), then every user taps buttons of the bot's
*latest* message, one tap at a time: the next tap is pushed as soon as the previous one was answered
*and* its edit arrived, so every tap is a valid button of the current draft (forward through
category > model > mode > ratio > options until the wizard asks for a file or a prompt, then Back
to the category step, and again). All users tap in parallel (a closed loop of N users), the same
scheme for both bots. Fresh users per run keep each run inside the bot's 60 s user cache.

Latency is tap-to-answer: from pushing the callback_query update into the fake to the bot's
answerCallbackQuery reaching the fake. Throughput counts taps whose answer and edit both arrived.
Runs alternate real/bare so load from other processes hits both alike; figures are medians.
Targets (issue 15): real taps/s >= 0.9 x bare taps/s, p99 tap-to-answer <= 1.5 x the bare bot's;
the verdict lines say whether they are met. Each run line also prints the CPU per tap of this
process (the fakes and users) and of the bot's own process.

Each bot runs as a process of its own, as deployed: `python -m bot`, configured through the
environment as in production, and the bare bot as this file with --serve-bare; both take their
start-up heap out of the garbage collector's full passes (bot/app.py, freeze_startup_heap), so the
ratio compares the work per tap, not a collector setting. The fakes and the users stay in this
process. --in-process puts both bots on this process's event loop instead (what --profile needs to
see the bot): every figure then includes the fakes' work, and the collector's full passes walk the
fakes' records of every earlier run (measured: 18-24 passes, 3.7-6.9 s of a 22 s run) and land in
whichever run they happen to, which decides the ratio more than either bot does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import logging
import os
import pstats
import random
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bench._support import (
    REPO_ROOT,
    BotProcess,
    cpu_seconds,
    load_average,
    percentile,
    print_table,
    verdict,
    wait_for,
)
from bot.app import freeze_startup_heap
from bot.logging_setup import setup_logging
from bot.telegram.wizard.view import WizardCallback
from tests.e2e.harness import free_port, make_settings, running_bot
from tests.fakes.telegram import Call, FakeTelegram, StoredMessage, TgUser

TARGET_RATIO = 0.9  # issue 15
P99_TARGET_FACTOR = 1.5  # issue 15: p99 tap-to-answer within 1.5x the bare bot's
FIRST_USER_ID = 900_001
USER_IDS_PER_RUN = 100_000
WIZARD_PREFIX = f"{WizardCallback.__prefix__}:"
CHOICE_ACTIONS = frozenset({"cat", "model", "mode", "ratio", "opt"})
TAP_TIMEOUT_S = 120.0  # a guard against a hang, not a target: under heavy load p99 reaches ~25 s
OPEN_TIMEOUT_S = 120.0
START_TIMEOUT_S = 90.0  # `import aiogram` alone takes seconds of CPU on a busy machine


# --- the fake, with a stopwatch ---------------------------------------------------------------------


class TimedFakeTelegram(FakeTelegram):
    """FakeTelegram that timestamps answers and edits as they are recorded.

    The fake's own lookups (`callback_answer`, `wait_for`) scan every call recorded so far, which
    would make the load generator quadratic; this keeps O(1) indexes instead. It hooks the fake's
    private `_record` (called once per finished Bot API call): if that is renamed, update it here.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answered_at: dict[str, float] = {}  # callback_query_id -> perf_counter
        self.answer_alerts = 0  # answers with a text: stale/invalid taps
        self.edits_by_chat: Counter[int] = Counter()  # editMessageText calls per chat
        self.failed_calls = 0
        # A user waiting for its tap: woken by an answer to its query or an edit in its chat (one
        # event per user: a shared one would wake all 500 users on every call).
        self.chat_waiters: dict[int, asyncio.Event] = {}
        self.query_chats: dict[str, int] = {}

    async def _record(self, call: Call) -> None:
        await super()._record(call)
        if call.error is not None:
            self.failed_calls += 1
        chat_id: int | None = None
        if call.method == "answerCallbackQuery":
            query_id = str(call.params.get("callback_query_id"))
            self.answered_at[query_id] = time.perf_counter()
            chat_id = self.query_chats.pop(query_id, None)
            if call.params.get("text") or call.params.get("show_alert"):
                self.answer_alerts += 1
        elif call.method == "editMessageText" and call.ok:
            chat = call.params.get("chat_id")
            if isinstance(chat, int):
                chat_id = chat
                self.edits_by_chat[chat] += 1
        if chat_id is not None and (waiter := self.chat_waiters.get(chat_id)) is not None:
            waiter.set()

    def api_calls(self) -> int:
        """Bot API calls recorded so far (getUpdates is not recorded: record_polling is off)."""
        return len(self.calls)


# --- what a user taps next ----------------------------------------------------------------------------


class TapPlanner:
    """Picks the next valid button for a user from the bot's latest message."""

    def next_tap(self, fake: FakeTelegram, chat_id: int) -> tuple[StoredMessage, str]:
        raise NotImplementedError

    def label(self, chat_id: int, callback_data: str) -> str:
        """What kind of tap this is, for the per-kind latency table."""
        return "tap"


class WizardWalk(TapPlanner):
    """Forward through the wizard's choice buttons until it asks for a file or prompt, then Back to
    the category step, and again; choices are random but seeded by chat id (reproducible)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rngs: dict[int, random.Random] = {}
        self.going_back: dict[int, bool] = {}
        self.previous_action: dict[int, str] = {}

    def next_tap(self, fake: FakeTelegram, chat_id: int) -> tuple[StoredMessage, str]:
        message = wizard_message(fake, chat_id)
        buttons = [
            (data, wizard_action(data)) for data in message.callback_datas if data.startswith(WIZARD_PREFIX)
        ]
        choices = [data for data, action in buttons if action in CHOICE_ACTIONS]
        back = [data for data, action in buttons if action == "back"]
        if not choices:
            self.going_back[chat_id] = True
        elif not back:
            self.going_back[chat_id] = False
        if self.going_back.get(chat_id) and back:
            return message, back[0]
        if not choices:
            raise AssertionError(f"chat {chat_id}: no choice and no Back on the wizard message: {buttons}")
        rng = self.rngs.setdefault(chat_id, random.Random(self.seed * 1_000_003 + chat_id))
        return message, rng.choice(choices)

    def label(self, chat_id: int, callback_data: str) -> str:
        # A ratio tap saves the user's default ratio and drops the cached user row, so the next
        # tap of that user registers them again (a write transaction): labelled apart.
        action = wizard_action(callback_data)
        after_ratio = self.previous_action.get(chat_id) == "ratio"
        self.previous_action[chat_id] = action
        return f"{action} after ratio" if after_ratio else action


def wizard_action(data: str) -> str:
    """The action of a wizard button's data ("w:<draft>:<action>:<value>", WizardCallback's wire
    format). Split, not WizardCallback.unpack: that builds a pydantic model per button, and the
    planner reads every button of every message in this process, on the real bot's loop (the bare
    bot's planner picks any button), which would charge the bot for the bench's own work."""
    return data.split(WizardCallback.__separator__, 3)[2]


def wizard_message(fake: FakeTelegram, chat_id: int) -> StoredMessage:
    for message in reversed(fake.messages(chat_id)):
        if any(d.startswith(WIZARD_PREFIX) for d in message.callback_datas):
            return message
    raise AssertionError(f"chat {chat_id}: no wizard message")


class AnyButton(TapPlanner):
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def next_tap(self, fake: FakeTelegram, chat_id: int) -> tuple[StoredMessage, str]:
        message = fake.last_message(chat_id)
        assert message is not None and message.callback_datas, f"chat {chat_id}: no buttons"
        return message, self.rng.choice(message.callback_datas)


# --- the bare aiogram bot -----------------------------------------------------------------------------


# One recorded wizard message: its HTML text and its keyboard as rows of (button text, callback_data).
Shape = tuple[str, list[list[tuple[str, str]]]]


class Replay:
    """The real wizard's messages, for the bare bot to send in turn: the same text and keyboard sizes,
    so the ratio measures the real bot's own work per tap, not how much bigger its messages are (the
    model step lists up to 26 models with a card line and an ℹ️ button each; a callback_query update
    carries the whole message back, so Telegram, aiogram and the fake all handle it twice per tap).
    Button data keeps its length but starts with "b:" so the bare bot's one handler takes it."""

    def __init__(self, shapes: list[Shape]) -> None:
        if not shapes:
            raise ValueError("no wizard messages recorded to replay")
        self.shapes = shapes
        self.turn = 0
        self.shown: dict[int, int] = {}  # chat id -> index of the shape it shows
        self.all_alike = len({repr(shape) for shape in shapes}) == 1

    @classmethod
    def recorded(cls, fake: FakeTelegram) -> Replay:
        shapes: list[Shape] = []
        for call in fake.calls_of("editMessageText"):
            markup = call.params.get("reply_markup")
            if isinstance(markup, str):
                markup = json.loads(markup)
            rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
            keyboard = [
                [(button["text"], bare_data(str(button.get("callback_data", "")))) for button in row]
                for row in rows
            ]
            if keyboard:  # the bare bot's users tap one of its buttons next
                shapes.append((str(call.params.get("text", "")), keyboard))
        return cls(shapes)

    def next_shape(self, chat_id: int) -> Shape:
        """The next message in turn; never the one this chat shows now (Telegram refuses an edit that
        changes nothing: "message is not modified")."""
        shown = self.shown.get(chat_id)
        while True:
            index = self.turn % len(self.shapes)
            self.turn += 1
            if shown is None or self.all_alike or self.shapes[index] != self.shapes[shown]:
                self.shown[chat_id] = index
                return self.shapes[index]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.shapes, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Replay:
        shapes = json.loads(path.read_text(encoding="utf-8"))
        return cls([(text, [[(b[0], b[1]) for b in row] for row in rows]) for text, rows in shapes])


def bare_data(real_data: str) -> str:
    return ("b:" + real_data[2:]) if len(real_data) > 2 else "b:x"


def make_bare_dispatcher(replay: Replay) -> Dispatcher:
    router = Router(name="bare")

    def keyboard(rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup:
        # Built on every tap, as a bot builds its keyboards.
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text=text, callback_data=data) for text, data in row] for row in rows
            ]
        )

    @router.message(Command("generate"))
    async def open_menu(message: Message) -> None:
        text, rows = replay.next_shape(message.chat.id)
        await message.answer(text, reply_markup=keyboard(rows))

    @router.callback_query(F.data.startswith("b:"))
    async def tap(query: CallbackQuery) -> None:
        # Same order as the wizard: answer first (the spinner stops), then edit in place.
        await query.answer()
        if isinstance(query.message, Message):
            text, rows = replay.next_shape(query.message.chat.id)
            await query.message.edit_text(text, reply_markup=keyboard(rows))

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher


def make_bare_bot(token: str, api_base: str) -> Bot:
    return Bot(
        token,
        session=AiohttpSession(api=TelegramAPIServer.from_base(api_base)),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


async def serve_bare(token: str, api_base: str, replay_path: Path) -> None:
    """The bare bot as a process of its own (--serve-bare): polls until SIGTERM."""
    bot = make_bare_bot(token, api_base)
    dispatcher = make_bare_dispatcher(Replay.load(replay_path))
    freeze_startup_heap()  # as `python -m bot` does once started
    await dispatcher.start_polling(
        bot, polling_timeout=1, allowed_updates=dispatcher.resolve_used_update_types()
    )


async def first_poll(fake: FakeTelegram, gone: Callable[[], bool], what: str) -> None:
    """Wait until the bot long-polls (it takes updates from now on), failing fast if it died."""
    await wait_for(lambda: fake.parked_polls > 0 or gone(), START_TIMEOUT_S, f"{what}'s first poll")
    if gone():
        raise RuntimeError(f"{what} stopped before polling")


@contextlib.asynccontextmanager
async def bare_in_process(fake: FakeTelegram, replay: Replay) -> AsyncIterator[None]:
    bot = make_bare_bot(fake.token, fake.base_url)
    dispatcher = make_bare_dispatcher(replay)
    polling = asyncio.create_task(
        dispatcher.start_polling(
            bot,
            handle_signals=False,
            close_bot_session=False,
            polling_timeout=1,
            allowed_updates=dispatcher.resolve_used_update_types(),
        )
    )
    try:
        await first_poll(fake, polling.done, "the bare bot")
        yield
    finally:
        with contextlib.suppress(RuntimeError):
            await dispatcher.stop_polling()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(polling, 10)
        await bot.session.close()


@contextlib.asynccontextmanager
async def bare_process(fake: FakeTelegram, workdir: Path, replay: Replay) -> AsyncIterator[int]:
    replay_path = workdir / "replay.json"
    replay.save(replay_path)
    with open(workdir / "bare.log", "wb") as log:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve-bare",
            fake.token,
            fake.base_url,
            str(replay_path),
            cwd=workdir,
            stdout=log,
            stderr=log,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
    try:
        await first_poll(fake, lambda: child.returncode is not None, "the bare bot process")
        yield child.pid
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(child.wait(), 15)
            except TimeoutError:
                child.kill()
                await child.wait()


# --- the real bot -------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def real_in_process(fake: FakeTelegram, workdir: Path) -> AsyncIterator[None]:
    async with running_bot(make_settings(workdir, fake, None)):
        yield


@contextlib.asynccontextmanager
async def real_process(fake: FakeTelegram, workdir: Path, log_level: str) -> AsyncIterator[int]:
    port = free_port()
    env = {
        "BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE": fake.base_url,
        "DATABASE_PATH": str(workdir / "bot.sqlite3"),
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
        "KIE_SANDBOX": "true",
        "LOG_LEVEL": log_level,
        # Simulated users tap faster than people and the fake enforces no flood limits: the outgoing
        # pace (one message a second per chat) is lifted, as for the bare bot it is compared with.
        "TELEGRAM_MAX_MESSAGES_PER_S": "1000",
        "TELEGRAM_MAX_PER_CHAT_PER_S": "1000",
    }
    child = BotProcess(env, workdir)
    child.start()
    try:
        await child.wait_healthy(port, START_TIMEOUT_S)
        await first_poll(
            fake, lambda: child.process is None or child.process.poll() is not None, "the bot process"
        )
        yield child.pid
    finally:
        await child.stop()


# --- the load -----------------------------------------------------------------------------------------


@dataclass
class Subject:
    """One bot under test with its fake."""

    name: str
    fake: TimedFakeTelegram
    planner: TapPlanner
    pid: int | None = None  # the bot's process, when it runs in one of its own


@dataclass(frozen=True)
class RunResult:
    taps: int
    duration_s: float
    taps_per_s: float
    p50_ms: float
    p99_ms: float
    calls_per_tap: float
    methods: dict[str, int]
    invalid_taps: int
    failed_calls: int
    samples: list[tuple[str, float]]  # (tap label, tap-to-answer seconds)
    cpu_ms_per_tap: float  # this process's CPU (the fakes and users; with --in-process, the bots too)
    bot_cpu_ms_per_tap: float | None  # the bot's own process's CPU (None with --in-process)


async def open_wizards(subject: Subject, users: list[TgUser]) -> float:
    """Every user sends /generate at once; returns seconds until every chat shows buttons."""
    started = time.perf_counter()
    await asyncio.gather(*(subject.fake.send_text(user, "/generate") for user in users))
    await wait_for(
        lambda: all(subject.fake.last_message(u.id) is not None for u in users),
        OPEN_TIMEOUT_S,
        f"{subject.name}: a menu in every chat",
    )
    return time.perf_counter() - started


async def one_user(subject: Subject, user: TgUser, taps: int, samples: list[tuple[str, float]]) -> None:
    fake = subject.fake
    for _ in range(taps):
        message, data = subject.planner.next_tap(fake, user.id)
        label = subject.planner.label(user.id, data)
        edits_before = fake.edits_by_chat[user.id]
        woken = fake.chat_waiters.setdefault(user.id, asyncio.Event())
        woken.clear()
        pushed = time.perf_counter()
        query_id = await fake.click(user, message, data)
        # An answer recorded before this line is still seen: the loop checks answered_at first.
        fake.query_chats[query_id] = user.id
        async with asyncio.timeout(TAP_TIMEOUT_S):
            # The next tap must see this tap's edit, or it would press a stale button.
            while query_id not in fake.answered_at or fake.edits_by_chat[user.id] == edits_before:
                await woken.wait()
                woken.clear()
        samples.append((label, fake.answered_at.pop(query_id) - pushed))


async def run_taps(subject: Subject, users: list[TgUser], taps_per_user: int) -> RunResult:
    fake = subject.fake
    calls_before = fake.api_calls()
    alerts_before, failed_before = fake.answer_alerts, fake.failed_calls
    samples: list[tuple[str, float]] = []
    bot_cpu_before = cpu_seconds(subject.pid) if subject.pid is not None else 0.0
    started, cpu_before = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one_user(subject, user, taps_per_user, samples) for user in users))
    duration = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_before
    bot_cpu_s = cpu_seconds(subject.pid) - bot_cpu_before if subject.pid is not None else None
    latencies = [seconds for _label, seconds in samples]
    new_calls = fake.calls[calls_before:]
    taps = len(latencies)
    return RunResult(
        taps=taps,
        duration_s=duration,
        taps_per_s=taps / duration,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        calls_per_tap=len(new_calls) / taps,
        methods=dict(Counter(c.method for c in new_calls)),
        invalid_taps=fake.answer_alerts - alerts_before,
        failed_calls=fake.failed_calls - failed_before,
        samples=samples,
        cpu_ms_per_tap=cpu_s * 1000 / max(1, taps),
        bot_cpu_ms_per_tap=None if bot_cpu_s is None else bot_cpu_s * 1000 / max(1, taps),
    )


def median_result(results: list[RunResult]) -> RunResult:
    return RunResult(
        taps=results[0].taps,
        duration_s=statistics.median(r.duration_s for r in results),
        taps_per_s=statistics.median(r.taps_per_s for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        calls_per_tap=statistics.median(r.calls_per_tap for r in results),
        methods=results[-1].methods,
        invalid_taps=sum(r.invalid_taps for r in results),
        failed_calls=sum(r.failed_calls for r in results),
        samples=[sample for r in results for sample in r.samples],
        cpu_ms_per_tap=statistics.median(r.cpu_ms_per_tap for r in results),
        bot_cpu_ms_per_tap=(
            None
            if any(r.bot_cpu_ms_per_tap is None for r in results)
            else statistics.median(r.bot_cpu_ms_per_tap or 0.0 for r in results)
        ),
    )


def bot_cpu(result: RunResult) -> str:
    if result.bot_cpu_ms_per_tap is None:
        return ""
    return f", {result.bot_cpu_ms_per_tap:.2f} ms/tap in the bot's process"


def describe(name: str, result: RunResult, runs: list[RunResult]) -> str:
    per_run = ", ".join(f"{r.taps_per_s:,.0f}" for r in runs)
    methods = ", ".join(f"{m} {n / result.taps:.2f}" for m, n in sorted(result.methods.items()))
    return (
        f"{name:<5} {result.taps:,} taps in {result.duration_s:.2f} s: {result.taps_per_s:,.0f} taps/s "
        f"(runs: {per_run}); tap-to-answer p50 {result.p50_ms:.0f} ms, p99 {result.p99_ms:.0f} ms; "
        f"{result.calls_per_tap:.2f} Bot API calls/tap ({methods}); CPU {result.cpu_ms_per_tap:.2f} ms/tap "
        f"here{bot_cpu(result)}; "
        f"invalid taps {result.invalid_taps}, failed calls {result.failed_calls}"
    )


def make_users(count: int, first_id: int) -> list[TgUser]:
    return [TgUser(id=first_id + n, first_name=f"User{n}", language_code="en") for n in range(count)]


async def run_round(subject: Subject, round_index: int, users: int, taps: int) -> RunResult:
    """Fresh users open the wizard (not timed), then tap (timed)."""
    round_users = make_users(users, FIRST_USER_ID + round_index * USER_IDS_PER_RUN)
    await open_wizards(subject, round_users)
    return await run_taps(subject, round_users, taps)


async def measure(args: argparse.Namespace) -> None:
    real = Subject("bot", TimedFakeTelegram(), WizardWalk(seed=1))
    bare = Subject("bare", TimedFakeTelegram(), AnyButton(seed=1))
    profiler = cProfile.Profile() if args.profile else None
    results: dict[str, list[RunResult]] = {"bot": [], "bare": []}
    log_level = "INFO" if args.production_logging else "WARNING"
    async with contextlib.AsyncExitStack() as stack:
        for fake in (real.fake, bare.fake):
            await fake.start()
            stack.push_async_callback(fake.stop)
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        (tmp / "real").mkdir()
        if args.processes:
            real.pid = await stack.enter_async_context(real_process(real.fake, tmp / "real", log_level))
        else:
            await stack.enter_async_context(real_in_process(real.fake, tmp / "real"))
        # Warm-up (caches, connection pools, first-time code paths) with the runs' walk, which also
        # records the wizard's messages for the bare bot to send.
        warmup_users = min(args.warmup_users, args.users)
        await run_round(real, 0, warmup_users, args.taps)
        replay = Replay.recorded(real.fake)
        if args.processes:
            bare.pid = await stack.enter_async_context(bare_process(bare.fake, tmp, replay))
        else:
            await stack.enter_async_context(bare_in_process(bare.fake, replay))
        await run_round(bare, 0, warmup_users, args.taps)
        print(
            f"the bare bot replays the {len(replay.shapes)} wizard messages of the warm-up: "
            f"{statistics.fmean(len(text) for text, _ in replay.shapes):.0f} characters and "
            f"{statistics.fmean(sum(map(len, rows)) for _, rows in replay.shapes):.1f} buttons on average"
        )
        # As `python -m bot` does once it has started (bot/app.py, freeze_startup_heap): the start-up
        # heap (here both bots', the fakes' and aiogram's) leaves the collector's full passes, which
        # otherwise stall this one loop for 100-200 ms in whichever run they happen to fall.
        freeze_startup_heap()
        for run in range(1, args.runs + 1):
            for subject in (real, bare):
                profiling = profiler is not None and subject is real
                if profiling:
                    profiler.enable()
                result = await run_round(subject, run, args.users, args.taps)
                if profiling:
                    profiler.disable()
                results[subject.name].append(result)
                print(
                    f"  run {run} {subject.name:<4}: {result.taps_per_s:,.0f} taps/s, "
                    f"p50 {result.p50_ms:.0f} ms, p99 {result.p99_ms:.0f} ms, "
                    f"CPU {result.cpu_ms_per_tap:.2f} ms/tap here{bot_cpu(result)} [load {load_average()}]"
                )

    real_result, bare_result = median_result(results["bot"]), median_result(results["bare"])
    print()
    print(describe("bot", real_result, results["bot"]))
    print(describe("bare", bare_result, results["bare"]))
    ratios = [r.taps_per_s / b.taps_per_s for r, b in zip(results["bot"], results["bare"], strict=True)]
    ratio = statistics.median(ratios)
    print(f"ratio bot/bare: {ratio:.2f} (per run: {', '.join(f'{r:.2f}' for r in ratios)})")
    if real_result.invalid_taps or real_result.failed_calls:
        print("WARNING: the real bot answered some taps as invalid or a Bot API call failed")
    print("\nreal bot, tap-to-answer by kind of tap (all runs):")
    print_by_label(real_result.samples)
    if profiler is not None:
        print_profile(profiler, args.profile, processes=args.processes)
    verdict("wizard taps/s, bot / bare aiogram", ratio, ">=", TARGET_RATIO)
    verdict(
        "wizard p99 tap-to-answer, bot / bare aiogram",
        real_result.p99_ms / max(bare_result.p99_ms, 1e-9),
        "<=",
        P99_TARGET_FACTOR,
    )


def print_by_label(samples: list[tuple[str, float]]) -> None:
    by_label: dict[str, list[float]] = {}
    for label, seconds in samples:
        by_label.setdefault(label, []).append(seconds)
    rows = [
        (
            label,
            len(values),
            f"{percentile(values, 0.5) * 1000:.0f}",
            f"{percentile(values, 0.99) * 1000:.0f}",
        )
        for label, values in sorted(by_label.items(), key=lambda item: -len(item[1]))
    ]
    print_table(("tap", "count", "p50 ms", "p99 ms"), rows)


def print_profile(profiler: cProfile.Profile, top: int, *, processes: bool) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    scope = "fakes and users only (the bot is a child process)" if processes else "fakes, users and bot"
    print(f"\nprofile of the real-bot runs ({scope}), by own time:")
    print(out.getvalue())


def quiet_logs(production_logging: bool) -> Callable[[], None]:
    """Quiet by default, like the e2e tests; --production-logging installs the bot's INFO setup
    (aiogram logs one line per handled update), with stderr going to /dev/null."""
    if not production_logging:
        logging.getLogger().setLevel(logging.ERROR)
        return lambda: None
    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed by the returned callback
    saved = sys.stderr
    sys.stderr = devnull
    setup_logging("INFO")

    def restore() -> None:
        sys.stderr = saved
        devnull.close()

    return restore


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--serve-bare":
        asyncio.run(serve_bare(token=sys.argv[2], api_base=sys.argv[3], replay_path=Path(sys.argv[4])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500, help="simulated users tapping in parallel")
    parser.add_argument("--taps", type=int, default=6, help="taps per user per run")
    parser.add_argument("--runs", type=int, default=5, help="runs per bot; medians are printed")
    parser.add_argument("--warmup-users", type=int, default=100, help="users of the warm-up round (2 taps)")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run both bots on this process's event loop (--profile sees the bot only then)",
    )
    parser.add_argument("--processes", action="store_true", help="the default (kept for old command lines)")
    parser.add_argument(
        "--production-logging",
        action="store_true",
        help="log at INFO as `python -m bot` does by default (aiogram: a line per update)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="profile the real-bot runs in this process and print the top N functions",
    )
    args = parser.parse_args()
    args.processes = not args.in_process
    print(
        f"load average before: {load_average()}; {args.users} users x {args.taps} taps per run, "
        f"{args.runs} runs, bots {'in child processes' if args.processes else 'in this event loop'}"
    )
    restore = quiet_logs(args.production_logging)
    started = time.perf_counter()
    try:
        asyncio.run(measure(args))
    finally:
        restore()
    print(f"total {time.perf_counter() - started:.0f} s; load average after: {load_average()}")


if __name__ == "__main__":
    main()
