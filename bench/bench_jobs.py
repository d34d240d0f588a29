"""Job tracking figures: callback-to-video latency, polling delay and cost, bot memory.

Run from the repository root: .venv/bin/python bench/bench_jobs.py [--only callbacks,polling,memory]
[--no-ffmpeg] [--callback-jobs N] [--bursts N] [--polling-jobs N] [--history-jobs N] [--scale X]
[--memory-jobs N] [--rss-seconds S] [--video-sizes 5,45] [--lean] [--database-url URL] [--redis-url URL]
Smallest run (the smoke test): --no-ffmpeg --callback-jobs 2 --bursts 1 --polling-jobs 2 --history-jobs 8
--scale 0.02 --memory-jobs 2 --rss-seconds 0.5 --video-sizes 1 --lean (each interpreter costs seconds of
CPU for `import aiogram` alone, so the smoke starts as few as it can).

1. callbacks: N jobs (default 100, one user each) finish at the same moment; per job, the time from
   the KIE callback reaching the bot to the sendVideo request reaching the fake Bot API.
   1a: the bot in this process, instrumented: phases, download measured and subtracted.
   1b: `python -m bot` as a subprocess (its own CPU, as in production), with ffprobe/ffmpeg and
   without them on PATH (the bot's own path); --bursts bursts each (default 3, a fresh bot each),
   judged on the median p99 (on a shared VM one burst's CPU varies by a third). Targets (issue 15),
   not counting the download: p99 <= 1 s with ffmpeg, <= 0.5 s without it (1a and 1b alike).
   1c: the 1b burst (without ffmpeg) on PostgreSQL + Redis, `python -m bot` x 1 and then x 2 in
   webhook mode behind a balancer that PUBLIC_URL points at (KIE's callbacks go to the instances in
   turn), p99 side by side, and no video sent twice. Target: p99 <= 1 s (not the issue's: it names
   only a bot with and without ffmpeg; this scale-out check is ours, and it holds the looser of the
   two, although it runs without ffmpeg). On --database-url (a throwaway database is made
   and dropped) and --redis-url (a key prefix of its own), defaulting to TEST_DATABASE_URL and
   TEST_REDIS_URL; skipped, saying why, without them.
   The with-ffmpeg variants run only when ffprobe and ffmpeg are on PATH (and not --no-ffmpeg).
2. polling: callbacks off, KIE's real schedule (3 s / 10 s / 30 s) on a clock shrunk by --scale
   (rate limits scaled alike), jobs whose generation time is spread over 0-120 s; delay between KIE
   finishing and the bot noticing, and status calls per job, in real seconds; also the exact
   figures computed from PollSchedule. Targets: mean delay <= 5 s for jobs under 2 min; <= 12 calls
   for a 60 s job; with --polling-jobs 500 (500 orders at once on the 10/s status budget) mean delay
   <= 10 s. Up to 40 jobs are submitted as fast as the machine takes orders; 500 reach KIE at KIE's
   create limit (20 per 10 s per key, 250 s for 500: one key cannot have them all at KIE at once;
   --polling-burst lifts the limit for comparison, without a target: with finish times in random
   order even a scheduler that knows everything averages ~14 s there at 10 calls/s). Jobs finish in
   submission order; --polling-shuffled runs them again in random finish order. With 500 jobs a
   reference line gives what a scheduler knowing the true distribution would reach for the same
   jobs, in both orders.
2b. polling only, learnt: --history-jobs jobs of one model that take 50-70 s, then one 60 s job
   alone, scheduled from that history. Targets: <= 8 status calls, noticed <= 2 s after KIE finished.
3. memory: `python -m bot` as a subprocess recovering and polling 500 in-flight jobs (RSS from
   /proc, sampled until every job was polled once: a job's status state is made at its first poll,
   and a 20 s window, polling 200 of the 500, read 0.6 MB less), also as the bot's share over a
   fresh interpreter that only ran `import aiogram`; then one 5 MB and one 45 MB delivery in fresh
   processes, comparing their peak RSS. Targets (issue 15: RSS is judged as the share, `import
   aiogram` alone is ~165 MB): the bot's share over `import aiogram` with 500 jobs <= 15 MB; the peak
   does not grow with the video size. The absolute peak is printed only.

The in-process benches (1a, 2) run the bot, the fake Bot API and the KIE simulator in one event
loop, so those figures include the fakes' own work. Everything listens on 127.0.0.1. Figures, not
pass/fail: each section ends with one line per target, `verdict: <what> <figure> <op> <target>: MET|NOT MET`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

import bot.services.delivery as delivery_module
from bench._support import (
    DATABASE_URL_ENV,
    MB,
    REDIS_URL_ENV,
    REPO_ROOT,
    BotProcess,
    ProcMemory,
    load_average,
    percentile,
    postgres_unusable,
    print_table,
    redact,
    redis_unusable,
    server_url,
    throwaway_database,
    verdict,
    wait_for,
    without_ffmpeg,
)
from bot.app import freeze_startup_heap
from bot.catalog import build_catalog_from_settings
from bot.catalog.model import Order
from bot.config import Settings, load_settings
from bot.kie.client import KieClient
from bot.kie.sandbox import KieSimulator, SimTimings
from bot.kie.sandbox.simulator import MEDIA_DIR
from bot.kie.types import TaskResult, TaskState
from bot.services.accounts import AccountsService
from bot.services.billing import BillingService
from bot.services.generation import GenerationService
from bot.services.tracker import PollSchedule
from bot.store.db import Database, SqliteDatabase
from bot.store.jobs import Job, JobsRepo, JobState
from bot.store.users import UsersRepo
from tests.e2e.harness import RunningBot, free_port, make_settings, running_bot
from tests.e2e.jobs_support import order_job, prepare_user
from tests.e2e.multi_support import Balancer
from tests.fakes.telegram import FakeTelegram, TgUser

# Issue 15: p99 callback -> sendVideo, not counting the file transfer.
CALLBACK_P99_TARGET_S = 1.0  # with ffprobe/ffmpeg
CALLBACK_P99_NO_FFMPEG_TARGET_S = 0.5  # without them
# 1c (PostgreSQL + Redis, one and two instances) is not in the issue; it keeps the with-ffmpeg 1 s.
SCALE_OUT_P99_TARGET_S = 1.0


def callback_target_s(media: bool) -> float:
    return CALLBACK_P99_TARGET_S if media else CALLBACK_P99_NO_FFMPEG_TARGET_S
POLL_DELAY_TARGET_S = 5.0
POLL_CALLS_TARGET_60S = 12
# Issue 15: 500 jobs in flight under the status budget; a lone 60 s job after its model's history.
CROWD_JOBS = 500
CROWD_DELAY_TARGET_S = 10.0
LONE_CALLS_TARGET = 8
LONE_DELAY_TARGET_S = 2.0
HISTORY_SPREAD_S = (50.0, 70.0)
RSS_SHARE_TARGET_MB = 15.0  # the bot's own share over a bare `import aiogram`
VIDEO_GROWTH_TARGET = 0.2  # "does not grow with the video size": well under a fifth of the extra bytes
LONGEST_JOB_S = 120.0
FIRST_USER_ID = 700_001
PROMPT = "A red fox running through fresh snow at sunrise"
# Real KIE allows 10 status calls per second per key; the simulator enforces the same.
KIE_STATUS_RPS = 10.0
KIE_CREATE_LIMIT = 20  # KIE: 20 new generation requests per 10 s per key
KIE_CREATE_WINDOW_S = 10.0
STATUS_PATHS = ("/api/v1/jobs/recordInfo", "/api/v1/veo/record-info")
_JOB_DIR_RE = re.compile(r"^job(\d+)-")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def job_id_of(path: Path | str) -> int | None:
    """The delivery works in a temp dir named job<id>-...; the id ties a file operation to its job."""
    match = _JOB_DIR_RE.match(Path(path).parent.name)
    return int(match.group(1)) if match else None


async def open_simulator(timings: SimTimings, *, status_limit_per_s: float | None) -> KieSimulator:
    # create_limit raised: the bench submits many jobs at once and measures what comes after.
    sim = KieSimulator(
        "bench-kie-key", timings=timings, create_limit=100_000, status_limit_per_s=status_limit_per_s
    )
    await sim.start()
    return sim


async def submit_jobs(
    bot: RunningBot, tg: FakeTelegram, prompts: list[str], *, timeout_s: float = 60.0
) -> dict[int, int]:
    """One user per job (so the per-user in-flight cap does not interfere); returns job id -> user id."""
    users: dict[int, int] = {}
    for n, prompt in enumerate(prompts):
        user_id = FIRST_USER_ID + n
        await prepare_user(bot, tg, user_id)
        job = await order_job(bot, user_id, prompt=prompt)
        users[job.id] = user_id

    async def all_submitted() -> bool:
        row = await bot.components.db.fetchone("SELECT COUNT(*) FROM jobs WHERE task_id IS NOT NULL")
        return row is not None and row[0] == len(prompts)

    deadline = time.monotonic() + timeout_s
    while not await all_submitted():
        if time.monotonic() > deadline:
            raise TimeoutError(f"jobs were not all submitted within {timeout_s:.0f} s")
        await asyncio.sleep(0.05)
    return users


# ---------------------------------------------------------------------------------------------------
# 1. callback received -> sendVideo sent


@dataclass
class DeliveryTrace:
    """Monotonic timestamps of one job's way from callback to sendVideo (one clock, one process)."""

    callback_at: float | None = None
    download_started: float | None = None
    download_ended: float | None = None
    media_s: float = 0.0
    media_ended: float | None = None
    send_video_at: float | None = None


@contextlib.contextmanager
def instrument_delivery(bot: RunningBot, traces: dict[int, DeliveryTrace]) -> Iterator[None]:
    """Observe the callback entry, the download and the ffmpeg steps without changing what they do."""
    tracker = bot.components.tracker
    kie = bot.components.kie
    real_accept = tracker.accept_callback
    real_download = kie.download
    real_media = {name: getattr(delivery_module, name) for name in ("prepare_video",)}

    async def accept_callback(token: str, raw_body: bytes, headers: Mapping[str, str]) -> Any:
        received = time.monotonic()
        job = await real_accept(token, raw_body, headers)
        traces.setdefault(job.id, DeliveryTrace()).callback_at = received
        return job

    async def download(url: str, dest_path: Any, max_bytes: int, **kwargs: Any) -> int:
        trace = traces.setdefault(job_id_of(dest_path) or -1, DeliveryTrace())
        trace.download_started = time.monotonic()
        try:
            return await real_download(url, dest_path, max_bytes, **kwargs)
        finally:
            trace.download_ended = time.monotonic()

    def timed(real: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapper(video: Path, *args: Any, **kwargs: Any) -> Any:
            trace = traces.setdefault(job_id_of(video) or -1, DeliveryTrace())
            started = time.monotonic()
            try:
                return await real(video, *args, **kwargs)
            finally:
                trace.media_ended = time.monotonic()
                trace.media_s += trace.media_ended - started

        return wrapper

    # Instance attributes shadow the methods: web.py and delivery look them up at call time.
    tracker.accept_callback = accept_callback  # type: ignore[method-assign]
    kie.download = download  # type: ignore[method-assign]
    for name, real in real_media.items():
        setattr(delivery_module, name, timed(real))
    try:
        yield
    finally:
        del tracker.accept_callback
        del kie.download
        for name, real in real_media.items():
            setattr(delivery_module, name, real)


async def bench_callbacks(jobs: int, *, media: bool) -> None:
    variant = "with ffprobe/ffmpeg (production)" if media else "without ffprobe/ffmpeg (the bot's own path)"
    print(
        f"\n== 1a. callback received -> sendVideo sent: {jobs} jobs finishing at once, {variant} "
        f"(load {load_average()})"
    )
    tg = FakeTelegram()
    await tg.start()
    sim = await open_simulator(SimTimings.manual(), status_limit_per_s=None)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # Poll scale 1: the backstop poll (30 s) stays out of the measured window.
            settings = make_settings(
                Path(tmp), tg, sim, callbacks=True, kie_poll_scale=1.0, kie_create_limit=100_000
            )
            async with running_bot(settings) as bot:
                # What `python -m bot` does once it has started (bot/app.py); here the fakes' start-up
                # heap is frozen with the bot's.
                freeze_startup_heap()
                users = await submit_jobs(bot, tg, [PROMPT] * jobs)
                traces: dict[int, DeliveryTrace] = {}
                with (
                    instrument_delivery(bot, traces),
                    contextlib.nullcontext() if media else without_ffmpeg(),
                ):
                    completed_at = time.monotonic()
                    cpu_before = time.process_time()
                    for task_id in list(sim.tasks):
                        sim.complete(task_id)
                    await wait_for(lambda: len(tg.calls_of("sendVideo")) >= jobs, 120, "every sendVideo")
                    last_video_s = time.monotonic() - completed_at
                    burst_cpu_s = time.process_time() - cpu_before
                    await bot.components.tracker.wait_idle(30)
                user_to_job = {user: job for job, user in users.items()}
                for call in tg.calls_of("sendVideo"):
                    job_id = user_to_job.get(int(call.params["chat_id"]))
                    if job_id is not None:
                        traces.setdefault(job_id, DeliveryTrace()).send_video_at = call.at
    finally:
        await sim.stop()
        await tg.stop()

    complete = [
        t
        for t in traces.values()
        if t.callback_at and t.send_video_at and t.download_started and t.download_ended and t.media_ended
    ]
    if len(complete) < jobs:
        print(f"  only {len(complete)} of {jobs} jobs have a full trace")
    if not complete:
        return
    total = [t.send_video_at - t.callback_at for t in complete]  # type: ignore[operator]
    download = [t.download_ended - t.download_started for t in complete]  # type: ignore[operator]
    without_download = [a - b for a, b in zip(total, download, strict=True)]
    phases: list[tuple[str, list[float]]] = [
        (
            "callback -> download start (state, settle, waiting in line)",
            [t.download_started - t.callback_at for t in complete],  # type: ignore[operator]
        ),
        ("download (KIE result, loopback)", download),
        ("media: probe, silent audio, thumbnail (Python, ffmpeg if needed)", [t.media_s for t in complete]),
        (
            "media done -> sendVideo at the fake (chat action, upload start)",
            [t.send_video_at - t.media_ended for t in complete],  # type: ignore[operator]
        ),
        ("total: callback -> sendVideo", total),
        ("total without download", without_download),
    ]
    print_table(
        ["phase (ms)", "p50", "p99", "max"],
        [(name, ms(percentile(v, 0.5)), ms(percentile(v, 0.99)), ms(max(v))) for name, v in phases],
    )
    print(f"  last sendVideo {last_video_s:.2f} s after all {jobs} tasks completed; load {load_average()}")
    print(
        f"  CPU of this process (the bot and both fakes) for the burst: {burst_cpu_s:.2f} s, "
        f"{burst_cpu_s / max(1, jobs) * 1000:.1f} ms per job"
    )
    verdict(
        f"p99 callback->sendVideo without download, in-process, {'with' if media else 'without'} ffmpeg",
        percentile(without_download, 0.99),
        "<=",
        callback_target_s(media),
        "s",
    )


Phases = list[tuple[str, list[float]]]


def burst_phases(
    sim: KieSimulator, tg: FakeTelegram, task_ids: list[str], finished_at: float
) -> tuple[Phases, int]:
    """A callbacks burst seen from the fakes: per phase the seconds of every traced job (index 3: callback
    answered -> sendVideo; 4: KIE finished -> sendVideo), and how many jobs were traced."""
    answered = {c.task_id: c.at for c in sim.callbacks if c.delivered}
    download_at = {
        r.path.split("/")[2]: r.at
        for r in sim.requests
        if r.path.startswith("/results/") and r.path.endswith(".mp4")
    }
    sent_at = {int(c.params["chat_id"]): c.at for c in tg.calls_of("sendVideo")}
    rows: list[tuple[float, float, float]] = []
    for n, task_id in enumerate(task_ids):
        if task_id in answered and task_id in download_at and FIRST_USER_ID + n in sent_at:
            rows.append((answered[task_id], download_at[task_id], sent_at[FIRST_USER_ID + n]))
    phases = [
        ("KIE finished -> callback answered by the bot", [a - finished_at for a, _, _ in rows]),
        ("callback answered -> result download requested", [d - a for a, d, _ in rows]),
        (
            "download requested -> sendVideo at the fake (download, media, upload start)",
            [v - d for _, d, v in rows],
        ),
        ("total: callback answered -> sendVideo", [v - a for a, _, v in rows]),
        ("total: KIE finished -> sendVideo", [v - finished_at for _, _, v in rows]),
    ]
    return phases, len(rows)


@dataclass
class SubprocessBurst:
    phases: Phases
    traced: int
    last_video_s: float
    cpu_s: float  # the bot's CPU (with its ffmpeg children) from KIE finishing to the last sendVideo

    @property
    def p99_s(self) -> float:
        return percentile(self.phases[3][1], 0.99)


async def run_subprocess_burst(jobs: int, *, media: bool) -> SubprocessBurst:
    """One burst against a fresh `python -m bot`: the fakes' work is not on its loop.

    Seen from outside: KIE finished (sim.complete), the callback answered (simulator), the result
    download requested (simulator) and sendVideo received (fake Bot API), all on this process's clock.
    """
    tg = FakeTelegram()
    await tg.start()
    sim = await open_simulator(SimTimings.manual(), status_limit_per_s=None)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            database = workdir / "bot.sqlite3"
            port = free_port()
            public_url = f"http://127.0.0.1:{port}"
            task_ids = await precreate_jobs(
                tg,
                sim,
                database,
                [PROMPT] * jobs,
                model="kling25",
                options={"duration": "5"},
                public_url=public_url,
            )
            extra = {"PUBLIC_URL": public_url, "KIE_STATUS_RPS": "1000"}
            if not media:
                extra["PATH"] = str(workdir)  # no ffprobe/ffmpeg to be found there
            child = BotProcess(bot_settings(tg, sim, database, port, **extra), workdir)
            child.start()
            try:
                await child.wait_healthy(port)
                # Recovery polls every job once; let that settle so only the burst is measured.
                await wait_for(
                    lambda: len([r for r in sim.requests if r.path in STATUS_PATHS]) >= jobs,
                    30,
                    "the recovery polls",
                )
                await asyncio.sleep(1.0)
                cpu_before = child.cpu_seconds()
                finished_at = time.monotonic()
                for task_id in task_ids:
                    sim.complete(task_id)
                await wait_for(lambda: len(tg.calls_of("sendVideo")) >= jobs, 120, "every sendVideo")
                last_video_s = time.monotonic() - finished_at
                burst_cpu_s = child.cpu_seconds() - cpu_before
            finally:
                await child.stop()
    finally:
        await sim.stop()
        await tg.stop()
    phases, rows = burst_phases(sim, tg, task_ids, finished_at)
    return SubprocessBurst(phases, rows, last_video_s, burst_cpu_s)


async def bench_callbacks_subprocess(jobs: int, *, media: bool, bursts: int) -> None:
    """1b: `bursts` bursts, each against a fresh `python -m bot`; the verdict is on the median p99.

    The burst is CPU-bound, and on a shared virtual machine the CPU one burst gets varies by a third
    from one burst to the next (the bot's CPU for the same work: 5.3-8.3 ms per job measured in a
    row), so one burst is a sample, not a figure; every burst's p99 and CPU are printed."""
    variant = "with ffprobe/ffmpeg" if media else "without ffmpeg on PATH"
    print(
        f"\n== 1b. the same, `python -m bot` as a subprocess, {variant}, {bursts} burst(s) "
        f"(load {load_average()})"
    )
    runs = [await run_subprocess_burst(jobs, media=media) for _ in range(bursts)]
    median = sorted(runs, key=lambda run: run.p99_s)[len(runs) // 2]
    print("  the median burst:")
    print_table(
        ["phase (ms)", "p50", "p99", "max"],
        [(name, ms(percentile(v, 0.5)), ms(percentile(v, 0.99)), ms(max(v))) for name, v in median.phases],
    )
    print(
        f"  {median.traced} of {jobs} jobs traced; last sendVideo {median.last_video_s:.2f} s after KIE "
        f"finished; load {load_average()}"
    )
    # The burst is CPU-bound: its p99 is about the bot's CPU for all jobs, whatever the load.
    for n, run in enumerate(runs, 1):
        print(
            f"  burst {n}: p99 callback answered->sendVideo {ms(run.p99_s)} ms; the bot's CPU (with its "
            f"ffmpeg children) from KIE finishing to the last sendVideo {run.cpu_s:.2f} s, "
            f"{run.cpu_s / max(1, jobs) * 1000:.1f} ms per job"
        )
    verdict(
        f"p99 callback->sendVideo (with the {download_kb()} kB download), python -m bot, "
        f"{'with' if media else 'without'} ffmpeg, median of {len(runs)} burst(s)",
        median.p99_s,
        "<=",
        callback_target_s(media),
        "s",
    )


@dataclass
class InstancesRun:
    instances: int
    phases: Phases
    traced: int
    last_video_s: float
    cpu_s: float  # every instance's CPU from KIE finishing to the last sendVideo
    videos: int  # sendVideo calls (more than the jobs: a video sent twice)
    callbacks_per_instance: list[int]


async def run_instances_burst(jobs: int, instances: int, database_url: str, redis_url: str) -> InstancesRun:
    """`instances` x `python -m bot` in webhook mode on one PostgreSQL database (a throwaway one) and
    one Redis (a key prefix of its own), behind a balancer that PUBLIC_URL points at: KIE's callbacks
    go to the instances in turn. The jobs are made before the instances start; they recover them."""
    tg = FakeTelegram()
    await tg.start()
    sim = await open_simulator(SimTimings.manual(), status_limit_per_s=None)
    ports = [free_port() for _ in range(instances)]
    balancer = Balancer([f"127.0.0.1:{port}" for port in ports])
    await balancer.start()
    try:
        with tempfile.TemporaryDirectory() as tmp, throwaway_database(database_url, "bench_jobs") as db_url:
            workdir = Path(tmp)
            task_ids = await precreate_jobs(
                tg,
                sim,
                workdir / "unused.sqlite3",
                [PROMPT] * jobs,
                model="kling25",
                options={"duration": "5"},
                public_url=balancer.url,
                database_url=db_url,
            )
            shared = {
                "DATABASE_URL": db_url,
                "REDIS_URL": redis_url,
                "REDIS_KEY_PREFIX": f"bench{uuid.uuid4().hex[:8]}",
                "PUBLIC_URL": balancer.url,
                "TELEGRAM_WEBHOOK": "true",
                "WEBHOOK_SECRET": "bench-webhook-secret",
                "KIE_STATUS_RPS": "1000",
                "PATH": str(workdir),  # no ffprobe/ffmpeg to be found there
            }
            children = []
            for n, port in enumerate(ports):
                home = workdir / f"instance{n}"
                home.mkdir()
                env = bot_settings(tg, sim, home / "unused.sqlite3", port, **shared, INSTANCE_ID=f"bench-{n}")
                children.append(BotProcess(env, home))
            for child in children:
                child.start()
            try:
                await asyncio.gather(*(c.wait_healthy(p) for c, p in zip(children, ports, strict=True)))
                await wait_for(
                    lambda: len([r for r in sim.requests if r.path in STATUS_PATHS]) >= jobs,
                    60,
                    "the recovery polls",
                )
                await asyncio.sleep(1.0)
                cpu_before = sum(c.cpu_seconds() for c in children)
                routed_before = len(balancer.routed)
                finished_at = time.monotonic()
                for task_id in task_ids:
                    sim.complete(task_id)
                await wait_for(lambda: len(tg.calls_of("sendVideo")) >= jobs, 180, "every sendVideo")
                last_video_s = time.monotonic() - finished_at
                cpu_s = sum(c.cpu_seconds() for c in children) - cpu_before
                await asyncio.sleep(0.5)  # a second sendVideo of one job would show by now
            finally:
                await asyncio.gather(*(c.stop() for c in children))
    finally:
        await balancer.stop()
        await sim.stop()
        await tg.stop()
    phases, traced = burst_phases(sim, tg, task_ids, finished_at)
    kie_routed = [r for r in balancer.routed[routed_before:] if r.kind == "kie"]
    return InstancesRun(
        instances=instances,
        phases=phases,
        traced=traced,
        last_video_s=last_video_s,
        cpu_s=cpu_s,
        videos=len(tg.calls_of("sendVideo")),
        callbacks_per_instance=[sum(1 for r in kie_routed if r.backend == n) for n in range(instances)],
    )


async def bench_callbacks_instances(jobs: int, database_url: str | None, redis_url: str | None) -> None:
    """1c: the 1b burst on PostgreSQL + Redis, one instance and then two behind a balancer."""
    title = "== 1c. the same on PostgreSQL + Redis, `python -m bot` x 1 vs x 2 behind a balancer"
    why_not = postgres_unusable(database_url) or redis_unusable(redis_url)
    if why_not is not None or database_url is None or redis_url is None:
        print(f"\n{title}: skipped, {why_not}")
        return
    print(
        f"\n{title}, without ffmpeg on PATH; PostgreSQL {redact(database_url)}, Redis {redact(redis_url)} "
        f"(load {load_average()})"
    )
    runs = []
    for instances in (1, 2):
        run = await run_instances_burst(jobs, instances, database_url, redis_url)
        print(
            f"  {instances} instance(s): {run.traced} of {jobs} jobs traced; last sendVideo "
            f"{run.last_video_s:.2f} s after KIE finished; sendVideo calls {run.videos}; callbacks per "
            f"instance {run.callbacks_per_instance}; CPU of the instances {run.cpu_s:.2f} s; "
            f"load {load_average()}"
        )
        runs.append(run)
    headers = ["phase (ms)"]
    for run in runs:
        headers += [f"{run.instances}x p50", f"{run.instances}x p99"]
    table = []
    for index, (name, _) in enumerate(runs[0].phases):
        row: list[object] = [name]
        for run in runs:
            values = run.phases[index][1]
            row += [ms(percentile(values, 0.5)), ms(percentile(values, 0.99))]
        table.append(row)
    print_table(headers, table)
    for run in runs:
        verdict(
            f"p99 callback->sendVideo, python -m bot x {run.instances} on PostgreSQL + Redis "
            f"(with the {download_kb()} kB download), without ffmpeg (our scale-out target, not the issue's)",
            percentile(run.phases[3][1], 0.99),
            "<=",
            SCALE_OUT_P99_TARGET_S,
            "s",
        )
    duplicates = sum(run.videos - jobs for run in runs)
    verdict("videos sent more than once, 1 and 2 instances", duplicates, "<=", 0, digits=0)


def download_kb() -> int:
    """Size of the clip the simulator serves for these jobs (Kling 9:16, silent)."""
    return round((MEDIA_DIR / "9x16_silent.mp4").stat().st_size / 1024)


# ---------------------------------------------------------------------------------------------------
# 2. polling only


class Schedule(Protocol):
    def first_delay(self) -> float: ...

    def delay_after(self, age_s: float) -> float: ...


@dataclass(frozen=True)
class SuggestedSchedule:
    """A candidate polling-only schedule: every 6 s to 60 s, every 8 s to 120 s, then every 30 s.

    Fewer calls than KIE's 3 s / 10 s advice for 60 s jobs and a shorter wait for 30-120 s jobs.
    """

    def delay_after(self, age_s: float) -> float:
        return 6.0 if age_s < 60 else 8.0 if age_s < 120 else 30.0

    def first_delay(self) -> float:
        return self.delay_after(0.0)


def analytic_polls(schedule: Schedule, finish_s: float) -> tuple[int, float]:
    """(status calls, delay) when KIE finishes `finish_s` after submission and polls take no time."""
    at = schedule.first_delay()
    calls = 1
    while at < finish_s:
        at += schedule.delay_after(at)
        calls += 1
    return calls, at - finish_s


def analytic_mean_delay(schedule: Schedule, start_s: float, end_s: float, step_s: float = 0.05) -> float:
    """Mean delay for finish times spread evenly over [start_s, end_s)."""
    points = [start_s + step_s * (n + 0.5) for n in range(int((end_s - start_s) / step_s))]
    return statistics.fmean(analytic_polls(schedule, p)[1] for p in points)


@dataclass
class PollingTrace:
    finish_real_s: float  # generation time on the real clock
    task_id: str = ""
    noticed_at: float | None = None
    delay_s: float = 0.0  # KIE finished -> the bot saw it, real clock
    status_calls: int = 0
    poll_times: list[float] = field(default_factory=list)  # status calls as the simulator got them


BUCKETS = ((0.0, 8.0), (8.0, 30.0), (30.0, 120.0), (0.0, 120.0))


def reference_mean_delay(
    submitted_s: Sequence[float], finish_s: Sequence[float], rps: float, min_gap_s: float
) -> float:
    """Mean delay (finished -> noticed) of a scheduler that knows what the bot can only learn.

    It knows the true distribution (finish times uniform over 0-LONGEST_JOB_S) and every job's age,
    spends the whole budget (one call every 1/rps s, each taking no time) and gives each call to the
    job most likely to have finished since its last poll, never polling a job twice within
    `min_gap_s`. Not a proven floor, but the allocation any scheduler would aim for: with finish times
    independent of submission order, what the bot reaches is measured against it.
    """
    done_at = [s + f for s, f in zip(submitted_s, finish_s, strict=True)]
    last_age = dict.fromkeys(range(len(done_at)), 0.0)  # unnoticed job -> age at its last poll
    delays: list[float] = []

    def odds(job: int, t: float) -> float:
        age, last = t - submitted_s[job], last_age[job]
        # P(finished by `age` | running at `last`); past the longest job, older is likelier.
        return (age - last) / (LONGEST_JOB_S - last) if last < LONGEST_JOB_S else age

    t = min(submitted_s)
    while last_age:
        t += 1.0 / rps
        ready = [j for j in last_age if t - submitted_s[j] - last_age[j] >= min_gap_s]
        if not ready:
            continue
        job = max(ready, key=lambda j: odds(j, t))
        if t >= done_at[job]:
            delays.append(t - done_at[job])
            del last_age[job]
        else:
            last_age[job] = t - submitted_s[job]
    return statistics.fmean(delays)


async def bench_polling(jobs: int, scale: float, *, shuffled: bool = False, burst: bool = False) -> None:
    """`shuffled`: the finish times in random order; else the first job submitted finishes first.

    A crowd (CROWD_JOBS or more) reaches KIE at KIE's create limit, 20 per 10 s per key, as it must in
    production: 500 orders at once are 250 s of submissions, the rest wait in the bot's line. `burst`
    lifts that limit (all submitted as fast as this machine takes orders): a load one KIE key cannot
    produce, printed for comparison with the reference, without a target.
    """
    paced = jobs >= CROWD_JOBS and not burst
    order = "in random order" if shuffled else "in submission order"
    pace = "submitted at KIE's create limit" if paced else "submitted as fast as possible"
    print(
        f"\n== 2. polling only: {jobs} jobs over 0-{LONGEST_JOB_S:.0f} s ({order}, {pace}) + one 60 s "
        f"job, PollSchedule as the bot builds it, x{scale} clock (load {load_average()})"
    )
    spread = [LONGEST_JOB_S * (n + 0.5) / jobs for n in range(jobs)]
    if shuffled:
        random.Random(1).shuffle(spread)
    finish_times = [*spread, 60.0]
    tg = FakeTelegram()
    await tg.start()
    # The rate limits shrink with the schedule, so "10 status calls/s at KIE" keeps its real meaning.
    status_rps = KIE_STATUS_RPS / scale
    sim = await open_simulator(
        SimTimings(wait_s=0.0, queue_s=0.0, generate_s=0.0), status_limit_per_s=status_rps
    )
    traces: dict[int, PollingTrace] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            create_limit = (
                {"kie_create_limit": KIE_CREATE_LIMIT, "kie_create_window_s": KIE_CREATE_WINDOW_S * scale}
                if paced
                else {"kie_create_limit": 100_000}
            )
            settings = make_settings(
                Path(tmp), tg, sim, kie_poll_scale=scale, kie_status_rps=status_rps, **create_limit
            )
            async with running_bot(settings) as bot:
                # The bot's own schedule, as app.py builds it from these settings (no PUBLIC_URL:
                # polling only; KIE_POLL_SCALE; the "key" scope shares KIE_STATUS_RPS), not a copy.
                tracker = bot.components.tracker
                real_apply = tracker.apply
                # Every booked poll (monotonic clock, like the simulator's): lateness is measured
                # against what the scheduler booked, not against a schedule of the bench's own.
                bookings: dict[int, list[float]] = {}
                real_update = tracker.jobs.update_fields

                async def update_fields(job_id: int, **fields: Any) -> Any:
                    if (at := fields.get("next_poll_at")) is not None:
                        bookings.setdefault(job_id, []).append(time.monotonic() + at - time.time())
                    return await real_update(job_id, **fields)

                tracker.jobs.update_fields = update_fields  # type: ignore[method-assign]

                noticed: dict[int, float] = {}

                async def apply(job_id: int, result: TaskResult, *, source: str, **kwargs: Any) -> None:
                    # Recorded for any job: the first ones may be noticed before submit_jobs returns.
                    if result.state is TaskState.SUCCEEDED:
                        noticed.setdefault(job_id, time.monotonic())
                    await real_apply(job_id, result, source=source, **kwargs)

                tracker.apply = apply  # type: ignore[method-assign]
                prompts = [f"{PROMPT} [sim:delay={t * scale:.3f}]" for t in finish_times]
                submit_s = len(prompts) * KIE_CREATE_WINDOW_S / KIE_CREATE_LIMIT * scale if paced else 0.0
                users = await submit_jobs(bot, tg, prompts, timeout_s=60 + 1.5 * submit_s)
                for (job_id, _user), finish in zip(sorted(users.items()), finish_times, strict=True):
                    traces[job_id] = PollingTrace(finish_real_s=finish)
                longest = (max(finish_times) + 30.0) * scale + 10.0
                await wait_for(lambda: len(noticed) >= len(traces), longest, "every job noticed")
                del tracker.apply
                del tracker.jobs.update_fields
                for job_id, trace in traces.items():
                    trace.noticed_at = noticed[job_id]
                    job = await bot.components.jobs.get(job_id)
                    assert job is not None and job.task_id is not None
                    trace.task_id = job.task_id
                rate_limited = sim.rate_limited["status"]
                limiter = bot.components.kie.status_limiter
                limiter_wait_s = float(getattr(limiter, "total_wait_s", 0.0))
                statuses = [r for r in sim.requests if r.path in STATUS_PATHS]
                created = [sim.tasks[t.task_id].created_mono for t in traces.values()]
    finally:
        await sim.stop()
        await tg.stop()

    lateness: list[float] = []
    for job_id, trace in traces.items():
        finished = sim.tasks[trace.task_id].finished_mono
        assert finished is not None and trace.noticed_at is not None
        trace.delay_s = (trace.noticed_at - finished) / scale
        trace.poll_times = sorted(r.at for r in statuses if trace.task_id in r.query.values())
        trace.status_calls = len(trace.poll_times)
        # How much later than booked each poll reached KIE (wall clock): waiting for the budget when
        # more is booked than it allows, plus the bot's own overhead, which the shrunk clock
        # magnifies 1/scale times. The n-th booking (at submission, then by each poll before its
        # call) is the n-th call's.
        lateness.extend(at - due for due, at in zip(bookings.get(job_id, []), trace.poll_times, strict=False))

    real = PollSchedule(callbacks=False)
    rows = []
    for start, end in BUCKETS:
        chosen = [t for t in list(traces.values())[:jobs] if start <= t.finish_real_s < end]
        delays = [t.delay_s for t in chosen]
        if not chosen:
            continue
        calls = [t.status_calls for t in chosen]
        rows.append(
            (
                f"{start:.0f}-{end:.0f} s",
                len(chosen),
                f"{statistics.fmean(delays):.2f}",
                f"{max(delays):.2f}",
                f"{analytic_mean_delay(real, start, end):.2f}",
                f"{statistics.fmean(calls):.1f}",
            )
        )
    print_table(["KIE finished after", "jobs", "mean delay s", "max s", "analytic mean s", "calls/job"], rows)
    sixty = list(traces.values())[-1]
    analytic_calls, analytic_delay = analytic_polls(real, 60.0)
    print(
        f"  60 s job: {sixty.status_calls} status calls, noticed {sixty.delay_s:.2f} s late "
        f"(analytic: {analytic_calls} calls, {analytic_delay:.2f} s)"
    )
    first = min(created)
    submitted_s = [(c - first) / scale for c in created]
    at_kie = sorted([(c, 1) for c in created] + [(t.noticed_at, -1) for t in traces.values() if t.noticed_at])
    peak = max(itertools.accumulate(step for _at, step in at_kie))
    how = "at KIE's create limit" if paced else "as fast as this machine takes orders"
    print(
        f"  submitted over {max(submitted_s):.1f} s (real clock; {how}): the jobs' ages spread that "
        f"much; at most {peak} jobs at KIE at once"
    )
    # The budget while it is the bottleneck: from the first call until 90% of the jobs were noticed.
    busy_until = sorted(t.noticed_at for t in traces.values() if t.noticed_at is not None)[
        int(0.9 * (len(traces) - 1))
    ]
    busy_calls = [r.at for r in statuses if r.at <= busy_until]
    if len(busy_calls) > 1:
        span_s = (max(busy_calls) - min(busy_calls)) / scale
        print(
            f"  status calls per second (real clock) until 90% of the jobs were noticed: "
            f"{len(busy_calls) / max(span_s, 1e-9):.1f} of the {KIE_STATUS_RPS:.0f} the budget allows"
        )
    if jobs >= CROWD_JOBS:
        # Only where the budget is the bottleneck: the reference spends all of it, whatever it costs.
        finish_s = [t.finish_real_s for t in traces.values()]
        in_order = sorted(finish_s[:jobs]) + finish_s[jobs:]
        mixed = list(in_order[:jobs])
        random.Random(1).shuffle(mixed)
        min_gap_s = PollSchedule(callbacks=False).min_gap_s
        as_ordered = reference_mean_delay(submitted_s, in_order, KIE_STATUS_RPS, min_gap_s)
        as_mixed = reference_mean_delay(submitted_s, [*mixed, *finish_s[jobs:]], KIE_STATUS_RPS, min_gap_s)
        print(
            f"  reference (knows the true distribution, spends the whole budget on the jobs likeliest "
            f"done, calls take no time), same submission times: finishing in submission order "
            f"{as_ordered:.2f} s mean delay, in random order {as_mixed:.2f} s"
        )
    print(
        f"  {len(statuses)} status calls in all; {rate_limited} answered 429 by the simulator; "
        f"load {load_average()}"
    )
    if lateness:
        late_ms = statistics.median(lateness) * 1000
        p90_ms = percentile(lateness, 0.9) * 1000
        queued_ms = limiter_wait_s / max(1, len(statuses)) * 1000
        print(
            f"  each poll reached KIE a median {late_ms:.0f} ms (wall) later than the scheduler booked it, "
            f"p90 {p90_ms:.0f} ms ({late_ms / scale / 1000:.2f} s / {p90_ms / scale / 1000:.2f} s on the "
            f"real clock); the bot's own {KIE_STATUS_RPS:.0f}/s status limiter queued calls "
            f"{queued_ms:.0f} ms (wall) on average"
        )
    suggested = SuggestedSchedule()
    print(
        f"  analytic, suggested schedule (6 s to 60 s, 8 s to 120 s, then 30 s): 60 s job "
        f"{analytic_polls(suggested, 60.0)[0]} calls, 120 s job {analytic_polls(suggested, 120.0)[0]} "
        f"(now {analytic_polls(real, 120.0)[0]}); mean delay 0-120 s "
        f"{analytic_mean_delay(suggested, 0, 120):.2f} s, "
        f"30-120 s {analytic_mean_delay(suggested, 30, 120):.2f} s"
    )
    under_2_min = [t.delay_s for t in list(traces.values())[:jobs] if t.finish_real_s < LONGEST_JOB_S]
    if jobs < CROWD_JOBS:  # the everyday load; a crowd has its own target
        verdict(
            f"mean delay KIE finished->bot noticed, polling only, jobs under {LONGEST_JOB_S:.0f} s",
            statistics.fmean(under_2_min),
            "<=",
            POLL_DELAY_TARGET_S,
            "s",
        )
        verdict(
            "status calls for a 60 s job, polling only",
            sixty.status_calls,
            "<=",
            POLL_CALLS_TARGET_60S,
            digits=0,
        )
    elif paced:
        verdict(
            f"mean delay KIE finished->bot noticed, polling only, {jobs} orders at once",
            statistics.fmean(under_2_min),
            "<=",
            CROWD_DELAY_TARGET_S,
            "s",
        )
    else:
        print(
            f"  (no target: {jobs} jobs at KIE at once are more than one key's create limit allows; "
            f"mean delay {statistics.fmean(under_2_min):.2f} s, compare with the reference above)"
        )


async def wait_for_async(condition: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """`wait_for` for a condition that has to ask the database."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)


async def bench_polling_learnt(history_jobs: int, scale: float) -> None:
    """A model's history, then one 60 s job alone: what the scheduler learnt buys."""
    print(
        f"\n== 2b. polling only, one 60 s job alone after {history_jobs} jobs of its model took "
        f"{HISTORY_SPREAD_S[0]:.0f}-{HISTORY_SPREAD_S[1]:.0f} s, PollSchedule as the bot builds it, "
        f"x{scale} clock (load {load_average()})"
    )
    tg = FakeTelegram()
    await tg.start()
    status_rps = KIE_STATUS_RPS / scale
    sim = await open_simulator(
        SimTimings(wait_s=0.0, queue_s=0.0, generate_s=0.0), status_limit_per_s=status_rps
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = make_settings(
                Path(tmp), tg, sim, kie_poll_scale=scale, kie_create_limit=100_000, kie_status_rps=status_rps
            )
            async with running_bot(settings) as bot:
                low, high = HISTORY_SPREAD_S
                spread = [low + (high - low) * n / max(1, history_jobs - 1) for n in range(history_jobs)]
                prompts = [f"{PROMPT} [sim:delay={t * scale:.3f}]" for t in spread]
                await submit_jobs(bot, tg, prompts)

                async def finished(count: int) -> bool:
                    row = await bot.components.db.fetchone(
                        "SELECT COUNT(*) FROM jobs WHERE finished_at IS NOT NULL"
                    )
                    return row is not None and row[0] >= count

                await wait_for_async(lambda: finished(history_jobs), (high + 60) * scale + 30, "history")
                user_id = FIRST_USER_ID + history_jobs
                await prepare_user(bot, tg, user_id)
                job = await order_job(bot, user_id, prompt=f"{PROMPT} [sim:delay={60.0 * scale:.3f}]")
                await wait_for_async(lambda: finished(history_jobs + 1), 120 * scale + 30, "the lone job")
                done = await bot.components.jobs.get(job.id)
                assert done is not None and done.task_id is not None and done.finished_at is not None
                task = sim.tasks[done.task_id]
                assert task.finished_mono is not None
                task_id = done.task_id
                calls = [r for r in sim.requests if r.path in STATUS_PATHS and task_id in r.query.values()]
                # finished_at is the bot's clock (time.time); the simulator's is monotonic: compare
                # through the call that noticed it, the last one.
                noticed_mono = max(r.at for r in calls)
                delay_s = max(0.0, noticed_mono - task.finished_mono) / scale
    finally:
        await sim.stop()
        await tg.stop()
    print(f"  lone 60 s job: {len(calls)} status calls, noticed {delay_s:.2f} s after KIE finished")
    verdict("status calls for a lone 60 s job, polling only", len(calls), "<=", LONE_CALLS_TARGET, digits=0)
    verdict("delay KIE finished->bot noticed, a lone 60 s job", delay_s, "<=", LONE_DELAY_TARGET_S, "s")


# ---------------------------------------------------------------------------------------------------
# 3. memory of `python -m bot`


class _NoFiles:
    """The benchmark's jobs are text-to-video: no user file is ever read."""

    async def read(self, file_id: str) -> bytes:
        raise AssertionError(f"unexpected file read {file_id}")


class _Unwatched:
    """SubmissionEvents and KieAlerts for jobs submitted before the bot runs: the bot's tracker finds
    them by restart recovery, and the operator is not there to read alerts."""

    async def submitted(self, job: Job) -> None:
        pass

    async def waiting_in_line(self, job: Job, position: int) -> None:
        pass

    async def submission_failed(self, job: Job) -> None:
        pass

    async def kie_problem(self, operator_key: str, detail: str = "") -> None:
        pass

    async def possible_orphans(self, jobs: Sequence[Job]) -> None:
        pass


def bot_settings(
    tg: FakeTelegram, sim: KieSimulator, database: Path, web_port: int, **extra: str
) -> dict[str, str]:
    """The environment of the bot subprocess: real schedule and KIE limits, fakes on 127.0.0.1."""
    return {
        "BOT_TOKEN": tg.token,
        "TELEGRAM_API_BASE": tg.base_url,
        "KIE_API_KEY": sim.api_key,
        "KIE_API_BASE": sim.base_url,
        "KIE_UPLOAD_BASE": sim.base_url,
        "RESULT_FETCH_ALLOW_HOSTS": sim.base_url.removeprefix("http://"),
        "DATABASE_PATH": str(database),
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(web_port),
        "SIGNUP_BONUS": "1000000",
        "MAX_JOBS_IN_FLIGHT": "1000",
        "LOG_LEVEL": "WARNING",
        # The bot's own latency is measured here, the fake enforces no flood limits: the outgoing pace
        # is lifted (bench_shaping.py measures it against Telegram's limits).
        "TELEGRAM_MAX_MESSAGES_PER_S": "1000",
        "TELEGRAM_MAX_PER_CHAT_PER_S": "1000",
        **extra,
    }


async def precreate_jobs(
    tg: FakeTelegram,
    sim: KieSimulator,
    database: Path,
    prompts: list[str],
    *,
    model: str,
    options: dict[str, str],
    public_url: str | None = None,
    database_url: str | None = None,
) -> list[str]:
    """Jobs in state `submitted`, made by the bot's own services (confirm + submit), before the bot runs.

    The running bot then finds them by restart recovery, exactly as after a deploy. Returns task ids.
    On PostgreSQL when `database_url` is given, else in the SQLite file `database`.
    """
    env = bot_settings(tg, sim, database, 0)
    settings: Settings = load_settings(
        _env_file=None, **{k.lower(): v for k, v in env.items()}, kie_create_limit=100_000
    )
    db: Database
    if database_url is not None:
        from bot.store.postgres import PostgresDatabase

        db = PostgresDatabase(database_url)
    else:
        db = SqliteDatabase(database)
    await db.open()
    kie = KieClient.from_settings(settings)
    sender = Bot(tg.token, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
    try:
        billing = BillingService.from_settings(db, settings)
        accounts = AccountsService(UsersRepo(db), on_new_user=billing.grant_signup_bonus)
        jobs = JobsRepo(db)
        generation = GenerationService(
            db=db,
            jobs=jobs,
            catalog=build_catalog_from_settings(settings),
            billing=billing,
            kie=kie,
            files=_NoFiles(),
            events=_Unwatched(),
            alerts=_Unwatched(),
            public_url=public_url,
            job_timeout_s=settings.job_timeout_minutes * 60,
            max_jobs_in_flight=settings.max_jobs_in_flight,
        )
        job_ids: list[int] = []
        for n, prompt in enumerate(prompts):
            user_id = FIRST_USER_ID + n
            tg.add_user(TgUser(id=user_id, first_name=f"User{user_id}", language_code="en"))
            await accounts.register(user_id, language_code="en", first_name=f"User{user_id}")
            status = await sender.send_message(user_id, "⏳")
            confirmed = await generation.confirm(
                user_id=user_id,
                chat_id=user_id,
                draft_key=f"bench:{n}",
                order=Order(model_key=model, mode="t2v", ratio="9:16", options=options, prompt=prompt),
                files=[],
                status_message_id=status.message_id,
            )
            job_ids.append(confirmed.job.id)
        for start in range(0, len(job_ids), 50):
            await asyncio.gather(*(generation.submit(job_id) for job_id in job_ids[start : start + 50]))
        task_ids = []
        for job_id in job_ids:
            job = await jobs.get(job_id)
            assert job is not None and job.state is JobState.SUBMITTED and job.task_id, job
            task_ids.append(job.task_id)
        return task_ids
    finally:
        await sender.session.close()
        await kie.aclose()
        await db.close()


@dataclass
class RssSample:
    at_s: float
    memory: ProcMemory
    status_calls: int


async def bench_memory_in_flight(jobs: int, sample_s: float, *, lean: bool) -> None:
    """lean: skip the figures that cost an extra interpreter and have no target (the idle bot for the
    per-job figure, the `import bot.app` floor); the smoke test runs lean."""
    print(
        f"\n== 3a. RSS of `python -m bot` tracking {jobs} in-flight jobs (polling only, real schedule, "
        f"KIE limit {KIE_STATUS_RPS:.0f} status calls/s) (load {load_average()})"
    )
    tg = FakeTelegram()
    await tg.start()
    sim = await open_simulator(SimTimings.manual(), status_limit_per_s=KIE_STATUS_RPS)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            baseline: ProcMemory | None = None
            if not lean:
                baseline = await idle_bot_memory(tg, sim, workdir / "idle", settle_s=min(2.0, sample_s))
            floors = await import_floors_mb(lean=lean)
            database = workdir / "bot.sqlite3"
            started = time.monotonic()
            await precreate_jobs(
                tg, sim, database, [PROMPT] * jobs, model="kling25", options={"duration": "5"}
            )
            print(
                f"  {jobs} jobs confirmed and submitted through GenerationService in "
                f"{time.monotonic() - started:.1f} s"
            )
            port = free_port()
            child = BotProcess(bot_settings(tg, sim, database, port), workdir)
            status_before = len([r for r in sim.requests if r.path in STATUS_PATHS])
            child.start()
            try:
                await child.wait_healthy(port)
                started = time.monotonic()
                samples: list[RssSample] = []
                while time.monotonic() - started < sample_s:
                    calls = len([r for r in sim.requests if r.path in STATUS_PATHS]) - status_before
                    samples.append(RssSample(time.monotonic() - started, child.memory(), calls))
                    await asyncio.sleep(0.5)
                tracked = len({r.query.get("taskId") for r in sim.requests if r.path in STATUS_PATHS})
            finally:
                await child.stop()
    finally:
        await sim.stop()
        await tg.stop()
    shown = [s for n, s in enumerate(samples) if n % max(1, len(samples) // 6) == 0 or n == len(samples) - 1]
    print_table(
        ["seconds after healthy", "VmRSS MB", "VmHWM MB", "status calls so far"],
        [
            (f"{s.at_s:.1f}", f"{s.memory.rss_mb:.1f}", f"{s.memory.hwm_mb:.1f}", s.status_calls)
            for s in shown
        ],
    )
    peak = max(s.memory.hwm_mb for s in samples)
    if baseline is not None:
        per_job_kb = (max(s.memory.rss_mb for s in samples) - baseline.rss_mb) * 1024 / jobs
        print(
            f"  idle bot (no jobs): VmRSS {baseline.rss_mb:.1f} MB, VmHWM {baseline.hwm_mb:.1f} MB; "
            f"with {jobs} jobs ~{per_job_kb:.0f} kB per job"
        )
    print(
        f"  {tracked} tasks polled at least once in "
        f"{sample_s:.0f} s; {sim.rate_limited['status']} status calls answered 429; load {load_average()}"
    )
    print("  RSS right after import: " + ", ".join(f"{k} {v:.0f} MB" for k, v in floors.items()))
    print(
        f"  polling capacity: {KIE_STATUS_RPS:.0f} status calls/s => each of {jobs} jobs is polled every "
        f"~{jobs / KIE_STATUS_RPS:.0f} s at best (the schedule asks for 3-30 s)"
    )
    aiogram_floor = floors["import aiogram"]
    share = peak - aiogram_floor
    print(
        f"  peak RSS {peak:.1f} MB = `import aiogram` alone {aiogram_floor:.1f} MB + the bot's share "
        f"{share:.1f} MB"
    )
    # Issue 15: RSS is judged as the bot's share over `import aiogram` (165 MB on its own, beyond any
    # absolute figure the bot could meet); the absolute peak is printed above, without a verdict.
    verdict(
        f"bot's share of peak RSS over import aiogram with {jobs} jobs in flight",
        share,
        "<=",
        RSS_SHARE_TARGET_MB,
        "MB",
        digits=1,
    )


IMPORT_FLOORS = {
    "bare python": "pass",
    "import aiogram": "import aiogram",
    "import bot.app": "import bot.app",
}


async def import_floors_mb(*, lean: bool) -> dict[str, float]:
    """RSS of a fresh interpreter right after each statement of IMPORT_FLOORS, one at a time (on a busy
    machine interpreters started side by side only slow each other down); lean: only the baseline."""
    chosen = {"import aiogram": IMPORT_FLOORS["import aiogram"]} if lean else IMPORT_FLOORS
    return {label: await import_floor_mb(statement) for label, statement in chosen.items()}


async def import_floor_mb(statement: str) -> float:
    """RSS of a fresh interpreter right after `statement` (what a library costs before any work)."""
    probe = (
        f"{statement}\nimport re\n"
        "print(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1))"
    )
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", probe, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    async with asyncio.timeout(120):
        out, err = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"{statement!r} failed in a fresh interpreter: {err.decode(errors='replace')}")
    return int(out.split()[-1]) / 1024


async def idle_bot_memory(
    tg: FakeTelegram, sim: KieSimulator, workdir: Path, *, settle_s: float
) -> ProcMemory:
    workdir.mkdir()
    port = free_port()
    child = BotProcess(bot_settings(tg, sim, workdir / "bot.sqlite3", port), workdir)
    child.start()
    try:
        await child.wait_healthy(port)
        await asyncio.sleep(settle_s)  # a measurement interval: the idle bot's first polls and timers
        return child.memory()
    finally:
        await child.stop()


@dataclass(frozen=True)
class SizedDelivery:
    result_mb: int
    sent_as: str
    uploaded_mb: float | None
    ready: ProcMemory
    after: ProcMemory
    took_s: float


async def deliver_one_video(size_mb: int, *, media: bool) -> SizedDelivery:
    """A fresh bot process recovers one finished job whose result is `size_mb` and delivers it."""
    tg = FakeTelegram()
    await tg.start()
    sim = await open_simulator(SimTimings.manual(), status_limit_per_s=KIE_STATUS_RPS)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            database = workdir / "bot.sqlite3"
            # Veo results carry sound, so the file is sent as downloaded (no silent-audio remux).
            (task_id,) = await precreate_jobs(
                tg,
                sim,
                database,
                [f"{PROMPT} [sim:large={size_mb}]"],
                model="veo_fast",
                options={"resolution": "720p"},
            )
            sim.complete(task_id)
            port = free_port()
            # Without media tools the PATH is the temp dir: no ffprobe/ffmpeg to be found there.
            extra = {} if media else {"PATH": str(workdir)}
            child = BotProcess(bot_settings(tg, sim, database, port, **extra), workdir)
            child.start()
            started = time.monotonic()
            try:
                await child.wait_healthy(port)
                ready = child.memory()
                # The first sendMessage is the status message made before the bot ran; a second one
                # would be the link fallback.
                await wait_for(
                    lambda: bool(
                        tg.calls_of("sendVideo")
                        or tg.calls_of("sendDocument")
                        or tg.calls_of("sendMessage")[1:]
                    ),
                    90,
                    "the delivery",
                )
                await asyncio.sleep(1.0)  # the bot finishes reading the answer; then read the peak
                after = child.memory()
                took_s = time.monotonic() - started
            finally:
                await child.stop()
    finally:
        await sim.stop()
        await tg.stop()
    sent = tg.calls_of("sendVideo") or tg.calls_of("sendDocument")
    uploaded = (sent[0].files.get("video") or sent[0].files.get("document")) if sent else None
    return SizedDelivery(
        result_mb=size_mb,
        sent_as=sent[0].method if sent else "link message",
        uploaded_mb=uploaded.size / MB if uploaded else None,
        ready=ready,
        after=after,
        took_s=took_s,
    )


async def bench_memory_video_size(sizes_mb: list[int], *, media: bool) -> None:
    print(
        f"\n== 3b. peak RSS of `python -m bot` delivering one video of {', '.join(map(str, sizes_mb))} MB "
        f"(a fresh process each, {'with' if media else 'without'} ffprobe/ffmpeg) (load {load_average()})"
    )
    results = [await deliver_one_video(size, media=media) for size in sizes_mb]
    print_table(
        ["result", "sent as", "uploaded MB", "RSS ready", "RSS after", "peak (VmHWM)", "s"],
        [
            (
                f"{r.result_mb} MB",
                r.sent_as,
                f"{r.uploaded_mb:.1f}" if r.uploaded_mb is not None else "-",
                f"{r.ready.rss_mb:.1f}",
                f"{r.after.rss_mb:.1f}",
                f"{r.after.hwm_mb:.1f}",
                f"{r.took_s:.1f}",
            )
            for r in results
        ],
    )
    if len(results) < 2:
        print("  one video size only: no growth figure (give two sizes, e.g. --video-sizes 5,45)")
        return
    smallest, largest = results[0], results[-1]
    growth = largest.after.hwm_mb - smallest.after.hwm_mb
    size_step = largest.result_mb - smallest.result_mb
    print(f"  peak grew {growth:+.1f} MB for {size_step} MB more video; load {load_average()}")
    verdict(
        f"peak RSS growth from a {smallest.result_mb} MB to a {largest.result_mb} MB video",
        growth,
        "<=",
        VIDEO_GROWTH_TARGET * size_step,
        "MB",
        digits=1,
    )


def media_tools_on_path() -> bool:
    return shutil.which("ffprobe") is not None and shutil.which("ffmpeg") is not None


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default="callbacks,polling,memory", help="comma-separated: callbacks, polling, memory"
    )
    parser.add_argument("--callback-jobs", type=int, default=100)
    parser.add_argument(
        "--bursts", type=int, default=3, help="1b: bursts per variant, each a fresh bot; the median is judged"
    )
    parser.add_argument(
        "--inprocess-no-media",
        action="store_true",
        help="also run the in-process callback bench with the media steps off",
    )
    parser.add_argument("--polling-jobs", type=int, default=40)
    parser.add_argument(
        "--history-jobs", type=int, default=20, help="finished jobs before the lone 60 s job (2b)"
    )
    parser.add_argument(
        "--polling-shuffled",
        action="store_true",
        help="also run section 2 with the finish times in random order (submission order tells nothing)",
    )
    parser.add_argument(
        "--polling-burst",
        action="store_true",
        help="also run section 2 with KIE's create limit lifted (every job at KIE at once; no target)",
    )
    parser.add_argument("--scale", type=float, default=0.2, help="clock scale for the polling bench")
    parser.add_argument("--memory-jobs", type=int, default=500)
    parser.add_argument(
        "--rss-seconds",
        type=float,
        default=None,
        help="how long to sample RSS while polling (default: until every job was polled once, "
        "jobs / 10 status calls/s + 10 s: each job's status state exists only after its first poll)",
    )
    parser.add_argument(
        "--video-sizes",
        default="5,45",
        help="comma-separated result sizes in MB for the delivery memory bench (empty: skip it)",
    )
    parser.add_argument(
        "--lean",
        action="store_true",
        help="memory: skip the idle bot and the `import bot.app` floor (figures without "
        "a target that cost an interpreter each)",
    )
    parser.add_argument(
        "--no-ffmpeg", action="store_true", help="run every bench as if ffprobe/ffmpeg were not installed"
    )
    parser.add_argument(
        "--database-url", help=f"PostgreSQL for 1c (a throwaway database; default: ${DATABASE_URL_ENV})"
    )
    parser.add_argument(
        "--redis-url", help=f"Redis for 1c (a key prefix of its own; default: ${REDIS_URL_ENV})"
    )
    args = parser.parse_args()
    chosen = {name.strip() for name in args.only.split(",")}
    if unknown := chosen - {"callbacks", "polling", "memory"}:
        parser.error(f"unknown section(s) in --only: {', '.join(sorted(unknown))}")
    video_sizes = [int(size) for size in args.video_sizes.split(",") if size.strip()]
    media = media_tools_on_path() and not args.no_ffmpeg
    started = time.monotonic()
    print(f"load average at start: {load_average()}")
    if not media:
        reason = "--no-ffmpeg" if args.no_ffmpeg else "ffprobe/ffmpeg are not on PATH"
        print(f"{reason}: the with-ffmpeg variants are skipped (their targets are not judged)")
    if "callbacks" in chosen:
        if media:
            await bench_callbacks(args.callback_jobs, media=True)
        if args.inprocess_no_media or not media:
            await bench_callbacks(args.callback_jobs, media=False)
        if media:
            await bench_callbacks_subprocess(args.callback_jobs, media=True, bursts=args.bursts)
        await bench_callbacks_subprocess(args.callback_jobs, media=False, bursts=args.bursts)
        await bench_callbacks_instances(
            args.callback_jobs,
            server_url(args.database_url, DATABASE_URL_ENV),
            server_url(args.redis_url, REDIS_URL_ENV),
        )
    if "polling" in chosen:
        await bench_polling(args.polling_jobs, args.scale)
        await bench_polling_learnt(args.history_jobs, args.scale)
        if args.polling_shuffled:
            await bench_polling(args.polling_jobs, args.scale, shuffled=True)
        if args.polling_burst:
            await bench_polling(args.polling_jobs, args.scale, burst=True)
    if "memory" in chosen:
        rss_seconds = args.rss_seconds
        if rss_seconds is None:
            rss_seconds = args.memory_jobs / KIE_STATUS_RPS + 10.0
        await bench_memory_in_flight(args.memory_jobs, rss_seconds, lean=args.lean)
        if video_sizes:
            await bench_memory_video_size(video_sizes, media=media)
    print(f"\ntotal {time.monotonic() - started:.0f} s; load average at the end: {load_average()}")


if __name__ == "__main__":
    asyncio.run(main())
