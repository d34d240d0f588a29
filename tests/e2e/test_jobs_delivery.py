"""Delivery details: expired result URLs, progress on the status message, sandbox mode."""

from __future__ import annotations

from pathlib import Path

from bot.i18n import translate
from bot.kie.sandbox import KieSimulator
from bot.store.jobs import JobState
from bot.telegram.balance import credits_text
from tests.e2e.harness import make_settings, running_bot
from tests.e2e.jobs_support import order_job, prepare_user, wait_job_state, wait_status
from tests.fakes.telegram import FakeTelegram

USER = 5101


async def test_expired_result_url_is_refreshed_through_download_url(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, sim)) as bot:
        await prepare_user(bot, fake_tg, USER)
        job = await order_job(bot, USER, prompt="An old film reel [sim:expired]")
        done = await wait_job_state(bot, job.id, JobState.DELIVERED)
        minted = sim.requests_to("/api/v1/common/download-url")
        assert len(minted) == 1
        assert minted[0].json == {"url": done.result_urls[0]}
        assert len(fake_tg.calls_of("sendVideo")) == 1


async def test_status_message_shows_queue_then_done(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    # The job takes a few seconds, so the status message moves from "queued" to "done". Sora 2, the one
    # model that reported progress %, is retired; KIE leaves `progress` unpopulated for the others
    # (kie-api-2026.md §1.2.6), so no percentage may be invented.
    async with running_bot(make_settings(tmp_path, fake_tg, sim)) as bot:
        await prepare_user(bot, fake_tg, USER)
        job = await order_job(
            bot,
            USER,
            model="kling25",
            ratio="9:16",
            options={"duration": "5"},
            prompt="Rain on a window [sim:delay=4]",
        )
        done = await wait_job_state(bot, job.id, JobState.DELIVERED, timeout=30)
        await wait_status(fake_tg, done, translate("job-status-done", "en"))
        status = fake_tg.message(USER, done.status_message_id or 0)
        assert status is not None
        texts = [*status.history, status.text or ""]
        queued = translate("job-status-queued", "en")
        progress_prefix = translate("job-status-progress", "en").split("{")[0]
        assert any(queued in t for t in texts)
        assert not [t for t in texts if progress_prefix in t and "%" in t], texts
        assert translate("job-status-done", "en") in texts[-1]
        # The upload action shows only for a slow upload: test_jobs.py checks it with a parked upload.


async def test_sandbox_mode_generates_without_kie(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    """KIE_SANDBOX=true: the in-process simulator serves every call; no KIE key needed."""
    settings = make_settings(tmp_path, fake_tg, None)
    assert settings.kie_sandbox and settings.kie_api_key is None
    async with running_bot(settings) as bot:
        await prepare_user(bot, fake_tg, USER)
        job = await order_job(bot, USER)
        await wait_job_state(bot, job.id, JobState.DELIVERED, timeout=60)
        assert len(fake_tg.calls_of("sendVideo")) == 1


async def test_result_that_cannot_be_fetched_is_refunded_once(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, sim)) as bot:
        await prepare_user(bot, fake_tg, USER)
        # The result URL is gone and KIE will not mint a fresh one either.
        sim.faults.inject("result", http_status=404, times=None)
        sim.faults.inject("download_url", code=422, msg="record is null", times=None)
        job = await order_job(bot, USER)
        closed = await wait_job_state(bot, job.id, JobState.UNDELIVERABLE, timeout=40)
        assert closed.fail_reason == "delivery_failed"
        rows = await bot.components.db.fetchall(
            "SELECT amount, reason FROM ledger WHERE job_id = ? ORDER BY id", (job.id,)
        )
        assert [(r[0], r[1]) for r in rows] == [(-closed.cost, "generation"), (closed.cost, "refund")]
        assert await bot.components.billing.balance(USER) == 1000
        assert not fake_tg.calls_of("sendVideo")
        await wait_status(
            fake_tg,
            closed,
            translate("job-status-undelivered-refunded", "en", cost=credits_text(closed.cost, "en")),
        )


async def test_caption_is_escaped_and_fits_telegram(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    prompt = "<b>bold</b> & " + "very long prompt " * 400  # Seedance 1.0 takes up to 10000 characters
    async with running_bot(make_settings(tmp_path, fake_tg, sim)) as bot:
        await prepare_user(bot, fake_tg, USER)
        job = await order_job(
            bot, USER, model="seed_lite", ratio="9:16", options={"duration": "5"}, prompt=prompt
        )
        await wait_job_state(bot, job.id, JobState.DELIVERED)
        sent = fake_tg.calls_of("sendVideo")[0]
        assert sent.ok, sent.error
        caption = str(sent.params["caption"])
        assert "&lt;b&gt;bold&lt;/b&gt; &amp;" in caption
        message = fake_tg.messages(USER)[-1]
        assert len(message.plain_caption or "") <= 1024
        assert (message.plain_caption or "").startswith(f"#{job.id} Seedance 1.0 Lite")


async def test_video_refused_by_telegram_goes_out_as_a_document(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, sim)) as bot:
        await prepare_user(bot, fake_tg, USER)
        fake_tg.fail_next("sendVideo", 400, "Bad Request: wrong type of the web page content")
        job = await order_job(bot, USER)
        done = await wait_job_state(bot, job.id, JobState.DELIVERED)
        documents = fake_tg.calls_of("sendDocument")
        assert len(documents) == 1 and documents[0].ok
        assert done.file_id == documents[0].result["document"]["file_id"]
