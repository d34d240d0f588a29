"""A job's status message in the chat: the order card over a status line, edited as the job moves.

Implements the services' JobStatusView port (bot/services/ports.py): the Bot API calls live here, the
words and the HTML in status_card.py, the refresh of waiting jobs in status_ticker.py; what to show
when is decided by the tracker. The finished video is sent by job_results.py.

Status edits are throttled to one every few seconds per message (progress ticks are not worth a
429); every other status always goes through. In the outgoing queue (bot/telegram/outgoing.py) they
come after deliveries and answers, and a newer edit of a status message replaces one waiting there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardMarkup

from bot.catalog.model import Catalog
from bot.coordination.locks import KeyedLocks
from bot.services.ports import JobStatus
from bot.shaping.scheduler import Priority
from bot.store.jobs import IN_FLIGHT, Job, JobsRepo
from bot.store.users import UsersRepo
from bot.telegram.lean_answers import edit_text
from bot.telegram.outgoing import sending_as
from bot.telegram.replies import is_not_modified
from bot.telegram.status_card import WAITING, StatusCard
from bot.telegram.status_ticker import StatusTicker, Waiting

log = logging.getLogger(__name__)

EDIT_INTERVAL_S = 3.0
EDIT_TIMES_SWEEP_S = 30.0
# How often a waiting job's status refreshes its elapsed time (STATUS_REFRESH_SECONDS).
REFRESH_INTERVAL_S = 15.0
# Statuses that may wait behind everything else in the outgoing queue: the user is not waiting for
# them (a running job's time, "sending" beside the upload, "done" under a video already there).
# Failures, timeouts and refunds go as answers do.
BACKGROUND = WAITING | {JobStatus.SENDING, JobStatus.DONE}


def in_flight(job: Job) -> bool:
    """Whether a waiting status may still be shown for this job (as read just now)."""
    return job.state in IN_FLIGHT


@dataclass(frozen=True, slots=True)
class StatusMessage:
    """Where a job's status goes: the chat, the message to edit (None: none sent yet), whose it is."""

    job_id: int
    user_id: int
    chat_id: int
    message_id: int | None

    @classmethod
    def of(cls, job: Job) -> StatusMessage:
        return cls(job.id, job.user_id, job.chat_id, job.status_message_id)


class TelegramJobStatus(StatusCard):
    """JobStatusView: the status card (status_card.py) in the job's status message. While the job
    waits, one ticker (status_ticker.py) refreshes its elapsed time, for all the waiting jobs."""

    def __init__(
        self,
        bot: Bot,
        users: UsersRepo,
        jobs: JobsRepo,
        catalog: Catalog,
        *,
        min_interval_s: float = EDIT_INTERVAL_S,
        refresh_s: float = REFRESH_INTERVAL_S,
    ) -> None:
        super().__init__(users, catalog)
        self.bot = bot
        self.jobs = jobs
        self.min_interval_s = min_interval_s
        self.refresh_s = refresh_s
        # When each job's status was last edited, for the throttle: only the jobs edited within
        # min_interval_s matter, so older times are dropped every EDIT_TIMES_SWEEP_S (not kept for
        # every waiting job).
        self._last_edit: dict[int, float] = {}
        self._next_sweep = time.monotonic() + EDIT_TIMES_SWEEP_S
        # The waiting jobs whose status is refreshed, and per job a lock so a refresh never lands
        # after the final status (a lock exists only while a status of that job is being made).
        self.ticker = StatusTicker(refresh_s, self._refresh)
        self._locks = KeyedLocks()
        # Edits handed to the bot whose answer nobody awaits (the ticker's).
        self._sends: set[asyncio.Future[bool]] = set()

    async def show_status(
        self,
        job: Job,
        status: JobStatus,
        *,
        progress: int | None = None,
        elapsed_s: float | None = None,
        position: int | None = None,
    ) -> None:
        """Edit the job's status message (or send one if it has none). Never raises."""
        if status is JobStatus.IN_LINE:
            progress = position  # the one number a waiting status carries
        final = not status.is_progress
        now_mono = time.monotonic()
        last = self._last_edit.get(job.id)
        if not final and last is not None and now_mono - last < self.min_interval_s:
            self.ticker.update(job.id, status, progress)  # too soon to edit: the ticker shows it
            return
        if now_mono >= self._next_sweep:
            self._last_edit = {
                job_id: t for job_id, t in self._last_edit.items() if now_mono - t < self.min_interval_s
            }
            self._next_sweep = now_mono + EDIT_TIMES_SWEEP_S
        self._last_edit[job.id] = now_mono
        if final:
            self._last_edit.pop(job.id, None)
        async with self._locks.lock(job.id):
            lang = await self.language(job.user_id)
            header = self.header(job, lang)
            line = await self.status_line(job, status, lang, progress, elapsed_s)
            job_id = job.id
            sent = self._send(
                StatusMessage.of(job), f"{header}\n{line}", self.keyboard(job, status, lang),
                background=status in BACKGROUND, fresh_on_missing=True,
                # A waiting status that waited in the outgoing queue while the job ended (perhaps
                # on another instance, whose final status this must not cover) is dropped.
                still_wanted=(lambda: self._still_waiting(job_id)) if status in WAITING else None,
            )
            if status in WAITING and job.status_message_id is not None:
                entry = Waiting(status, progress, now_mono + self.ticker.refresh_s, job.deadline_at)
                self._stop_when_gone(job.id, self.ticker.track(job.id, entry), sent)
            else:
                self.ticker.forget(job.id)
        await sent

    @property
    def edit_times_kept(self) -> int:
        return len(self._last_edit)

    @property
    def ticking(self) -> frozenset[int]:
        """Ids of the jobs whose elapsed time is being refreshed."""
        return frozenset(self.ticker.waiting)

    async def close(self) -> None:
        """Stop the ticker (at shutdown; a restart's recovery shows the status again)."""
        await self.ticker.close()
        pending = list(self._sends)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _refresh(self, job_id: int, entry: Waiting) -> asyncio.Future[bool] | None:
        """The ticker's refresh of one waiting job: its status again, with the time elapsed now.

        The job is read again, not kept: a job that another instance finished (its callback or its
        poll went there) must not have its final status overwritten by a waiting one; and the card
        of hundreds of waiting jobs is not held in memory between refreshes."""
        if self.ticker.waiting.get(job_id) is not entry:
            return None
        async with self._locks.lock(job_id):
            job = await self.jobs.get(job_id)
            if job is None or not in_flight(job) or job.status_message_id is None:
                self.ticker.forget(job_id, entry)
                return None
            lang = await self.language(job.user_id)
            line = await self.status_line(job, entry.status, lang, entry.progress, None)
            if self.ticker.waiting.get(job_id) is not entry:
                return None  # a final status came meanwhile
            text = f"{self.header(job, lang)}\n{line}"
            sent = self._send(
                StatusMessage.of(job), text, None, background=True, fresh_on_missing=False,
                still_wanted=lambda: self._still_waiting(job_id),
            )
            self._stop_when_gone(job_id, entry, sent)
        return sent

    async def _still_waiting(self, job_id: int) -> bool:
        """Asked when a waiting status's turn in the outgoing queue comes (it may have waited there
        for seconds): is the job still in flight? When the database cannot say, the status is skipped
        (a refresh comes again in STATUS_REFRESH_SECONDS; a final status is never covered)."""
        try:
            job = await self.jobs.get(job_id)
        except Exception:
            log.warning("Job %s: waiting status skipped, the job could not be read", job_id, exc_info=True)
            return False
        return job is not None and in_flight(job)

    def _stop_when_gone(self, job_id: int, entry: Waiting, sent: asyncio.Future[bool]) -> None:
        """No more refreshes once an edit finds the message gone or the chat blocked."""

        def done(future: asyncio.Future[bool]) -> None:
            if not future.cancelled() and future.exception() is None and not future.result():
                self.ticker.forget(job_id, entry)

        sent.add_done_callback(done)

    def _send(
        self,
        message: StatusMessage,
        text: str,
        markup: InlineKeyboardMarkup | None,
        *,
        background: bool,
        fresh_on_missing: bool,
        still_wanted: Callable[[], Awaitable[bool]] | None = None,
    ) -> asyncio.Future[bool]:
        """Hand the status to the bot; the future says whether it is shown (False when the message
        is gone or the chat blocked the bot).

        Called under the job's lock: the send task's first step, which puts the edit in the outgoing
        queue, runs before whatever the lock's release wakes (asyncio runs ready callbacks in order),
        so one job's statuses are queued in call order while Telegram's answer is awaited outside the
        lock, and a newer status can replace an older one still queued.
        """
        show = self._show(message, text, markup, fresh=fresh_on_missing)
        priority = Priority.PROGRESS if background else Priority.REPLY
        with sending_as(priority, coalesce=True, still_wanted=still_wanted):
            sent = asyncio.ensure_future(show)
        self._sends.add(sent)
        sent.add_done_callback(self._sends.discard)
        return sent

    async def _show(
        self, message: StatusMessage, text: str, markup: InlineKeyboardMarkup | None, *, fresh: bool
    ) -> bool:
        """`fresh`: send a new message when the one to edit is gone."""
        job_id, chat_id, message_id = message.job_id, message.chat_id, message.message_id
        try:
            if message_id is not None:
                await edit_text(
                    self.bot, chat_id=chat_id, message_id=message_id, text=text, reply_markup=markup
                )
            else:
                await self.bot.send_message(chat_id, text, reply_markup=markup)
        except TelegramBadRequest as exc:
            if is_not_modified(exc):
                return True
            if message_id is not None and "message to edit not found" in str(exc):
                if fresh:
                    await self._send_fresh(job_id, chat_id, text, markup)
                return False
            log.warning("Job %s: status message not updated: %s", job_id, exc)
        except TelegramForbiddenError:
            log.info("Job %s: user %s blocked the bot; status not shown", job_id, message.user_id)
            return False
        except TelegramAPIError as exc:
            log.warning("Job %s: status message not updated: %s", job_id, exc)
        return True

    async def _send_fresh(
        self, job_id: int, chat_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> None:
        try:
            await self.bot.send_message(chat_id, text, reply_markup=markup)
        except TelegramAPIError as exc:
            log.warning("Job %s: status message not sent: %s", job_id, exc)
