"""Getting a finished video into the chat.

download (size-capped, to a temp file) ▸ fresh URL if KIE refuses the old one ▸ probe (w/h/duration)
▸ silent audio track if it has none ▸ thumbnail ▸ sendVideo ▸ document ▸ link.
Width, height and duration matter: without them Telegram shows a 9:16 clip as a square tile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import FSInputFile
from aiogram.utils.chat_action import ChatActionSender

from bot.catalog.model import Catalog
from bot.i18n import language_of, translate
from bot.kie.client import KieClient
from bot.kie.errors import KieDownloadTooLarge, KieError, KieResultExpired, KieUrlRefused
from bot.services.media import polish_video, probe_video
from bot.store.jobs import Job
from bot.store.users import UsersRepo
from bot.text import escape, shorten

log = logging.getLogger(__name__)

CAPTION_LIMIT = 1024
# Telegram downloads a URL itself only up to 20 MB; we upload (multipart) up to the upload limit.
LINK_VALIDITY_HOURS = 24


class DeliveryResult(StrEnum):
    VIDEO = "video"
    DOCUMENT = "document"
    LINK = "link"
    UNDELIVERABLE = "undeliverable"  # the user blocked the bot or the chat is gone
    FAILED = "failed"  # nothing worked (e.g. the result can no longer be downloaded)
    RETRY = "retry"  # Telegram failed transiently (5xx, network, long 429): try again later
    REFUSED = "refused"  # the result URL is not a public http(s) address: never fetched


# Telegram errors that say nothing about the video or the chat: the same call may work later.
TRANSIENT_TELEGRAM_ERRORS = (TelegramServerError, TelegramNetworkError, TelegramRetryAfter)


@dataclass(frozen=True)
class Delivered:
    result: DeliveryResult
    file_id: str | None = None
    retry_after_s: float | None = None  # Telegram's own retry_after, for RETRY


def _transient(exc: Exception) -> Delivered:
    retry_after = float(exc.retry_after) if isinstance(exc, TelegramRetryAfter) else None
    return Delivered(DeliveryResult.RETRY, retry_after_s=retry_after)


def _chat_gone(exc: Exception) -> bool:
    if isinstance(exc, TelegramForbiddenError):
        return True
    text = str(exc).lower()
    return isinstance(exc, TelegramBadRequest | TelegramNotFound) and (
        "chat not found" in text or "user is deactivated" in text or "chat_write_forbidden" in text
    )


class DeliveryService:
    def __init__(
        self,
        *,
        bot: Bot,
        kie: KieClient,
        users: UsersRepo,
        catalog: Catalog,
        upload_limit_bytes: int,
        max_result_bytes: int,
        temp_dir: Path | None = None,
    ) -> None:
        self.bot = bot
        self.kie = kie
        self.users = users
        self.catalog = catalog
        self.upload_limit_bytes = upload_limit_bytes
        self.max_result_bytes = max_result_bytes
        self.temp_dir = temp_dir
        self._media_slots = asyncio.Semaphore(max(1, os.cpu_count() or 1))

    async def _language(self, user_id: int) -> str:
        user = await self.users.get(user_id)
        return language_of(user)

    def caption(self, job: Job, lang: str) -> str:
        entry = self.catalog.get(job.model_key)
        name = escape(entry.name(lang) if entry else job.model_key)
        # Escaping happens after shortening, and the limit counts visible characters only.
        room = CAPTION_LIMIT - len(name) - 1
        prompt = escape(shorten(job.prompt, room)) if job.prompt else ""
        return f"<b>{name}</b>\n{prompt}" if prompt else f"<b>{name}</b>"

    async def deliver(self, job: Job, *, fall_back_on_transient: bool = False) -> Delivered:
        """One delivery attempt.

        A transient Telegram error (5xx, network, a 429 longer than the call waits) gives RETRY, so
        the caller retries later; with `fall_back_on_transient` (after several such attempts) it
        moves on to the document and then the link instead, as a refusal would.
        """
        if not job.result_urls:
            return Delivered(DeliveryResult.FAILED)
        lang = await self._language(job.user_id)
        workdir = Path(tempfile.mkdtemp(prefix=f"job{job.id}-", dir=self.temp_dir))
        try:
            return await self._deliver(job, lang, workdir, fall_back_on_transient)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    async def _deliver(self, job: Job, lang: str, workdir: Path, fall_back_on_transient: bool) -> Delivered:
        url = job.result_urls[0]
        video_path = workdir / "video.mp4"
        cap = min(self.upload_limit_bytes, self.max_result_bytes)
        try:
            url = await self._download(url, video_path, cap)
        except KieDownloadTooLarge:
            # Only a URL that passed the address check gets this far (the download started).
            return await self._send_link(job, lang, url)
        except KieUrlRefused as exc:
            log.warning("Job %s: result URL refused: %s", job.id, exc)
            return Delivered(DeliveryResult.REFUSED)
        except KieError as exc:
            log.warning("Job %s: result could not be downloaded: %s", job.id, exc)
            return Delivered(DeliveryResult.FAILED)

        # ffprobe/ffmpeg are CPU work: a burst of finished jobs runs them a few at a time, so the
        # event loop (and every other job) keeps moving.
        info = await probe_video(video_path)
        async with self._media_slots:
            polished = await polish_video(
                video_path, workdir, add_audio=info is not None and not info.has_audio
            )
        if polished.video.stat().st_size <= self.upload_limit_bytes:
            video_path = polished.video
        thumbnail = polished.thumbnail
        caption = self.caption(job, lang)
        try:
            async with ChatActionSender.upload_video(chat_id=job.chat_id, bot=self.bot):
                message = await self.bot.send_video(
                    job.chat_id,
                    FSInputFile(video_path, filename="video.mp4"),
                    width=info.width if info else None,
                    height=info.height if info else None,
                    duration=info.duration if info else None,
                    thumbnail=FSInputFile(thumbnail) if thumbnail else None,
                    caption=caption,
                    supports_streaming=True,
                    request_timeout=600,
                )
            return Delivered(DeliveryResult.VIDEO, message.video.file_id if message.video else None)
        except TelegramEntityTooLarge:
            return await self._send_link(job, lang, url)
        except (TelegramForbiddenError, TelegramBadRequest, TelegramNotFound) as exc:
            if _chat_gone(exc):
                log.info("Job %s: chat %s is gone (%s)", job.id, job.chat_id, exc)
                return Delivered(DeliveryResult.UNDELIVERABLE)
            log.warning("Job %s: sendVideo refused (%s); sending as a document", job.id, exc)
        except TRANSIENT_TELEGRAM_ERRORS as exc:
            if not fall_back_on_transient:
                log.warning("Job %s: sendVideo failed transiently (%s); will retry", job.id, exc)
                return _transient(exc)
            log.warning("Job %s: sendVideo still failing (%s); sending as a document", job.id, exc)
        try:
            message = await self.bot.send_document(
                job.chat_id,
                FSInputFile(video_path, filename="video.mp4"),
                caption=caption,
                request_timeout=600,
            )
            return Delivered(DeliveryResult.DOCUMENT, message.document.file_id if message.document else None)
        except TelegramEntityTooLarge:
            return await self._send_link(job, lang, url)
        except (TelegramForbiddenError, TelegramBadRequest, TelegramNotFound) as exc:
            if _chat_gone(exc):
                return Delivered(DeliveryResult.UNDELIVERABLE)
            log.warning("Job %s: sendDocument refused (%s); sending the link", job.id, exc)
            return await self._send_link(job, lang, url)
        except TRANSIENT_TELEGRAM_ERRORS as exc:
            if not fall_back_on_transient:
                return _transient(exc)
            log.warning("Job %s: sendDocument failing too (%s); sending the link", job.id, exc)
            return await self._send_link(job, lang, url)

    async def _download(self, url: str, dest: Path, cap: int) -> str:
        """Download `url`; when KIE refuses it as expired, mint a fresh link once and retry."""
        try:
            await self.kie.download(url, dest, cap)
            return url
        except KieResultExpired:
            fresh = await self.kie.get_download_url(url)
            await self.kie.download(fresh, dest, cap)
            return fresh

    async def _send_link(self, job: Job, lang: str, url: str) -> Delivered:
        text = translate(
            "delivery-link",
            lang,
            caption=self.caption(job, lang),
            url=escape(url),
            hours=LINK_VALIDITY_HOURS,
        )
        try:
            await self.bot.send_message(job.chat_id, text)
        except (TelegramForbiddenError, TelegramBadRequest, TelegramNotFound) as exc:
            if _chat_gone(exc):
                return Delivered(DeliveryResult.UNDELIVERABLE)
            raise
        except TRANSIENT_TELEGRAM_ERRORS as exc:
            log.warning("Job %s: sending the link failed transiently (%s); will retry", job.id, exc)
            return _transient(exc)
        return Delivered(DeliveryResult.LINK)

    async def resend(self, chat_id: int, file_id: str, caption: str) -> bool:
        """Send a delivered video again by its Telegram file_id (free, no size limit)."""
        with contextlib.suppress(TelegramBadRequest):
            await self.bot.send_video(chat_id, file_id, caption=caption)
            return True
        return False
