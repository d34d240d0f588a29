"""A job's status message in the chat: the order card over a status line, edited as the job moves.

Implements the services' JobStatusView port (bot/services/ports.py): the words, the HTML and the Bot
API calls live here; what to show when is decided by the tracker. The finished video is sent by
job_results.py; the texts both share are in job_texts.py.

Status edits are throttled to one every few seconds per message (progress ticks are not worth a
429); every other status always goes through. In the outgoing queue (bot/telegram/outgoing.py) they
come after deliveries and answers, and a newer edit of a status message replaces one waiting there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardMarkup

from bot.catalog.model import Catalog, mode_name
from bot.i18n import translate
from bot.services.estimates import usual_duration
from bot.services.ports import JobStatus
from bot.shaping.scheduler import Priority
from bot.store.db import now
from bot.store.jobs import Job, JobsRepo
from bot.store.users import UsersRepo
from bot.telegram.balance import credits_text
from bot.telegram.job_actions import after_failure_keyboard
from bot.telegram.job_texts import JobTexts, failure_text
from bot.telegram.outgoing import sending_as
from bot.telegram.replies import is_not_modified
from bot.text import escape, ordinal, shorten

log = logging.getLogger(__name__)

EDIT_INTERVAL_S = 3.0
# How often a waiting job's status refreshes its elapsed time (STATUS_REFRESH_SECONDS).
REFRESH_INTERVAL_S = 15.0
# Statuses of a job still waiting for its video: they show the elapsed time and the usual duration.
WAITING = frozenset({JobStatus.IN_LINE, JobStatus.QUEUED, JobStatus.GENERATING, JobStatus.PROGRESS})
# The prompt on the order card: enough to recognise the order.
CARD_PROMPT_CHARS = 120
# Statuses that may wait behind everything else in the outgoing queue: the user is not waiting for
# them (a running job's time, "sending" beside the upload, "done" under a video already there).
# Failures, timeouts and refunds go as answers do.
BACKGROUND = WAITING | {JobStatus.SENDING, JobStatus.DONE}


def format_elapsed(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class TelegramJobStatus(JobTexts):
    """JobStatusView: the order card (order number, model, mode, ratio, options, prompt, price) over
    the status line. While the job waits, the line carries the elapsed time and the usual duration
    of this model, and a ticker refreshes it (KIE may say nothing for minutes, above all in callback
    mode, where nothing is polled)."""

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
        self._last_edit: dict[int, float] = {}
        # Per running job: the last waiting status shown (the ticker repeats it), its ticker task, and
        # a lock so a tick never lands after the final status.
        self._waiting: dict[int, tuple[JobStatus, int | None]] = {}
        self._tickers: dict[int, asyncio.Task[None]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        # Edits handed to the bot whose answer nobody awaits any more (a ticker stopped meanwhile).
        self._sends: set[asyncio.Future[bool]] = set()

    def header(self, job: Job, lang: str) -> str:
        """The order card: what was ordered, so it stays in view while the job runs and after."""
        parts = [f"<b>#{job.id} {escape(self.model_name(job, lang))}</b>", escape(mode_name(job.mode, lang))]
        if job.ratio:
            parts.append(escape(job.ratio))
        lines = [" · ".join(parts)]
        entry = self.catalog.get(job.model_key)
        if entry is not None and job.options:
            with contextlib.suppress(KeyError, ValueError):
                spec = entry.mode_spec(job.mode)
                titles = []
                for key, value in job.options.items():
                    option = spec.option(key)
                    if option is not None:
                        titles.append(escape(option.value_title(value, lang)))
                if titles:
                    lines.append(" · ".join(titles))
        if job.prompt:
            lines.append(f"<i>{escape(shorten(job.prompt, CARD_PROMPT_CHARS))}</i>")
        lines.append(translate("job-card-price", lang, cost=credits_text(job.cost, lang)))
        return "\n".join(lines)

    async def status_line(
        self, job: Job, status: JobStatus, lang: str, progress: int | None, elapsed_s: float | None
    ) -> str:
        key = f"job-status-{status.value}"
        if status in WAITING:
            return await self.waiting_line(job, status, lang, progress, elapsed_s)
        if status is JobStatus.FAILED:
            return translate(key, lang, reason=failure_text(job, lang), cost=credits_text(job.cost, lang))
        if status in (JobStatus.TIMED_OUT, JobStatus.UNDELIVERED_REFUNDED):
            return translate(key, lang, cost=credits_text(job.cost, lang))
        if status is JobStatus.DONE:
            return await self.done_line(job, lang)
        return translate(key, lang)

    async def waiting_line(
        self, job: Job, status: JobStatus, lang: str, progress: int | None, elapsed_s: float | None
    ) -> str:
        """The status with the time since the order and what this model usually takes."""
        key = f"job-status-{status.value}"
        if elapsed_s is None:
            elapsed_s = now() - job.created_at
        elapsed = format_elapsed(elapsed_s)
        if status is JobStatus.PROGRESS:
            line = translate(key, lang, progress=progress, elapsed=elapsed)
        elif status is JobStatus.IN_LINE:
            line = f"{translate(key, lang, position=ordinal(progress or 1, lang))} {elapsed}"
        elif status is JobStatus.GENERATING:
            line = translate(key, lang, elapsed=elapsed)
        else:
            line = f"{translate(key, lang)} {elapsed}"
        usual = await usual_duration(self.jobs, job.model_key)
        if usual.low_min == usual.high_min:
            estimate = translate("job-estimate-about", lang, minutes=usual.low_min)
        else:
            estimate = translate("job-estimate-range", lang, low=usual.low_min, high=usual.high_min)
        return f"{line}\n{estimate}"

    async def done_line(self, job: Job, lang: str) -> str:
        """"Done" with what the job cost (nothing when it came after a refund) and the balance left."""
        charged = await self.jobs.charged_for(job.id)
        user = await self.users.get(job.user_id)
        balance = user.balance if user is not None else 0
        key = "job-status-charged" if charged > 0 else "job-status-free"
        charge = translate(
            key, lang, id=job.id, cost=credits_text(charged, lang), balance=credits_text(balance, lang)
        )
        return f"{translate('job-status-done', lang)}\n{charge}"

    def keyboard(self, job: Job, status: JobStatus, lang: str) -> InlineKeyboardMarkup | None:
        if status is JobStatus.FAILED:
            return after_failure_keyboard(job, lang)
        return None

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
            if job.id in self._tickers:
                self._waiting[job.id] = (status, progress)  # too soon to edit: the ticker shows it
            return
        self._last_edit[job.id] = now_mono
        if final:
            self._last_edit.pop(job.id, None)
        async with self._lock(job.id):
            if status in WAITING:
                self._waiting[job.id] = (status, progress)
            else:
                self._waiting.pop(job.id, None)
            sent = await self._render(job, status, progress, elapsed_s, fresh_on_missing=True)
        await sent
        if status in WAITING and job.status_message_id is not None:
            self._start_ticker(job)
        elif status not in WAITING:
            self._forget(job.id)

    @property
    def ticking(self) -> frozenset[int]:
        """Ids of the jobs whose elapsed time is being refreshed."""
        return frozenset(self._tickers)

    async def close(self) -> None:
        """Stop every ticker (at shutdown; a restart's recovery shows the status again)."""
        pending: list[asyncio.Future[Any]] = [*self._tickers.values(), *self._sends]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._tickers.clear()

    def _lock(self, job_id: int) -> asyncio.Lock:
        return self._locks.setdefault(job_id, asyncio.Lock())

    def _forget(self, job_id: int) -> None:
        ticker = self._tickers.pop(job_id, None)
        if ticker is not None and ticker is not asyncio.current_task():
            ticker.cancel()
        self._locks.pop(job_id, None)

    def _start_ticker(self, job: Job) -> None:
        if job.id not in self._tickers:
            self._tickers[job.id] = asyncio.create_task(self._tick(job), name=f"status-ticker-{job.id}")

    async def _tick(self, job: Job) -> None:
        """Refresh the waiting status's elapsed time until the job leaves waiting or its deadline."""
        try:
            while now() < job.deadline_at:
                await asyncio.sleep(self.refresh_s)
                async with self._lock(job.id):
                    shown = self._waiting.get(job.id)
                    if shown is None:
                        return
                    sent = await self._render(job, shown[0], shown[1], None, fresh_on_missing=False)
                # Shielded: a final status stops this ticker, not the edit already handed over (which
                # that status replaces if it is still queued, or follows if it is on its way).
                if not await asyncio.shield(sent):
                    self._waiting.pop(job.id, None)
                    return
        finally:
            if self._tickers.get(job.id) is asyncio.current_task():
                del self._tickers[job.id]

    async def _render(
        self,
        job: Job,
        status: JobStatus,
        progress: int | None,
        elapsed_s: float | None,
        *,
        fresh_on_missing: bool,
    ) -> asyncio.Future[bool]:
        """Render the status and hand it to the bot; the future says whether it is shown (False when
        the message is gone or the chat blocked the bot).

        Called under the job's lock: the send task's first step, which puts the edit in the outgoing
        queue, runs before whatever the lock's release wakes (asyncio runs ready callbacks in order),
        so one job's statuses are queued in call order while Telegram's answer is awaited outside the
        lock, and a newer status can replace an older one still queued.
        """
        lang = await self.language(job.user_id)
        line = await self.status_line(job, status, lang, progress, elapsed_s)
        text = f"{self.header(job, lang)}\n{line}"
        markup = self.keyboard(job, status, lang)
        with sending_as(Priority.PROGRESS if status in BACKGROUND else Priority.REPLY, coalesce=True):
            sent = asyncio.ensure_future(self._show(job, text, markup, fresh_on_missing=fresh_on_missing))
        self._sends.add(sent)
        sent.add_done_callback(self._sends.discard)
        return sent

    async def _show(
        self, job: Job, text: str, markup: InlineKeyboardMarkup | None, *, fresh_on_missing: bool
    ) -> bool:
        try:
            if job.status_message_id is not None:
                await self.bot.edit_message_text(
                    text=text, chat_id=job.chat_id, message_id=job.status_message_id, reply_markup=markup
                )
            else:
                await self.bot.send_message(job.chat_id, text, reply_markup=markup)
        except TelegramBadRequest as exc:
            if is_not_modified(exc):
                return True
            if job.status_message_id is not None and "message to edit not found" in str(exc):
                if fresh_on_missing:
                    await self._send_fresh(job, text, markup)
                return False
            log.warning("Job %s: status message not updated: %s", job.id, exc)
        except TelegramForbiddenError:
            log.info("Job %s: user %s blocked the bot; status not shown", job.id, job.user_id)
            return False
        except TelegramAPIError as exc:
            log.warning("Job %s: status message not updated: %s", job.id, exc)
        return True

    async def _send_fresh(self, job: Job, text: str, markup: InlineKeyboardMarkup | None) -> None:
        try:
            await self.bot.send_message(job.chat_id, text, reply_markup=markup)
        except TelegramAPIError as exc:
            log.warning("Job %s: status message not sent: %s", job.id, exc)
