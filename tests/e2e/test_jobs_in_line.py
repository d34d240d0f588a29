"""An order waiting for KIE's create limit shows its place in line, updated as the line moves
(issue 13, item 7), in English and Russian."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.i18n import translate
from bot.kie.sandbox import KieSimulator, SimTimings
from bot.store.jobs import Job, JobState
from bot.text import ordinal
from tests.e2e.harness import make_settings, running_bot
from tests.e2e.jobs_support import order_job, prepare_user, wait_job_state, wait_status
from tests.fakes.telegram import FakeTelegram

# One create call per window: the second order waits one window, the third two.
WINDOW_S = 1.5


def test_ordinals() -> None:
    assert [ordinal(n, "en") for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th",
    ]
    assert ordinal(3, "ru") == "3-й"


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_orders_waiting_for_the_create_limit_show_their_place_in_line(
    fake_tg: FakeTelegram, tmp_path: Path, language: str
) -> None:
    def in_line(position: int) -> str:
        return translate("job-status-in-line", language, position=ordinal(position, language))

    async with KieSimulator(timings=SimTimings.manual()) as sim:
        settings = make_settings(
            tmp_path,
            fake_tg,
            sim,
            kie_create_limit=1,
            kie_create_window_s=WINDOW_S,
            status_refresh_seconds=0.2,  # a position change the edit throttle held back shows soon
        )
        async with running_bot(settings) as bot:
            users = [5401, 5402, 5403]
            for user_id in users:
                await prepare_user(bot, fake_tg, user_id, language=language)
            first, second, third = [await order_job(bot, user_id) for user_id in users]

            # The first goes at once; the second is next; the third is behind it.
            await wait_job_state(bot, first.id, JobState.SUBMITTED)
            await wait_status(fake_tg, second, in_line(1))
            await wait_status(fake_tg, third, in_line(2))
            # One window later the second is sent and the third moves up.
            await wait_job_state(bot, second.id, JobState.SUBMITTED)
            await wait_status(fake_tg, third, in_line(1))
            # Then it is sent too, and the status says so.
            await wait_job_state(bot, third.id, JobState.SUBMITTED)
            await wait_status(fake_tg, third, translate("job-status-queued", language))
            assert len(sim.requests_to("/api/v1/jobs/createTask")) == 3

            # The third's status only ever moved forward: 2nd, then 1st, never back.
            def places(job: Job) -> list[int]:
                told: list[int] = []
                for call in fake_tg.calls_of("editMessageText"):
                    params = call.params
                    if call.ok and (params.get("chat_id"), params.get("message_id")) == (
                        job.chat_id,
                        job.status_message_id,
                    ):
                        told += [p for p in (1, 2) if in_line(p) in params["text"]]
                return [p for i, p in enumerate(told) if i == 0 or told[i - 1] != p]

            assert places(third) == [2, 1]
            assert places(second) == [1]
            assert places(first) == []  # it never waited: never told a place
