"""After a job: the buttons under the delivered video and under a failure, the order number in the
caption, the charge and balance on the final status, and failures that say what kind they were."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.i18n import translate
from bot.kie.sandbox import KieSimulator
from bot.store.jobs import JobState
from bot.telegram.balance import credits_text
from bot.telegram.common import MenuCb
from bot.telegram.job_actions import NEW_VIDEO_DATA, JobActionCb, job_action_data
from tests.e2e.harness import make_settings, running_bot
from tests.e2e.jobs_support import (
    books_balance,
    ledger_for_job,
    order_job,
    prepare_user,
    wait_job_state,
    wait_status,
    wait_until,
)
from tests.fakes.telegram import FakeTelegram, TgUser
from tests.fakes.telegram.records import Call

USER = 5301
PRICE = 42  # Kling 2.5 Turbo, 5 s


def _has_buttons(call: Call) -> bool:
    return "reply_markup" in call.params


def _button_texts(markup: object) -> list[str]:
    assert isinstance(markup, dict), markup
    return [str(b["text"]) for row in markup["inline_keyboard"] for b in row]


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_delivered_video_names_the_order_and_offers_next_steps(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path, lang: str
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, sim, callbacks=True)) as bot:
        await prepare_user(bot, fake_tg, USER, language=lang)
        first = await order_job(bot, USER, prompt="A red kite over the dunes")
        second = await order_job(bot, USER, prompt="A blue kite over the sea")
        for job in (first, second):
            await wait_job_state(bot, job.id, JobState.DELIVERED)
        videos = fake_tg.calls_of("sendVideo")
        assert len(videos) == 2
        captions = {str(c.params["caption"]).split("\n")[0] for c in videos}
        # Parallel results are told apart by their order number.
        assert captions == {f"<b>#{first.id} Kling 2.5 Turbo</b>", f"<b>#{second.id} Kling 2.5 Turbo</b>"}
        for call in videos:
            assert _button_texts(call.params["reply_markup"]) == [
                translate("job-action-again", lang),
                translate("job-action-prompt", lang),
                translate("job-action-new", lang),
            ]
        done = await wait_job_state(bot, first.id, JobState.DELIVERED)
        text = await wait_status(fake_tg, done, translate("job-status-done", lang))
        balance = await bot.components.billing.balance(USER)
        assert balance == 1000 - 2 * PRICE
        cost = credits_text(PRICE, lang)
        charged = translate("job-status-charged", lang, id=first.id, cost=cost, balance="")
        assert charged.split("·")[0] in text
        assert f"{balance}" in text.rsplit("·", 1)[1]
        assert await books_balance(bot)


async def test_late_video_after_a_refund_says_it_was_free(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, fake_tg, sim, callbacks=True)
    async with running_bot(settings) as bot:
        await prepare_user(bot, fake_tg, USER)
        job = await order_job(bot, USER, prompt="A slow sunrise [sim:delay=3]")
        await wait_job_state(bot, job.id, JobState.SUBMITTED, JobState.RUNNING)
        await bot.components.tracker.time_out(await bot.components.jobs.get(job.id))  # type: ignore[arg-type]
        done = await wait_job_state(bot, job.id, JobState.DELIVERED, timeout=30)
        text = await wait_status(fake_tg, done, translate("job-status-done", "en"))
        assert translate("job-status-free", "en", id=job.id, balance=credits_text(1000, "en")) in text
        assert await ledger_for_job(bot, job.id) == [(-PRICE, "generation"), (PRICE, "refund")]
        assert await books_balance(bot)


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_again_under_the_video_opens_a_new_confirm(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path, lang: str
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, sim, callbacks=True)) as bot:
        await prepare_user(bot, fake_tg, USER, language=lang)
        job = await order_job(bot, USER, prompt="A lighthouse in fog")
        await wait_job_state(bot, job.id, JobState.DELIVERED)
        user = fake_tg.as_user(TgUser(id=USER, first_name="Ada", language_code=lang))
        mark = fake_tg.mark()
        await user.click_button(translate("job-action-again", lang))
        summary = await fake_tg.wait_for(
            "sendMessage", since=mark, predicate=lambda c: "reply_markup" in c.params
        )
        text = str(summary[0].params["text"])
        assert translate("wizard-summary-title", lang) in text and "A lighthouse in fog" in text
        confirm = next(t for t in fake_tg.last_message(USER).button_texts if t.startswith("✅"))  # type: ignore[union-attr]
        await user.click_button(confirm)

        async def repeated() -> bool:
            jobs = await bot.components.jobs.recent_for_user(USER, 5)
            return len(jobs) == 2 and jobs[0].state is JobState.DELIVERED

        await wait_until(repeated, what="the repeated job delivered")
        again = (await bot.components.jobs.recent_for_user(USER, 1))[0]
        assert (again.model_key, again.mode, again.ratio, again.options, again.prompt) == (
            job.model_key, job.mode, job.ratio, job.options, job.prompt
        )
        assert await bot.components.billing.balance(USER) == 1000 - 2 * PRICE
        assert await books_balance(bot)


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_change_prompt_keeps_everything_but_the_prompt(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path, lang: str
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, sim, callbacks=True)) as bot:
        await prepare_user(bot, fake_tg, USER, language=lang)
        job = await order_job(bot, USER, options={"duration": "10"}, prompt="A cat on a roof")
        await wait_job_state(bot, job.id, JobState.DELIVERED)
        user = fake_tg.as_user(TgUser(id=USER, first_name="Ada", language_code=lang))
        mark = fake_tg.mark()
        await user.click_button(translate("job-action-prompt", lang))
        asked = await fake_tg.wait_for("sendMessage", since=mark)
        assert "A cat on a roof" not in str(asked[-1].params["text"])
        await fake_tg.wait_updates_acknowledged(10)
        mark = fake_tg.mark()
        await user.send_text("A dog on a boat")
        summary = await fake_tg.wait_for(
            "sendMessage",
            since=mark,
            predicate=lambda c: translate("wizard-summary-title", lang) in str(c.params.get("text")),
        )
        text = str(summary[-1].params["text"])
        assert "A dog on a boat" in text and "9:16" in text
        confirm = next(t for t in fake_tg.last_message(USER).button_texts if t.startswith("✅"))  # type: ignore[union-attr]
        await user.click_button(confirm)

        async def ordered() -> bool:
            return len(await bot.components.jobs.recent_for_user(USER, 5)) == 2

        await wait_until(ordered, what="the new order")
        new = (await bot.components.jobs.recent_for_user(USER, 1))[0]
        assert (new.model_key, new.mode, new.ratio, new.options, new.prompt) == (
            job.model_key, job.mode, job.ratio, {"duration": "10"}, "A dog on a boat"
        )
        await wait_job_state(bot, new.id, JobState.DELIVERED)
        assert await books_balance(bot)


@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.parametrize(
    ("marker", "kind"),
    [
        ("[sim:fail=501]", "server"),
        ("[sim:fail=500:Internal error, please try again later]", "server"),
        ("[sim:fail=400:Your prompt was flagged by the content policy]", "content"),
        ("[sim:fail=400:Only English prompts are supported]", "prompt"),
    ],
)
async def test_failure_says_what_kind_it_was_with_refund_and_buttons(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path, lang: str, marker: str, kind: str
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, sim, callbacks=True)) as bot:
        await prepare_user(bot, fake_tg, USER, language=lang)
        job = await order_job(bot, USER, prompt=f"A storm over the sea {marker}")
        failed = await wait_job_state(bot, job.id, JobState.FAILED)
        text = await wait_status(fake_tg, failed, "❌")
        assert translate(f"fail-kind-{kind}", lang) in text
        for other in {"server", "content", "prompt"} - {kind}:
            assert translate(f"fail-kind-{other}", lang) not in text
        refunded = translate("job-status-failed", lang, reason="", cost=credits_text(PRICE, lang))
        assert refunded.split("\n")[1] in text
        status = fake_tg.message(USER, failed.status_message_id or 0)
        assert status is not None
        buttons = [translate("job-action-retry", lang), translate("job-action-model", lang)]
        assert status.button_texts == buttons
        assert await ledger_for_job(bot, job.id) == [(-PRICE, "generation"), (PRICE, "refund")]
        assert await books_balance(bot)


async def test_try_again_and_other_model_after_a_failure(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, sim, callbacks=True)) as bot:
        await prepare_user(bot, fake_tg, USER)
        job = await order_job(bot, USER, prompt="A storm [sim:fail=501]")
        failed = await wait_job_state(bot, job.id, JobState.FAILED)
        await wait_status(fake_tg, failed, "❌")
        user = fake_tg.as_user(TgUser(id=USER, first_name="Ada"))
        mark = fake_tg.mark()
        await user.click_button(translate("job-action-retry", "en"))
        summary = await fake_tg.wait_for("sendMessage", since=mark, predicate=_has_buttons)
        assert translate("wizard-summary-title", "en") in str(summary[0].params["text"])
        assert "A storm [sim:fail=501]" in str(summary[0].params["text"])

        mark = fake_tg.mark()
        await user.click_button(translate("job-action-model", "en"))
        models = await fake_tg.wait_for("sendMessage", since=mark, predicate=_has_buttons)
        labels = _button_texts(models[-1].params["reply_markup"])
        assert any("Kling" in label for label in labels) and any("Veo" in label for label in labels)
        assert await books_balance(bot)


async def test_someone_elses_job_button_changes_nothing(
    fake_tg: FakeTelegram, sim: KieSimulator, tmp_path: Path
) -> None:
    other = USER + 1
    async with running_bot(make_settings(tmp_path, fake_tg, sim, callbacks=True)) as bot:
        await prepare_user(bot, fake_tg, USER)
        await prepare_user(bot, fake_tg, other)
        job = await order_job(bot, USER, prompt="Mine")
        await wait_job_state(bot, job.id, JobState.DELIVERED)
        intruder = fake_tg.as_user(TgUser(id=other, first_name="Eve"))
        await intruder.send_text("/start")
        await fake_tg.wait_for("sendMessage", predicate=lambda c: c.params.get("chat_id") == other)
        target = fake_tg.last_message(other)
        assert target is not None
        # A forged (or forwarded) button naming USER's job.
        query = await intruder.click(target, JobActionCb(a="again", j=job.id).pack(), strict=False)
        answer = await wait_until(lambda: fake_tg.callback_answer(query), what="the answer")
        assert answer.params.get("text") == translate("stale-button", "en")
        assert len(await bot.components.jobs.recent_for_user(USER, 5)) == 1


@pytest.mark.parametrize("action", ["again", "prompt", "model"])
@pytest.mark.parametrize("job_id", [1, 907, 2**40])
def test_job_action_data_is_what_the_callback_data_model_packs_and_unpacks(action: str, job_id: int) -> None:
    packed = job_action_data(action, job_id)
    assert packed == JobActionCb(a=action, j=job_id).pack()
    assert JobActionCb.unpack(packed) == JobActionCb(a=action, j=job_id)
    assert MenuCb(action="generate").pack() == NEW_VIDEO_DATA
