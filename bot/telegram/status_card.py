"""What a job's status message says: the order card over a status line (job_status.py sends it).

The texts it shares with the finished video's message are in job_texts.py.
"""

from __future__ import annotations

import contextlib

from aiogram.types import InlineKeyboardMarkup

from bot.catalog.model import mode_name
from bot.i18n import translate
from bot.services.estimates import usual_duration
from bot.services.ports import JobStatus
from bot.store.db import now
from bot.store.jobs import Job, JobsRepo
from bot.telegram.balance import credits_text
from bot.telegram.job_actions import after_failure_keyboard
from bot.telegram.job_texts import JobTexts, failure_text
from bot.text import escape, ordinal, shorten

# Statuses of a job still waiting for its video: they show the elapsed time and the usual duration.
WAITING = frozenset({JobStatus.IN_LINE, JobStatus.QUEUED, JobStatus.GENERATING, JobStatus.PROGRESS})
# The prompt on the order card: enough to recognise the order.
CARD_PROMPT_CHARS = 120

def format_elapsed(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class StatusCard(JobTexts):
    """The order card (order number, model, mode, ratio, options, prompt, price) over the status
    line. While the job waits, the line carries the elapsed time and the usual duration of this model."""

    jobs: JobsRepo

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
            if elapsed_s is None:
                elapsed_s = now() - job.created_at
            return await self.waiting_line(job.model_key, status, lang, progress, elapsed_s)
        if status is JobStatus.FAILED:
            return translate(key, lang, reason=failure_text(job, lang), cost=credits_text(job.cost, lang))
        if status in (JobStatus.TIMED_OUT, JobStatus.UNDELIVERED_REFUNDED):
            return translate(key, lang, cost=credits_text(job.cost, lang))
        if status is JobStatus.DONE:
            return await self.done_line(job, lang)
        return translate(key, lang)

    async def waiting_line(
        self, model_key: str, status: JobStatus, lang: str, progress: int | None, elapsed_s: float
    ) -> str:
        """The status with the time since the order and what this model usually takes."""
        key = f"job-status-{status.value}"
        elapsed = format_elapsed(elapsed_s)
        if status is JobStatus.PROGRESS:
            line = translate(key, lang, progress=progress, elapsed=elapsed)
        elif status is JobStatus.IN_LINE:
            line = f"{translate(key, lang, position=ordinal(progress or 1, lang))} {elapsed}"
        elif status is JobStatus.GENERATING:
            line = translate(key, lang, elapsed=elapsed)
        else:
            line = f"{translate(key, lang)} {elapsed}"
        usual = await usual_duration(self.jobs, model_key)
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
