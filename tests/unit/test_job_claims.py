"""Several instances on one database: job claims and the long-poll leader lease, against the store.

Two `Database` objects on one database are two instances (on SQLite two connections, each on its
own thread, so their statements really do race inside SQLite; on PostgreSQL two pools). A claim is one
UPDATE ... RETURNING: racing claimers never get the same job, and a claim whose holder died (its
lease ran out) is taken again by another instance.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from bot.services.leadership import Leadership
from bot.store.db import Database, now
from bot.store.jobs import Claim, Job, JobsRepo, JobState, NewJob
from bot.store.leases import DbLeaderLock
from bot.store.ledger import LedgerRepo, Reason
from bot.store.users import UsersRepo
from tests.pg_support import StoreBackend

LEASE = 30.0


@pytest.fixture
async def two(backend: StoreBackend) -> AsyncIterator[tuple[Database, Database]]:
    first, second = backend.new(), backend.new()
    await first.open()
    await second.open()
    await UsersRepo(first).upsert(1, language="en")
    await LedgerRepo(first).apply(user_id=1, amount=10_000, reason=Reason.ADMIN_GRANT, op_id="seed:1")
    yield first, second
    await first.close()
    await second.close()


async def new_job(
    db: Database,
    serial: int,
    *,
    task: bool = True,
    holder: str | None = None,
    lease_until: float | None = None,
) -> Job:
    jobs = JobsRepo(db)
    created, _new = await jobs.create_reserved(
        NewJob(
            user_id=1, chat_id=1, draft_key=f"draft:{serial}", model_key="kling/test", mode="text",
            ratio=None, options={}, prompt="a lighthouse", inputs={}, family="kling",
            kie_model="kling/test", kie_credits=10, cost=10, callback_token=f"token-{serial}",
            deadline_at=now() + 600, claimed_by=holder, submit_lease_until=lease_until,
        ),
        max_in_flight=100_000,
    )
    job_id = created.id
    if task:
        job = await jobs.record_task_id(job_id, f"task-{job_id}", submitted_at=now())
    else:
        job = await jobs.get(job_id)
    assert job is not None
    return job


async def race(
    claim_a: Callable[[], Awaitable[list[Job]]], claim_b: Callable[[], Awaitable[list[Job]]]
) -> tuple[list[int], list[int]]:
    """Both instances claim small batches at the same moment, round after round, until neither gets
    anything; the ids each won. (Rounds, not two free-running loops: a PostgreSQL pool that is a
    little quicker would otherwise take every batch before the other's first statement arrives.)"""
    won_a: list[int] = []
    won_b: list[int] = []
    while True:
        batch_a, batch_b = await asyncio.gather(claim_a(), claim_b())
        if not batch_a and not batch_b:
            return won_a, won_b
        won_a += [job.id for job in batch_a]
        won_b += [job.id for job in batch_b]


async def test_two_instances_claiming_polls_at_once_never_get_the_same_job(
    two: tuple[Database, Database],
) -> None:
    first, second = two
    jobs = [await new_job(first, i) for i in range(60)]
    t = now()
    for job in jobs:
        await JobsRepo(first).update_fields(job.id, next_poll_at=t - 1)
    a, b = JobsRepo(first), JobsRepo(second)
    for repo in (a, b):  # both connected (a pool opens its connections lazily) before the race
        assert await repo.get(jobs[0].id) is not None
    won_a, won_b = await race(
        lambda: a.claim_due_polls(Claim("a", t, t + LEASE), limit=3),
        lambda: b.claim_due_polls(Claim("b", t, t + LEASE), limit=3),
    )
    assert set(won_a).isdisjoint(won_b)
    assert sorted(won_a + won_b) == sorted(job.id for job in jobs)
    assert won_a and won_b, "both instances took a share"
    for job_id in won_a:
        claimed = await a.get(job_id)
        assert claimed is not None and claimed.claimed_by == "a" and claimed.next_poll_at == t + LEASE


async def test_a_poll_claim_of_a_dead_instance_is_taken_again_after_its_lease(
    two: tuple[Database, Database],
) -> None:
    first, second = two
    job = await new_job(first, 1)
    t = now()
    await JobsRepo(first).update_fields(job.id, next_poll_at=t)
    [claimed] = await JobsRepo(first).claim_due_polls(Claim("a", t, t + LEASE))
    assert claimed.id == job.id
    # Instance a dies before booking the real next poll: nobody else may poll it meanwhile...
    assert await JobsRepo(second).claim_due_polls(Claim("b", t + LEASE - 1, t + 2 * LEASE)) == []
    # ...and once its lease ran out, another instance takes it.
    [taken] = await JobsRepo(second).claim_due_polls(Claim("b", t + LEASE, t + 2 * LEASE))
    assert (taken.id, taken.claimed_by, taken.next_poll_at) == (job.id, "b", t + 2 * LEASE)


async def test_only_tracked_jobs_with_a_task_are_claimed_for_polls(two: tuple[Database, Database]) -> None:
    first, _ = two
    jobs = JobsRepo(first)
    created = await new_job(first, 1, task=False)
    delivered = await new_job(first, 2)
    await jobs.transition(delivered.id, [JobState.SUBMITTED], JobState.DELIVERED)
    later = await new_job(first, 3)
    t = now()
    for job in (created, delivered):
        await jobs.update_fields(job.id, next_poll_at=t - 1)
    await jobs.update_fields(later.id, next_poll_at=t + 5)
    assert await jobs.claim_due_polls(Claim("a", t, t + LEASE)) == []


async def succeeded(db: Database, serial: int, delivery_claim: Claim | None = None) -> Job:
    job = await new_job(db, serial)
    won = await JobsRepo(db).succeed(
        job.id, result_urls=["https://r.example/v.mp4"], finished_at=now(), delivery_claim=delivery_claim
    )
    assert won is not None
    return won


async def test_two_instances_claiming_deliveries_at_once_never_get_the_same_job(
    two: tuple[Database, Database],
) -> None:
    first, second = two
    jobs = [await succeeded(first, i) for i in range(40)]
    t = now() + 1
    a, b = JobsRepo(first), JobsRepo(second)
    won_a, won_b = await race(
        lambda: a.claim_due_deliveries(Claim("a", t, t + LEASE), limit=2),
        lambda: b.claim_due_deliveries(Claim("b", t, t + LEASE), limit=2),
    )
    assert set(won_a).isdisjoint(won_b)
    assert sorted(won_a + won_b) == sorted(job.id for job in jobs)


async def test_the_winner_of_a_success_holds_its_delivery_until_its_lease_runs_out(
    two: tuple[Database, Database],
) -> None:
    first, second = two
    t = now()
    job = await succeeded(first, 1, delivery_claim=Claim("a", t, t + LEASE))
    assert (job.claimed_by, job.next_delivery_at) == ("a", t + LEASE)
    b = JobsRepo(second)
    assert await b.claim_due_deliveries(Claim("b", t + LEASE - 1, t + 2 * LEASE)) == []
    # The holder renews while its delivery runs; another instance cannot renew what it does not hold.
    assert await JobsRepo(first).renew_delivery_claim(job.id, Claim("a", t + 10, t + 10 + LEASE))
    assert not await b.renew_delivery_claim(job.id, Claim("b", t + 10, t + 10 + LEASE))
    assert await b.claim_due_deliveries(Claim("b", t + LEASE, t + 2 * LEASE)) == []
    # a died: after its renewed lease b takes the delivery over, and a's renewals fail from then on.
    [taken] = await b.claim_due_deliveries(Claim("b", t + 10 + LEASE, t + 10 + 2 * LEASE))
    assert (taken.id, taken.claimed_by) == (job.id, "b")
    assert not await JobsRepo(first).renew_delivery_claim(job.id, Claim("a", t + 11, t + 11 + LEASE))
    # A delivered job is nobody's to deliver.
    assert await b.transition(job.id, [JobState.SUCCEEDED], JobState.DELIVERED, next_delivery_at=None)
    assert await b.claim_due_deliveries(Claim("b", t + 10_000, t + 10_000 + LEASE)) == []


async def test_a_submission_is_taken_over_only_when_its_instance_stopped_renewing(
    two: tuple[Database, Database],
) -> None:
    first, second = two
    t = now()
    job = await new_job(first, 1, task=False, holder="a", lease_until=t + LEASE)
    b = JobsRepo(second)
    assert await b.claim_stale_submissions(Claim("b", t + LEASE - 1, t + 2 * LEASE)) == []
    assert await JobsRepo(first).renew_submission_claim(job.id, Claim("a", t + 5, t + 5 + LEASE))
    assert await b.claim_stale_submissions(Claim("b", t + LEASE, t + 2 * LEASE)) == []
    [taken] = await b.claim_stale_submissions(Claim("b", t + 5 + LEASE, t + 5 + 2 * LEASE))
    assert (taken.id, taken.claimed_by, taken.submit_lease_until) == (job.id, "b", t + 5 + 2 * LEASE)
    assert not await JobsRepo(first).renew_submission_claim(job.id, Claim("a", t + 6, t + 6 + LEASE))
    # A job from before leases (no holder, no lease) is anybody's to take over.
    old = await new_job(first, 2, task=False)
    [legacy] = await b.claim_stale_submissions(Claim("b", t, t + LEASE))
    assert legacy.id == old.id


async def test_a_restarted_instance_ends_its_own_previous_claims_and_polls_everything(
    two: tuple[Database, Database],
) -> None:
    first, second = two
    t = now()
    a, b = JobsRepo(first), JobsRepo(second)
    polled_a, polled_b = await new_job(first, 1), await new_job(first, 2)
    for job in (polled_a, polled_b):
        await a.update_fields(job.id, next_poll_at=t - 1)
    await a.claim_due_polls(Claim("a", t, t + LEASE), limit=1)
    await b.claim_due_polls(Claim("b", t, t + LEASE), limit=1)
    delivering_a = await succeeded(first, 3, delivery_claim=Claim("a", t, t + LEASE))
    delivering_b = await succeeded(first, 4, delivery_claim=Claim("b", t, t + LEASE))
    submitting_a = await new_job(first, 5, task=False, holder="a", lease_until=t + LEASE)
    submitting_b = await new_job(first, 6, task=False, holder="b", lease_until=t + LEASE)

    await a.release_claims_of("a", t + 1)

    # Every unfinished job is polled at once (a callback may have been missed while a was down)...
    polled = await b.claim_due_polls(Claim("c", t + 1, t + LEASE))
    assert sorted(j.id for j in polled) == sorted([polled_a.id, polled_b.id])
    # ...but only a's own deliveries and submissions are due before their lease runs out.
    assert [j.id for j in await b.claim_due_deliveries(Claim("c", t + 1, t + LEASE))] == [delivering_a.id]
    assert [j.id for j in await b.claim_stale_submissions(Claim("c", t + 1, t + LEASE))] == [submitting_a.id]
    untouched = [await b.get(j.id) for j in (delivering_b, submitting_b)]
    assert [j.claimed_by for j in untouched if j is not None] == ["b", "b"]


# --- the long-poll leader lease ---------------------------------------------------------------------


async def test_leader_lease_has_one_holder_and_passes_on_when_it_runs_out(
    two: tuple[Database, Database],
) -> None:
    first, second = two
    clock = [1000.0]
    a = DbLeaderLock(first, "telegram-polling", "a", clock=lambda: clock[0])
    b = DbLeaderLock(second, "telegram-polling", "b", clock=lambda: clock[0])
    assert await a.acquire(30)
    assert not await b.acquire(30)
    clock[0] += 20
    assert await a.renew(30)  # now until 1050
    clock[0] += 29
    assert not await b.acquire(30)
    assert await b.holder_now() == "a"
    clock[0] += 1  # 1050: a stopped renewing (died)
    assert await b.holder_now() is None
    assert await b.acquire(30)
    assert not await a.renew(30), "a lease taken over is not renewed by its old holder"
    assert not await a.acquire(30)
    # The same instance again (a restart: the same INSTANCE_ID) takes its own lease back at once.
    assert await DbLeaderLock(first, "telegram-polling", "b", clock=lambda: clock[0]).acquire(30)
    await b.release()
    assert await a.acquire(30), "a released lease is free at once"
    # Another lease name is independent.
    assert await DbLeaderLock(second, "other", "b", clock=lambda: clock[0]).acquire(30)


async def test_leader_lease_claimed_by_many_at_once_has_one_winner(two: tuple[Database, Database]) -> None:
    locks = [DbLeaderLock(db, "telegram-polling", f"i{n}-{k}") for n in range(10) for k, db in enumerate(two)]
    won = await asyncio.gather(*(lock.acquire(30) for lock in locks))
    assert won.count(True) == 1


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


class Poller:
    """Stands in for the long poll: runs until stepped down, counts its terms."""

    def __init__(self) -> None:
        self.running = 0
        self.terms = 0
        self._stop = asyncio.Event()

    async def lead(self) -> None:
        self._stop = asyncio.Event()
        self.running += 1
        self.terms += 1
        try:
            await self._stop.wait()
        finally:
            self.running -= 1

    async def step_down(self) -> None:
        self._stop.set()


async def test_only_the_leader_polls_and_another_instance_takes_over_when_it_dies(
    two: tuple[Database, Database],
) -> None:
    first, second = two
    ttl = 0.6
    pollers = Poller(), Poller()
    leaders = [
        Leadership(DbLeaderLock(db, "telegram-polling", name), lead=p.lead, step_down=p.step_down, ttl_s=ttl)
        for db, name, p in zip((first, second), ("a", "b"), pollers, strict=True)
    ]
    runs = [asyncio.create_task(leaders[0].run())]
    await wait_until(lambda: leaders[0].leading)
    runs.append(asyncio.create_task(leaders[1].run()))
    # b keeps trying (every ttl / 3) while a renews: a stays the only poller past its first lease.
    first_expiry = await lease_expiry(second)
    deadline = asyncio.get_running_loop().time() + 10
    while await lease_expiry(second) <= first_expiry + ttl:
        assert asyncio.get_running_loop().time() < deadline, "the leader did not renew"
        await asyncio.sleep(0.02)
    assert (pollers[0].running, pollers[1].running) == (1, 0) and not leaders[1].leading

    # a dies: its database goes away, so it can neither renew nor release; b takes over after the lease.
    await first.close()
    # `leading` turns True just before the lead task first runs: wait for the poller itself.
    await wait_until(lambda: leaders[1].leading and pollers[1].running == 1, timeout=10)
    await wait_until(lambda: not leaders[0].leading)
    assert pollers[0].running == 0, "the old leader stepped down when it could not renew"
    for leader in leaders:
        leader.stop()
    await asyncio.wait_for(asyncio.gather(*runs, return_exceptions=True), 10)
    assert pollers[1].running == 0
    await first.open()
    assert await first.fetchone("SELECT * FROM leases") is None, "a clean stop gives the lease up"


async def lease_expiry(db: Database) -> float:
    row = await db.fetchone("SELECT expires_at FROM leases WHERE name = 'telegram-polling'")
    assert row is not None
    return float(row[0])


async def test_a_stopped_leader_hands_over_at_once(two: tuple[Database, Database]) -> None:
    first, second = two
    pollers = Poller(), Poller()
    leaders = [
        Leadership(DbLeaderLock(db, "telegram-polling", name), lead=p.lead, step_down=p.step_down, ttl_s=30)
        for db, name, p in zip((first, second), ("a", "b"), pollers, strict=True)
    ]
    run_a = asyncio.create_task(leaders[0].run())
    await wait_until(lambda: leaders[0].leading)
    leaders[0].stop()
    await asyncio.wait_for(run_a, 10)
    assert pollers[0].running == 0 and pollers[0].terms == 1
    # The lease was released: b leads at its first try instead of after 30 s.
    run_b = asyncio.create_task(leaders[1].run())
    await wait_until(lambda: leaders[1].leading, timeout=5)
    leaders[1].stop()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(run_b, 10)
