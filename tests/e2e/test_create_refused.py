"""KIE refuses the order at createTask (a 4xx or 5xx answer, no task made): the job fails, the user is
refunded exactly once and told what kind of failure it was, and the balance equals the ledger.

The refusal comes from the simulator's prompt marker [sim:refuse=<code>:<message>], typed by the user
like any prompt, so the whole path runs: the wizard, the reservation, the create call, the refund.
"""

from __future__ import annotations

import pytest

from bot.i18n import translate
from bot.kie.sandbox import KieSimulator
from bot.store.jobs import JobState
from bot.telegram.balance import credits_text
from tests.e2e.harness import RunningBot
from tests.e2e.jobs_support import books_balance, ledger_for_job, wait_job_state, wait_status
from tests.e2e.wizard_driver import (
    DEFAULT_PROMPT,
    WizardDriver,
    fail_on_bot_errors,  # noqa: F401  (autouse fixture: a crash caught by the error router fails the test)
)
from tests.fakes.telegram import FakeTelegram, TgUser

pytestmark = pytest.mark.kie_manual

GRANT = 1000


def expected_reason(code: int, message: str, language: str) -> str:
    if code == 422:  # settings KIE did not take: its own words say what to change
        return f"{translate('fail-kie_rejected_request', language)} ({message})"
    kind = "content" if code == 400 else "server"
    return translate(f"fail-kind-{kind}", language)


@pytest.mark.parametrize(
    ("code", "message", "language"),
    [
        (400, "Content policy violation", "en"),
        (500, "Internal server error", "ru"),
        (422, "duration must be 5 or 10", "en"),
    ],
)
async def test_create_refused_refunds_once_and_says_why(
    fake_tg: FakeTelegram, bot: RunningBot, sim: KieSimulator, code: int, message: str, language: str
) -> None:
    user_id = 7700 + code
    user = WizardDriver(fake_tg, bot, fake_tg.as_user(TgUser(id=user_id, language_code=language)))
    await user.send("/start")
    await bot.components.billing.grant(admin_id=0, user_id=user_id, credits=GRANT, note="test")
    await user.walk_to_summary(
        "kling25", "t2v", ratio="9:16", prompt=f"{DEFAULT_PROMPT} [sim:refuse={code}:{message}]"
    )
    await user.confirm()

    [job] = await bot.components.jobs.recent_for_user(user_id)
    failed = await wait_job_state(bot, job.id, JobState.FAILED)
    assert failed.task_id is None and not sim.tasks  # KIE made no task
    assert len(sim.requests_to("/api/v1/jobs/createTask")) == 1  # not resent
    # The status message: what kind of failure, and the refund.
    line = translate(
        "job-status-failed",
        language,
        reason=expected_reason(code, message, language),
        cost=credits_text(job.cost, language),
    )
    await wait_status(fake_tg, failed, line)

    # Refunded exactly once, also when the submission is tried again (a restart's recovery).
    await bot.components.generation.submit(job.id)
    await bot.components.generation.recover()
    assert await ledger_for_job(bot, job.id) == [(-job.cost, "generation"), (job.cost, "refund")]
    assert await bot.components.billing.balance(user_id) == GRANT
    assert await books_balance(bot)
