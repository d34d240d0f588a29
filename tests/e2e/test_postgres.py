"""The real bot on PostgreSQL (DATABASE_URL) against the fake Bot API and the KIE simulator.

Each test gets an empty database on the TEST_DATABASE_URL server (the bot migrates it at start) and
skips without one. What matters most on another database: money (a Stars purchase, a reservation
settled once), a job end to end, and a restart that keeps the books and the open wizard.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.kie.sandbox import KieSimulator
from bot.services.billing import PaymentResult
from bot.store.jobs import JobState
from bot.telegram.wizard.view import WizardCallback
from tests import pg_support
from tests.e2e.harness import make_settings, running_bot
from tests.e2e.jobs_support import books_balance, ledger_for_job, wait_job_state
from tests.e2e.test_payments import bot_calls_to, buy, drive_wizard_to_summary, send_and_wait
from tests.fakes.telegram import FakeTelegram, StoredMessage, TgUser

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg_support.fresh_database(migrated=False) as url:
        yield url


def confirm_data(summary: StoredMessage) -> str:
    return next(
        WizardCallback.unpack(d) for d in summary.callback_datas if d.startswith("w:") and ":ok" in d
    ).pack()


async def test_paid_order_end_to_end_then_a_restart(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path, pg_url: str
) -> None:
    settings = make_settings(tmp_path, fake_tg, sim, callbacks=True, database_url=pg_url)
    async with running_bot(settings) as bot:
        assert bot.components.db.dialect.name == "postgresql"
        assert (await bot.healthz()).json()["database"] is True
        carol = fake_tg.as_user(TgUser(id=1301, first_name="Carol"))
        await send_and_wait(fake_tg, carol, "/start")
        charge_id = await buy(fake_tg, carol, 1000, 1100)
        billing = bot.components.billing
        assert await billing.balance(carol.id) == 1100

        summary = await drive_wizard_to_summary(fake_tg, carol)
        since = fake_tg.mark()
        await carol.click(summary, confirm_data(summary))
        await fake_tg.wait_for("sendVideo", predicate=bot_calls_to(carol.id), since=since, timeout=30)
        [job] = await bot.components.jobs.recent_for_user(carol.id)
        done = await wait_job_state(bot, job.id, JobState.DELIVERED)
        assert done.cost > 0 and await billing.balance(carol.id) == 1100 - done.cost
        assert await ledger_for_job(bot, job.id) == [(-done.cost, "generation")]
        reservation = await billing.reservation(done.reservation_key)
        assert reservation is not None and reservation.status == "settled"
        assert await books_balance(bot)

    # A new process on the same database: the books, and a redelivered payment credits nothing.
    restarted = make_settings(tmp_path, fake_tg, sim, callbacks=True, database_url=pg_url)
    async with running_bot(restarted) as bot:
        billing = bot.components.billing
        assert await billing.balance(carol.id) == 1100 - done.cost
        outcome = await billing.credit_payment(carol.id, charge_id, "pack:1000:1100", 1000)
        assert outcome.result is PaymentResult.DUPLICATE
        assert await billing.balance(carol.id) == 1100 - done.cost
        assert await books_balance(bot)


async def test_an_open_wizard_survives_a_restart(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path, pg_url: str
) -> None:
    settings = make_settings(tmp_path, fake_tg, sim, callbacks=True, database_url=pg_url)
    dan = fake_tg.as_user(TgUser(id=1302, first_name="Dan"))
    async with running_bot(settings) as bot:
        await send_and_wait(fake_tg, dan, "/start")
        await bot.components.billing.grant(0, dan.id, 5000, "test")
        summary = await drive_wizard_to_summary(fake_tg, dan)

    # The summary's Confirm, tapped after the restart: the draft came back from PostgreSQL.
    restarted = make_settings(tmp_path, fake_tg, sim, callbacks=True, database_url=pg_url)
    async with running_bot(restarted) as bot:
        since = fake_tg.mark()
        await dan.click(summary, confirm_data(summary))
        await fake_tg.wait_for("sendVideo", predicate=bot_calls_to(dan.id), since=since, timeout=30)
        [job] = await bot.components.jobs.recent_for_user(dan.id)
        await wait_job_state(bot, job.id, JobState.DELIVERED)
        assert await bot.components.billing.balance(dan.id) == 5000 - job.cost
        assert await books_balance(bot)
