"""User files are uploaded to KIE right before the create call; KIE deletes uploads after 24 h
(kie-api-2026.md §1.2), so a submission resumed later uploads them again from the Telegram file id."""

from __future__ import annotations

import time
from pathlib import Path

from bot.catalog.model import Order
from bot.kie.sandbox import KieSimulator
from bot.services.generation import UPLOAD_REUSE_MAX_AGE_S, InputFileRef
from bot.store.jobs import JobState
from tests.e2e.harness import make_settings, running_bot
from tests.e2e.jobs_support import books_balance, prepare_user, wait_job_state
from tests.fakes.telegram import FakeTelegram

USER = 5013
PHOTO = b"\xff\xd8\xff\xe0" + b"\x00" * 64


async def test_a_resumed_submission_uploads_stale_inputs_again(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    # This simulator refuses inputs it does not hold (any more): like KIE fetching a deleted upload.
    sim = KieSimulator("sim-test-key", require_uploaded_inputs=True)
    await sim.start()
    try:
        async with running_bot(make_settings(tmp_path, fake_tg, sim)) as bot:
            await prepare_user(bot, fake_tg, USER)
            photo = fake_tg.add_file(PHOTO, kind="photo", mime_type="image/jpeg")
            ref = InputFileRef("image", photo.file_id, "photo.jpg", "image/jpeg", size=len(PHOTO))
            generation = bot.components.generation
            confirmed = await generation.confirm(
                user_id=USER, chat_id=USER, draft_key=f"{USER}:reupload",
                order=Order(model_key="kling25", mode="i2v", ratio=None, options={"duration": "5"},
                            prompt="The cat turns its head slowly"),
                files=[ref], status_message_id=None,
            )
            job = confirmed.job
            # An earlier attempt uploaded the photo 21 h ago, then the bot stopped before the create
            # call; KIE has since deleted that upload.
            old_url = sim.add_file("telegram-inputs/old-photo.jpg", PHOTO, "image/jpeg")
            sim.files["telegram-inputs/old-photo.jpg"].uploaded_at -= 25 * 3600
            uploaded_at = time.time() - UPLOAD_REUSE_MAX_AGE_S - 3600
            await bot.components.jobs.set_inputs(
                job.id,
                {**job.inputs, "urls": {ref.file_id: old_url}, "uploaded_at": {ref.file_id: uploaded_at}},
            )
            await generation.submit(job.id)

            done = await wait_job_state(bot, job.id, JobState.DELIVERED, JobState.FAILED)
            assert done.state is JobState.DELIVERED, done.fail_reason
            create = sim.requests_to("/api/v1/jobs/createTask")[0].json
            sent = create["input"]["image_url"]
            assert sent != old_url and sim.requests_to("/api/file-stream-upload")
            assert done.inputs["urls"][ref.file_id] == sent
            assert time.time() - done.inputs["uploaded_at"][ref.file_id] < 60
            assert await books_balance(bot)
    finally:
        await sim.stop()


async def test_a_fresh_upload_is_reused_by_a_resumed_submission(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    sim = KieSimulator("sim-test-key", require_uploaded_inputs=True)
    await sim.start()
    try:
        async with running_bot(make_settings(tmp_path, fake_tg, sim)) as bot:
            await prepare_user(bot, fake_tg, USER)
            photo = fake_tg.add_file(PHOTO, kind="photo", mime_type="image/jpeg")
            ref = InputFileRef("image", photo.file_id, "photo.jpg", "image/jpeg", size=len(PHOTO))
            generation = bot.components.generation
            confirmed = await generation.confirm(
                user_id=USER, chat_id=USER, draft_key=f"{USER}:reuse",
                order=Order(model_key="kling25", mode="i2v", ratio=None, options={"duration": "5"},
                            prompt="The cat turns its head slowly"),
                files=[ref], status_message_id=None,
            )
            job = confirmed.job
            url = sim.add_file("telegram-inputs/recent.jpg", PHOTO, "image/jpeg")
            await bot.components.jobs.set_inputs(
                job.id, {**job.inputs, "urls": {ref.file_id: url}, "uploaded_at": {ref.file_id: time.time()}}
            )
            await generation.submit(job.id)
            done = await wait_job_state(bot, job.id, JobState.DELIVERED, JobState.FAILED)
            assert done.state is JobState.DELIVERED, done.fail_reason
            assert sim.requests_to("/api/v1/jobs/createTask")[0].json["input"]["image_url"] == url
            assert sim.requests_to("/api/file-stream-upload") == []
    finally:
        await sim.stop()
