"""Two bot processes on one database; one is SIGKILLed mid-flight; nothing is lost or done twice.

Webhook mode: both instances sit behind a balancer (tests/e2e/multi_support.py) that PUBLIC_URL
points at, so Telegram's updates and KIE's callbacks reach either instance. Each piece of job work (a
status check, a delivery, a submission) is claimed by one instance under a lease (services/claims.py);
the instance that dies stops renewing, and the survivor takes its work over once the lease runs out.
Long-polling mode: only the holder of the poll lease calls getUpdates; the other takes over when it dies.

Backends: SQLite (one file shared by both processes), and PostgreSQL + Redis where available.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from bot.kie.sandbox import KieSimulator, SimTimings
from tests.e2e.harness import free_port
from tests.e2e.jobs_support import wait_until
from tests.e2e.multi_support import (
    Backend,
    Balancer,
    postgres_redis_backend,
    shared_backend_unavailable,
    sqlite_backend,
    wait_rows,
)
from tests.e2e.test_process import bot_env
from tests.e2e.test_restart import order_kling
from tests.fakes.telegram import FakeTelegram, TgUser

USERS = (8601, 8602, 8603, 8604)
JOBS_PER_USER = 2
PRICE = 42  # Kling 2.5 Turbo, 5 s
BONUS = 1000
LEASE_S = 3  # INSTANCE_LEASE_SECONDS: a dead instance's work is taken over after this
SECRET = "multi-instance-secret"

# Process starts (each imports the whole bot) on a busy 2-core machine take seconds of CPU.
pytestmark = pytest.mark.timeout(420)


@pytest.fixture(params=["sqlite", "postgres+redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        async with sqlite_backend(tmp_path) as sqlite:
            yield sqlite
        return
    reason = shared_backend_unavailable()
    if reason is not None:
        pytest.skip(f"PostgreSQL + Redis backend: {reason}")
    async with postgres_redis_backend(tmp_path) as shared:
        yield shared


@dataclass
class Instance:
    """One `python -m bot` process; its log goes to a file shown when an assertion fails."""

    name: str
    port: int
    env: dict[str, str]
    cwd: Path
    process: asyncio.subprocess.Process | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.cwd / f"{self.name}.log"

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", cwd=self.cwd, env=self.env, stdout=out, stderr=out
            )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.process.wait(), 60)
        return self.process.returncode or 0

    async def ensure_dead(self) -> None:
        if self.alive:
            assert self.process is not None
            self.process.kill()
            await self.process.wait()


def instances_env(
    fake_tg: FakeTelegram, sim: KieSimulator, backend: Backend, *, public_url: str | None
) -> dict[str, str]:
    values = dict(
        BOT_TOKEN=fake_tg.token,
        TELEGRAM_API_BASE=fake_tg.base_url,
        KIE_API_KEY=sim.api_key,
        KIE_API_BASE=sim.base_url,
        KIE_UPLOAD_BASE=sim.base_url,
        RESULT_FETCH_ALLOW_HOSTS=sim.base_url.removeprefix("http://"),
        WEB_HOST="127.0.0.1",
        SIGNUP_BONUS=str(BONUS),
        KIE_POLL_SCALE="0.05",
        INSTANCE_LEASE_SECONDS=str(LEASE_S),
        **backend.env,
    )
    if public_url is not None:
        values.update(PUBLIC_URL=public_url, TELEGRAM_WEBHOOK="true", WEBHOOK_SECRET=SECRET)
    return values


def make_instances(tmp_path: Path, env: dict[str, str], names: tuple[str, ...]) -> list[Instance]:
    made = []
    for name in names:
        port = free_port()
        made.append(Instance(name, port, bot_env(**env, WEB_PORT=str(port), INSTANCE_ID=name), tmp_path))
    return made


async def wait_ready(instance: Instance, timeout: float = 90.0) -> None:
    """Until the instance's web server answers /healthz (it recovered jobs before that matters)."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            assert instance.alive, f"{instance.name} exited:\n{instance.log_text()[-3000:]}"
            try:
                if (await client.get(f"http://127.0.0.1:{instance.port}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert asyncio.get_running_loop().time() < deadline, f"{instance.name} not ready"
            await asyncio.sleep(0.1)


JOBS_SQL = "SELECT id, user_id, task_id, state, claimed_by FROM jobs ORDER BY id"


async def test_two_webhook_instances_one_killed_mid_flight_every_job_ends_once(
    fake_tg: FakeTelegram, backend: Backend, tmp_path: Path
) -> None:
    sim = KieSimulator("sim-test-key", timings=SimTimings.manual())
    await sim.start()
    balancer = Balancer([], sticky_users=backend.sticky_users)
    await balancer.start()
    # Picked after the balancer took its port, so none of them can collide with it.
    ports = [free_port(), free_port()]
    balancer.backends = [f"127.0.0.1:{p}" for p in ports]
    env = instances_env(fake_tg, sim, backend, public_url=balancer.url)
    instances = [
        Instance(name, port, bot_env(**env, WEB_PORT=str(port), INSTANCE_ID=name), tmp_path)
        for name, port in zip(("instance-a", "instance-b"), ports, strict=True)
    ]
    try:
        mark = fake_tg.mark()
        await asyncio.gather(*(i.start() for i in instances))
        await asyncio.gather(*(wait_ready(i) for i in instances))
        # Both point Telegram at the balancer (PUBLIC_URL): the webhook is set once everything runs.
        await fake_tg.wait_for("setWebhook", since=mark, count=2, timeout=90)
        assert fake_tg.webhook_url == f"{balancer.url}/tg/webhook"

        users = [fake_tg.as_user(TgUser(id=uid, first_name=f"U{uid}")) for uid in USERS]
        for round_ in range(JOBS_PER_USER):
            await asyncio.gather(*(order_kling(fake_tg, u, f"Scene {round_} for {u.id}") for u in users))
        expected = len(USERS) * JOBS_PER_USER
        await fake_tg.wait_until(lambda: len(sim.tasks) == expected, timeout=60)
        jobs = await wait_rows(
            backend, JOBS_SQL, lambda rows: len(rows) == expected and all(r[2] for r in rows), timeout=60
        )
        # Both instances served the users' taps: in webhook mode all serve, nobody leads. (Not read
        # from jobs.claimed_by: a job's polls may be claimed by either instance, and on a loaded
        # machine one instance's tick can claim them all before the other's.)
        served = {r.backend for r in balancer.routed if r.kind == "telegram" and r.status == 200}
        assert served == {0, 1}, balancer.routed
        assert await backend.rows("SELECT name FROM leases") == []

        task_ids = [str(r[2]) for r in jobs]
        finishing, failing_now = task_ids[:4], task_ids[4]
        succeed_later, lost_callback, fail_later = task_ids[5], task_ids[6], task_ids[7]

        # Results download slowly: the deliveries of the four finished videos are under way (claimed
        # by the instance that won each success) when one instance dies. None has reached Telegram.
        slow_results = sim.faults.inject("result", delay_s=6.0, times=None)
        for task_id in finishing:
            sim.complete(task_id)
        sim.fail(failing_now, 501, "Simulated generation failure")
        await fake_tg.wait_until(
            lambda: len([r for r in sim.requests if r.path.startswith("/results/")]) >= len(finishing),
            timeout=60,
        )
        claims = await wait_rows(
            backend,
            "SELECT claimed_by FROM jobs WHERE state = 'succeeded'",
            lambda rows: len(rows) == len(finishing),
        )
        assert fake_tg.calls_of("sendVideo") == []
        holders = Counter(str(r[0]) for r in claims)
        victim_name, held = holders.most_common(1)[0]
        victim = next(i for i in instances if i.name == victim_name)
        survivor = next(i for i in instances if i is not victim)
        victim_jobs = {r[0] for r in await backend.rows(
            f"SELECT id FROM jobs WHERE state = 'succeeded' AND claimed_by = '{victim_name}'"
        )}
        assert held >= 1 and victim_jobs
        kie_before = Counter(r.backend for r in balancer.routed if r.kind == "kie" and r.status == 200)
        assert set(kie_before) == {0, 1}, f"KIE callbacks reached both instances: {balancer.routed}"

        # SIGKILL: no shutdown code runs; the victim's claims stay until their lease runs out.
        await victim.kill()
        slow_results.delay_s = 0.0

        # Still running on KIE at the kill: one finishes with a callback (to the survivor: the
        # balancer skips the dead instance), one finishes with its callback lost (only the
        # survivor's polling finds it), one fails.
        sim.faults.set_for(lost_callback, lose_callback=True)
        sim.complete(succeed_later)
        sim.complete(lost_callback)
        sim.fail(fail_later, 501, "Simulated generation failure")

        final = await wait_rows(
            backend,
            JOBS_SQL,
            lambda rows: all(r[3] in ("delivered", "failed", "undeliverable") for r in rows),
            timeout=90,
        )
        delivered_tasks = {*finishing, succeed_later, lost_callback}
        by_task = {str(r[2]): r for r in final}
        assert {t for t, r in by_task.items() if r[3] == "delivered"} == delivered_tasks, final
        assert {t for t, r in by_task.items() if r[3] == "failed"} == {failing_now, fail_later}, final
        # The survivor finished what the victim was delivering when it died.
        assert {r[4] for r in final if r[0] in victim_jobs} == {survivor.name}, final
        await fake_tg.wait_for("sendVideo", count=len(delivered_tasks), timeout=30)

        assert await survivor.stop() == 0, survivor.log_text()[-3000:]
    finally:
        for instance in instances:
            await instance.ensure_dead()
        await balancer.stop()
        await sim.stop()

    # Exactly one video per delivered job, to its user's chat.
    videos = Counter(int(c.params["chat_id"]) for c in fake_tg.calls_of("sendVideo"))
    wanted = Counter(int(by_task[t][1]) for t in delivered_tasks)
    assert videos == wanted, (videos, wanted)
    # Exactly one reservation per job, exactly one refund per failed job and none for the others.
    reserves = await backend.rows("SELECT job_id FROM ledger WHERE reason = 'generation'")
    assert sorted(r[0] for r in reserves) == sorted(r[0] for r in final)
    refunds = await backend.rows("SELECT job_id FROM ledger WHERE reason = 'refund'")
    assert sorted(r[0] for r in refunds) == sorted(by_task[t][0] for t in (failing_now, fail_later))
    # Every balance equals its ledger, and what the user actually got.
    books = await backend.rows(
        "SELECT u.id, u.balance, SUM(l.amount) FROM users u JOIN ledger l ON l.user_id = u.id GROUP BY u.id"
    )
    assert len(books) == len(USERS)
    for user_id, balance, ledger_sum in books:
        assert balance == ledger_sum
        assert balance == BONUS - PRICE * wanted[int(user_id)]
    # KIE saw one create per job: nothing was submitted twice.
    assert len(sim.requests_to("/api/v1/jobs/createTask")) == len(final)


async def test_long_polling_only_the_leader_polls_and_the_other_takes_over_when_it_dies(
    fake_tg: FakeTelegram, backend: Backend, tmp_path: Path
) -> None:
    sim = KieSimulator("sim-test-key", timings=SimTimings.manual())
    await sim.start()
    env = instances_env(fake_tg, sim, backend, public_url=None)
    first, second = make_instances(tmp_path, env, ("instance-a", "instance-b"))
    try:
        await first.start()
        await fake_tg.wait_until(lambda: fake_tg.parked_polls > 0, timeout=90)
        await second.start()
        await wait_ready(second)
        await fake_tg.wait_until(lambda: "Polling mode" in second.log_text(), timeout=60)
        # `python -m bot` takes its start-up heap out of the collector's full passes (bot/app.py),
        # logged right after "Polling mode": waited for, not read at once.
        frozen = re.compile(r"Start-up heap frozen: \d{5,} objects")
        await wait_until(lambda: frozen.search(second.log_text()), 60, "the start-up heap frozen")
        holder = await backend.rows("SELECT holder FROM leases WHERE name = 'telegram-polling'")
        assert holder == [("instance-a",)]

        # The follower keeps trying for the lease while the leader renews it; Telegram never sees a
        # second poller (it would answer 409 Conflict), and each update is answered once.
        user = fake_tg.as_user(TgUser(id=8701, first_name="Lee"))
        mark = fake_tg.mark()
        await user.send_text("/start")
        await fake_tg.wait_for("sendMessage", since=mark, timeout=30)
        renewed = await backend.rows("SELECT expires_at FROM leases")
        await wait_rows(backend, "SELECT expires_at FROM leases", lambda r: r[0][0] > renewed[0][0] + LEASE_S)
        assert not [c for c in fake_tg.poll_calls if c.error is not None and c.error.status == 409]
        assert len(fake_tg.calls_of("sendMessage", since=mark)) == 1

        # The leader dies: after its lease the follower polls, and updates are answered again.
        await first.kill()
        mark = fake_tg.mark()
        await user.send_text("/start")
        await fake_tg.wait_for(
            "sendMessage", since=mark, predicate=lambda c: c.params.get("chat_id") == 8701, timeout=60
        )
        assert await backend.rows("SELECT holder FROM leases") == [("instance-b",)]
        assert await second.stop() == 0, second.log_text()[-3000:]
        # A clean stop gives the lease up at once.
        assert await backend.rows("SELECT holder FROM leases") == []
    finally:
        for instance in (first, second):
            await instance.ensure_dead()
        await sim.stop()
