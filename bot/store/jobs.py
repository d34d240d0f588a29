"""Generation jobs: every state change is a conditional UPDATE on the expected state.

So racing events (callback vs poll, duplicate callbacks, a late success after a timeout) take effect
once: the caller that changed the row won, and the refund or the delivery hangs off that win.

    created ─▶ submitted(task_id) ─▶ running ─▶ succeeded ─▶ delivered | undeliverable
       │              │                 │
       └──────────────┴─────────────────┴─▶ failed | timed_out ─(late success)─▶ succeeded
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from bot.store.db import Database, now
from bot.store.ledger import Reason, apply_movement_sync
from bot.store.reservations import refund_sync, reserve_sync, settle_sync, undelivered_op_id
from bot.store.sql import SqlConnection, SqlRow


class JobState(StrEnum):
    CREATED = "created"  # reserved, inputs uploading, create call not answered yet
    SUBMITTED = "submitted"  # KIE gave a task id
    RUNNING = "running"  # KIE says it is generating
    SUCCEEDED = "succeeded"  # result URLs known, not yet in the chat
    FAILED = "failed"  # refunded
    TIMED_OUT = "timed_out"  # refunded; a late success is still delivered, free
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"


# fail_reason prefix of a job refunded because its create call may have reached KIE unanswered.
SUBMISSION_UNKNOWN = "submission_unknown"

IN_FLIGHT = (JobState.CREATED, JobState.SUBMITTED, JobState.RUNNING)
TRACKED = (JobState.SUBMITTED, JobState.RUNNING, JobState.TIMED_OUT)
FINAL = (JobState.FAILED, JobState.DELIVERED, JobState.UNDELIVERABLE)
# fail_reason of a charged job Telegram refused transiently for too long (not refunded: /history
# can still send it).
UNDELIVERED_KEPT_REASON = "delivery_gave_up"


# States a KIE success may end (a late success after a timeout is delivered, free).
SUCCEEDS_FROM = (*IN_FLIGHT, JobState.TIMED_OUT)


def reservation_key(job_id: int) -> str:
    """The key of the credits reserved for a job (bot/store/reservations.py)."""
    return f"job:{job_id}"


@dataclass(frozen=True)
class Job:
    id: int
    user_id: int
    chat_id: int
    draft_key: str
    model_key: str
    mode: str
    options: dict[str, str]
    ratio: str | None
    prompt: str
    inputs: dict[str, Any]
    family: str
    kie_model: str
    kie_credits: int
    cost: int
    callback_token: str
    task_id: str | None
    state: JobState
    progress: int | None
    status_message_id: int | None
    fail_code: str | None
    fail_reason: str | None
    result_urls: tuple[str, ...]
    file_id: str | None
    poll_count: int
    next_poll_at: float | None
    deadline_at: float
    created_at: float
    create_started_at: float | None
    submitted_at: float | None
    finished_at: float | None
    delivered_at: float | None
    delivery_attempts: int = 0
    next_delivery_at: float | None = None
    orphan_alerted_at: float | None = None  # when the admins were told KIE may hold a task for it
    kie_credits_consumed: Decimal | None = None  # KIE's own figure for the finished task, if it gave one
    # The instance holding the job's current lease (submission, status check or delivery); the
    # lease ends at submit_lease_until, next_poll_at or next_delivery_at (see the claims below).
    claimed_by: str | None = None
    submit_lease_until: float | None = None
    kie_seconds: float | None = None  # how long KIE took for it by its own clock, if it said

    @property
    def reservation_key(self) -> str:
        return reservation_key(self.id)

    @property
    def can_be_fetched_again(self) -> bool:
        """Charged, never delivered, not refunded: the video may be fetched from KIE and sent again.

        True for a user who had blocked the bot and for deliveries Telegram kept refusing
        transiently until the bot gave up (fail_reason 'delivery_gave_up').
        """
        return (
            self.state is JobState.UNDELIVERABLE
            and self.fail_reason in (None, UNDELIVERED_KEPT_REASON)
            and bool(self.result_urls)
        )

    @classmethod
    def from_row(cls, row: SqlRow) -> Job:
        return cls(
            id=row["id"],
            user_id=row["user_id"],
            chat_id=row["chat_id"],
            draft_key=row["draft_key"],
            model_key=row["model_key"],
            mode=row["mode"],
            options=json.loads(row["options_json"] or "{}"),
            ratio=row["ratio"],
            prompt=row["prompt"],
            inputs=json.loads(row["inputs_json"] or "{}"),
            family=row["family"],
            kie_model=row["kie_model"],
            kie_credits=row["kie_credits"],
            cost=row["cost"],
            callback_token=row["callback_token"],
            task_id=row["task_id"],
            state=JobState(row["state"]),
            progress=row["progress"],
            status_message_id=row["status_message_id"],
            fail_code=row["fail_code"],
            fail_reason=row["fail_reason"],
            result_urls=tuple(json.loads(row["result_urls_json"] or "[]")),
            file_id=row["file_id"],
            poll_count=row["poll_count"],
            next_poll_at=row["next_poll_at"],
            deadline_at=row["deadline_at"],
            created_at=row["created_at"],
            create_started_at=row["create_started_at"],
            submitted_at=row["submitted_at"],
            finished_at=row["finished_at"],
            delivered_at=row["delivered_at"],
            delivery_attempts=row["delivery_attempts"],
            next_delivery_at=row["next_delivery_at"],
            orphan_alerted_at=row["orphan_alerted_at"],
            kie_credits_consumed=(
                Decimal(row["kie_credits_consumed"]) if row["kie_credits_consumed"] is not None else None
            ),
            claimed_by=row["claimed_by"],
            submit_lease_until=row["submit_lease_until"],
            kie_seconds=row["kie_seconds"],
        )


@dataclass(frozen=True)
class NewJob:
    user_id: int
    chat_id: int
    draft_key: str
    model_key: str
    mode: str
    ratio: str | None
    options: dict[str, str]
    prompt: str
    inputs: dict[str, Any]
    family: str
    kie_model: str
    kie_credits: int
    cost: int
    callback_token: str
    deadline_at: float
    status_message_id: int | None = None
    # The confirming instance submits it; another takes over once submit_lease_until passes.
    claimed_by: str | None = None
    submit_lease_until: float | None = None


@dataclass(frozen=True)
class Claim:
    """An instance's lease on jobs: taken at `at` by `holder`, ends at `until` unless renewed."""

    holder: str
    at: float
    until: float


# The claims pick rows in a materialized CTE and update them in one statement (WITH picked AS
# MATERIALIZED (SELECT ... LIMIT ?) UPDATE ... RETURNING: SQLite >= 3.35 and PostgreSQL). Not a plain
# `WHERE id IN (SELECT ... LIMIT ?)`: PostgreSQL may run such a sub-select once per row, and with
# SKIP LOCKED each run picks new rows, so the LIMIT was not kept (one claim took every due job). The
# due conditions are repeated in the UPDATE, so a row another instance claimed meanwhile is skipped
# anyway; on PostgreSQL the CTE also skips rows being claimed (Dialect.skip_locked) instead of waiting.


@dataclass(frozen=True)
class OrderSettings:
    """What a user ordered of one model, without the prompt and files: the wizard's defaults."""

    model_key: str
    mode: str
    ratio: str | None
    options: dict[str, str]


# How far back a user's jobs are read for their last settings per model.
SETTINGS_LOOKBACK_JOBS = 200


class InFlightLimit(Exception):
    """The user already has `limit` jobs in flight; nothing was written."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} jobs in flight")
        self.limit = limit


def _placeholders(values: Sequence[object]) -> str:
    return ",".join("?" for _ in values)


def _transition_sql(
    job_id: int, expected: Sequence[JobState], new_state: JobState, fields: dict[str, Any]
) -> tuple[str, tuple[Any, ...]]:
    assignments = ["state = ?", "updated_at = ?"]
    values: list[Any] = [new_state.value, now()]
    for column, value in fields.items():
        assignments.append(f"{column} = ?")
        values.append(value)
    states = [s.value for s in expected]
    sql = f"UPDATE jobs SET {', '.join(assignments)} WHERE id = ? AND state IN ({_placeholders(states)})"
    return sql, (*values, job_id, *states)


class JobsRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- bodies, for one-round-trip transactions (Database.run_in_transaction) -----------------

    @staticmethod
    def insert_sync(raw: SqlConnection, job: NewJob) -> int:
        t = now()
        row = raw.execute(
            """
            INSERT INTO jobs (user_id, chat_id, draft_key, model_key, mode, ratio, options_json, prompt,
                              inputs_json, family, kie_model, kie_credits, cost, callback_token,
                              status_message_id, state, deadline_at, created_at, updated_at,
                              claimed_by, submit_lease_until)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'created', ?, ?, ?, ?, ?)
            RETURNING id
            """,
            (
                job.user_id,
                job.chat_id,
                job.draft_key,
                job.model_key,
                job.mode,
                job.ratio,
                json.dumps(job.options, ensure_ascii=False),
                job.prompt,
                json.dumps(job.inputs, ensure_ascii=False),
                job.family,
                job.kie_model,
                job.kie_credits,
                job.cost,
                job.callback_token,
                job.status_message_id,
                job.deadline_at,
                t,
                t,
                job.claimed_by,
                job.submit_lease_until,
            ),
        ).fetchone()
        return int(row[0])

    @staticmethod
    def by_draft_sync(raw: SqlConnection, draft_key: str) -> Job | None:
        row = raw.execute("SELECT * FROM jobs WHERE draft_key = ?", (draft_key,)).fetchone()
        return Job.from_row(row) if row else None

    @staticmethod
    def count_in_flight_sync(raw: SqlConnection, user_id: int) -> int:
        states = [s.value for s in IN_FLIGHT]
        row = raw.execute(
            f"SELECT COUNT(*) FROM jobs WHERE user_id = ? AND state IN ({_placeholders(states)})",
            (user_id, *states),
        ).fetchone()
        return int(row[0]) if row else 0


    @staticmethod
    def transition_sync(
        raw: SqlConnection, job_id: int, expected: Sequence[JobState], new_state: JobState, **fields: Any
    ) -> bool:
        sql, values = _transition_sql(job_id, expected, new_state, fields)
        return raw.execute(sql, values).rowcount == 1

    @staticmethod
    def revive_unknown_submission_sync(raw: SqlConnection, job_id: int, **fields: Any) -> bool:
        """failed(submission_unknown) -> succeeded: KIE did get the order after all.

        Such a job was refunded because the bot could not tell whether the create call reached KIE
        (a crash or a dropped connection). When KIE's callback proves it did, the video is
        delivered anyway, free, like a late success after a timeout.
        """
        sql, values = _transition_sql(job_id, [JobState.FAILED], JobState.SUCCEEDED, fields)
        sql += f" AND fail_reason LIKE '{SUBMISSION_UNKNOWN}%'"
        return raw.execute(sql, values).rowcount == 1

    @staticmethod
    def get_sync(raw: SqlConnection, job_id: int) -> Job | None:
        row = raw.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_row(row) if row else None

    # --- job outcomes: the state change and its money in ONE transaction, ONE round trip ---------
    # Whichever event (callback, poll, timeout, submission error) flips the state first wins; the
    # others find the state moved and change nothing, so money moves once per job.

    async def succeed(
        self,
        job_id: int,
        *,
        result_urls: Sequence[str],
        finished_at: float,
        task_id: str | None = None,
        kie_credits_consumed: Decimal | None = None,
        delivery_claim: Claim | None = None,
        kie_seconds: float | None = None,
    ) -> Job | None:
        """KIE finished the video: -> succeeded, its delivery due now, the reservation settled.

        With `delivery_claim` the caller (the one that won the transition) starts the first delivery
        attempt at once: it is claimed and booked in the same transaction (attempt 1, held until the
        claim ends; another instance takes over only when that lease runs out), not by a write of its
        own behind it.

        From an in-flight state, from timed_out, or from failed as "submission unknown" (KIE did get
        the order after all); after those two the reservation was refunded, so settling is a no-op
        and the video is free. `task_id` is recorded when the callback taught it (the create answer
        was lost). Returns the fresh row if this call won, None if the job had already ended.
        """
        fields: dict[str, Any] = {
            "result_urls_json": json.dumps(list(result_urls)),
            "finished_at": finished_at,
            "next_poll_at": None,
            "progress": 100,
            "delivery_attempts": 0,
            "next_delivery_at": finished_at,
        }
        if delivery_claim is not None:
            fields["delivery_attempts"] = 1
            fields["next_delivery_at"] = delivery_claim.until
            fields["claimed_by"] = delivery_claim.holder
        if task_id is not None:
            fields["task_id"] = task_id
        if kie_credits_consumed is not None:
            fields["kie_credits_consumed"] = str(kie_credits_consumed)  # exact, as text
        if kie_seconds is not None:
            fields["kie_seconds"] = kie_seconds
        return await self.db.run_in_transaction(_succeed_sync, job_id, fields)

    async def fail(
        self,
        job_id: int,
        *,
        fail_reason: str,
        finished_at: float,
        fail_code: str | None = None,
        from_states: Sequence[JobState] = IN_FLIGHT,
        kie_credits_consumed: Decimal | None = None,
    ) -> Job | None:
        """-> failed and the reservation refunded. The fresh row if this call won, else None."""
        fields: dict[str, Any] = {
            "fail_code": fail_code,
            "fail_reason": fail_reason,
            "finished_at": finished_at,
            "next_poll_at": None,
        }
        if kie_credits_consumed is not None:
            fields["kie_credits_consumed"] = str(kie_credits_consumed)
        return await self.db.run_in_transaction(
            _end_refunded_sync, job_id, from_states, JobState.FAILED, fields
        )

    async def time_out(self, job_id: int, *, finished_at: float, late_poll_at: float | None) -> Job | None:
        """In flight past its deadline: -> timed_out and refunded; polled for a late success at
        `late_poll_at` (None: no task id, nothing to poll). The fresh row if this call won."""
        fields: dict[str, Any] = {"finished_at": finished_at, "next_poll_at": late_poll_at}
        return await self.db.run_in_transaction(
            _end_refunded_sync, job_id, IN_FLIGHT, JobState.TIMED_OUT, fields
        )

    async def refund_undelivered(self, job_id: int, *, new_state: JobState, fail_reason: str) -> Job | None:
        """A charged video that will never reach the user (it cannot be fetched, or its URL was
        refused): succeeded -> `new_state` (undeliverable or failed) and the cost credited back.
        The reservation was settled, so the credit is a movement of its own. The fresh row if this
        call won, else None (and no credit)."""
        fields: dict[str, Any] = {"fail_reason": fail_reason, "next_delivery_at": None}
        return await self.db.run_in_transaction(_refund_undelivered_sync, job_id, new_state, fields)

    async def record_task_id(self, job_id: int, task_id: str, *, submitted_at: float) -> Job | None:
        """KIE accepted the create call: remember the task id (unless a callback already did) and
        created -> submitted (a fast callback may already have finished the job). The fresh row."""
        return await self.db.run_in_transaction(_record_task_id_sync, job_id, task_id, submitted_at)

    async def create_reserved(self, job: NewJob, *, max_in_flight: int) -> tuple[Job, bool]:
        """Record a confirmed order and reserve its cost (key `job:<id>`) in one transaction.

        Idempotent per draft key: (the job, False) when that draft was already confirmed, else
        (the new job, True). Raises InFlightLimit, or the ledger's InsufficientCredits /
        UnknownUser; then nothing was written.
        """
        return await self.db.run_in_transaction(_create_reserved_sync, job, max_in_flight)

    async def insert(self, job: NewJob) -> int:
        """A job row alone, no reservation (tools and tests)."""
        return await self.db.run_in_transaction(JobsRepo.insert_sync, job)

    # --- standalone -----------------------------------------------------------------------------

    async def get(self, job_id: int) -> Job | None:
        row = await self.db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return Job.from_row(row) if row else None

    async def by_callback_token(self, token: str) -> Job | None:
        row = await self.db.fetchone("SELECT * FROM jobs WHERE callback_token = ?", (token,))
        return Job.from_row(row) if row else None

    async def transition(
        self, job_id: int, expected: Sequence[JobState], new_state: JobState, **fields: Any
    ) -> bool:
        # A single guarded UPDATE is atomic by itself: no BEGIN/COMMIT round trips needed.
        sql, values = _transition_sql(job_id, expected, new_state, fields)
        return await self.db.execute(sql, values) == 1

    async def update_fields(self, job_id: int, **fields: Any) -> None:
        """Non-state bookkeeping (poll schedule, progress, status message id, inputs)."""
        if not fields:
            return
        columns = ", ".join(f"{c} = ?" for c in fields)
        await self.db.execute(
            f"UPDATE jobs SET {columns}, updated_at = ? WHERE id = ?", (*fields.values(), now(), job_id)
        )

    async def set_inputs(self, job_id: int, inputs: dict[str, Any]) -> None:
        await self.update_fields(job_id, inputs_json=json.dumps(inputs, ensure_ascii=False))

    async def in_states(self, states: Sequence[JobState]) -> list[Job]:
        values = [s.value for s in states]
        rows = await self.db.fetchall(
            f"SELECT * FROM jobs WHERE state IN ({_placeholders(values)}) ORDER BY id", values
        )
        return [Job.from_row(r) for r in rows]

    async def claim_due_polls(self, claim: Claim, limit: int = 100) -> list[Job]:
        """Jobs due for a status check, claimed by `claim.holder`: one statement picks the oldest
        bookings due at `claim.at` and pushes their next_poll_at to `claim.until`, so no other
        instance picks them; the poll then books the real next time. A dead holder's claims run out at
        `claim.until` and any instance takes the jobs again."""
        values = [s.value for s in TRACKED]
        due = f"""state IN ({_placeholders(values)}) AND task_id IS NOT NULL
                  AND next_poll_at IS NOT NULL AND next_poll_at <= ?"""
        return await self._claim(claim, limit, due, (*values, claim.at), "next_poll_at", "next_poll_at")

    async def completion_times(self, model_key: str, limit: int = 200) -> list[tuple[float, float | None]]:
        """This model's most recent successes, for the polling scheduler's history: (seconds from
        submission to the bot noticing, a poll's gap late at most; seconds KIE says it took, if it
        said)."""
        rows = await self.db.fetchall(
            """SELECT finished_at - submitted_at, kie_seconds FROM jobs
               WHERE model_key = ? AND state IN ('succeeded', 'delivered', 'undeliverable')
                 AND submitted_at IS NOT NULL AND finished_at IS NOT NULL AND finished_at >= submitted_at
               ORDER BY finished_at DESC LIMIT ?""",
            (model_key, limit),
        )
        return [(float(r[0]), None if r[1] is None else float(r[1])) for r in rows]

    async def count_polled_by_model(self) -> dict[str, int]:
        """Jobs with a poll booked, per model (the whole count shares the status budget; a model's
        count says how much of its history is still unknown)."""
        values = [JobState.SUBMITTED.value, JobState.RUNNING.value, JobState.TIMED_OUT.value]
        rows = await self.db.fetchall(
            f"""SELECT model_key, COUNT(*) FROM jobs WHERE state IN ({_placeholders(values)})
                AND task_id IS NOT NULL AND next_poll_at IS NOT NULL GROUP BY model_key""",
            values,
        )
        return {str(r[0]): int(r[1]) for r in rows}

    async def count_polled(self) -> int:
        """Jobs with a poll booked: they share the status budget."""
        values = [JobState.SUBMITTED.value, JobState.RUNNING.value, JobState.TIMED_OUT.value]
        row = await self.db.fetchone(
            f"""SELECT COUNT(*) FROM jobs WHERE state IN ({_placeholders(values)})
                AND task_id IS NOT NULL AND next_poll_at IS NOT NULL""",
            values,
        )
        return int(row[0]) if row else 0

    async def claim_due_deliveries(self, claim: Claim, limit: int = 100) -> list[Job]:
        """Charged jobs whose video is not in the chat yet and whose next attempt is due (a retry,
        or the lease of a delivery whose instance died ran out), claimed by `claim.holder` until
        `claim.until` (their next_delivery_at): only the returned jobs are this instance's to deliver."""
        due = "state = 'succeeded' AND COALESCE(next_delivery_at, 0) <= ?"
        return await self._claim(claim, limit, due, (claim.at,), "next_delivery_at", "next_delivery_at")

    async def claim_stale_submissions(self, claim: Claim, limit: int = 100) -> list[Job]:
        """Created jobs whose submitting instance is gone (its lease ran out, or a job from before
        leases), claimed by `claim.holder` until `claim.until`: resumed or, when the create call
        may have gone out, refunded by the claimer only."""
        due = "state = 'created' AND COALESCE(submit_lease_until, 0) <= ?"
        return await self._claim(claim, limit, due, (claim.at,), "submit_lease_until", "id")

    async def _claim(
        self,
        claim: Claim,
        limit: int,
        due: str,
        due_params: tuple[Any, ...],
        lease_column: str,
        order_by: str,
    ) -> list[Job]:
        """The one claim statement: the oldest `limit` rows matching `due` (ordered by `order_by`)
        get `lease_column` = claim.until and claimed_by = claim.holder; the rows won, by id."""
        rows = await self.db.fetchall(
            f"""WITH picked AS MATERIALIZED (
                    SELECT id FROM jobs WHERE {due}
                    ORDER BY {order_by} LIMIT ?{self.db.dialect.skip_locked})
                UPDATE jobs SET {lease_column} = ?, claimed_by = ?, updated_at = ?
                WHERE id IN (SELECT id FROM picked) AND {due}
                RETURNING *""",
            (*due_params, limit, claim.until, claim.holder, claim.at, *due_params),
        )
        return sorted((Job.from_row(r) for r in rows), key=lambda job: job.id)

    async def renew_delivery_claim(self, job_id: int, claim: Claim) -> bool:
        """Extend this holder's delivery lease; False when the job is not (any more) its to deliver."""
        changed = await self.db.execute(
            """UPDATE jobs SET next_delivery_at = ?
               WHERE id = ? AND state = 'succeeded' AND claimed_by = ?""",
            (claim.until, job_id, claim.holder),
        )
        return changed == 1

    async def renew_submission_claim(self, job_id: int, claim: Claim) -> bool:
        """Extend this holder's submission lease; False when the job is not (any more) its to submit."""
        changed = await self.db.execute(
            """UPDATE jobs SET submit_lease_until = ?
               WHERE id = ? AND state = 'created' AND claimed_by = ?""",
            (claim.until, job_id, claim.holder),
        )
        return changed == 1

    async def release_claims_of(self, holder: str, at: float) -> None:
        """At start: the leases this instance held before it stopped (or died) are its previous
        life's, so they end now instead of after their lease: its deliveries are due now, its
        submissions are taken over (jobs from before leases, with no holder, too). Every unfinished
        job is polled at once, whoever polled it last: a callback may have been missed while this
        instance was down, and a status check done twice costs one call, not a duplicate."""
        polled = [JobState.SUBMITTED.value, JobState.RUNNING.value]
        mine = "(claimed_by = ? OR claimed_by IS NULL)"
        await self.db.run_in_transaction(
            _release_claims_sync,
            [
                (
                    f"""UPDATE jobs SET next_poll_at = ?
                        WHERE state IN ({_placeholders(polled)}) AND task_id IS NOT NULL""",
                    (at, *polled),
                ),
                (
                    f"UPDATE jobs SET next_delivery_at = ? WHERE {mine} AND state = 'succeeded'",
                    (at, holder),
                ),
                (
                    f"UPDATE jobs SET submit_lease_until = NULL WHERE {mine} AND state = 'created'",
                    (holder,),
                ),
            ],
        )

    async def next_event_time(self) -> float | None:
        """When the tracker has something to do next: a poll, a delivery attempt or a deadline."""
        polled = [s.value for s in TRACKED]
        in_flight = [s.value for s in IN_FLIGHT]
        # One statement (MIN ignores the NULLs of empty groups): one round trip per loop turn.
        row = await self.db.fetchone(
            f"""SELECT MIN(t) FROM (
                  SELECT MIN(next_poll_at) AS t FROM jobs WHERE state IN ({_placeholders(polled)})
                    AND task_id IS NOT NULL AND next_poll_at IS NOT NULL
                  UNION ALL
                  SELECT MIN(COALESCE(next_delivery_at, 0)) FROM jobs WHERE state = 'succeeded'
                  UNION ALL
                  SELECT MIN(deadline_at) FROM jobs WHERE state IN ({_placeholders(in_flight)})
                ) AS due""",
            (*polled, *in_flight),
        )
        return float(row[0]) if row and row[0] is not None else None

    async def overdue(self, at: float) -> list[Job]:
        values = [s.value for s in IN_FLIGHT]
        rows = await self.db.fetchall(
            f"SELECT * FROM jobs WHERE state IN ({_placeholders(values)}) AND deadline_at <= ? ORDER BY id",
            (*values, at),
        )
        return [Job.from_row(r) for r in rows]

    async def unalerted_possible_orphans(self) -> list[Job]:
        """Jobs refunded because their create call may have reached KIE, still without a task id
        (no callback has proved the task), whose admins have not been told yet."""
        rows = await self.db.fetchall(
            """SELECT * FROM jobs WHERE state = ? AND task_id IS NULL AND orphan_alerted_at IS NULL
               AND fail_reason LIKE ? ORDER BY id""",
            (JobState.FAILED.value, f"{SUBMISSION_UNKNOWN}%"),
        )
        return [Job.from_row(r) for r in rows]

    async def mark_orphans_alerted(self, job_ids: Sequence[int], at: float) -> None:
        if job_ids:
            await self.db.execute(
                f"UPDATE jobs SET orphan_alerted_at = ? WHERE id IN ({_placeholders(job_ids)})",
                (at, *job_ids),
            )

    async def recent_for_user(self, user_id: int, limit: int = 10) -> list[Job]:
        rows = await self.db.fetchall(
            "SELECT * FROM jobs WHERE user_id = ? ORDER BY id DESC LIMIT ?", (user_id, limit)
        )
        return [Job.from_row(r) for r in rows]

    async def last_settings_per_model(self, user_id: int) -> list[OrderSettings]:
        """The settings of the user's latest order of each model, newest first (their last
        `SETTINGS_LOOKBACK_JOBS` orders are read)."""
        rows = await self.db.fetchall(
            """SELECT model_key, mode, ratio, options_json FROM jobs
               WHERE user_id = ? ORDER BY id DESC LIMIT ?""",
            (user_id, SETTINGS_LOOKBACK_JOBS),
        )
        found: dict[str, OrderSettings] = {}
        for row in rows:
            if row["model_key"] not in found:
                options = json.loads(row["options_json"] or "{}")
                found[row["model_key"]] = OrderSettings(
                    row["model_key"], row["mode"], row["ratio"], {str(k): str(v) for k, v in options.items()}
                )
        return list(found.values())

    async def charged_for(self, job_id: int) -> int:
        """Credits the job kept: its reservation minus any refund (0 when it was refunded)."""
        row = await self.db.fetchone(
            """SELECT -COALESCE(SUM(amount), 0) FROM ledger
               WHERE job_id = ? AND reason IN ('generation', 'refund')""",
            (job_id,),
        )
        return int(row[0]) if row is not None else 0

    async def recent_durations(self, model_key: str, limit: int = 20) -> list[float]:
        """Seconds from order to finished video of the model's last `limit` successful jobs."""
        rows = await self.db.fetchall(
            """SELECT finished_at - created_at FROM jobs
               WHERE model_key = ? AND state = 'delivered' AND finished_at IS NOT NULL
               ORDER BY id DESC LIMIT ?""",
            (model_key, limit),
        )
        return [float(r[0]) for r in rows if r[0] is not None and r[0] >= 0]

    async def kie_costs_by_model(self) -> list[ModelKieCost]:
        """Per model, over the jobs KIE reported a cost for: how many, KIE's credits (exact) and the
        user credits we kept for them (reservations minus refunds, from the ledger)."""
        rows = await self.db.fetchall(
            """
            SELECT j.model_key, j.kie_credits_consumed,
                   -(SELECT COALESCE(SUM(l.amount), 0) FROM ledger l
                     WHERE l.job_id = j.id AND l.reason IN ('generation', 'refund')) AS charged
            FROM jobs j WHERE j.kie_credits_consumed IS NOT NULL
            """
        )
        totals: dict[str, ModelKieCost] = {}
        for row in rows:
            key = row["model_key"]
            seen = totals.get(key, ModelKieCost(key, 0, Decimal(0), 0))
            totals[key] = ModelKieCost(
                key, seen.jobs + 1, seen.kie_credits + Decimal(row["kie_credits_consumed"]),
                seen.charged + int(row["charged"]),
            )
        return sorted(totals.values(), key=lambda cost: cost.model_key)


@dataclass(frozen=True)
class ModelKieCost:
    model_key: str
    jobs: int
    kie_credits: Decimal  # sum of KIE's creditsConsumed
    charged: int  # user credits kept (charged minus refunded)


# --- bodies of the confirm and the outcome transitions (run by Database.run_in_transaction) -------


def lock_user_sync(raw: SqlConnection, user_id: int) -> None:
    """Make the other transactions on this user's orders and money wait for this one (PostgreSQL;
    SQLite's BEGIN IMMEDIATE already holds the whole database)."""
    if raw.dialect.for_update:
        raw.execute(f"SELECT 1 FROM users WHERE id = ?{raw.dialect.for_update}", (user_id,))


def _create_reserved_sync(raw: SqlConnection, job: NewJob, max_in_flight: int) -> tuple[Job, bool]:
    # The draft check and the in-flight count decide the insert: with the user's row locked first,
    # two confirms of the same user (a double tap, two instances) take turns on PostgreSQL.
    lock_user_sync(raw, job.user_id)
    existing = JobsRepo.by_draft_sync(raw, job.draft_key)
    if existing is not None:
        return existing, False
    if JobsRepo.count_in_flight_sync(raw, job.user_id) >= max_in_flight:
        raise InFlightLimit(max_in_flight)
    job_id = JobsRepo.insert_sync(raw, job)
    reserve_sync(raw, user_id=job.user_id, amount=job.cost, key=reservation_key(job_id), job_id=job_id)
    created = JobsRepo.get_sync(raw, job_id)
    assert created is not None
    return created, True


def _succeed_sync(raw: SqlConnection, job_id: int, fields: dict[str, Any]) -> Job | None:
    won = JobsRepo.transition_sync(
        raw, job_id, SUCCEEDS_FROM, JobState.SUCCEEDED, **fields
    ) or JobsRepo.revive_unknown_submission_sync(raw, job_id, **fields)
    if not won:
        return None
    # A no-op after a timeout or an unknown submission: that reservation was refunded, so the
    # late video is free.
    settle_sync(raw, reservation_key(job_id))
    return JobsRepo.get_sync(raw, job_id)


def _end_refunded_sync(
    raw: SqlConnection,
    job_id: int,
    expected: Sequence[JobState],
    new_state: JobState,
    fields: dict[str, Any],
) -> Job | None:
    if not JobsRepo.transition_sync(raw, job_id, expected, new_state, **fields):
        return None
    refund_sync(raw, key=reservation_key(job_id), job_id=job_id)
    return JobsRepo.get_sync(raw, job_id)


def _refund_undelivered_sync(
    raw: SqlConnection, job_id: int, new_state: JobState, fields: dict[str, Any]
) -> Job | None:
    if not JobsRepo.transition_sync(raw, job_id, [JobState.SUCCEEDED], new_state, **fields):
        return None
    job = JobsRepo.get_sync(raw, job_id)
    assert job is not None  # the row was just updated, in this transaction
    apply_movement_sync(
        raw,
        user_id=job.user_id,
        amount=job.cost,
        reason=Reason.REFUND,
        op_id=undelivered_op_id(job.reservation_key),
        job_id=job_id,
    )
    return job


def _record_task_id_sync(
    raw: SqlConnection, job_id: int, task_id: str, submitted_at: float
) -> Job | None:
    raw.execute(
        "UPDATE jobs SET task_id = ?, submitted_at = ? WHERE id = ? AND task_id IS NULL",
        (task_id, submitted_at, job_id),
    )
    JobsRepo.transition_sync(raw, job_id, [JobState.CREATED], JobState.SUBMITTED)
    return JobsRepo.get_sync(raw, job_id)


def _release_claims_sync(raw: SqlConnection, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
    for sql, values in statements:
        raw.execute(sql, values)
