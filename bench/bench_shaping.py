"""Outgoing traffic shaping: many jobs finishing together, status messages refreshing, under Telegram's
flood limits.

Run from the repository root: .venv/bin/python bench/bench_shaping.py [--jobs 500] [--refresh 15]
[--ffmpeg] [--per-s 25] [--per-chat-per-s 1]
Smallest run (the smoke test): --jobs 12 --refresh 1

N jobs (one user each) wait at KIE while their status messages refresh every --refresh seconds (the
default STATUS_REFRESH_SECONDS: with 500 jobs those edits alone ask for more than the pace allows),
then all finish at the same moment (KIE's callbacks). Twice:
1. the pace lifted and the fake enforcing nothing: the bot's own way from KIE to the upload;
2. the bot's default pace (TELEGRAM_MAX_MESSAGES_PER_S=25, TELEGRAM_MAX_PER_CHAT_PER_S=1) and the fake
   enforcing Telegram's limits (FloodControl: 429 past about 1 message/s per chat with a burst of 3,
   30/s per bot).

Figures per run: per job the time from KIE finishing to its sendVideo reaching the fake (p50, p99,
last); status edits that reached the fake before the last video; per priority, sends, superseded
edits and waits in the outgoing queue; how often a send waited for sends still on their way
(SendWindow, bot/shaping/budget.py) and a send's mean time from start to answer; the messages per
second that reached the fake from the first video to the last; 429s from the fake over the whole run.
Targets: 0 × 429 in run 2; run 2's p99 within 1.25 × the larger of run 1's p99 and the time the pace
needs for every video (N / 25 s): the pace costs deliveries nothing beyond what binds anyway, status
edits included.

The bot, the fake Bot API and the KIE simulator share one event loop (the fakes' work is on it too);
ffprobe/ffmpeg are off unless --ffmpeg (the pace, not the media work, is measured).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import load_average, percentile, print_table, verdict, wait_for, without_ffmpeg
from bot.kie.sandbox import KieSimulator, SimTimings
from tests.e2e.harness import make_settings, running_bot
from tests.e2e.jobs_support import order_job, prepare_user
from tests.fakes.telegram import FakeTelegram, FloodControl

FIRST_USER_ID = 900_001
# Shaping costs deliveries nothing beyond what binds anyway: the paced p99 within this factor of the
# larger of the unpaced p99 (the bot's own way to the upload) and the time the pace needs for them all.
P99_RATIO_TARGET = 1.25
PROMPT = "A red fox running through fresh snow at sunrise"


@dataclass
class Burst:
    """What one run measured, from the moment every job finished at KIE."""

    latency: list[float]  # per job: KIE finished -> its sendVideo at the fake
    phases: list[tuple[str, list[float]]]  # the way there, seen from the fakes
    last_video_s: float
    edits_meanwhile: int  # status edits that reached the fake before the last video
    refused: list[str]  # methods answered 429 and the limit each hit, over the whole run
    rows: list[tuple[object, ...]]  # per priority: sent, superseded, queued, mean and max wait
    window_held: int  # times a send waited for sends still on their way (SendWindow)
    flight_s: float  # mean time from a send's start to its answer, from KIE finishing
    rate: tuple[int, float]  # sends Telegram counts that reached the fake from first to last video, s

    @property
    def p99(self) -> float:
        return percentile(self.latency, 0.99)


async def run_burst(
    jobs: int, refresh_s: float, per_s: float, per_chat_per_s: float, *, flood: bool, media: bool
) -> Burst:
    tg = FakeTelegram(flood_control=FloodControl() if flood else None)
    await tg.start()
    sim = KieSimulator("bench-kie-key", timings=SimTimings.manual(), create_limit=100_000)
    await sim.start()
    try:
        with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
            if not media:
                stack.enter_context(without_ffmpeg())
            settings = make_settings(
                Path(tmp),
                tg,
                sim,
                callbacks=True,
                kie_poll_scale=1.0,  # the backstop poll stays out of the way
                kie_create_limit=100_000,
                status_refresh_seconds=refresh_s,
                telegram_max_messages_per_s=per_s,
                telegram_max_per_chat_per_s=per_chat_per_s,
                log_level="WARNING",
            )
            async with running_bot(settings) as bot:
                setup_started = time.monotonic()
                for n in range(jobs):
                    await prepare_user(bot, tg, FIRST_USER_ID + n)
                    await order_job(bot, FIRST_USER_ID + n, prompt=PROMPT)

                async def all_submitted() -> bool:
                    row = await bot.components.db.fetchone(
                        "SELECT COUNT(*) FROM jobs WHERE task_id IS NOT NULL"
                    )
                    return row is not None and row[0] == jobs

                deadline = time.monotonic() + 120
                while not await all_submitted():
                    if time.monotonic() > deadline:
                        raise TimeoutError("jobs were not all submitted within 120 s")
                    await asyncio.sleep(0.1)
                took = time.monotonic() - setup_started
                print(f"  {jobs} jobs submitted in {took:.1f} s (their status messages paced too)")
                # The status messages refresh a while, so edits are waiting when the videos come.
                await asyncio.sleep(min(2 * refresh_s, 10.0))
                scheduler = bot.components.send_scheduler
                before = {p: replace(s) for p, s in scheduler.stats.items()}
                window = scheduler.window
                assert window is not None
                held_before, flights_before, flight_s_before = window.held, window.answered, window.flight_s
                mark = tg.mark()
                finished_at = time.monotonic()
                for task_id in list(sim.tasks):
                    sim.complete(task_id)
                await wait_for(
                    lambda: len([c for c in tg.calls_of("sendVideo", since=mark) if c.ok]) >= jobs,
                    600,
                    "every sendVideo",
                )
                last_video_s = time.monotonic() - finished_at
                await bot.components.tracker.wait_idle(60)
                chat_of_task = {
                    str(r[0]): int(r[1])
                    for r in await bot.components.db.fetchall("SELECT task_id, chat_id FROM jobs")
                }
                await wait_for(lambda: scheduler.pending == 0, 120, "the outgoing queue to drain")
                window_held = window.held - held_before
                flights = window.answered - flights_before
                flight_s = (window.flight_s - flight_s_before) / flights if flights else 0.0
                rows: list[tuple[object, ...]] = []
                for priority, now in scheduler.stats.items():
                    was = before[priority]
                    queued = now.queued - was.queued
                    mean_wait = (now.wait_s - was.wait_s) / queued if queued else 0.0
                    rows.append(
                        (
                            priority.name.lower(),
                            now.sent - was.sent,
                            now.superseded - was.superseded,
                            queued,
                            f"{mean_wait:.2f}",
                            f"{now.max_wait_s:.2f}",
                        )
                    )
    finally:
        await sim.stop()
        await tg.stop()
    burst_calls = tg.calls[mark:]
    videos = [c for c in burst_calls if c.method == "sendVideo" and c.ok]
    last_video_at = max(c.at for c in videos)
    answered = {c.task_id: c.at for c in sim.callbacks if c.delivered}
    download_at = {
        r.path.split("/")[2]: r.at
        for r in sim.requests
        if r.path.startswith("/results/") and r.at >= finished_at
    }
    sent_at = {int(c.params["chat_id"]): c.at for c in videos}
    ways = [
        (answered[t], download_at[t], sent_at[chat])
        for t, chat in chat_of_task.items()
        if t in answered and t in download_at and chat in sent_at
    ]
    return Burst(
        latency=[c.at - finished_at for c in videos],
        phases=[
            ("KIE finished -> callback answered", [a - finished_at for a, _, _ in ways]),
            ("callback answered -> result download requested", [d - a for a, d, _ in ways]),
            ("download requested -> sendVideo at the fake", [v - d for _, d, v in ways]),
        ],
        last_video_s=last_video_s,
        edits_meanwhile=sum(
            1 for c in burst_calls if c.method == "editMessageText" and c.ok and c.at <= last_video_at
        ),
        refused=[
            f"{method} ({reason} limit)"
            for (method, _), reason in zip(tg.flood_control.refused, tg.flood_control.reasons, strict=True)
        ]
        if tg.flood_control is not None
        else [],
        rows=rows,
        window_held=window_held,
        flight_s=flight_s,
        rate=sends_between_videos(burst_calls, videos),
    )


def sends_between_videos(calls: list[Any], videos: list[Any]) -> tuple[int, float]:
    """Messages (as Telegram counts them) that reached the fake from the first video to the last, and
    that time: the pace the bot kept while deliveries were waiting."""
    first, last = min(c.at for c in videos), max(c.at for c in videos)
    counted = [c for c in calls if c.ok and FloodControl.counts(c.method) and first <= c.at <= last]
    return len(counted), last - first


def report(burst: Burst) -> None:
    print(f"  {len(burst.latency)} videos; last {burst.last_video_s:.2f} s after KIE finished")
    print_table(
        ["seconds", "p50", "p99", "max"],
        [
            (name, f"{percentile(values, 0.5):.2f}", f"{percentile(values, 0.99):.2f}", f"{max(values):.2f}")
            for name, values in [*burst.phases, ("total: KIE finished -> sendVideo", burst.latency)]
            if values
        ],
    )
    print(f"  status edits that reached Telegram before the last video: {burst.edits_meanwhile}")
    print_table(
        ["outgoing queue, from KIE finishing", "sent", "superseded", "queued", "mean wait s", "max wait s"],
        burst.rows,
    )
    print(
        f"  sends held back for sends still on their way to Telegram: {burst.window_held} times; "
        f"mean time from a send's start to its answer {burst.flight_s * 1000:.0f} ms"
    )
    sends, span_s = burst.rate
    print(
        f"  messages reaching Telegram from the first video to the last: {sends} in {span_s:.2f} s = "
        f"{sends / max(span_s, 1e-9):.1f}/s"
    )
    print(
        f"  delivery p99 (KIE finished -> sendVideo): {burst.p99:.2f} s, "
        f"p50 {percentile(burst.latency, 0.5):.2f} s"
    )
    kinds = f" ({', '.join(sorted(set(burst.refused)))})" if burst.refused else ""
    print(f"  429s from the fake: {len(burst.refused)} over the whole run{kinds}; load {load_average()}")


async def bench(jobs: int, refresh_s: float, per_s: float, per_chat_per_s: float, media: bool) -> None:
    what = f"{jobs} jobs finishing together, status refresh every {refresh_s:g} s"
    ffmpeg = "with" if media else "without"
    print(f"\n== 1. {what}, pace lifted, no flood control, {ffmpeg} ffmpeg (load {load_average()})")
    free = await run_burst(jobs, refresh_s, 1000.0, 1000.0, flood=False, media=media)
    report(free)
    print(
        f"\n== 2. {what}, pace {per_s:g}/s and {per_chat_per_s:g}/s per chat, the fake enforcing "
        f"Telegram's limits, {ffmpeg} ffmpeg (load {load_average()})"
    )
    paced = await run_burst(jobs, refresh_s, per_s, per_chat_per_s, flood=True, media=media)
    report(paced)
    floor_s = jobs / per_s
    bound_s = max(free.p99, floor_s)
    print(
        f"\n  p99 {paced.p99:.2f} s paced; unpaced {free.p99:.2f} s; the pace alone needs {floor_s:.2f} s "
        f"for {jobs} videos"
    )
    verdict(
        f"Telegram 429s, {jobs} jobs finishing together with status refresh on", len(paced.refused), "<=", 0
    )
    verdict(
        f"p99 KIE finished->sendVideo paced / max(unpaced p99, {jobs} / {per_s:g} per s), {jobs} jobs",
        paced.p99 / bound_s,
        "<=",
        P99_RATIO_TARGET,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument(
        "--refresh", type=float, default=15.0, help="STATUS_REFRESH_SECONDS (15 = the default)"
    )
    parser.add_argument("--per-s", type=float, default=25.0, help="TELEGRAM_MAX_MESSAGES_PER_S")
    parser.add_argument("--per-chat-per-s", type=float, default=1.0, help="TELEGRAM_MAX_PER_CHAT_PER_S")
    parser.add_argument("--ffmpeg", action="store_true", help="keep ffprobe/ffmpeg on (if installed)")
    args = parser.parse_args()
    started = time.monotonic()
    print(f"load average at start: {load_average()}")
    await bench(args.jobs, args.refresh, args.per_s, args.per_chat_per_s, media=args.ffmpeg)
    print(f"\ntotal {time.monotonic() - started:.0f} s; load average at the end: {load_average()}")


if __name__ == "__main__":
    asyncio.run(main())
