"""The operator's catalog overrides file, seen by users: /generate and /models show the shaped menu,
and a fixed price is what the summary quotes and what is charged."""

from __future__ import annotations

from pathlib import Path

from bot.i18n import translate_plural
from bot.kie.sandbox import KieSimulator, SimTimings
from tests.e2e.harness import make_settings, running_bot
from tests.e2e.jobs_support import books_balance, ledger_for_job
from tests.e2e.test_wizard import jobs_of, new_user
from tests.fakes.telegram import FakeTelegram

OVERRIDES = """
order = ["kling26", "hailuo02_std"]

[models.kling25]
hidden = true

[models.kling26]
name = { en = "Kling Sound", ru = "Клинг со звуком" }
recommended = true

[[models.kling26.price]]
mode = "t2v"
options = { duration = "5", sound = "off" }
credits = 7
"""


async def test_hidden_renamed_reordered_and_fixed_price_reach_the_user(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    overrides = tmp_path / "overrides.toml"
    overrides.write_text(OVERRIDES, encoding="utf-8")
    async with KieSimulator(timings=SimTimings.manual()) as sim:
        settings = make_settings(tmp_path, fake_tg, sim, catalog_overrides_file=overrides)
        async with running_bot(settings) as bot:
            user = await new_user(fake_tg, bot, 7301, credits=100)
            await user.open()
            await user.tap("cat", "all")
            labels = dict((value, label) for label, value in user.choices("model"))
            assert "kling25" not in labels  # hidden
            assert list(labels)[:2] == ["kling26", "hailuo02_std"]  # reordered
            assert labels["kling26"] == "⭐ Kling Sound"
            card = next(line for line in (user.wizard_message().plain_text or "").splitlines()
                        if line.startswith("⭐ Kling Sound"))
            assert translate_plural("card-from", 7, "en", price=7) in card  # the fixed price
            assert "veo_fast" in labels  # not hidden: still offered
            await user.tap("back")
            await user.tap("cat", "fast")
            assert "kling25" not in [v for _label, v in user.choices("model")]

            before = len(fake_tg.messages(user.chat_id))
            await user.send("/models")
            text = "\n".join(m.text or "" for m in fake_tg.messages(user.chat_id)[before:])
            assert "⭐ Kling Sound" in text and "Kling 2.5 Turbo" not in text

            # The fixed price is quoted and charged exactly (KIE's price × markup would be 55).
            await user.walk_to_summary("kling26", "t2v", ratio="9:16", options={"sound": "off"})
            summary = user.wizard_message().text or ""
            assert "Price: <b>7 credits</b>" in summary and "100 → 93" in summary
            await user.confirm()
            [job] = await jobs_of(bot, user.chat_id)
            assert (job.model_key, job.cost, job.kie_credits) == ("kling26", 7, 55)
            assert await ledger_for_job(bot, job.id) == [(-7, "generation")]
            assert await bot.components.billing.balance(user.chat_id) == 93
            assert await books_balance(bot)
            assert sim.requests_to("/api/v1/jobs/createTask")[0].json["input"]["sound"] is False
