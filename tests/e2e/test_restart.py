"""The bot process SIGKILLed with jobs in flight, then started again: nothing is lost or paid twice."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from bot.i18n import translate
from bot.kie.sandbox import KieSimulator, SimTimings
from bot.telegram.wizard.view import WizardCallback
from tests.e2e.harness import free_port
from tests.e2e.test_process import bot_env
from tests.fakes.telegram import FakeTelegram, TgUser, UserClient

USERS = (8101, 8102, 8103)
JOBS_PER_USER = 2
PRICE = 42  # Kling 2.5 Turbo, 5 s
BONUS = 1000


def find_button(fake: FakeTelegram, user_id: int, action: str, value: str | None) -> tuple[int, str] | None:
    for message in reversed(fake.messages(user_id)):
        for data in message.callback_datas:
            if data.startswith("w:"):
                parsed = WizardCallback.unpack(data)
                if parsed.action == action and (value is None or parsed.value == value):
                    return message.message_id, data
    return None


async def tap(fake: FakeTelegram, user: UserClient, action: str, value: str | None = None) -> None:
    """Press the wizard button for `action` (and `value`) as soon as the bot shows it."""
    found = await fake.wait_until(lambda: find_button(fake, user.id, action, value), timeout=20)
    message_id, data = found
    query = await fake.click(user.user, message_id, data)
    await fake.wait_until(lambda: fake.callback_answer(query) is not None, timeout=20)


async def order_kling(fake: FakeTelegram, user: UserClient, prompt: str) -> None:
    """/generate → All models → Kling 2.5 Turbo → prompt → Confirm (text → video, 9:16 and 5 s
    are preselected: the recommended settings, or the user's last ones, which are the same here)."""
    mark = fake.mark()
    await user.send_text("/generate")
    await fake.wait_for("sendMessage", since=mark, predicate=lambda c: c.params.get("chat_id") == user.id)
    await tap(fake, user, "cat", "all")
    await tap(fake, user, "model", "kling25")
    mark = fake.mark()
    await user.send_text(prompt)
    await fake.wait_for("sendMessage", since=mark, predicate=lambda c: c.params.get("chat_id") == user.id)
    await tap(fake, user, "ok")


def db_rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute(sql))


@pytest.mark.timeout(300)  # two process starts; `import aiogram` alone takes seconds of CPU
async def test_sigkill_with_jobs_in_flight_then_restart(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    sim = KieSimulator("sim-test-key", timings=SimTimings.manual())
    await sim.start()
    port = free_port()
    db = tmp_path / "bot.sqlite3"
    env = bot_env(
        BOT_TOKEN=fake_tg.token,
        TELEGRAM_API_BASE=fake_tg.base_url,
        KIE_API_KEY=sim.api_key,
        KIE_API_BASE=sim.base_url,
        KIE_UPLOAD_BASE=sim.base_url,
        RESULT_FETCH_ALLOW_HOSTS=sim.base_url.removeprefix("http://"),
        DATABASE_PATH=str(db),
        WEB_HOST="127.0.0.1",
        WEB_PORT=str(port),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        SIGNUP_BONUS=str(BONUS),
        KIE_POLL_SCALE="0.05",
    )

    async def start() -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await fake_tg.wait_until(lambda: fake_tg.parked_polls > 0, timeout=30)
        return process

    process = await start()
    try:
        users = [fake_tg.as_user(TgUser(id=uid, first_name=f"U{uid}")) for uid in USERS]
        for round_ in range(JOBS_PER_USER):
            await asyncio.gather(*(order_kling(fake_tg, u, f"Scene {round_} for {u.id}") for u in users))
        expected = len(USERS) * JOBS_PER_USER

        await fake_tg.wait_until(lambda: len(sim.tasks) == expected, timeout=30)

        # Every create was answered and its task id recorded (the crash-between-create-and-record
        # case is its own test in test_jobs.py).
        def all_recorded() -> bool:
            rows = db_rows(db, "SELECT COUNT(*) FROM jobs WHERE task_id IS NOT NULL")
            return rows[0][0] == expected

        deadline = asyncio.get_running_loop().time() + 30
        while not all_recorded():
            assert asyncio.get_running_loop().time() < deadline, "task ids were not recorded"
            await asyncio.sleep(0.02)
        # Kill the process where it stands: no shutdown code runs.
        process.send_signal(signal.SIGKILL)
        await process.wait()

        # While the bot is down, KIE finishes every task: half succeed, half fail. Their callbacks
        # cannot be delivered (KIE gives up after its retries), so only recovery can find them.
        task_ids = sorted(sim.tasks)
        succeeded, failed = task_ids[::2], task_ids[1::2]
        for task_id in succeeded:
            sim.complete(task_id)
        for task_id in failed:
            sim.fail(task_id, 501, "Simulated generation failure")
        await sim.idle(timeout=20)

        process = await start()
        await fake_tg.wait_for("sendVideo", count=len(succeeded), timeout=30)

        def finished() -> bool:
            states = db_rows(db, "SELECT state FROM jobs")
            return len(states) == expected and all(s[0] in ("delivered", "failed") for s in states)

        deadline = asyncio.get_running_loop().time() + 30
        while not finished():
            assert asyncio.get_running_loop().time() < deadline, db_rows(db, "SELECT id, state FROM jobs")
            await asyncio.sleep(0.05)

        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await sim.stop()

    jobs = db_rows(db, "SELECT id, user_id, task_id, state FROM jobs")
    by_task = {str(task): (job_id, user_id, state) for job_id, user_id, task, state in jobs}
    assert {by_task[t][2] for t in succeeded} == {"delivered"}
    assert {by_task[t][2] for t in failed} == {"failed"}
    # Exactly one video per successful job, to the right chat.
    videos = fake_tg.calls_of("sendVideo")
    assert len(videos) == len(succeeded)
    assert sorted(int(c.params["chat_id"]) for c in videos) == sorted(int(by_task[t][1]) for t in succeeded)
    # Exactly one refund per failed job, none for the others.
    refunds = db_rows(db, "SELECT job_id FROM ledger WHERE reason = 'refund'")
    assert sorted(r[0] for r in refunds) == sorted(by_task[t][0] for t in failed)
    reserves = db_rows(db, "SELECT job_id FROM ledger WHERE reason = 'generation'")
    assert len(reserves) == expected and len({r[0] for r in reserves}) == expected
    # Every balance equals its ledger, and equals what the user actually got.
    for user_id, balance, ledger_sum in db_rows(
        db,
        "SELECT u.id, u.balance, SUM(l.amount) FROM users u JOIN ledger l ON l.user_id = u.id GROUP BY u.id",
    ):
        assert balance == ledger_sum
        delivered = sum(1 for t in succeeded if by_task[t][1] == user_id)
        assert balance == BONUS - PRICE * delivered
    # KIE saw exactly one create per job: the restart did not resubmit anything.
    assert len(sim.requests_to("/api/v1/jobs/createTask")) == expected


# Three process starts (each imports the whole bot; slow on a loaded CI machine) need more than the
# suite's default per-test budget.
@pytest.mark.timeout(300)
async def test_sigkill_between_create_and_task_id_refunds_alerts_admins_once_then_delivers_free(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    """KIE took the order, but the process died before its answer (the task id) was stored. After the
    restart the user is refunded exactly once, every admin is told once, in their language, which
    order may exist on KIE with no task id (never again on later restarts), and when KIE's callback
    for that task finally comes, the video is delivered free."""
    sim = KieSimulator("sim-test-key", timings=SimTimings.manual())
    await sim.start()
    port = free_port()
    db = tmp_path / "bot.sqlite3"
    user_id, admin_ru, admin_en = 8301, 8391, 8392
    env = bot_env(
        BOT_TOKEN=fake_tg.token,
        TELEGRAM_API_BASE=fake_tg.base_url,
        KIE_API_KEY=sim.api_key,
        KIE_API_BASE=sim.base_url,
        KIE_UPLOAD_BASE=sim.base_url,
        RESULT_FETCH_ALLOW_HOSTS=sim.base_url.removeprefix("http://"),
        DATABASE_PATH=str(db),
        WEB_HOST="127.0.0.1",
        WEB_PORT=str(port),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        SIGNUP_BONUS=str(BONUS),
        KIE_POLL_SCALE="0.05",
        ADMIN_IDS=f"{admin_ru},{admin_en}",
    )

    async def start() -> asyncio.subprocess.Process:
        """Start `python -m bot`; return once it took over polling, i.e. after its restart recovery
        (the tracker recovers before the bot deletes the webhook and starts polling)."""
        mark = fake_tg.mark()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await fake_tg.wait_for("deleteWebhook", since=mark, timeout=60)
        return process

    def admin_messages(admin_id: int) -> list[str]:
        return [
            str(c.params["text"])
            for c in fake_tg.calls_of("sendMessage")
            if c.params.get("chat_id") == admin_id and "#" in str(c.params.get("text", ""))
        ]

    process = await start()
    try:
        for admin_id, language in ((admin_ru, "ru"), (admin_en, "en")):
            admin = fake_tg.as_user(TgUser(id=admin_id, first_name="Admin", language_code=language))
            mark = fake_tg.mark()
            await admin.send_text("/start")
            await fake_tg.wait_for(
                "sendMessage", since=mark, predicate=lambda c, a=admin_id: c.params.get("chat_id") == a
            )
        user = fake_tg.as_user(TgUser(id=user_id, first_name="Buyer"))
        # KIE creates the task, then never answers: the bot waits for the create answer.
        sim.faults.inject("create", hang=True, process=True)
        await order_kling(fake_tg, user, "A lighthouse in a storm")
        await fake_tg.wait_until(lambda: len(sim.tasks) == 1, timeout=30)
        rows = db_rows(db, "SELECT id, state, task_id, create_started_at FROM jobs")
        assert len(rows) == 1
        job_id, state, task_id, create_started_at = rows[0]
        assert (state, task_id) == ("created", None) and create_started_at is not None
        process.send_signal(signal.SIGKILL)
        await process.wait()

        process = await start()
        await fake_tg.wait_until(
            lambda: (
                db_rows(db, "SELECT state FROM jobs WHERE fail_reason LIKE 'submission_unknown%'")
                == [("failed",)]
            ),
            timeout=30,
        )
        await fake_tg.wait_until(lambda: admin_messages(admin_ru) and admin_messages(admin_en), timeout=30)
        for admin_id, language in ((admin_ru, "ru"), (admin_en, "en")):
            [text] = admin_messages(admin_id)
            assert f"#{job_id}" in text and str(user_id) in text and "kling" in text
            assert text.startswith(translate("operator-possible-orphans", language).split("\n")[0])
            assert fake_tg.token not in text

        # A second restart: the alert was recorded as sent, so nobody is told twice.
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
        process = await start()
        assert [len(admin_messages(a)) for a in (admin_ru, admin_en)] == [1, 1]

        # KIE finishes the orphan task; its callback proves it exists: the video is delivered free.
        [sim_task_id] = list(sim.tasks)
        sim.complete(sim_task_id)
        await fake_tg.wait_for(
            "sendVideo", predicate=lambda c: c.params.get("chat_id") == user_id, timeout=30
        )

        def delivered() -> bool:
            return db_rows(db, "SELECT state, task_id FROM jobs") == [("delivered", sim_task_id)]

        await fake_tg.wait_until(delivered, timeout=30)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await sim.stop()

    assert db_rows(db, "SELECT amount, reason FROM ledger WHERE job_id IS NOT NULL ORDER BY id") == [
        (-PRICE, "generation"),
        (PRICE, "refund"),
    ]
    assert db_rows(db, f"SELECT balance FROM users WHERE id = {user_id}") == [(BONUS,)]
    for _user, balance, ledger_sum in db_rows(
        db,
        "SELECT u.id, u.balance, COALESCE(SUM(l.amount), 0) FROM users u "
        "LEFT JOIN ledger l ON l.user_id = u.id GROUP BY u.id",
    ):
        assert balance == ledger_sum
    assert len(sim.requests_to("/api/v1/jobs/createTask")) == 1, "the restart never resent the create"
    assert len(fake_tg.calls_of("sendVideo")) == 1
