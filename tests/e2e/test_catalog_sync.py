"""The catalog against KIE's model list, end to end: the real bot, the fake Bot API and the KIE
simulator over HTTP. The simulator lists the models of its own rule table; tests remove or re-add
models there, mark a success rate abnormal, or make the list unreadable."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.catalog.availability import DEGRADED_MARK
from bot.config import Settings
from bot.i18n import translate
from bot.kie.sandbox import KieSimulator, SimTimings
from bot.services.catalog_sync import CatalogSync
from tests.e2e.harness import RunningBot, make_settings, running_bot
from tests.e2e.test_payments import bot_calls_to, send_and_wait
from tests.e2e.wizard_driver import WizardDriver
from tests.fakes.telegram import FakeTelegram, TgUser

ADMIN_EN = 900_301
ADMIN_RU = 900_302
# Seconds between two checks; one check here is one list call plus ~30 success-rate calls.
CHECK_INTERVAL_S = 1.0
KLING26_IDS = ("kling-2.6/text-to-video", "kling-2.6/image-to-video")
SYNC_LOGGER = "bot.services.catalog_sync"


@pytest.fixture
async def fast_sim() -> AsyncIterator[KieSimulator]:
    # KIE allows 1 discovery call/s; this simulator allows 50/s so one check takes a fraction of a second
    # (the 1/s limit itself is tested in tests/unit/test_kie_discovery.py).
    simulator = KieSimulator("sim-test-key", timings=SimTimings(), discovery_limit_per_s=50)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


def sync_settings(tmp_path: Path, fake: FakeTelegram, sim: KieSimulator, **overrides: object) -> Settings:
    return make_settings(
        tmp_path,
        fake,
        sim,
        admin_ids=frozenset({ADMIN_EN, ADMIN_RU}),
        kie_discovery_rps=40.0,
        kie_models_check_hours=CHECK_INTERVAL_S / 3600,
        **overrides,
    )


async def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def checks_done(sync: CatalogSync, count: int, timeout: float = 20.0) -> None:
    target = sync.checks + count
    await wait_until(lambda: sync.checks >= target, timeout, f"{count} more catalog checks")


def alerts_to(fake: FakeTelegram, admin_id: int, since: int) -> list[str]:
    """Texts of the catalog alerts sent to `admin_id` (other replies, like /stats, do not count)."""
    lang = "ru" if admin_id == ADMIN_RU else "en"
    heading = translate("operator-models-changed", lang)
    sent = fake.calls_of("sendMessage", since=since)
    texts = [c.params.get("text", "") for c in sent if bot_calls_to(admin_id)(c)]
    return [t for t in texts if heading in t]


async def menu_models(fake: FakeTelegram, bot: RunningBot, user_id: int) -> dict[str, str]:
    """model key → button label of /generate → All models, as a user sees it now."""
    driver = WizardDriver(fake, bot, fake.as_user(TgUser(id=user_id, first_name="Uma")))
    await driver.open()
    await driver.tap("cat", "all")
    return {value: label for label, value in driver.choices("model")}


async def test_a_model_kie_stops_listing_leaves_the_menu_and_comes_back(
    fake_tg: FakeTelegram, fast_sim: KieSimulator, tmp_path: Path
) -> None:
    async with running_bot(sync_settings(tmp_path, fake_tg, fast_sim)) as bot:
        sync = bot.components.catalog_sync
        admin_en = fake_tg.as_user(TgUser(id=ADMIN_EN, first_name="Ann", language_code="en"))
        admin_ru = fake_tg.as_user(TgUser(id=ADMIN_RU, first_name="Иван", language_code="ru"))
        await send_and_wait(fake_tg, admin_en, "/start")
        await send_and_wait(fake_tg, admin_ru, "/start")
        await checks_done(sync, 1)
        assert "kling26" in await menu_models(fake_tg, bot, 1301)

        since = fake_tg.mark()
        removed_at = time.monotonic()
        for model_id in KLING26_IDS:
            fast_sim.model_list.remove(model_id)
        await wait_until(lambda: "kling26" not in {e.key for e in bot.components.catalog.offerable()},
                         timeout=CHECK_INTERVAL_S + 10, what="Kling 2.6 hidden")
        # Hidden by the next check: within one interval plus one check's own duration (generous
        # under a loaded CI machine, but far below a second interval's worth of checks).
        assert time.monotonic() - removed_at < CHECK_INTERVAL_S + 10
        assert "kling26" not in await menu_models(fake_tg, bot, 1302)

        entry = bot.components.catalog.get("kling26")
        assert entry is not None
        for admin, lang in ((ADMIN_EN, "en"), (ADMIN_RU, "ru")):
            [alert] = await fake_tg.wait_for("sendMessage", predicate=bot_calls_to(admin), since=since)
            text = alert.params["text"]
            reason = translate("operator-models-reason-not_listed", lang)
            assert translate("operator-models-hidden", lang, models=f"{entry.name(lang)} ({reason})") in text
        stats = await send_and_wait(fake_tg, admin_en, "/stats")
        assert f"hidden: {entry.name('en')};" in (stats.text or "")
        # Later checks see the same list: nobody is told again.
        await checks_done(sync, 2)
        for admin in (ADMIN_EN, ADMIN_RU):
            assert len(alerts_to(fake_tg, admin, since)) == 1

        since = fake_tg.mark()
        for model_id in KLING26_IDS:
            fast_sim.model_list.add(model_id)
        await wait_until(lambda: "kling26" in {e.key for e in bot.components.catalog.offerable()},
                         timeout=CHECK_INTERVAL_S + 10, what="Kling 2.6 back")
        for admin, lang in ((ADMIN_EN, "en"), (ADMIN_RU, "ru")):
            [alert] = await fake_tg.wait_for("sendMessage", predicate=bot_calls_to(admin), since=since)
            assert translate("operator-models-back", lang, models=entry.name(lang)) in alert.params["text"]
        await checks_done(sync, 2)
        assert len(alerts_to(fake_tg, ADMIN_EN, since)) == len(alerts_to(fake_tg, ADMIN_RU, since)) == 1
        assert "kling26" in await menu_models(fake_tg, bot, 1303)
        assert fast_sim.rate_limited["discovery"] == 0


async def test_a_mode_kie_stops_listing_is_no_longer_offered(
    fake_tg: FakeTelegram, fast_sim: KieSimulator, tmp_path: Path
) -> None:
    async with running_bot(sync_settings(tmp_path, fake_tg, fast_sim)) as bot:
        sync = bot.components.catalog_sync
        fast_sim.model_list.remove("kling-2.6/text-to-video")
        await checks_done(sync, 2)
        driver = WizardDriver(fake_tg, bot, fake_tg.as_user(TgUser(id=1310, first_name="Mo")))
        await driver.open()
        await driver.tap("cat", "all")
        await driver.tap("model", "kling26")
        # Only image → video is left, so there is no mode step: the wizard goes on to the options.
        assert driver.choices("mode") == []
        assert driver.catalog.offered_modes(driver.catalog.get("kling26")) == ("i2v",)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["401", "429", "5xx", "network"])
async def test_an_unreadable_list_hides_nothing_and_is_logged_once(
    kind: str, fake_tg: FakeTelegram, fast_sim: KieSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=SYNC_LOGGER)
    fast_sim.fail_model_list(kind)  # every discovery call, until cleared
    for model_id in KLING26_IDS:
        fast_sim.model_list.remove(model_id)  # would be hidden, if the list could be read
    async with running_bot(sync_settings(tmp_path, fake_tg, fast_sim)) as bot:
        sync = bot.components.catalog_sync
        catalog = bot.components.catalog
        await checks_done(sync, 3)
        assert {e.key for e in catalog.offerable()} == {e.key for e in catalog.entries if e.retired is None}
        problems = [r for r in caplog.records if r.name == SYNC_LOGGER and "cannot be used" in r.getMessage()]
        assert len(problems) == 1, [r.getMessage() for r in problems]
        assert sync.problem is not None

        admin = fake_tg.as_user(TgUser(id=ADMIN_EN, first_name="Ann", language_code="en"))
        reply = await send_and_wait(fake_tg, admin, "/stats")
        assert translate("admin-stats-models-unreadable", "en", problem=sync.problem) in (reply.text or "")

        # The list becomes readable: Kling 2.6 is hidden now, and the recovery is logged.
        fast_sim.faults.clear()
        await wait_until(
            lambda: "kling26" not in {e.key for e in catalog.offerable()}, 15, "Kling 2.6 hidden"
        )
        assert any("readable again" in r.getMessage() for r in caplog.records if r.name == SYNC_LOGGER)


async def test_a_degraded_model_is_marked_and_can_be_hidden_by_a_setting(
    fake_tg: FakeTelegram, fast_sim: KieSimulator, tmp_path: Path
) -> None:
    fast_sim.model_list.set_normal("kling-2.6/text-to-video", False)
    async with running_bot(sync_settings(tmp_path, fake_tg, fast_sim)) as bot:
        await checks_done(bot.components.catalog_sync, 1)
        labels = await menu_models(fake_tg, bot, 1320)
        assert labels["kling26"].startswith(DEGRADED_MARK)
        assert not labels["kling25"].startswith(DEGRADED_MARK)
        driver = WizardDriver(fake_tg, bot, fake_tg.as_user(TgUser(id=1320, first_name="Uma")))
        note = translate("wizard-degraded-note", "en", mark=DEGRADED_MARK)
        assert note in (driver.wizard_message().text or "")
        await driver.tap("model", "kling26")
        # The mode preset is the healthy one; where modes are chosen, the degraded one is marked.
        assert "Image → video" in (driver.wizard_message().text or "")
        await driver.tap("edit", "mode")
        modes = dict((value, label) for label, value in driver.choices("mode"))
        assert modes["t2v"].startswith(DEGRADED_MARK) and not modes["i2v"].startswith(DEGRADED_MARK)
        reply = await send_and_wait(fake_tg, fake_tg.as_user(TgUser(id=1321, first_name="Li")), "/models")
        assert translate("models-degraded", "en") in (reply.text or "") or any(
            translate("models-degraded", "en") in (m.text or "") for m in fake_tg.messages(1321)
        )


async def test_hide_degraded_models_setting_hides_the_degraded_mode(
    fake_tg: FakeTelegram, fast_sim: KieSimulator, tmp_path: Path
) -> None:
    settings = sync_settings(tmp_path, fake_tg, fast_sim, kie_hide_degraded_models=True)
    async with running_bot(settings) as bot:
        admin = fake_tg.as_user(TgUser(id=ADMIN_RU, first_name="Иван", language_code="ru"))
        await send_and_wait(fake_tg, admin, "/start")
        since = fake_tg.mark()
        for model_id in KLING26_IDS:
            fast_sim.model_list.set_normal(model_id, False)
        await wait_until(lambda: "kling26" not in {e.key for e in bot.components.catalog.offerable()},
                         timeout=CHECK_INTERVAL_S + 10, what="Kling 2.6 hidden")
        assert "kling26" not in await menu_models(fake_tg, bot, 1330)
        [alert] = await fake_tg.wait_for("sendMessage", predicate=bot_calls_to(ADMIN_RU), since=since)
        assert translate("operator-models-reason-degraded", "ru") in alert.params["text"]


async def test_sandbox_mode_checks_its_own_simulator(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, fake_tg, None, kie_discovery_rps=1.0)
    async with running_bot(settings) as bot:
        sync = bot.components.catalog_sync
        await wait_until(lambda: sync.checked_at is not None, 10, "the first check in sandbox mode")
        assert sync.problem is None
        assert {e.key for e in bot.components.catalog.offerable()} == {
            e.key for e in bot.components.catalog.entries if e.retired is None
        }


async def test_same_as_last_time_is_not_offered_once_its_model_is_hidden(
    fake_tg: FakeTelegram, fast_sim: KieSimulator, tmp_path: Path
) -> None:
    async with running_bot(sync_settings(tmp_path, fake_tg, fast_sim)) as bot:
        await checks_done(bot.components.catalog_sync, 1)
        driver = WizardDriver(fake_tg, bot, fake_tg.as_user(TgUser(id=1330, first_name="Ola")))
        await driver.send("/start")
        await bot.components.billing.grant(admin_id=0, user_id=1330, credits=1000, note="test")
        await driver.walk_to_summary("kling26", "t2v")
        await driver.confirm()
        await driver.open()
        assert [value for _label, value in driver.choices("cat")][:2] == ["last", "all"]

        for model_id in KLING26_IDS:
            fast_sim.model_list.remove(model_id)
        catalog = bot.components.catalog
        await wait_until(
            lambda: "kling26" not in {e.key for e in catalog.offerable()}, 15, "Kling 2.6 hidden"
        )
        await driver.open()
        assert driver.choices("cat")[0][1] == "all"  # no "Same as last time"
