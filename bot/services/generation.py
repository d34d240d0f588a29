"""Turning a confirmed draft into a KIE task: reserve, upload the inputs, create, record the task id.

Knows nothing of Telegram messages: user files come through the `FileSource` port (the Telegram layer
implements it with bot.download, so a Telegram file URL, which carries the bot token, never leaves
the process), job events go to the tracker through the `SubmissionEvents` port it is built with,
and problems only the operator can fix go to the `KieAlerts` port (bot/services/ports.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from bot.catalog.model import Catalog, InvalidOrder, Order
from bot.kie.adapters.base import adapter_for
from bot.kie.client import KieClient
from bot.kie.errors import KieCreateOutcomeUnknown, KieError
from bot.kie.ratelimit import PositionListener
from bot.kie.webhook_auth import callback_url, new_callback_token
from bot.services.billing import BillingService
from bot.services.claims import Holder, renewing
from bot.services.ports import FileSource, KieAlerts, SubmissionEvents
from bot.store.db import Database, now
from bot.store.jobs import (
    SUBMISSION_UNKNOWN,
    InFlightLimit,
    Job,
    JobsRepo,
    JobState,
    NewJob,
)

log = logging.getLogger(__name__)

# How many trailing characters of a callback token an alert shows (enough to match KIE's record of
# the callback URL, far too few to forge a callback).
ORPHAN_TOKEN_TAIL = 6
# KIE deletes uploaded inputs 24 h after upload; an older upload is not trusted to outlive the task's
# start (KIE fetches inputs when it runs the task, possibly after a queue).
UPLOAD_REUSE_MAX_AGE_S = 20 * 3600


@dataclass(frozen=True)
class InputFileRef:
    """A user's file as the wizard received it: a Telegram file id, never a URL."""

    kind: str  # image | audio | video
    file_id: str
    file_name: str
    mime_type: str
    size: int | None = None
    duration: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file_id": self.file_id,
            "file_name": self.file_name,
            "mime_type": self.mime_type,
            "size": self.size,
            "duration": self.duration,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputFileRef:
        return cls(
            kind=data["kind"],
            file_id=data["file_id"],
            file_name=data.get("file_name") or "input",
            mime_type=data.get("mime_type") or "application/octet-stream",
            size=data.get("size"),
            duration=data.get("duration"),
        )


class TooManyJobs(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} generations at once")
        self.limit = limit


@dataclass(frozen=True)
class Confirmed:
    job: Job
    created: bool  # False: this draft was confirmed before (double tap, replay, second device)


# Placeholder URLs let the catalog check that every input slot is filled before anything is uploaded.
def _placeholder_inputs(files: Iterable[InputFileRef]) -> dict[str, tuple[str, ...]]:
    inputs: dict[str, list[str]] = {}
    for ref in files:
        inputs.setdefault(ref.kind, []).append(f"pending:{ref.file_id}")
    return {k: tuple(v) for k, v in inputs.items()}


class GenerationService:
    """Confirm, submit, recover. Built by the tracker (see JobTracker), which passes itself as `events`."""

    def __init__(
        self,
        *,
        db: Database,
        jobs: JobsRepo,
        catalog: Catalog,
        billing: BillingService,
        kie: KieClient,
        files: FileSource,
        events: SubmissionEvents,
        alerts: KieAlerts,
        public_url: str | None,
        job_timeout_s: float,
        max_jobs_in_flight: int,
        instance: Holder = Holder(),
    ) -> None:
        self.db = db
        self.jobs = jobs
        self.catalog = catalog
        self.billing = billing
        self.kie = kie
        self.files = files
        self.events = events
        self.alerts = alerts
        self.public_url = public_url
        self.job_timeout_s = job_timeout_s
        self.max_jobs_in_flight = max_jobs_in_flight
        self.instance = instance
        self._tasks: set[asyncio.Task[None]] = set()
        self._notices: set[asyncio.Task[None]] = set()  # "in line" updates on their way
        self._orphan_report_lock = asyncio.Lock()

    # --- confirm: validate, price, reserve and record in one transaction ------------------------

    async def confirm(
        self,
        *,
        user_id: int,
        chat_id: int,
        draft_key: str,
        order: Order,
        files: list[InputFileRef],
        status_message_id: int | None,
    ) -> Confirmed:
        """Reserve the credits and record the job. Idempotent per draft_key.

        Raises InvalidOrder, TooManyJobs or billing's InsufficientCredits; then nothing changed.
        """
        entry = self.catalog.get(order.model_key)
        if entry is None or entry.hidden:  # hidden by the operator: no new orders (a stale button)
            raise InvalidOrder("unknown_model")
        checked = replace(order, inputs=_placeholder_inputs(files))
        self.catalog.validate(checked)
        quote = self.catalog.quote(order.model_key, order.mode, order.options)
        mode = entry.mode_spec(order.mode)
        # This instance submits it (start_submission); another takes over if its lease runs out.
        claim = self.instance.claim()
        new_job = NewJob(
            user_id=user_id,
            chat_id=chat_id,
            draft_key=draft_key,
            model_key=order.model_key,
            mode=order.mode,
            ratio=order.ratio,
            options=dict(order.options),
            prompt=order.prompt,
            inputs={"files": [f.as_dict() for f in files], "urls": {}},
            family=str(entry.family),
            kie_model=mode.kie_model,
            kie_credits=quote.kie_credits,
            cost=quote.user_credits,
            callback_token=new_callback_token(),
            deadline_at=now() + self.job_timeout_s,
            status_message_id=status_message_id,
            claimed_by=claim.holder,
            submit_lease_until=claim.until,
        )
        try:
            # One transaction: the draft check, the in-flight limit, the job row and its reservation.
            job, created = await self.jobs.create_reserved(new_job, max_in_flight=self.max_jobs_in_flight)
        except InFlightLimit as exc:
            raise TooManyJobs(exc.limit) from None
        return Confirmed(job, created=created)

    # --- submit: upload inputs and create the KIE task (in the background) -----------------------

    def start_submission(self, job: Job) -> None:
        """Submit a job this instance holds (it confirmed it, or claimed it in recover())."""
        task = asyncio.create_task(self._submit_holding(job.id), name=f"submit-job-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_submissions(self, timeout: float) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def recover(self) -> None:
        """At start: created jobs whose submitting instance is gone (this one before the restart,
        or another that died: its lease ran out; the tracker's loop takes those over later too) are claimed;
        those whose create call was never sent are submitted, those whose create was sent are
        refunded (never send a second one); then the admins are told which orders may exist on KIE
        with no task id here, in one alert. Jobs another live instance is submitting are left alone."""
        await self.take_over_submissions()
        # Also catches jobs refunded just before a crash that came before their alert.
        await self.report_possible_orphans()

    async def take_over_submissions(self) -> None:
        """Claim the created jobs whose submitting instance is gone; submit or refund them."""
        refunded = False
        for job in await self.jobs.claim_stale_submissions(self.instance.claim()):
            if job.create_started_at is None:
                self.start_submission(job)
            else:
                await self._fail_sent_before_restart(job)
                refunded = True
        if refunded:
            await self.report_possible_orphans()

    async def _submit_holding(self, job_id: int) -> None:
        async def renew() -> bool:
            if await self.jobs.renew_submission_claim(job_id, self.instance.claim()):
                return True
            # Submitted (or ended) already: nothing is held any more, and the rest of submit (the
            # status shown, which may wait in the outgoing queue) needs no lease. Only a job still
            # being created by someone else means this instance lost it.
            job = await self.jobs.get(job_id)
            return job is None or job.state is not JobState.CREATED

        async with renewing(renew, self.instance.renew_every_s, f"job {job_id} submission"):
            await self.submit(job_id)

    async def report_possible_orphans(self) -> None:
        """Log and alert, once per job (persisted), every job refunded as "create outcome unknown"
        that no callback has tied to a KIE task yet. A later callback still delivers it, free."""
        async with self._orphan_report_lock:
            orphans = await self.jobs.unalerted_possible_orphans()
            if not orphans:
                return
            for job in orphans:
                log.error(
                    "Job %s (user %s, %s) may exist on KIE with no task id: create sent at %s UTC, "
                    "callback token ...%s",
                    job.id,
                    job.user_id,
                    job.kie_model,
                    datetime.fromtimestamp(job.create_started_at or job.created_at, tz=UTC).isoformat(
                        sep=" ", timespec="seconds"
                    )[:19],
                    job.callback_token[-ORPHAN_TOKEN_TAIL:],
                )
            # The operator pays KIE for these; only KIE's dashboard can show them.
            await self.alerts.possible_orphans(orphans)
            await self.jobs.mark_orphans_alerted([job.id for job in orphans], now())

    async def submit(self, job_id: int) -> None:
        job = await self.jobs.get(job_id)
        if job is None or job.state is not JobState.CREATED:
            return
        if job.create_started_at is not None:
            await self._fail_sent_before_restart(job)
            await self.report_possible_orphans()
            return
        try:
            urls = await self._upload_inputs(job)
            entry = self.catalog.get(job.model_key)
            if entry is None:
                raise InvalidOrder("unknown_model")
            order = Order(
                model_key=job.model_key,
                mode=job.mode,
                ratio=job.ratio,
                options=dict(job.options),
                prompt=job.prompt,
                inputs={k: tuple(v) for k, v in urls.items()},
            )
            self.catalog.validate(order)
            request = adapter_for(entry.family).build_create(entry, order, self.callback_url(job))
            # Recorded before sending: a crash from here on must never lead to a second create.
            await self.jobs.update_fields(job.id, create_started_at=time.time())
            task_id = await self.kie.create_task(request, in_line=self._line_listener(job))
        except KieCreateOutcomeUnknown as exc:
            log.error("Job %s: KIE create outcome unknown (%s); refunding", job.id, exc)
            await self._fail(job, SUBMISSION_UNKNOWN, str(exc))
            await self.report_possible_orphans()
            return
        except KieError as exc:
            log.warning("Job %s: KIE refused the task: %s", job.id, exc)
            await self.alerts.kie_problem(exc.operator_message_key, str(exc))
            await self._fail(job, exc.user_message_key, exc.kie_message or str(exc), code=exc.code)
            return
        except InvalidOrder as exc:
            await self._fail(job, f"invalid_{exc.reason_key}", str(exc))
            return
        except Exception:
            log.exception("Job %s: submission crashed; refunding", job.id)
            await self._fail(job, "internal_error", "submission crashed")
            return
        await self.record_task_id(job.id, task_id)

    async def record_task_id(self, job_id: int, task_id: str) -> None:
        # A fast callback may already have finished the job: only a created job becomes submitted.
        job = await self.jobs.record_task_id(job_id, task_id, submitted_at=now())
        if job is not None:
            await self.events.submitted(job)

    async def _upload_inputs(self, job: Job) -> dict[str, list[str]]:
        """Download each file from Telegram and upload the bytes to KIE right before the create call;
        remember the URLs and when they were uploaded. KIE deletes uploads 24 h after the upload
        (kie-api-2026.md §1.2), so a URL kept from an earlier attempt (a submission resumed after a
        restart) is reused only while younger than UPLOAD_REUSE_MAX_AGE_S; older or undated ones are
        uploaded again from the Telegram file id."""
        uploaded: dict[str, str] = dict(job.inputs.get("urls", {}))
        uploaded_at: dict[str, float] = dict(job.inputs.get("uploaded_at", {}))
        urls: dict[str, list[str]] = {}
        for raw in job.inputs.get("files", []):
            ref = InputFileRef.from_dict(raw)
            url = uploaded.get(ref.file_id)
            age_s = time.time() - uploaded_at.get(ref.file_id, float("-inf"))
            if url is None or age_s > UPLOAD_REUSE_MAX_AGE_S:
                data = await self.files.read(ref.file_id)
                url = await self.kie.upload_file(data, ref.file_name, ref.mime_type)
                uploaded[ref.file_id] = url
                uploaded_at[ref.file_id] = time.time()
                remembered = {"urls": uploaded, "uploaded_at": uploaded_at}
                await self.jobs.set_inputs(job.id, {**job.inputs, **remembered})
            urls.setdefault(ref.kind, []).append(url)
        return urls

    async def _fail_sent_before_restart(self, job: Job) -> None:
        # A create call may already have reached KIE before a crash: never send a second one.
        await self._fail(job, SUBMISSION_UNKNOWN, "create sent before a restart; no answer recorded")

    async def _fail(self, job: Job, reason_key: str, detail: str, code: int | None = None) -> None:
        won = (
            await self.jobs.fail(
                job.id,
                from_states=[JobState.CREATED],
                fail_code=str(code) if code is not None else None,
                fail_reason=f"{reason_key}: {detail}"[:500],
                finished_at=now(),
            )
            is not None
        )
        log.info("Job %s failed at submission (%s): %s", job.id, reason_key, detail)
        if won:
            failed = await self.jobs.get(job.id)
            if failed is not None:
                await self.events.submission_failed(failed)

    def _line_listener(self, job: Job) -> PositionListener:
        """Tells the job's status its place while its create call waits for a slot at KIE."""

        def tell(position: int) -> None:
            task = asyncio.create_task(self.events.waiting_in_line(job, position), name=f"in-line-{job.id}")
            self._notices.add(task)
            task.add_done_callback(self._notices.discard)

        return tell

    def callback_url(self, job: Job) -> str | None:
        if not self.public_url:
            return None
        return callback_url(self.public_url, job.callback_token)
