"""The tracker's outcome races, against the store, without HTTP.

Callback, poll, timeout and submission errors all end a job through JobsRepo.succeed / fail /
time_out, each one transaction that changes the state and settles or refunds the reservation. Here
they race on a real database, SQLite and PostgreSQL (asyncio.gather on one Database, and on two as
two processes would), before and after a restart (the database closed and opened again). After every test
each balance equals the sum of its ledger rows and every op id has exactly one ledger row.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence

import pytest

from bot.store.db import Database, now
from bot.store.jobs import SUBMISSION_UNKNOWN, Claim, Job, JobsRepo, JobState, NewJob
from bot.store.ledger import LedgerRepo, Reason
from bot.store.reservations import ReservationsRepo, refund_op_id, reserve_op_id, undelivered_op_id
from bot.store.users import UsersRepo
from tests.pg_support import StoreBackend

START = 100
COST = 30
URLS = ("https://results.example/video.mp4",)
_serial = itertools.count(1)


@pytest.fixture
async def db(backend: StoreBackend) -> AsyncIterator[Database]:
    database = backend.new()
    await database.open()
    yield database
    await assert_books_balance(database)
    await database.close()


async def assert_books_balance(db: Database) -> None:
    """Every balance == sum of its ledger rows; every op id has exactly one ledger row."""
    out_of_balance = await db.fetchall(
        "SELECT u.id, u.balance, COALESCE(SUM(l.amount), 0) FROM users u "
        "LEFT JOIN ledger l ON l.user_id = u.id GROUP BY u.id HAVING u.balance != COALESCE(SUM(l.amount), 0)"
    )
    assert [tuple(r) for r in out_of_balance] == []
    duplicated = await db.fetchall("SELECT op_id, COUNT(*) FROM ledger GROUP BY op_id HAVING COUNT(*) > 1")
    assert [tuple(r) for r in duplicated] == []


async def add_user(db: Database, user_id: int = 1, balance: int = START) -> None:
    await UsersRepo(db).upsert(user_id, language="en")
    await LedgerRepo(db).apply(
        user_id=user_id, amount=balance, reason=Reason.ADMIN_GRANT, op_id=f"seed:{user_id}"
    )


async def new_job(db: Database, user_id: int = 1, *, task_id: str | None = "task-1") -> Job:
    """A confirmed job (reserved, as GenerationService.confirm makes it), submitted if `task_id`."""
    serial = next(_serial)
    jobs = JobsRepo(db)
    job, created = await jobs.create_reserved(
        NewJob(
            user_id=user_id,
            chat_id=user_id,
            draft_key=f"draft:{serial}",
            model_key="kling/test",
            mode="text",
            ratio=None,
            options={},
            prompt="a lighthouse",
            inputs={},
            family="kling",
            kie_model="kling/test",
            kie_credits=10,
            cost=COST,
            callback_token=f"token-{serial}",
            deadline_at=now() + 600,
        ),
        max_in_flight=1000,
    )
    assert created
    job_id = job.id
    if task_id is not None:
        job = await jobs.record_task_id(job_id, f"{task_id}-{job_id}", submitted_at=now())
    else:
        job = await jobs.get(job_id)
    assert job is not None
    return job


async def money_of(db: Database, job: Job) -> tuple[str, list[str], int]:
    """(reservation status, the job's ledger op ids in order, the user's balance)."""
    reservation = await ReservationsRepo(db).get(job.reservation_key)
    assert reservation is not None
    rows = await db.fetchall("SELECT op_id FROM ledger WHERE job_id = ? ORDER BY id", (job.id,))
    balance = await LedgerRepo(db).balance(job.user_id)
    assert balance is not None
    return reservation.status, [str(r[0]) for r in rows], balance


def charged(job: Job) -> tuple[str, list[str], int]:
    return "settled", [reserve_op_id(job.reservation_key)], START - COST


def refunded(job: Job) -> tuple[str, list[str], int]:
    key = job.reservation_key
    return "refunded", [reserve_op_id(key), refund_op_id(key)], START


async def succeed(jobs: JobsRepo, job: Job) -> Job | None:
    return await jobs.succeed(job.id, result_urls=URLS, finished_at=now())


async def fail(jobs: JobsRepo, job: Job) -> Job | None:
    return await jobs.fail(job.id, fail_reason="content policy", finished_at=now(), fail_code="400")


async def time_out(jobs: JobsRepo, job: Job) -> Job | None:
    return await jobs.time_out(job.id, finished_at=now(), late_poll_at=now() + 60)


def winners(results: Sequence[Job | None]) -> list[Job]:
    return [r for r in results if r is not None]


async def test_callback_and_poll_both_report_success_one_settle_one_delivery(db: Database) -> None:
    await add_user(db)
    job = await new_job(db)
    jobs = JobsRepo(db)
    results = await asyncio.gather(succeed(jobs, job), succeed(jobs, job), succeed(jobs, job))
    [won] = winners(results)  # only the winner schedules a delivery
    assert won.state is JobState.SUCCEEDED and won.result_urls == URLS
    assert won.delivery_attempts == 0 and won.next_delivery_at is not None and won.next_poll_at is None
    assert await money_of(db, job) == charged(job)
    # A duplicate after the delivery changes nothing either.
    assert await jobs.transition(job.id, [JobState.SUCCEEDED], JobState.DELIVERED, delivered_at=now())
    assert await succeed(jobs, job) is None
    assert await money_of(db, job) == charged(job)


async def test_success_and_failure_race_exactly_one_wins(db: Database) -> None:
    await add_user(db, balance=START * 20)
    jobs = JobsRepo(db)
    for n in range(10):
        job = await new_job(db, task_id=f"t{n}")
        events = (succeed(jobs, job), fail(jobs, job)) if n % 2 else (fail(jobs, job), succeed(jobs, job))
        [won] = winners(list(await asyncio.gather(*events)))
        reservation = await ReservationsRepo(db).get(job.reservation_key)
        assert reservation is not None
        if won.state is JobState.SUCCEEDED:
            assert reservation.status == "settled"
            assert await LedgerRepo(db).by_op_id(refund_op_id(job.reservation_key)) is None
        else:
            assert won.state is JobState.FAILED and won.fail_reason == "content policy"
            assert reservation.status == "refunded"
            refund = await LedgerRepo(db).by_op_id(refund_op_id(job.reservation_key))
            assert refund is not None and refund.amount == COST


async def test_success_after_failure_is_ignored_and_failure_after_success_too(db: Database) -> None:
    await add_user(db, balance=START)
    jobs = JobsRepo(db)
    first = await new_job(db, task_id="a")
    assert await fail(jobs, first) is not None
    assert await succeed(jobs, first) is None
    still_failed = await jobs.get(first.id)
    assert still_failed is not None and still_failed.state is JobState.FAILED
    assert (await money_of(db, first))[:2] == refunded(first)[:2]

    second = await new_job(db, task_id="b")
    assert await succeed(jobs, second) is not None
    assert await fail(jobs, second) is None
    assert await time_out(jobs, second) is None
    assert (await money_of(db, second))[:2] == charged(second)[:2]
    assert await LedgerRepo(db).balance(1) == START - COST


async def test_timeout_then_late_success_refunds_once_and_delivers_free(db: Database) -> None:
    await add_user(db)
    job = await new_job(db)
    jobs = JobsRepo(db)
    timed_out = await time_out(jobs, job)
    assert timed_out is not None and timed_out.state is JobState.TIMED_OUT
    assert timed_out.next_poll_at is not None  # still polled for a late success
    assert await money_of(db, job) == refunded(job)
    results = await asyncio.gather(succeed(jobs, job), succeed(jobs, job), time_out(jobs, job))
    [late] = winners(results)
    assert late.state is JobState.SUCCEEDED and late.next_delivery_at is not None
    # Free: the refund stays, the settle was a no-op, nothing was taken again.
    assert await money_of(db, job) == refunded(job)


async def test_timeout_and_success_racing_never_move_money_twice(db: Database) -> None:
    await add_user(db, balance=START * 20)
    jobs = JobsRepo(db)
    for n in range(10):
        job = await new_job(db, task_id=f"t{n}")
        if n % 2:
            results = list(await asyncio.gather(time_out(jobs, job), succeed(jobs, job)))
        else:
            results = list(await asyncio.gather(succeed(jobs, job), time_out(jobs, job)))
        final = await jobs.get(job.id)
        assert final is not None and final.state is JobState.SUCCEEDED  # delivered either way
        status, ops, _balance = await money_of(db, job)
        if len(winners(results)) == 2:  # the timeout came first: refunded, the video free
            assert (status, ops) == refunded(job)[:2]
        else:  # the success came first: charged, the timeout lost
            assert (status, ops) == charged(job)[:2]


async def test_failure_after_timeout_changes_nothing(db: Database) -> None:
    await add_user(db)
    job = await new_job(db)
    jobs = JobsRepo(db)
    assert await time_out(jobs, job) is not None
    lost = await asyncio.gather(fail(jobs, job), fail(jobs, job), time_out(jobs, job))
    assert list(lost) == [None, None, None]
    final = await jobs.get(job.id)
    assert final is not None and final.state is JobState.TIMED_OUT and final.fail_reason is None
    assert await money_of(db, job) == refunded(job)


async def test_submission_failure_races_a_fast_callback(db: Database) -> None:
    """A created job: the submission fails while KIE's callback already reports success."""
    await add_user(db, balance=START * 20)
    jobs = JobsRepo(db)
    for n in range(6):
        job = await new_job(db, task_id=None)
        submission_failed = jobs.fail(
            job.id, from_states=[JobState.CREATED], fail_reason="kie_rejected_request: no", finished_at=now()
        )
        events = (submission_failed, succeed(jobs, job)) if n % 2 else (succeed(jobs, job), submission_failed)
        [won] = winners(list(await asyncio.gather(*events)))
        expected = charged(job) if won.state is JobState.SUCCEEDED else refunded(job)
        assert (await money_of(db, job))[:2] == expected[:2]


@pytest.mark.parametrize(
    ("new_state", "reason"),
    [(JobState.UNDELIVERABLE, "delivery_failed"), (JobState.FAILED, "result_url_refused")],
)
async def test_undelivered_refund_is_one_transaction_and_happens_once(
    db: Database, new_state: JobState, reason: str
) -> None:
    """A charged video that never reaches the user: the state change and the credit back are one
    outcome; called twice (two delivery tasks, a retry after a crash) it credits once."""
    await add_user(db)
    job = await new_job(db)
    jobs = JobsRepo(db)
    assert await fail(jobs, await new_job(db, task_id="other")) is not None  # not succeeded: refused
    assert await succeed(jobs, job) is not None
    results = await asyncio.gather(
        jobs.refund_undelivered(job.id, new_state=new_state, fail_reason=reason),
        jobs.refund_undelivered(job.id, new_state=new_state, fail_reason=reason),
    )
    [won] = winners(list(results))
    assert won.state is new_state and won.fail_reason == reason and won.next_delivery_at is None
    assert await jobs.refund_undelivered(job.id, new_state=new_state, fail_reason=reason) is None
    key = job.reservation_key
    assert await money_of(db, job) == ("settled", [reserve_op_id(key), undelivered_op_id(key)], START)
    credit = await LedgerRepo(db).by_op_id(undelivered_op_id(key))
    assert credit is not None and credit.amount == COST and credit.reason == Reason.REFUND


async def test_undelivered_refund_only_from_succeeded(db: Database) -> None:
    await add_user(db)
    jobs = JobsRepo(db)
    submitted, failed = await new_job(db, task_id="s"), await new_job(db, task_id="f")
    assert await fail(jobs, failed) is not None
    for job in (submitted, failed):
        lost = await jobs.refund_undelivered(job.id, new_state=JobState.UNDELIVERABLE, fail_reason="x")
        assert lost is None
        assert await LedgerRepo(db).by_op_id(undelivered_op_id(job.reservation_key)) is None
    assert (await money_of(db, failed))[:2] == refunded(failed)[:2]


async def test_outcomes_race_across_two_connections(db: Database, backend: StoreBackend) -> None:
    """Two Database objects (as a second process would have) race on the same jobs: SQLite's
    BEGIN IMMEDIATE serializes them, PostgreSQL's conditional updates and row locks decide, and each
    job still ends once."""
    await add_user(db, balance=START * 20)
    other = backend.new()
    await other.open()
    try:
        here, there = JobsRepo(db), JobsRepo(other)
        created = [await new_job(db, task_id=f"x{n}") for n in range(8)]
        events = []
        for job in created:
            events += [succeed(here, job), fail(there, job), time_out(there, job), succeed(there, job)]
        await asyncio.gather(*events)
        for job in created:
            final = await here.get(job.id)
            assert final is not None
            status, ops, _balance = await money_of(db, job)
            if status == "settled":
                assert final.state is JobState.SUCCEEDED and ops == charged(job)[1]
            else:
                assert final.state in (JobState.FAILED, JobState.TIMED_OUT, JobState.SUCCEEDED)
                assert ops == refunded(job)[1]
    finally:
        await other.close()


async def test_restart_recovery_of_each_state(db: Database, backend: StoreBackend) -> None:
    """Jobs left in every state by a process that stopped; a new process (the file opened again)
    gets the late events. Each ends once, and money moves once."""
    await add_user(db, balance=START * 10)
    jobs = JobsRepo(db)
    submitted = await new_job(db, task_id="submitted")
    running = await new_job(db, task_id="running")
    assert await jobs.transition(running.id, [JobState.SUBMITTED], JobState.RUNNING)
    created_sent = await new_job(db, task_id=None)  # the create call was sent, no answer recorded
    await jobs.update_fields(created_sent.id, create_started_at=now())
    timed_out = await new_job(db, task_id="timed-out")
    assert await time_out(jobs, timed_out) is not None
    succeeded = await new_job(db, task_id="succeeded")
    assert await succeed(jobs, succeeded) is not None
    failed = await new_job(db, task_id="failed")
    assert await fail(jobs, failed) is not None
    await db.close()

    restarted = backend.new()
    await restarted.open()
    try:
        jobs = JobsRepo(restarted)
        # What the restart recovery and the late events do, racing as they would.
        recovered = await asyncio.gather(
            succeed(jobs, submitted),
            succeed(jobs, submitted),  # callback and the recovery poll
            fail(jobs, running),
            time_out(jobs, running),
            jobs.fail(
                created_sent.id,
                from_states=[JobState.CREATED],
                fail_reason=f"{SUBMISSION_UNKNOWN}: create sent before a restart",
                finished_at=now(),
            ),
            succeed(jobs, timed_out),  # late success after the timeout
            succeed(jobs, succeeded),  # a duplicate of the success before the restart
            fail(jobs, failed),  # a duplicate failure
        )
        assert len(winners(list(recovered[0:2]))) == 1
        assert len(winners(list(recovered[2:4]))) == 1
        assert recovered[4] is not None and recovered[4].state is JobState.FAILED
        assert recovered[5] is not None and recovered[5].state is JobState.SUCCEEDED
        assert recovered[6] is None and recovered[7] is None
        # KIE's callback proves the unanswered create did reach it: delivered, free.
        revived = await jobs.succeed(created_sent.id, result_urls=URLS, finished_at=now(), task_id="kie-task")
        assert revived is not None and revived.state is JobState.SUCCEEDED and revived.task_id == "kie-task"
        assert await succeed(jobs, created_sent) is None

        assert (await money_of(restarted, submitted))[:2] == charged(submitted)[:2]
        assert (await money_of(restarted, running))[:2] == refunded(running)[:2]
        for job in (created_sent, timed_out, failed):
            assert (await money_of(restarted, job))[:2] == refunded(job)[:2]
        assert (await money_of(restarted, succeeded))[:2] == charged(succeeded)[:2]
        # Charged: submitted and succeeded; everything else refunded.
        assert await LedgerRepo(restarted).balance(1) == START * 10 - 2 * COST
        await assert_books_balance(restarted)
    finally:
        await restarted.close()
    await db.open()  # the fixture checks the books and closes it


async def test_success_books_the_first_delivery_lease_and_keeps_kie_timing(db: Database) -> None:
    """The tracker starts the first delivery at once: its lease is part of the success (one write),
    and KIE's own duration goes into the model's completion-time history."""
    await add_user(db)
    job = await new_job(db)
    jobs = JobsRepo(db)
    await jobs.update_fields(job.id, submitted_at=now() - 30)
    finished = now()
    claim = Claim("instance-a", finished, finished + 900)
    won = await jobs.succeed(
        job.id, result_urls=URLS, finished_at=finished, delivery_claim=claim, kie_seconds=28.5
    )
    assert won is not None and won.delivery_attempts == 1 and won.next_delivery_at == finished + 900
    assert won.claimed_by == "instance-a"
    assert won.kie_seconds == 28.5
    [(noticed, kie)] = await jobs.completion_times(job.model_key)
    assert kie == 28.5 and noticed == pytest.approx(30, abs=1)
    assert await money_of(db, job) == charged(job)
