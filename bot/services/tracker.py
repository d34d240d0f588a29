"""Following jobs to the end: KIE callbacks first, a polling backstop, timeouts, restart recovery.

Every outcome is applied through a conditional state change (see store/jobs.py); whichever event
wins (callback, poll, timeout) triggers the refund or the delivery, exactly once.
Nothing here lives only in memory: the schedule is `next_poll_at` in the jobs table, so a restart
picks every unfinished job up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from bot.catalog.model import Catalog, Family
from bot.kie.adapters.base import adapter_for
from bot.kie.client import KieClient
from bot.kie.errors import KieError, KieTaskNotFound
from bot.kie.types import TaskResult, TaskState
from bot.kie.webhook_auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from bot.services.billing import BillingService
from bot.services.claims import Holder, renewing
from bot.services.delivery import DeliveryResult, DeliveryRush, DeliveryService
from bot.services.generation import GenerationService
from bot.services.ports import JobStatus, JobStatusView, SubmissionEvents
from bot.store.db import now
from bot.store.jobs import UNDELIVERED_KEPT_REASON, Job, JobsRepo, JobState

log = logging.getLogger(__name__)

# After a timeout we keep looking for a late success this long, at a slow pace.
LATE_SUCCESS_WINDOW_S = 6 * 3600.0
LATE_POLL_INTERVAL_S = 60.0
# Status calls in flight at once.
MAX_PARALLEL_POLLS = 10
# Claimed polls not yet done, at most: all that is due up to this many, or, when one status budget is
# shared by all jobs, what it serves in this many seconds: a claimed job waiting for the budget holds
# its row and a coroutine, and claiming more than the budget serves soon only makes more of them wait.
POLL_CLAIM_MAX = 100
POLL_CLAIM_BUDGET_S = 2.0
# With claims up to that, half of them done is when the loop claims again: the budget never runs dry
# between rounds, and the loop does not turn once per poll.
POLL_REFILL_SHARE = 0.5
# The longest the loop sleeps while polls are due but none can be claimed (a finishing poll wakes it).
POLL_ROOM_WAIT_S = 1.0
# A model's completion times are re-read from the database at most this often (real seconds).
HISTORY_TTL_S = 60.0
# A result that cannot be fetched is retried this often before the user is refunded.
DELIVERY_ATTEMPTS = 3
DELIVERY_RETRY_S = 60.0


@dataclass(frozen=True)
class DeliveryRetryPolicy:
    """When to try again after Telegram failed a delivery transiently (5xx, network, long 429).

    The video is paid for and exists, so it is never refunded for this. Attempts 1..fast_attempts
    retry the video itself with exponential backoff (5 s doubling, honouring Telegram's
    retry_after); after that every attempt falls back as a refusal would (video, then document,
    then the link), at a slow pace (every 10 min at most). If even that keeps failing for
    `give_up_s` after the job finished, the job is closed as undeliverable, still charged, and
    /history's "Send again" fetches the result from KIE once the user asks.
    The schedule is stored in the jobs table (next_delivery_at), so restarts keep it. An attempt in
    progress holds the job under the instance's lease (services/claims.py), renewed while it runs;
    an instance that died mid-attempt leaves it to another one once the lease runs out.
    """

    fast_attempts: int = 5
    base_delay_s: float = 5.0
    max_delay_s: float = 600.0
    give_up_s: float = 24 * 3600.0

    def delay_s(self, attempt: int, retry_after_s: float | None) -> float:
        backoff = min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))
        return max(backoff, retry_after_s or 0.0)

    def falls_back(self, attempt: int) -> bool:
        return attempt > self.fast_attempts


DELIVERY_RETRY = DeliveryRetryPolicy()
# "Sending…" appears only when a delivery takes longer than this: a quick one goes straight to
# "done", and no delivery ever waits behind a status edit (under a burst of finished jobs those
# edits would queue in front of the videos).
SENDING_NOTICE_AFTER_S = 1.0


class _SendingNotice:
    """Shows "sending" once the delivery has run SENDING_NOTICE_AFTER_S, beside it, never before it,
    and not while other videos are still on their way (DeliveryRush). Until it is due it is a timer,
    not a task: most deliveries end before it and cost the loop nothing for it."""

    def __init__(self, status: JobStatusView, job: Job, rush: DeliveryRush) -> None:
        self._status = status
        self._job = job
        self._rush = rush
        self._editing = False
        self._task: asyncio.Task[None] | None = None
        self._timer = asyncio.get_running_loop().call_later(SENDING_NOTICE_AFTER_S, self._due)

    def _due(self) -> None:
        self._task = asyncio.ensure_future(self._show())

    async def _show(self) -> None:
        await self._rush.calm(own=1)
        self._editing = True
        await self._status.show_status(self._job, JobStatus.SENDING)

    async def settle(self) -> None:
        """Call off a notice not yet due; one already under way is left to the view.

        The view shows one job's statuses in the order they were asked for (an older one still
        queued is replaced by the newer), so the notice cannot land after the status that follows
        it; waiting for it to land would hold the delivery's outcome behind a low-priority edit.
        """
        self._timer.cancel()
        task = self._task
        if task is None:
            return
        if self._editing:
            task.add_done_callback(self._report)
            return
        task.cancel()
        # asyncio.wait: the notice's own end (cancelled or not) is not raised here, while a
        # cancellation of the delivery itself still is.
        await asyncio.wait([task])

    def _report(self, task: asyncio.Future[None]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            log.warning("Job %s: the sending notice failed: %s", self._job.id, error)


@dataclass(frozen=True)
class CompletionTimes:
    """One model's completion-time distribution, learnt from this bot's own finished jobs.

    The CDF is piecewise linear through the sorted sample (each sample at the middle of its share),
    padded a little on both sides so a job slightly faster or slower than any seen still has odds.
    """

    sorted_s: tuple[float, ...]

    @classmethod
    def of(cls, samples: Sequence[float]) -> CompletionTimes:
        return cls(tuple(sorted(samples)))

    def __len__(self) -> int:
        return len(self.sorted_s)

    def with_sample(self, seconds: float) -> CompletionTimes:
        return CompletionTimes(tuple(sorted((*self.sorted_s, seconds))))

    def _points(self) -> list[tuple[float, float]]:
        s = self.sorted_s
        n = len(s)
        pad = max((s[-1] - s[0]) / n, 0.02 * s[n // 2], 1e-3)
        inner = [(x, (i + 0.5) / n) for i, x in enumerate(s)]
        return [(max(0.0, s[0] - pad), 0.0), *inner, (s[-1] + pad, 1.0)]

    def cdf(self, t: float) -> float:
        points = self._points()
        if t <= points[0][0]:
            return 0.0
        for (x0, f0), (x1, f1) in pairwise(points):
            if t <= x1:
                return f1 if x1 == x0 else f0 + (f1 - f0) * (t - x0) / (x1 - x0)
        return 1.0

    def quantile(self, q: float) -> float:
        points = self._points()
        for (x0, f0), (x1, f1) in pairwise(points):
            if q <= f1:
                return x1 if f1 == f0 else x0 + (x1 - x0) * (q - f0) / (f1 - f0)
        return points[-1][0]


@dataclass(frozen=True)
class PollLoad:
    """How many jobs share the status budget (it bounds how often each can be polled at all), and
    how many of each model are polled (JobTracker._history)."""

    jobs: int = 0
    by_model: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PollSchedule:
    """When to ask KIE about a job: around its expected finish, within the status budget.

    With a model's history (`CompletionTimes`, at least `min_history` finished jobs) the next poll
    is where a job that has not finished yet finishes with chance `likely_share`: sparse while a
    finish is unlikely, dense around the usual finish time; never closer than `min_gap_s`, never
    further than `max_gap_s` (or, when the budget cannot poll every job that often, than one round
    of the budget over all jobs). Past what the history knows, and without history (the prior), it
    follows KIE's advice by age: ~2-3 s for the first 30 s, then 5-10 s, then 15-30 s. Videos rarely
    finish in under 6 s, so the first poll waits 6 s, then every 3 s up to 24 s, every 8 s up to
    2 min, every 30 s after.
    When more is booked than the budget allows, the tracker takes due polls oldest booking first
    (store.claim_due_polls), so the overflow degrades to a fair round over the jobs most overdue;
    stretching every gap instead measured worse with 500 jobs (bench/bench_jobs.py).
    With callbacks (PUBLIC_URL set) polling is only a backstop for a callback that is overdue.
    `status_rps`: the status budget shared by all jobs (KIE_STATUS_LIMIT_SCOPE=key), None when each
    task has its own. `scale` runs the same schedule faster (tests and benchmarks only).
    """

    callbacks: bool
    scale: float = 1.0
    status_rps: float | None = None
    likely_share: float = 0.3
    min_gap_s: float = 1.5
    max_gap_s: float = 30.0
    min_history: int = 8
    # Past this much of the history's odds the job is slower than (nearly) all seen: the prior.
    tail_share: float = 0.08

    def _real_delay(self, age_s: float) -> float:
        if self.callbacks:
            return 30.0 if age_s < 300 else 60.0
        if age_s < 6:
            return 6.0 - age_s
        if age_s < 24:
            return 3.0
        if age_s < 120:
            return 8.0
        return 30.0

    def delay_after(self, age_s: float) -> float:
        """The prior: seconds until the next poll of a job `age_s` seconds old (scaled clock)."""
        return max(0.05 * self.scale, self._real_delay(age_s / self.scale) * self.scale)

    def first_delay(self) -> float:
        return self.delay_after(0.0)

    def finished_about(self, noticed_after_s: float) -> float:
        """When KIE probably finished a job the bot noticed `noticed_after_s` after submission.

        The jobs table knows when the bot *noticed* (finished_at): up to one poll gap later than KIE
        finished. Learning from that would push every later poll a little too late; taking off half
        of the prior's gap at that age (the longest a learnt schedule uses there) errs early instead,
        which costs a poll, not a delay."""
        return max(0.0, noticed_after_s - self.delay_after(noticed_after_s) / 2)

    def longest_gap(self, load: PollLoad) -> float:
        """The bound: no job waits longer than this for its next poll (scaled clock)."""
        bound = self.max_gap_s * self.scale
        if self.status_rps is not None:
            bound = max(bound, load.jobs / self.status_rps)
        return bound

    def next_delay(
        self, age_s: float, history: CompletionTimes | None = None, load: PollLoad = PollLoad()
    ) -> float:
        """Seconds until the next poll of a job `age_s` old, its model's history and the load."""
        prior = self.delay_after(age_s)
        if self.callbacks or history is None or len(history) < self.min_history:
            return prior
        finished_share = history.cdf(age_s)
        unfinished = 1.0 - finished_share
        if unfinished <= self.tail_share:
            return prior
        gap = history.quantile(finished_share + self.likely_share * unfinished) - age_s
        return min(max(gap, self.min_gap_s * self.scale), self.longest_gap(load))


class CallbackRejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class JobTracker:
    """Follows every submitted job to its end; implements the generation service's SubmissionEvents.

    The tracker builds the generation service itself, from `make_generation`, passing itself as the
    listener. The two need each other (the generation service reports submissions to the tracker;
    the tracker recovers and drains the generation service at start and stop), and building one
    inside the other is the one order in which both are complete from their constructors on: no
    hook is set after construction and neither can be used half-wired.
    """

    def __init__(
        self,
        *,
        jobs: JobsRepo,
        billing: BillingService,
        kie: KieClient,
        catalog: Catalog,
        make_generation: Callable[[SubmissionEvents], GenerationService],
        delivery: DeliveryService,
        status: JobStatusView,
        schedule: PollSchedule,
        hmac_key: str | None = None,
        instance: Holder = Holder(),
    ) -> None:
        self.instance = instance
        self.jobs = jobs
        self.billing = billing
        self.kie = kie
        self.catalog = catalog
        self.delivery = delivery
        self.status = status
        self.schedule = schedule
        self.hmac_key = hmac_key
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._delivering: set[int] = set()
        self._rush = delivery.rush
        self._poll_slots = asyncio.Semaphore(MAX_PARALLEL_POLLS)
        self._polls: set[asyncio.Task[None]] = set()  # claimed by this instance and not done yet
        self._polls_left_due = False  # the last claim was cut short by the room: more may be due
        # When the loop wakes by itself next (epoch seconds; 0 during a turn), and the earliest next
        # poll booked during the turn (the turn's own reading of the database may not have seen it).
        self._sleeping_until = 0.0
        self._booked_in_turn = math.inf
        # model -> (read at, from KIE's own timing where known, from when the bot noticed)
        self._histories: dict[str, tuple[float, CompletionTimes, CompletionTimes]] = {}
        self._load = PollLoad()
        self._stopping = False
        self._next_takeover = 0.0
        self.generation = make_generation(self)

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover every unfinished job, then run the poll/timeout loop."""
        await self.recover()
        self._loop_task = asyncio.create_task(self._run(), name="job-tracker")

    async def stop(self, grace_s: float = 20.0) -> None:
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        # A status call is not worth waiting for: every poll booked its job's next one before the call.
        for poll in list(self._polls):
            poll.cancel()
        await asyncio.gather(*self._polls, return_exceptions=True)
        await self.generation.wait_submissions(grace_s)
        if self._tasks:
            # Deliveries in progress finish if they can; the rest resume after the restart.
            await asyncio.wait(list(self._tasks), timeout=grace_s)
        for task in list(self._tasks):
            task.cancel()

    async def recover(self) -> None:
        """The leases of this instance's previous life end now: its deliveries are due, its
        submissions resume (generation.recover); every unfinished job is polled at once. Other
        instances' deliveries and submissions are left alone: they are alive, or their leases run
        out and the loop takes over."""
        await self.jobs.release_claims_of(self.instance.instance_id, now())
        await self.generation.recover()
        self._next_takeover = now() + self.instance.renew_every_s
        self._wake.set()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- SubmissionEvents -----------------------------------------------------------------------

    async def submitted(self, job: Job) -> None:
        if job.state is JobState.SUBMITTED:
            first = self.schedule.next_delay(0.0, await self._history(job.model_key), self._load)
            await self.jobs.update_fields(job.id, next_poll_at=now() + first)
            await self.status.show_status(job, JobStatus.QUEUED)
            self._wake.set()
        elif job.state is JobState.SUCCEEDED:
            # The callback beat the create call's answer: whoever won that success delivers.
            log.info("Job %s: finished before its create call was answered", job.id)

    async def submission_failed(self, job: Job) -> None:
        await self._announce_failure(job)

    async def waiting_in_line(self, job: Job, position: int) -> None:
        current = await self.jobs.get(job.id)
        if current is not None and current.state is JobState.CREATED:  # not timed out meanwhile
            await self.status.show_status(current, JobStatus.IN_LINE, position=position)

    # --- the loop -------------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            # Cleared before the turn, not after it: a wake-up during the turn starts the next one.
            self._wake.clear()
            self._sleeping_until, self._booked_in_turn = 0.0, math.inf
            try:
                await self._tick()
            except Exception:
                log.exception("Job tracker tick failed; continuing")
            stored = await self._next_wakeup()  # may be 0: a delivery due at once
            next_at = min(math.inf if stored is None else stored, self._booked_in_turn)
            delay = 5.0 if next_at == math.inf else max(0.0, min(5.0, next_at - now()))
            if delay == 0.0 and self._poll_room() == 0:
                # Due polls wait for room; the polls under way wake the loop when there is some.
                delay = POLL_ROOM_WAIT_S
            # The polls under way book their next ones from now on: one booked sooner wakes the loop.
            self._sleeping_until = now() + delay
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _next_wakeup(self) -> float | None:
        return await self.jobs.next_event_time()

    async def _tick(self) -> None:
        t = now()
        for job in await self.jobs.overdue(t):
            await self.time_out(job)
        # Charged jobs whose video is not in the chat: a retry that is due, or a delivery whose
        # instance died (its lease ran out). Claimed: only the jobs this instance won are its own.
        claim = self.instance.claim(t)
        for job in await self.jobs.claim_due_deliveries(claim):
            self._spawn_delivery(job)
        if t >= self._next_takeover:
            # Submissions of an instance that died (their lease ran out).
            self._next_takeover = t + self.instance.renew_every_s
            await self.generation.take_over_submissions()
        room = self._poll_room()
        due = await self.jobs.claim_due_polls(claim, room) if room else []
        self._polls_left_due = len(due) == room
        if due:
            self._load = await self._measure_load()
            # Not awaited here: the next turn claims more while these still run (or wait for the
            # budget), so the status budget is spent without a pause between rounds.
            for job in due:
                poll = asyncio.create_task(self._poll_guarded(job), name=f"poll-{job.id}")
                self._polls.add(poll)
                poll.add_done_callback(self._poll_done)

    def _poll_claim_size(self) -> int:
        rps = self.schedule.status_rps
        if rps is None:
            return POLL_CLAIM_MAX
        return max(MAX_PARALLEL_POLLS, min(POLL_CLAIM_MAX, math.ceil(rps * POLL_CLAIM_BUDGET_S)))

    def _poll_room(self) -> int:
        """How many more due polls this instance claims now."""
        return max(0, self._poll_claim_size() - len(self._polls))

    def _poll_done(self, poll: asyncio.Task[None]) -> None:
        self._polls.discard(poll)
        if self._polls_left_due and len(self._polls) <= self._poll_claim_size() * POLL_REFILL_SHARE:
            self._polls_left_due = False  # one wake-up per refill
            self._wake.set()

    async def _measure_load(self) -> PollLoad:
        """How many jobs are polled: in all (only a shared, "key" budget bounds the gaps) and per model."""
        by_model = await self.jobs.count_polled_by_model()
        shared = sum(by_model.values()) if self.schedule.status_rps is not None else 0
        return PollLoad(jobs=shared, by_model=by_model)

    async def _history(self, model_key: str) -> CompletionTimes:
        """This model's completion times from the jobs table, re-read at most every HISTORY_TTL_S.

        Two readings of the same finished jobs. KIE's own timing (kie_seconds) is exact; when the bot
        only knows when a poll noticed, the history comes in steps of the poll gaps, and a history in
        steps books gaps as wide as its steps (a lone 60 s job noticed ~3 s late on average instead
        of ~0.3 s). But while many of the model's jobs are still running (a batch submitted together)
        the history holds only the batch's fast finishers: the exact one, reaching right up to the
        batch's age, then books every job of it as about to finish and spends the budget the whole
        batch needs (measured: 500 jobs, mean delay 12.5 s instead of 6.6 s). The noticed one lags
        behind by the polls' delay and leaves such jobs to the prior. So the exact reading is used
        only for a job that is the only one of its model in flight.
        """
        t = now()
        cached = self._histories.get(model_key)
        if cached is None or t - cached[0] >= HISTORY_TTL_S * self.schedule.scale:
            rows = await self.jobs.completion_times(model_key)
            cached = (
                t,
                CompletionTimes.of([self._took(noticed, kie) for noticed, kie in rows]),
                CompletionTimes.of([self.schedule.finished_about(noticed) for noticed, _ in rows]),
            )
            self._histories[model_key] = cached
        _, exact, noticed = cached
        # Until a tick has counted the jobs in flight, nothing says the model is not in a batch.
        alone = bool(self._load.by_model) and self._load.by_model.get(model_key, 0) <= 1
        return exact if alone else noticed

    def _learn_completion(self, job: Job) -> None:
        """A success counts in its model's history at once, not only at the next re-read: the jobs
        right behind it (often submitted together) are the ones it tells most about."""
        cached = self._histories.get(job.model_key)
        if cached is not None and job.submitted_at is not None and job.finished_at is not None:
            noticed_s = job.finished_at - job.submitted_at
            self._histories[job.model_key] = (
                cached[0],
                cached[1].with_sample(self._took(noticed_s, job.kie_seconds)),
                cached[2].with_sample(self.schedule.finished_about(noticed_s)),
            )

    def _took(self, noticed_s: float, kie_s: float | None) -> float:
        """A finished job's completion time by KIE's own timing when it gave one, else an estimate
        from when the bot noticed."""
        if kie_s is not None and kie_s >= 0:
            # Never later than the bot saw it (KIE's clock starts a little before our submission).
            return min(kie_s, noticed_s)
        return self.schedule.finished_about(noticed_s)

    async def _poll_guarded(self, job: Job) -> None:
        async with self._poll_slots:
            try:
                await self.poll(job)
            except Exception:
                log.exception("Job %s: poll crashed", job.id)

    async def poll(self, job: Job) -> None:
        """One status call; schedules the next one unless the job ended."""
        assert job.task_id is not None
        age = now() - (job.submitted_at or job.created_at)
        next_delay = self.schedule.next_delay(age, await self._history(job.model_key), self._load)
        if job.state is JobState.TIMED_OUT:
            if now() - job.deadline_at > LATE_SUCCESS_WINDOW_S:
                await self.jobs.update_fields(job.id, next_poll_at=None)
                return
            next_delay = LATE_POLL_INTERVAL_S * self.schedule.scale
        # Book the next poll first: a crash mid-call must not leave the job without a schedule.
        next_poll_at = now() + next_delay
        await self.jobs.update_fields(job.id, next_poll_at=next_poll_at, poll_count=job.poll_count + 1)
        self._booked_in_turn = min(self._booked_in_turn, next_poll_at)
        if next_poll_at < self._sleeping_until:
            self._wake.set()
        entry = self.catalog.get(job.model_key)
        family = entry.family if entry else Family(job.family)
        adapter = adapter_for(family)
        try:
            data = await self.kie.get_status(adapter.status_request(job.task_id))
        except KieTaskNotFound:
            return  # not visible yet right after creation; the next poll will see it
        except KieError as exc:
            log.warning("Job %s: status call failed (%s); retrying later", job.id, exc)
            return
        await self.apply(job.id, adapter.parse_status(data), source="poll")

    # --- callbacks ------------------------------------------------------------------------------

    async def accept_callback(self, token: str, raw_body: bytes, headers: Mapping[str, str]) -> Job:
        """Authenticate a callback; raises CallbackRejected. Processing happens in the background."""
        job = await self.jobs.by_callback_token(token)
        if job is None:
            raise CallbackRejected(404, "unknown callback token")
        try:
            body = json.loads(raw_body)
        except ValueError:
            raise CallbackRejected(400, "callback body is not JSON") from None
        if not isinstance(body, dict):
            raise CallbackRejected(400, "callback body is not an object")
        entry = self.catalog.get(job.model_key)
        adapter = adapter_for(entry.family if entry else Family(job.family))
        result = adapter.parse_callback(body)
        if job.task_id is not None and result.task_id is not None and result.task_id != job.task_id:
            raise CallbackRejected(403, "callback task id does not match the job")
        if self.hmac_key:
            task_id = result.task_id or job.task_id or ""
            verdict = verify_signature(
                self.hmac_key, task_id, headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER)
            )
            if not verdict.ok:
                raise CallbackRejected(401, f"callback signature {verdict.value}")
        # The row just read goes along: one read per callback, not two, under a burst.
        self._spawn(self.apply(job.id, result, source="callback", job=job), name=f"callback-job-{job.id}")
        return job

    # --- applying outcomes ----------------------------------------------------------------------

    async def apply(self, job_id: int, result: TaskResult, *, source: str, job: Job | None = None) -> None:
        """`job`: the row as just read, if the caller has it (every change below is conditional on
        the state, so a row a moment old decides nothing wrongly)."""
        if job is None:
            job = await self.jobs.get(job_id)
        if job is None:
            return
        if result.state is TaskState.SUCCEEDED:
            await self._succeed(job, result, source)
        elif result.state is TaskState.FAILED:
            await self._fail(job, result, source)
        else:
            await self._progress(job, result)

    async def _progress(self, job: Job, result: TaskResult) -> None:
        if job.state not in (JobState.SUBMITTED, JobState.RUNNING):
            return
        if result.state is TaskState.RUNNING and job.state is JobState.SUBMITTED:
            await self.jobs.transition(job.id, [JobState.SUBMITTED], JobState.RUNNING)
        if result.progress is not None and result.progress != job.progress:
            await self.jobs.update_fields(job.id, progress=result.progress)
        elapsed_s = now() - job.created_at
        if result.state is TaskState.RUNNING:
            if result.progress is not None:
                await self.status.show_status(
                    job, JobStatus.PROGRESS, progress=result.progress, elapsed_s=elapsed_s
                )
            else:
                await self.status.show_status(job, JobStatus.GENERATING, elapsed_s=elapsed_s)

    async def _succeed(self, job: Job, result: TaskResult, source: str) -> None:
        # One round trip for the state change, the settlement, the first delivery's lease and the
        # fresh row.
        finished = now()
        won_job = await self.jobs.succeed(
            job.id,
            result_urls=result.video_urls,
            finished_at=finished,
            # Learnt from the callback (the create answer was lost).
            task_id=result.task_id if job.task_id is None and result.task_id else None,
            kie_credits_consumed=result.credits_consumed,
            # The winner delivers: the delivery is claimed by this instance (its first attempt
            # booked) in the same transaction.
            delivery_claim=self.instance.claim(),
            kie_seconds=result.kie_seconds,
        )
        if won_job is None:
            log.info("Job %s: duplicate or late %s success ignored (state %s)", job.id, source, job.state)
            return
        log.info("Job %s succeeded (%s)", job.id, source)
        self._learn_completion(won_job)
        self._spawn_delivery(won_job, leased=True)

    async def _fail(self, job: Job, result: TaskResult, source: str) -> None:
        if job.state is JobState.TIMED_OUT:
            # Already refunded and told; stop looking for a late success.
            await self.jobs.update_fields(job.id, next_poll_at=None)
            return
        failed = await self.jobs.fail(
            job.id,
            fail_code=result.fail_code,
            fail_reason=(result.fail_message or "generation_failed")[:500],
            finished_at=now(),
            kie_credits_consumed=result.credits_consumed,
        )
        if failed is None:
            log.info("Job %s: duplicate or late %s failure ignored (state %s)", job.id, source, job.state)
            return
        log.info("Job %s failed (%s): %s %s", job.id, source, result.fail_code, result.fail_message)
        await self._announce_failure(failed)

    async def time_out(self, job: Job) -> None:
        finished = now()
        late_poll = (finished + LATE_POLL_INTERVAL_S * self.schedule.scale) if job.task_id else None
        if await self.jobs.time_out(job.id, finished_at=finished, late_poll_at=late_poll) is not None:
            log.info("Job %s timed out; refunded %s credits", job.id, job.cost)
            await self.status.show_status(job, JobStatus.TIMED_OUT)

    async def _announce_failure(self, job: Job) -> None:
        """The status shows the reason (job.fail_reason) and the refund (job.cost)."""
        await self.status.show_status(job, JobStatus.FAILED)

    # --- delivery -------------------------------------------------------------------------------

    def _spawn_delivery(self, job: Job, *, leased: bool = False) -> None:
        """`leased`: this attempt's lease is already booked (jobs.succeed booked attempt 1)."""
        if job.id in self._delivering:
            return
        self._delivering.add(job.id)
        self._spawn(self._deliver(job, leased=leased), name=f"deliver-job-{job.id}")

    async def _deliver(self, job: Job, *, leased: bool = False) -> None:
        """One delivery attempt; the next one (if any) is booked in the jobs table for _tick."""
        scale = self.schedule.scale
        policy = DELIVERY_RETRY
        attempt = job.delivery_attempts if leased else job.delivery_attempts + 1
        holder = self.instance
        try:
            # This instance claimed the delivery (a due claim, a won success, "send again"); the
            # lease is renewed while the attempt runs, so only a dead instance's delivery is taken
            # over. The attempt count is written beside the download instead of queueing it behind
            # every other job's database work (this process cannot start the same delivery twice:
            # _delivering), or was already written with the success (`leased`); the outcome below is
            # written only after it, so never overwritten.
            counted: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            if leased:
                counted.set_result(None)
            else:
                counted = asyncio.ensure_future(self.jobs.update_fields(job.id, delivery_attempts=attempt))
            sending = _SendingNotice(self.status, job, self._rush) if attempt == 1 else None
            try:
                async with renewing(
                    lambda: self.jobs.renew_delivery_claim(job.id, holder.claim()),
                    holder.renew_every_s,
                    f"job {job.id} delivery",
                ):
                    with self._rush.delivering():
                        outcome = await self.delivery.deliver(
                            job, fall_back_on_transient=policy.falls_back(attempt)
                        )
            finally:
                if sending is not None:
                    # Before any later status (done, failed): else "sending" could overwrite it.
                    await sending.settle()
                await asyncio.wait([counted])
            if (count_error := counted.exception()) is not None:
                # The video may be out already: record the outcome all the same.
                log.warning("Job %s: delivery attempt not counted: %s", job.id, count_error)
            result = outcome.result
            if result is DeliveryResult.UNDELIVERABLE:
                await self.jobs.transition(
                    job.id,
                    [JobState.SUCCEEDED],
                    JobState.UNDELIVERABLE,
                    delivered_at=now(),
                    next_delivery_at=None,
                )
            elif result is DeliveryResult.REFUSED:
                await self._refuse_result(job)
            elif result is DeliveryResult.FAILED and attempt >= DELIVERY_ATTEMPTS:
                await self._refund_undelivered(job)
            elif result in (DeliveryResult.FAILED, DeliveryResult.RETRY):
                await self._retry_later(
                    job, attempt, outcome.retry_after_s, transient=result is DeliveryResult.RETRY
                )
            else:
                if await self.jobs.transition(
                    job.id,
                    [JobState.SUCCEEDED],
                    JobState.DELIVERED,
                    delivered_at=now(),
                    file_id=outcome.file_id,
                    next_delivery_at=None,
                ):
                    await self._rush.calm()
                    await self.status.show_status(job, JobStatus.DONE)
        except Exception:
            log.exception("Job %s: delivery crashed", job.id)
            with contextlib.suppress(Exception):
                await self.jobs.update_fields(
                    job.id, next_delivery_at=now() + policy.delay_s(attempt, None) * scale
                )
        finally:
            self._delivering.discard(job.id)

    async def _retry_later(
        self, job: Job, attempt: int, retry_after_s: float | None, *, transient: bool
    ) -> None:
        policy = DELIVERY_RETRY
        scale = self.schedule.scale
        finished = job.finished_at or job.created_at
        if transient and now() - finished > policy.give_up_s * scale:
            # Still charged (the video exists); /history can fetch and send it when asked.
            log.warning(
                "Job %s: Telegram kept failing the delivery; giving up after %d attempts", job.id, attempt
            )
            await self.jobs.transition(
                job.id,
                [JobState.SUCCEEDED],
                JobState.UNDELIVERABLE,
                fail_reason=UNDELIVERED_KEPT_REASON,
                next_delivery_at=None,
            )
            return
        delay = policy.delay_s(attempt, retry_after_s) if transient else DELIVERY_RETRY_S
        log.warning("Job %s: delivery attempt %d failed; next in %.1f s", job.id, attempt, delay * scale)
        if attempt == 1:
            # Before the retry is booked: the status edit may wait in the outgoing queue (a 429
            # holds the chat), and a retry due meanwhile would be claimed by the loop while this
            # task still counts as delivering it, so nobody would try again until the claim ran out.
            await self.status.show_status(job, JobStatus.DELIVERY_FAILED)
        await self.jobs.update_fields(job.id, next_delivery_at=now() + delay * scale)
        self._wake.set()

    async def _refund_undelivered(self, job: Job) -> None:
        """The video exists but cannot be fetched any more: the user gets the credits back."""
        if await self.jobs.refund_undelivered(
            job.id, new_state=JobState.UNDELIVERABLE, fail_reason="delivery_failed"
        ):
            await self.status.show_status(job, JobStatus.UNDELIVERED_REFUNDED)

    async def _refuse_result(self, job: Job) -> None:
        """The result URL is not a public http(s) address: nothing was fetched; fail and refund once."""
        failed = await self.jobs.refund_undelivered(
            job.id, new_state=JobState.FAILED, fail_reason="result_url_refused"
        )
        if failed is not None:
            await self._announce_failure(failed)

    async def send_again(self, job: Job) -> bool:
        """/history "Send again" for a charged video that never reached the chat (free).

        The job goes back to "succeeded" with a fresh delivery schedule: the result is fetched from
        KIE again (a fresh link when the old one expired) and delivered like the first time.
        """
        if not job.can_be_fetched_again:
            return False
        claim = self.instance.claim()
        if not await self.jobs.transition(
            job.id,
            [JobState.UNDELIVERABLE],
            JobState.SUCCEEDED,
            fail_reason=None,
            delivered_at=None,
            delivery_attempts=0,
            # Claimed by this instance, which delivers it now.
            next_delivery_at=claim.until,
            claimed_by=claim.holder,
        ):
            return False
        revived = await self.jobs.get(job.id)
        if revived is not None:
            self._spawn_delivery(revived)
        return True

    async def wait_idle(self, timeout: float = 10.0) -> bool:
        """Test helper: wait until no callback/delivery task is running."""
        deadline = time.monotonic() + timeout
        while self._tasks:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await asyncio.wait(list(self._tasks), timeout=remaining)
        return True
