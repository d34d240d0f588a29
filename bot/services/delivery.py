"""Getting a finished video into the chat.

download (size-capped, to a temp file) ▸ fresh URL if KIE refuses the old one ▸ probe (w/h/duration)
▸ silent audio track if it has none ▸ thumbnail if the file is large ▸ sendVideo ▸ document ▸ link.
Width, height and duration matter: without them Telegram shows a 9:16 clip as a square tile.
The sends go through the ResultSender port (bot/services/ports.py); this module decides the order,
what a refusal leads to and when a failure is worth a retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from bot.kie.client import KieClient
from bot.kie.errors import KieDownloadTooLarge, KieError, KieResultExpired, KieUrlRefused
from bot.services.media import prepare_video
from bot.services.ports import ChatGone, Refused, ResultSender, TooLarge, TransientSendFailure, VideoFile
from bot.store.jobs import Job

log = logging.getLogger(__name__)


class DeliveryResult(StrEnum):
    VIDEO = "video"
    DOCUMENT = "document"
    LINK = "link"
    UNDELIVERABLE = "undeliverable"  # the user blocked the bot or the chat is gone
    FAILED = "failed"  # nothing worked (e.g. the result can no longer be downloaded)
    RETRY = "retry"  # Telegram failed transiently (5xx, network, long 429): try again later
    REFUSED = "refused"  # the result URL is not a public http(s) address: never fetched


@dataclass(frozen=True)
class Delivered:
    result: DeliveryResult
    file_id: str | None = None
    retry_after_s: float | None = None  # Telegram's own retry_after, for RETRY


def _remove_dirs(paths: list[Path]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def _transient(failure: TransientSendFailure) -> Delivered:
    return Delivered(DeliveryResult.RETRY, retry_after_s=failure.retry_after_s)


class DeliveryRush:
    """Counts the deliveries whose video is not in the chat yet, so status edits can let them pass.

    Under a burst of finished jobs the event loop is the bottleneck, and every Telegram call costs
    it a few milliseconds. A video is what the user waits for; "sending" and "done" only describe
    it. So those edits, and the "sending video" chat action, wait until no other delivery is
    still on its way (at most `max_wait_s`): a "sending" notice whose video arrives meanwhile is
    called off, and "done" lands after the burst. With one delivery at a time nothing waits.
    """

    def __init__(self, max_wait_s: float) -> None:
        self.max_wait_s = max_wait_s
        self._count = 0
        # One future per threshold ("at most `own` on their way"), resolved when the count reaches it:
        # a finished delivery wakes only the waiters it lets through, not every waiting edit (with
        # an event, a burst of n deliveries woke n waiters n times).
        self._reached: dict[int, asyncio.Future[None]] = {}

    @contextlib.contextmanager
    def delivering(self) -> Iterator[None]:
        self._count += 1
        try:
            yield
        finally:
            self._count -= 1
            for own in [own for own in self._reached if self._count <= own]:
                reached = self._reached.pop(own)
                if not reached.done():
                    reached.set_result(None)

    async def calm(self, own: int = 0) -> None:
        """Wait until at most `own` deliveries (the caller's) are on their way, or max_wait_s."""
        if self._count <= own:
            return
        reached = self._reached.get(own)
        if reached is None:
            reached = self._reached[own] = asyncio.get_running_loop().create_future()
        # shield: a waiter that times out or is cancelled leaves the shared future to the others.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(reached), self.max_wait_s)


# The longest a status edit waits for the other deliveries to reach the chat (real seconds).
RUSH_WAIT_MAX_S = 10.0


class DeliveryService:
    """Deliveries run at most `max_parallel` at once (DELIVERY_PARALLEL, whose default is the
    settings'), the others wait in line (first come, first served). Under a burst of finished jobs
    the event loop's CPU is the limit: with every delivery advancing at once, each video waits for
    every other job's download and preparation, so the first video lands about when the last does;
    in line, they land one after another (the last one no later), fewer connections are open at
    once, and the HTTP clients' pools stay small (their bookkeeping grows with the requests in
    flight). Large files are network-bound, so a few run side by side."""

    def __init__(
        self,
        *,
        sender: ResultSender,
        kie: KieClient,
        upload_limit_bytes: int,
        max_result_bytes: int,
        temp_dir: Path | None = None,
        max_parallel: int,
        rush_wait_max_s: float = RUSH_WAIT_MAX_S,
    ) -> None:
        self.sender = sender
        self.kie = kie
        self.upload_limit_bytes = upload_limit_bytes
        self.max_result_bytes = max_result_bytes
        self.temp_dir = temp_dir
        self.rush = DeliveryRush(rush_wait_max_s)
        self._slots = asyncio.Semaphore(max_parallel)
        # Work directories: one per delivery under a directory of this service's own, made by the
        # download's first write (KieClient.download) and removed in batches afterwards (_sweep).
        self._root: Path | None = None
        self._workdir_numbers = itertools.count(1)
        self._leftovers: list[Path] = []
        self._sweeping: asyncio.Task[None] | None = None

    async def deliver(self, job: Job, *, fall_back_on_transient: bool = False) -> Delivered:
        """One delivery attempt.

        A transient Telegram error (5xx, network, a 429 longer than the call waits) gives RETRY, so
        the caller retries later; with `fall_back_on_transient` (after several such attempts) it
        moves on to the document and then the link instead, as a refusal would.
        """
        if not job.result_urls:
            return Delivered(DeliveryResult.FAILED)
        async with self._slots:
            workdir = await self._workdir(job)
            try:
                return await self._deliver(job, workdir, fall_back_on_transient)
            finally:
                self._discard(workdir)

    # File system calls stay off the event loop (on a busy disk one takes milliseconds), and each
    # hop to a worker thread is event-loop time every other delivery of a burst waits for: no hop of
    # its own for making a delivery's directory, a few hops for removing a burst's.

    async def _workdir(self, job: Job) -> Path:
        """A fresh path for the delivery's files; the directory is made by the download."""
        if self._root is None:
            root = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="deliveries-", dir=self.temp_dir))
            if self._root is None:
                self._root = root
            else:  # another delivery made one meanwhile
                await asyncio.to_thread(os.rmdir, root)
        return self._root / f"job{job.id}-{next(self._workdir_numbers)}"

    def _discard(self, workdir: Path) -> None:
        self._leftovers.append(workdir)
        if self._sweeping is None or self._sweeping.done():
            self._sweeping = asyncio.ensure_future(self._sweep())

    async def _sweep(self) -> None:
        """Remove every work directory left so far in one worker-thread hop, until none is left."""
        while self._leftovers:
            batch, self._leftovers = self._leftovers, []
            await asyncio.to_thread(_remove_dirs, batch)

    async def close(self) -> None:
        """After the last delivery: every work directory is removed, and the service's own with them."""
        if self._sweeping is not None:
            await self._sweeping
        await self._sweep()
        if self._root is not None:
            await asyncio.to_thread(shutil.rmtree, self._root, ignore_errors=True)
            self._root = None

    async def _deliver(self, job: Job, workdir: Path, fall_back_on_transient: bool) -> Delivered:
        url = job.result_urls[0]
        video_path = workdir / "video.mp4"
        cap = min(self.upload_limit_bytes, self.max_result_bytes)
        try:
            url = await self._download(url, video_path, cap)
        except KieDownloadTooLarge:
            # Only a URL that passed the address check gets this far (the download started).
            return await self._send_link(job, url)
        except KieUrlRefused as exc:
            log.warning("Job %s: result URL refused: %s", job.id, exc)
            return Delivered(DeliveryResult.REFUSED)
        except KieError as exc:
            log.warning("Job %s: result could not be downloaded: %s", job.id, exc)
            return Delivered(DeliveryResult.FAILED)

        # The header tells size, duration and audio without a process; the polish adds only what
        # changes what the user sees (bot/services/media.py says which step needs ffmpeg and why).
        # Any ffmpeg run waits in media's process pool, shared by every delivery.
        prepared = await prepare_video(video_path, workdir)
        size: int | None = None
        if prepared.size_bytes <= self.upload_limit_bytes:
            video_path, size = prepared.video, prepared.size_bytes
        video = VideoFile(video_path, prepared.info, prepared.thumbnail, calm=self._calm, size_bytes=size)
        try:
            file_id = await self.sender.send_video(job, video)
            return Delivered(DeliveryResult.VIDEO, file_id)
        except TooLarge:
            return await self._send_link(job, url)
        except ChatGone as exc:
            log.info("Job %s: chat %s is gone (%s)", job.id, job.chat_id, exc)
            return Delivered(DeliveryResult.UNDELIVERABLE)
        except TransientSendFailure as exc:
            if not fall_back_on_transient:
                log.warning("Job %s: sendVideo failed transiently (%s); will retry", job.id, exc)
                return _transient(exc)
            log.warning("Job %s: sendVideo still failing (%s); sending as a document", job.id, exc)
        except Refused as exc:
            log.warning("Job %s: sendVideo refused (%s); sending as a document", job.id, exc)
        try:
            file_id = await self.sender.send_document(job, video)
            return Delivered(DeliveryResult.DOCUMENT, file_id)
        except TooLarge:
            return await self._send_link(job, url)
        except ChatGone:
            return Delivered(DeliveryResult.UNDELIVERABLE)
        except Refused as exc:
            log.warning("Job %s: sendDocument refused (%s); sending the link", job.id, exc)
            return await self._send_link(job, url)
        except TransientSendFailure as exc:
            if not fall_back_on_transient:
                return _transient(exc)
            log.warning("Job %s: sendDocument failing too (%s); sending the link", job.id, exc)
            return await self._send_link(job, url)

    async def _calm(self) -> None:
        """What an upload's "sending video" action waits for: the other videos on their way."""
        await self.rush.calm(own=1)

    async def _download(self, url: str, dest: Path, cap: int) -> str:
        """Download `url`; when KIE refuses it as expired, mint a fresh link once and retry."""
        try:
            await self.kie.download(url, dest, cap)
            return url
        except KieResultExpired:
            fresh = await self.kie.get_download_url(url)
            await self.kie.download(fresh, dest, cap)
            return fresh

    async def _send_link(self, job: Job, url: str) -> Delivered:
        """The download link (a refusal of the link itself propagates: the caller retries later)."""
        try:
            await self.sender.send_link(job, url)
        except ChatGone:
            return Delivered(DeliveryResult.UNDELIVERABLE)
        except TransientSendFailure as exc:
            log.warning("Job %s: sending the link failed transiently (%s); will retry", job.id, exc)
            return _transient(exc)
        return Delivered(DeliveryResult.LINK)
