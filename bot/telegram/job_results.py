"""A finished job's video in the chat: sendVideo, sendDocument or a download link.

Implements the services' ResultSender port (bot/services/ports.py): Telegram's refusals are turned
into the services' SendFailure words here; what to try after a refusal is decided by the delivery
service.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from pathlib import Path
from typing import BinaryIO

from aiogram import Bot
from aiogram.enums import ChatAction
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InputFile

from bot.catalog.model import Catalog
from bot.i18n import translate
from bot.services.ports import ChatGone, Refused, SendFailure, TooLarge, TransientSendFailure, VideoFile
from bot.shaping.scheduler import Priority
from bot.store.jobs import Job
from bot.store.users import UsersRepo
from bot.telegram.job_actions import after_delivery_keyboard
from bot.telegram.job_texts import JobTexts
from bot.telegram.lean_answers import read_sent_file
from bot.telegram.outgoing import sending_as
from bot.text import escape, shorten

CAPTION_LIMIT = 1024
# KIE keeps results downloadable for about this long.
LINK_VALIDITY_HOURS = 24
# Telegram errors that say nothing about the video or the chat: the same call may work later.
TRANSIENT_TELEGRAM_ERRORS = (TelegramServerError, TelegramNetworkError, TelegramRetryAfter)


def _chat_gone(exc: TelegramAPIError) -> bool:
    if isinstance(exc, TelegramForbiddenError):
        return True
    text = str(exc).lower()
    return isinstance(exc, TelegramBadRequest | TelegramNotFound) and (
        "chat not found" in text or "user is deactivated" in text or "chat_write_forbidden" in text
    )


@contextlib.contextmanager
def reported_as_send_failure() -> Iterator[None]:
    """Turn a Telegram error into the services' `SendFailure`; others propagate unchanged."""
    try:
        yield
    except TelegramAPIError as exc:
        failure = send_failure(exc)
        if failure is None:
            raise
        raise failure from exc


def send_failure(exc: TelegramAPIError) -> SendFailure | None:
    """The services' word for a failed send; None for errors they have no word for (re-raised)."""
    if isinstance(exc, TelegramEntityTooLarge):  # a TelegramNetworkError: checked first
        return TooLarge(str(exc))
    if isinstance(exc, TelegramForbiddenError | TelegramBadRequest | TelegramNotFound):
        return ChatGone(str(exc)) if _chat_gone(exc) else Refused(str(exc))
    if isinstance(exc, TRANSIENT_TELEGRAM_ERRORS):
        retry_after = float(exc.retry_after) if isinstance(exc, TelegramRetryAfter) else None
        return TransientSendFailure(str(exc), retry_after)
    return None


# An upload reads its file this much per worker-thread hop (aiogram's FSInputFile reads 64 kB a hop
# through aiofiles, and opens and closes the file in hops of their own: under a burst of deliveries
# every hop is event-loop time the other videos wait for). Memory per upload stays bounded by it.
UPLOAD_READ_BYTES = 1024 * 1024


def _read_part(path: Path, handle: BinaryIO | None, size: int) -> tuple[BinaryIO | None, bytes]:
    """One hop: open (the first time), read up to `size`, close at the end of the file."""
    if handle is None:
        handle = path.open("rb")
    try:
        data = handle.read(size)
    except BaseException:
        handle.close()
        raise
    if len(data) < size:
        handle.close()
        return None, data
    return handle, data


class UploadFile(InputFile):
    """A file on disk, uploaded in UPLOAD_READ_BYTES parts: a usual clip costs one thread hop or a
    few, not one per 64 kB (and two more for the open and the close)."""

    def __init__(
        self,
        path: Path,
        filename: str | None = None,
        part_bytes: int = UPLOAD_READ_BYTES,
        size_bytes: int | None = None,
    ) -> None:
        super().__init__(filename=filename or path.name, chunk_size=part_bytes)
        self.path = path
        # Known (the file is ours and no longer written): the upload is sent with a Content-Length
        # (TelegramHttpSession.build_form_data).
        self.size_bytes = size_bytes

    async def read(self, bot: Bot) -> AsyncGenerator[bytes, None]:
        handle: BinaryIO | None = None
        sent = 0
        try:
            while True:
                handle, data = await asyncio.to_thread(_read_part, self.path, handle, self.chunk_size)
                if data:
                    sent += len(data)
                    yield data
                if handle is None:
                    if self.size_bytes is not None and sent != self.size_bytes:
                        # The request declared size_bytes: anything else would be a broken upload.
                        raise OSError(f"{self.path.name} is {sent} bytes, not the {self.size_bytes} declared")
                    return
        finally:
            if handle is not None:  # the upload stopped half-way: a read-only close does not block
                handle.close()


UPLOAD_ACTION_AFTER_S = 1.0
# Telegram shows an action for 5 s; it is repeated while the upload runs.
UPLOAD_ACTION_EVERY_S = 5.0


class TelegramResults(JobTexts):
    """ResultSender: sendVideo (with its size and thumbnail), sendDocument, or a download link.

    Every one of them goes first in the outgoing queue (Priority.DELIVERY, bot/telegram/outgoing.py)."""

    def __init__(self, bot: Bot, users: UsersRepo, catalog: Catalog) -> None:
        super().__init__(users, catalog)
        self.bot = bot

    def caption(self, job: Job, lang: str) -> str:
        """"#<order> <model>" (parallel results told apart) over the prompt."""
        head = f"#{job.id} {self.model_name(job, lang)}"
        # Escaping happens after shortening, and the limit counts visible characters only.
        room = CAPTION_LIMIT - len(head) - 1
        prompt = escape(shorten(job.prompt, room)) if job.prompt else ""
        bold = f"<b>{escape(head)}</b>"
        return f"{bold}\n{prompt}" if prompt else bold

    async def send_video(self, job: Job, video: VideoFile) -> str | None:
        lang = await self.language(job.user_id)
        caption = self.caption(job, lang)
        info = video.info
        with reported_as_send_failure(), sending_as(Priority.DELIVERY):
            # The "sending video" action only for an upload still running after a second: a quick
            # one is in the chat before the action would show, and in a burst it waits for the
            # other videos (video.calm), so it is mostly never sent.
            async with self._upload_action(job.chat_id, video):
                sent = await read_sent_file(
                    self.bot.send_video(
                        job.chat_id,
                        UploadFile(video.path, filename="video.mp4", size_bytes=video.size_bytes),
                        width=info.width if info else None,
                        height=info.height if info else None,
                        duration=info.duration if info else None,
                        thumbnail=UploadFile(video.thumbnail) if video.thumbnail else None,
                        caption=caption,
                        reply_markup=after_delivery_keyboard(job, lang),
                        supports_streaming=True,
                        request_timeout=600,
                    )
                )
        return sent.video.file_id if sent.video else None

    @contextlib.asynccontextmanager
    async def _upload_action(self, chat_id: int, video: VideoFile) -> AsyncIterator[None]:
        """"sending video" in the chat while the block runs, from UPLOAD_ACTION_AFTER_S on."""

        async def show() -> None:
            await asyncio.sleep(UPLOAD_ACTION_AFTER_S)
            if video.calm is not None:
                await video.calm()
            while True:
                with contextlib.suppress(TelegramAPIError):
                    await self.bot.send_chat_action(chat_id, ChatAction.UPLOAD_VIDEO)
                await asyncio.sleep(UPLOAD_ACTION_EVERY_S)

        action = asyncio.create_task(show())
        try:
            yield
        finally:
            action.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await action

    async def send_document(self, job: Job, video: VideoFile) -> str | None:
        lang = await self.language(job.user_id)
        caption = self.caption(job, lang)
        with reported_as_send_failure(), sending_as(Priority.DELIVERY):
            sent = await read_sent_file(
                self.bot.send_document(
                    job.chat_id,
                    UploadFile(video.path, filename="video.mp4", size_bytes=video.size_bytes),
                    caption=caption,
                    reply_markup=after_delivery_keyboard(job, lang),
                    request_timeout=600,
                )
            )
        return sent.document.file_id if sent.document else None

    async def send_link(self, job: Job, url: str) -> None:
        lang = await self.language(job.user_id)
        text = translate(
            "delivery-link", lang, caption=self.caption(job, lang), url=escape(url), hours=LINK_VALIDITY_HOURS
        )
        with reported_as_send_failure(), sending_as(Priority.DELIVERY):
            await self.bot.send_message(job.chat_id, text, reply_markup=after_delivery_keyboard(job, lang))
