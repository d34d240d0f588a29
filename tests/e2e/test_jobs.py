"""Job lifecycle end to end: bot + fake Bot API + KIE simulator over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest

from bot.i18n import translate
from bot.kie.sandbox import KieSimulator, SimTimings
from bot.kie.types import TaskResult, TaskState
from bot.kie.webhook_auth import signature_headers
from bot.services.media import ffprobe_available, probe_video
from bot.services.tracker import SENDING_NOTICE_AFTER_S
from bot.store.jobs import JobState
from tests.e2e.harness import make_settings, running_bot
from tests.e2e.jobs_support import (
    DEFAULT_PROMPT,
    books_balance,
    job_state,
    ledger_for_job,
    order_job,
    prepare_user,
    wait_job_state,
    wait_status,
)
from tests.fakes.telegram import FakeTelegram

USER = 5001
PRICE = 42  # Kling 2.5 Turbo, 5 s (kie-api.md §8.2)


def callback_url(bot_settings_port: int, token: str) -> str:
    return f"http://127.0.0.1:{bot_settings_port}/kie/callback/{token}"


async def test_success_by_callback(fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, fake_tg, sim, callbacks=True, kie_poll_scale=1.0)
    async with running_bot(settings) as bot:
        await prepare_user(bot, fake_tg, USER)
        job = await order_job(bot, USER)
        videos = await fake_tg.wait_for("sendVideo", predicate=lambda c: c.params.get("chat_id") == USER)
        done = await wait_job_state(bot, job.id, JobState.DELIVERED)
        assert done.file_id == videos[0].result["video"]["file_id"]
        assert done.task_id is not None
        delivered = [c for c in sim.callbacks_for(done.task_id) if c.delivered]
        assert len(delivered) == 1
        # With callbacks on, polling is only a backstop: no status call was needed.
        assert sim.requests_to("/api/v1/jobs/recordInfo") == []
        assert await bot.components.billing.balance(USER) == 1000 - PRICE
        assert await ledger_for_job(bot, job.id) == [(-PRICE, "generation")]
        reservation = await bot.components.billing.reservation(done.reservation_key)
        assert reservation is not None and reservation.status == "settled"
        await wait_status(fake_tg, done, translate("job-status-done", "en"))


async def test_success_by_polling_only(fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, sim)) as bot:
        await prepare_user(bot, fake_tg, USER)
        job = await order_job(bot, USER)
        await fake_tg.wait_for("sendVideo", predicate=lambda c: c.params.get("chat_id") == USER)
        done = await wait_job_state(bot, job.id, JobState.DELIVERED)
        create = sim.requests_to("/api/v1/jobs/createTask")
        assert len(create) == 1 and "callBackUrl" not in create[0].json
        assert sim.callbacks == []
        assert sim.requests_to("/api/v1/jobs/recordInfo"), "the job was found by polling"
        assert done.poll_count >= 1


async def test_failure_refunds_exactly_once(fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, fake_tg, sim, callbacks=True)
    async with running_bot(settings) as bot:
        await prepare_user(bot, fake_tg, USER)
        job = await order_job(bot, USER, prompt="A storm over the sea [sim:fail=501] [sim:double-callback]")
        failed = await wait_job_state(bot, job.id, JobState.FAILED)
        assert failed.task_id is not None
        await sim.wait_callbacks(2, task_id=failed.task_id)
        await sim.idle()
        # A poll seeing the same failure after both callbacks changes nothing: one refund.
        await bot.components.tracker.poll(await job_state(bot, job.id))
        assert await bot.components.tracker.wait_idle(5)
        assert await ledger_for_job(bot, job.id) == [(-PRICE, "generation"), (PRICE, "refund")]
        assert await bot.components.billing.balance(USER) == 1000
        text = await wait_status(fake_tg, failed, "❌")
        assert f"{PRICE}" in text
        assert not fake_tg.calls_of("sendVideo")
        assert await books_balance(bot)


async def test_duplicate_and_late_callbacks_give_one_video(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, fake_tg, sim, callbacks=True)
    async with running_bot(settings) as bot:
        await prepare_user(bot, fake_tg, USER)
        job = await order_job(bot, USER, prompt="A lighthouse at night [sim:double-callback]")
        done = await wait_job_state(bot, job.id, JobState.DELIVERED)
        assert done.task_id is not None
        await sim.wait_callbacks(2, task_id=done.task_id)
        await sim.idle()
        # A late replay of the same callback, long after delivery.
        replay = sim.callbacks_for(done.task_id)[0]
        async with httpx.AsyncClient() as client:
            answer = await client.post(replay.url, json=replay.body)
        assert answer.status_code == 200
        assert await bot.components.tracker.wait_idle(5)
        assert len(fake_tg.calls_of("sendVideo")) == 1
        assert (await job_state(bot, job.id)).state is JobState.DELIVERED
        assert await ledger_for_job(bot, job.id) == [(-PRICE, "generation")]


async def test_callback_and_poll_racing_give_one_video(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    sim = KieSimulator("sim-test-key", timings=SimTimings.manual())
    await sim.start()
    try:
        settings = make_settings(tmp_path, fake_tg, sim, callbacks=True)
        async with running_bot(settings) as bot:
            await prepare_user(bot, fake_tg, USER)
            job = await order_job(bot, USER)
            submitted = await wait_job_state(bot, job.id, JobState.SUBMITTED, JobState.RUNNING)
            assert submitted.task_id is not None
            sim.complete(submitted.task_id)
            tracker = bot.components.tracker
            # The poll and the callback land together, several times over.
            await asyncio.gather(
                *(tracker.poll(submitted) for _ in range(5)),
                sim.wait_callbacks(1, task_id=submitted.task_id),
            )
            await wait_job_state(bot, job.id, JobState.DELIVERED)
            await sim.idle()
            assert await tracker.wait_idle(5)
            assert len(fake_tg.calls_of("sendVideo")) == 1
            assert await ledger_for_job(bot, job.id) == [(-PRICE, "generation")]
    finally:
        await sim.stop()


async def test_forged_callbacks_change_nothing(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    sim = KieSimulator("sim-test-key", timings=SimTimings.manual(), hmac_key="hmac-secret")
    await sim.start()
    try:
        settings = make_settings(tmp_path, fake_tg, sim, callbacks=True, kie_webhook_hmac_key="hmac-secret")
        async with running_bot(settings) as bot:
            await prepare_user(bot, fake_tg, USER)
            job = await order_job(bot, USER)
            submitted = await wait_job_state(bot, job.id, JobState.SUBMITTED)
            assert submitted.task_id is not None
            success = {
                "code": 200,
                "msg": "Playground task completed successfully.",
                "data": {
                    "taskId": submitted.task_id,
                    "state": "success",
                    "resultJson": json.dumps({"resultUrls": ["https://evil.example/v.mp4"]}),
                },
            }
            base = f"http://127.0.0.1:{settings.web_port}/kie/callback/"
            async with httpx.AsyncClient() as client:
                unknown = await client.post(base + "not-a-real-token", json=success)
                unsigned = await client.post(base + submitted.callback_token, json=success)
                stale = await client.post(
                    base + submitted.callback_token,
                    json=success,
                    headers=signature_headers("hmac-secret", submitted.task_id, 1_000_000_000),
                )
                wrong_key = await client.post(
                    base + submitted.callback_token,
                    json=success,
                    headers=signature_headers("other-key", submitted.task_id),
                )
                other_task = dict(success, data=dict(success["data"], taskId="someone-elses-task"))
                mismatched = await client.post(
                    base + submitted.callback_token,
                    json=other_task,
                    headers=signature_headers("hmac-secret", "someone-elses-task"),
                )
            assert unknown.status_code == 404
            assert unsigned.status_code == 401
            assert stale.status_code == 401
            assert wrong_key.status_code == 401
            assert mismatched.status_code == 403
            assert await bot.components.tracker.wait_idle(5)
            after = await job_state(bot, job.id)
            assert after.state in (JobState.SUBMITTED, JobState.RUNNING)
            assert not fake_tg.calls_of("sendVideo")
            # The real, signed callback still works afterwards.
            sim.complete(submitted.task_id)
            await wait_job_state(bot, job.id, JobState.DELIVERED)
            assert len(fake_tg.calls_of("sendVideo")) == 1
    finally:
        await sim.stop()


async def test_lost_callback_is_caught_by_the_poll(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, fake_tg, sim, callbacks=True)
    async with running_bot(settings) as bot:
        await prepare_user(bot, fake_tg, USER)
        job = await order_job(bot, USER, prompt="A quiet forest [sim:lose-callback]")
        done = await wait_job_state(bot, job.id, JobState.DELIVERED)
        assert done.task_id is not None
        assert sim.callbacks_for(done.task_id) == []
        assert sim.requests_to("/api/v1/jobs/recordInfo")
        assert len(fake_tg.calls_of("sendVideo")) == 1


async def test_kie_5xx_and_429_while_polling_are_recovered(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, sim)) as bot:
        await prepare_user(bot, fake_tg, USER)
        sim.faults.inject("status", http_status=500, code=500, msg="Internal error", times=2)
        sim.faults.inject(
            "status", http_status=429, code=429, msg="Too many requests", times=2, retry_after_s=0.1
        )
        sim.faults.inject("status", code=455, msg="Maintenance", times=1)
        job = await order_job(bot, USER)
        await wait_job_state(bot, job.id, JobState.DELIVERED, timeout=30)
        assert len(fake_tg.calls_of("sendVideo")) == 1
        assert await ledger_for_job(bot, job.id) == [(-PRICE, "generation")]


async def test_timeout_refunds_then_late_success_is_delivered_free(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, fake_tg, sim, callbacks=True, job_timeout_minutes=0.02)
    async with running_bot(settings) as bot:
        await prepare_user(bot, fake_tg, USER)
        job = await order_job(bot, USER, prompt="A slow sunrise [sim:never]")
        timed_out = await wait_job_state(bot, job.id, JobState.TIMED_OUT)
        assert await bot.components.billing.balance(USER) == 1000
        assert await ledger_for_job(bot, job.id) == [(-PRICE, "generation"), (PRICE, "refund")]
        await wait_status(fake_tg, timed_out, "⌛")
        assert timed_out.task_id is not None
        sim.complete(timed_out.task_id)
        await wait_job_state(bot, job.id, JobState.DELIVERED)
        assert len(fake_tg.calls_of("sendVideo")) == 1
        # Free: no second debit, and the refund stands.
        assert await ledger_for_job(bot, job.id) == [(-PRICE, "generation"), (PRICE, "refund")]
        assert await bot.components.billing.balance(USER) == 1000
        assert await books_balance(bot)


async def test_result_over_the_upload_limit_is_sent_as_a_link(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, sim)) as bot:
        await prepare_user(bot, fake_tg, USER)
        job = await order_job(bot, USER, prompt="A huge waterfall [sim:large=60]")
        done = await wait_job_state(bot, job.id, JobState.DELIVERED, timeout=30)
        assert not fake_tg.calls_of("sendVideo")
        links = [
            c
            for c in fake_tg.calls_of("sendMessage")
            if c.params.get("chat_id") == USER and "/results/" in str(c.params.get("text"))
        ]
        assert len(links) == 1
        assert done.file_id is None


@pytest.mark.skipif(not ffprobe_available(), reason="ffprobe is not installed (apt-get install ffmpeg)")
async def test_vertical_result_is_sent_with_its_real_size(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, sim)) as bot:
        await prepare_user(bot, fake_tg, USER)
        job = await order_job(bot, USER, ratio="9:16")
        calls = await fake_tg.wait_for("sendVideo", predicate=lambda c: c.params.get("chat_id") == USER)
        await wait_job_state(bot, job.id, JobState.DELIVERED)
        params = calls[0].params
        uploaded = calls[0].files["video"]
        local = tmp_path / "sent.mp4"
        local.write_bytes(uploaded.data)
        info = await probe_video(local)
        assert info is not None
        assert (params["width"], params["height"]) == (info.width, info.height)
        assert params["height"] > params["width"], "9:16 must be sent as portrait"
        assert params["duration"] >= 1
        assert params["supports_streaming"] is True
        # A small clip: Telegram makes its own preview; ours is only for large files (wants_thumbnail).
        assert "thumbnail" not in calls[0].files
        assert info.has_audio, "a silent clip gets a silent audio track (else it plays like a GIF)"


async def test_user_who_blocked_the_bot_closes_the_job(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    sim = KieSimulator("sim-test-key", timings=SimTimings.manual())
    await sim.start()
    try:
        async with running_bot(make_settings(tmp_path, fake_tg, sim, callbacks=True)) as bot:
            await prepare_user(bot, fake_tg, USER)
            job = await order_job(bot, USER)
            submitted = await wait_job_state(bot, job.id, JobState.SUBMITTED)
            assert submitted.task_id is not None
            fake_tg.block_user(USER)
            mark = fake_tg.mark()
            sim.complete(submitted.task_id)
            await wait_job_state(bot, job.id, JobState.UNDELIVERABLE)
            assert await bot.components.tracker.wait_idle(5)
            attempts = fake_tg.calls_of("sendVideo", since=mark)
            assert len(attempts) == 1, "no retry storm against a blocked user"
    finally:
        await sim.stop()


async def test_video_does_not_wait_behind_the_sending_status_edit(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    """The video goes out first; "sending" and the upload action appear only while it is slow.

    Both the upload and every status edit are parked at the fake: the upload must still start, the
    "sending" edit come beside it, and "done" land last.
    """
    sim = KieSimulator("sim-test-key", timings=SimTimings.manual())
    await sim.start()
    try:
        async with running_bot(make_settings(tmp_path, fake_tg, sim, callbacks=True)) as bot:
            await prepare_user(bot, fake_tg, USER)
            job = await order_job(bot, USER)
            submitted = await wait_job_state(bot, job.id, JobState.SUBMITTED)
            assert submitted.task_id is not None
            await wait_status(fake_tg, submitted, translate("job-status-queued", "en"))
            release_edit = fake_tg.hold_next("editMessageText")
            release_video = fake_tg.hold_next("sendVideo")
            mark = fake_tg.mark()
            sim.complete(submitted.task_id)
            try:
                # Both parked: the upload and, beside it, the "sending" edit. (Before, the parked
                # edit held the upload back for good.)
                await fake_tg.wait_until(lambda: fake_tg.held == 2 or None, timeout=10)
                await fake_tg.wait_for(
                    "sendChatAction", predicate=lambda c: c.params.get("action") == "upload_video", timeout=10
                )
            finally:
                release_edit.set()
                release_video.set()
            done = await wait_job_state(bot, job.id, JobState.DELIVERED)
            await wait_status(fake_tg, done, translate("job-status-done", "en"))
            assert await bot.components.tracker.wait_idle(5)
            edits = [
                c for c in fake_tg.calls_of("editMessageText", since=mark) if c.params.get("chat_id") == USER
            ]
            texts = [str(c.params["text"]) for c in edits]
            assert [t for t in texts if translate("job-status-sending", "en") in t]
            assert translate("job-status-done", "en") in texts[-1]
    finally:
        await sim.stop()


async def test_quick_delivery_goes_straight_to_done(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    """A video delivered within a second: no "sending" edit and no upload action in the burst."""
    sim = KieSimulator("sim-test-key", timings=SimTimings.manual())
    await sim.start()
    try:
        async with running_bot(make_settings(tmp_path, fake_tg, sim, callbacks=True)) as bot:
            await prepare_user(bot, fake_tg, USER)
            job = await order_job(bot, USER)
            submitted = await wait_job_state(bot, job.id, JobState.SUBMITTED)
            assert submitted.task_id is not None
            await wait_status(fake_tg, submitted, translate("job-status-queued", "en"))
            mark = fake_tg.mark()
            started = time.monotonic()
            sim.complete(submitted.task_id)
            done = await wait_job_state(bot, job.id, JobState.DELIVERED)
            took_s = time.monotonic() - started
            await wait_status(fake_tg, done, translate("job-status-done", "en"))
            assert await bot.components.tracker.wait_idle(5)
            assert len(fake_tg.calls_of("sendVideo", since=mark)) == 1
            texts = [str(c.params["text"]) for c in fake_tg.calls_of("editMessageText", since=mark)]
            assert translate("job-status-done", "en") in texts[-1]
            # Only checkable when the machine was quick enough (no timing is asserted).
            if took_s < SENDING_NOTICE_AFTER_S:
                assert len(texts) == 1, texts
                assert not fake_tg.calls_of("sendChatAction", since=mark)
    finally:
        await sim.stop()


async def test_tracker_applies_results_once_whatever_the_order(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    """Success, failure and duplicates applied in any order: one outcome, one money movement."""
    sim = KieSimulator("sim-test-key", timings=SimTimings.manual())
    await sim.start()
    try:
        async with running_bot(make_settings(tmp_path, fake_tg, sim)) as bot:
            await prepare_user(bot, fake_tg, USER)
            job = await order_job(bot, USER)
            submitted = await wait_job_state(bot, job.id, JobState.SUBMITTED)
            tracker = bot.components.tracker
            ok = TaskResult(
                TaskState.SUCCEEDED, submitted.task_id, video_urls=(sim.result_url(submitted.task_id or ""),)
            )
            bad = TaskResult(TaskState.FAILED, submitted.task_id, fail_code="500", fail_message="boom")
            sim.complete(submitted.task_id or "")
            await asyncio.gather(*(tracker.apply(job.id, r, source="test") for r in (ok, bad, ok, bad, ok)))
            final = await wait_job_state(bot, job.id, JobState.DELIVERED, JobState.FAILED)
            assert await tracker.wait_idle(5)
            ledger = await ledger_for_job(bot, job.id)
            if final.state is JobState.DELIVERED:
                assert ledger == [(-PRICE, "generation")]
                assert len(fake_tg.calls_of("sendVideo")) == 1
            else:
                assert ledger == [(-PRICE, "generation"), (PRICE, "refund")]
                assert not fake_tg.calls_of("sendVideo")
    finally:
        await sim.stop()


async def test_empty_kie_balance_refunds_and_alerts_the_admin_once(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    admin = 9001
    sim = KieSimulator("sim-test-key", balance=0)
    await sim.start()
    try:
        settings = make_settings(tmp_path, fake_tg, sim, admin_ids=frozenset({admin}))
        async with running_bot(settings) as bot:
            await prepare_user(bot, fake_tg, USER)
            await prepare_user(bot, fake_tg, admin, credits=0, language="ru")
            first = await order_job(bot, USER)
            second = await order_job(bot, USER)
            for job in (first, second):
                failed = await wait_job_state(bot, job.id, JobState.FAILED)
                assert await ledger_for_job(bot, job.id) == [(-PRICE, "generation"), (PRICE, "refund")]
                await wait_status(fake_tg, failed, translate("fail-kie_unavailable", "en"))
            assert await bot.components.billing.balance(USER) == 1000
            alerts = [c for c in fake_tg.calls_of("sendMessage") if c.params.get("chat_id") == admin]
            assert len(alerts) == 1, "one alert, not one per failed job"
            assert alerts[0].params["text"] == translate("operator-kie_balance_empty", "ru")
    finally:
        await sim.stop()


async def test_lost_create_answer_refunds_then_kie_callback_delivers_free(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    """KIE took the order but the connection dropped before its answer: we cannot know the task
    id, so the user is refunded at once; when KIE's callback proves the task exists, the video is
    delivered anyway, free. The create call is never sent twice."""
    async with running_bot(make_settings(tmp_path, fake_tg, sim, callbacks=True)) as bot:
        await prepare_user(bot, fake_tg, USER)
        sim.faults.inject("create", drop=True, process=True)
        job = await order_job(bot, USER)
        failed = await wait_job_state(bot, job.id, JobState.FAILED, JobState.DELIVERED)
        assert failed.task_id is None or failed.state is JobState.DELIVERED
        done = await wait_job_state(bot, job.id, JobState.DELIVERED)
        assert len(sim.tasks) == 1, "one order, one KIE task: the create was not sent again"
        assert done.task_id == next(iter(sim.tasks))
        assert len(fake_tg.calls_of("sendVideo")) == 1
        assert await ledger_for_job(bot, job.id) == [(-PRICE, "generation"), (PRICE, "refund")]
        assert await bot.components.billing.balance(USER) == 1000


@pytest.mark.parametrize("garbled", ["html", "truncated", "no-envelope", "no-task-id"])
async def test_garbled_create_answer_is_outcome_unknown_then_kie_callback_delivers_free(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path, garbled: str
) -> None:
    """KIE took the order but answered HTTP 200 with a body that is not a usable envelope: the task
    may exist, so this is the "outcome unknown" case, not a plain failure. The create is not resent,
    the user is refunded at once, the admin is told which order may exist on KIE, and when KIE's
    callback proves the task exists the video is delivered anyway, free."""
    admin = 5901
    settings = make_settings(tmp_path, fake_tg, sim, callbacks=True, admin_ids=frozenset({admin}))
    async with running_bot(settings) as bot:
        await prepare_user(bot, fake_tg, USER)
        await prepare_user(bot, fake_tg, admin, credits=0, language="ru")
        sim.faults.inject("create", garbled=garbled, process=True)
        job = await order_job(bot, USER, prompt=f"{DEFAULT_PROMPT} [sim:never]")
        failed = await wait_job_state(bot, job.id, JobState.FAILED)
        assert failed.fail_reason is not None and failed.fail_reason.startswith("submission_unknown")
        assert failed.task_id is None
        assert await ledger_for_job(bot, job.id) == [(-PRICE, "generation"), (PRICE, "refund")]
        assert await bot.components.billing.balance(USER) == 1000
        assert await books_balance(bot)
        alerts = await fake_tg.wait_for("sendMessage", predicate=lambda c: c.params.get("chat_id") == admin)
        assert f"#{job.id}" in alerts[0].params["text"]
        heading = translate("operator-possible-orphans", "ru").split("\n")[0]
        assert alerts[0].params["text"].startswith(heading)

        assert len(sim.tasks) == 1, "one order, one KIE task: the create was not sent again"
        task_id = next(iter(sim.tasks))
        sim.complete(task_id)
        done = await wait_job_state(bot, job.id, JobState.DELIVERED)
        assert done.task_id == task_id
        assert len(fake_tg.calls_of("sendVideo")) == 1
        assert await ledger_for_job(bot, job.id) == [(-PRICE, "generation"), (PRICE, "refund")]
        assert await bot.components.billing.balance(USER) == 1000
        assert await books_balance(bot)
        assert len(sim.requests_to("/api/v1/jobs/createTask")) == 1
        admin_messages = [c for c in fake_tg.calls_of("sendMessage") if c.params.get("chat_id") == admin]
        assert len(admin_messages) == 1, "one alert per possible orphan"
