"""The delivery order (video ▸ document ▸ link) and what each refusal leads to, in-process.

The result is really downloaded (a KieClient fetching from a local HTTP server, as from KIE's CDN);
the chat is a fake ResultSender speaking the services' port (bot/services/ports.py), scripted to
refuse the way Telegram does, so no Bot or aiogram type is involved.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from bot.kie.client import KieClient
from bot.kie.sandbox.simulator import MEDIA_DIR
from bot.services.delivery import Delivered, DeliveryResult, DeliveryService
from bot.services.ports import (
    ChatGone,
    Refused,
    SendFailure,
    TooLarge,
    TransientSendFailure,
    VideoFile,
)
from bot.store.jobs import Job, JobState
from tests.e2e.jobs_support import wait_until

CLIP = MEDIA_DIR / "9x16_audio.mp4"


@dataclass
class ScriptedChat:
    """ResultSender: each method fails with its scripted SendFailure (None: it takes the send)."""

    video_fails: SendFailure | None = None
    document_fails: SendFailure | None = None
    link_fails: SendFailure | None = None
    sent: list[str] = field(default_factory=list)
    videos: list[VideoFile] = field(default_factory=list)

    async def send_video(self, job: Job, video: VideoFile) -> str | None:
        self.sent.append("video")
        self.videos.append(video)
        assert video.path.stat().st_size > 0
        if self.video_fails is not None:
            raise self.video_fails
        return f"video-file-{job.id}"

    async def send_document(self, job: Job, video: VideoFile) -> str | None:
        self.sent.append("document")
        if self.document_fails is not None:
            raise self.document_fails
        return f"document-file-{job.id}"

    async def send_link(self, job: Job, url: str) -> None:
        self.sent.append(f"link {url}")
        if self.link_fails is not None:
            raise self.link_fails


@pytest.fixture
async def cdn() -> AsyncIterator[str]:
    """Serves the sandbox clip at /clip.mp4; yields the base URL."""

    async def clip(_: web.Request) -> web.FileResponse:
        return web.FileResponse(CLIP)

    app = web.Application()
    app.router.add_get("/clip.mp4", clip)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def kie(cdn: str) -> AsyncIterator[KieClient]:
    client = KieClient("test-key", fetch_allow=(cdn.removeprefix("http://"),))
    yield client
    await client.aclose()


def finished_job(url: str) -> Job:
    return Job(
        id=7, user_id=1, chat_id=1, draft_key="d", model_key="kling", mode="t2v", options={},
        ratio="9:16", prompt="A fox", inputs={}, family="market", kie_model="kling/x", kie_credits=1,
        cost=10, callback_token="tok", task_id="task-7", state=JobState.SUCCEEDED, progress=100,
        status_message_id=None, fail_code=None, fail_reason=None, result_urls=(url,), file_id=None,
        poll_count=0, next_poll_at=None, deadline_at=0.0, created_at=0.0, create_started_at=0.0,
        submitted_at=0.0, finished_at=0.0, delivered_at=None,
    )


async def deliver(
    kie: KieClient, chat: ScriptedChat, url: str, tmp_path: Path, *, fall_back: bool = False,
    upload_limit: int = 50 * 1024 * 1024,
) -> Delivered:
    service = DeliveryService(
        sender=chat, kie=kie, upload_limit_bytes=upload_limit, max_result_bytes=upload_limit,
        temp_dir=tmp_path, max_parallel=1,
    )
    try:
        return await service.deliver(finished_job(url), fall_back_on_transient=fall_back)
    finally:
        await service.close()
        assert list(tmp_path.iterdir()) == []  # the work directories are gone, whatever happened


def only(paths: Iterator[Path]) -> Path:
    (path,) = paths
    return path


async def test_a_taken_video_is_sent_once_with_its_size(kie: KieClient, cdn: str, tmp_path: Path) -> None:
    chat = ScriptedChat()
    assert await deliver(kie, chat, f"{cdn}/clip.mp4", tmp_path) == Delivered(
        DeliveryResult.VIDEO, "video-file-7"
    )
    assert chat.sent == ["video"]
    [video] = chat.videos
    assert video.info is not None and (video.info.width, video.info.height) == (180, 320)


@pytest.mark.parametrize(
    ("video_fails", "document_fails", "expected", "sent"),
    [
        (Refused("bad video"), None, Delivered(DeliveryResult.DOCUMENT, "document-file-7"),
         ["video", "document"]),
        (Refused("bad video"), Refused("bad document"), Delivered(DeliveryResult.LINK),
         ["video", "document", "link"]),
        (TooLarge("413"), None, Delivered(DeliveryResult.LINK), ["video", "link"]),
        (Refused("bad video"), TooLarge("413"), Delivered(DeliveryResult.LINK),
         ["video", "document", "link"]),
        (ChatGone("blocked"), None, Delivered(DeliveryResult.UNDELIVERABLE), ["video"]),
        (Refused("bad video"), ChatGone("blocked"), Delivered(DeliveryResult.UNDELIVERABLE),
         ["video", "document"]),
        # Transient: retried later by the tracker, not degraded to a document.
        (TransientSendFailure("502"), None, Delivered(DeliveryResult.RETRY), ["video"]),
        (TransientSendFailure("429", retry_after_s=42.0), None,
         Delivered(DeliveryResult.RETRY, retry_after_s=42.0), ["video"]),
        (Refused("bad video"), TransientSendFailure("502"), Delivered(DeliveryResult.RETRY),
         ["video", "document"]),
    ],
)
async def test_each_refusal_leads_to_the_next_form_or_a_verdict(
    kie: KieClient,
    cdn: str,
    tmp_path: Path,
    video_fails: SendFailure,
    document_fails: SendFailure | None,
    expected: Delivered,
    sent: list[str],
) -> None:
    url = f"{cdn}/clip.mp4"
    chat = ScriptedChat(video_fails=video_fails, document_fails=document_fails)
    assert await deliver(kie, chat, url, tmp_path) == expected
    assert [s.removesuffix(f" {url}") for s in chat.sent] == sent


async def test_after_many_transient_failures_it_falls_back_to_document_then_link(
    kie: KieClient, cdn: str, tmp_path: Path
) -> None:
    chat = ScriptedChat(video_fails=TransientSendFailure("502"), document_fails=TransientSendFailure("502"))
    assert await deliver(kie, chat, f"{cdn}/clip.mp4", tmp_path, fall_back=True) == Delivered(
        DeliveryResult.LINK
    )
    assert chat.sent == ["video", "document", f"link {cdn}/clip.mp4"]


async def test_a_result_over_the_upload_limit_goes_as_a_link_without_a_send_attempt(
    kie: KieClient, cdn: str, tmp_path: Path
) -> None:
    chat = ScriptedChat()
    small_limit = CLIP.stat().st_size // 2
    assert await deliver(kie, chat, f"{cdn}/clip.mp4", tmp_path, upload_limit=small_limit) == Delivered(
        DeliveryResult.LINK
    )
    assert chat.sent == [f"link {cdn}/clip.mp4"]


async def test_a_link_the_chat_refuses_is_not_a_verdict(kie: KieClient, cdn: str, tmp_path: Path) -> None:
    """A refused link propagates (the tracker books a retry); a gone chat or a flood wait does not."""
    url = f"{cdn}/clip.mp4"
    chat = ScriptedChat(video_fails=TooLarge("413"), link_fails=Refused("bad request"))
    with pytest.raises(Refused):
        await deliver(kie, chat, url, tmp_path)
    chat = ScriptedChat(video_fails=TooLarge("413"), link_fails=ChatGone("blocked"))
    assert await deliver(kie, chat, url, tmp_path) == Delivered(DeliveryResult.UNDELIVERABLE)
    chat = ScriptedChat(video_fails=TooLarge("413"), link_fails=TransientSendFailure("429", 9.0))
    assert await deliver(kie, chat, url, tmp_path) == Delivered(DeliveryResult.RETRY, retry_after_s=9.0)


async def test_a_private_address_is_never_fetched_nor_sent(kie: KieClient, tmp_path: Path) -> None:
    chat = ScriptedChat()
    assert await deliver(kie, chat, "http://10.0.0.1/clip.mp4", tmp_path) == Delivered(DeliveryResult.REFUSED)
    assert chat.sent == []


async def test_a_burst_of_deliveries_leaves_no_directory(kie: KieClient, cdn: str, tmp_path: Path) -> None:
    chat = ScriptedChat()
    service = DeliveryService(
        sender=chat, kie=kie, upload_limit_bytes=50 * 1024 * 1024, max_result_bytes=50 * 1024 * 1024,
        temp_dir=tmp_path, max_parallel=4,
    )
    jobs = [dataclasses.replace(finished_job(f"{cdn}/clip.mp4"), id=100 + n) for n in range(12)]
    results = await asyncio.gather(*(service.deliver(job) for job in jobs))
    assert {r.result for r in results} == {DeliveryResult.VIDEO}
    # Removed in the background, without waiting for close; the service's own directory at close.
    root = only(tmp_path.iterdir())
    await wait_until(lambda: not any(root.iterdir()), 5.0, "the work directories removed")
    await service.close()
    assert list(tmp_path.iterdir()) == []
