"""Admin commands end to end: /grant, /user, /stats, /refund, and their absence for everyone else."""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings
from bot.i18n import translate
from bot.services.billing import Reason
from bot.store.payments import stars_refund_op_id
from tests.e2e.harness import make_settings, running_bot
from tests.e2e.test_payments import bot_calls_to, buy, send_and_wait
from tests.fakes.telegram import FakeTelegram, TgUser

ADMIN_ID = 900_002


def admin_settings(tmp_path: Path, fake: FakeTelegram) -> Settings:
    return make_settings(tmp_path, fake, None, admin_ids=frozenset({ADMIN_ID}))


async def test_admin_commands_are_unknown_to_everyone_else(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(admin_settings(tmp_path, fake_tg)) as bot:
        alice = fake_tg.as_user(TgUser(id=1201, first_name="Alice"))
        for command in (f"/grant {alice.id} 1000", "/stats", f"/user {alice.id}", "/refund stxWHATEVER"):
            reply = await send_and_wait(fake_tg, alice, command)
            assert reply.text == translate("unknown-command", "en"), command
        assert await bot.components.billing.balance(alice.id) == 0
        assert fake_tg.calls_of("refundStarPayment") == []


async def test_grant_adds_and_takes_credits_but_never_below_zero(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(admin_settings(tmp_path, fake_tg)) as bot:
        admin = fake_tg.as_user(TgUser(id=ADMIN_ID, first_name="Root", language_code="ru"))
        bob = fake_tg.as_user(TgUser(id=1202, first_name="Bob"))
        await send_and_wait(fake_tg, bob, "/start")
        billing = bot.components.billing

        reply = await send_and_wait(fake_tg, admin, f"/grant {bob.id} 30 sorry for the outage")
        assert reply.text == translate(
            "admin-grant-done",
            "ru",
            user_id=bob.id,
            amount="+30 кредитов",
            balance="30 кредитов",
            note="sorry for the outage",
        )
        [movement] = await billing.ledger.recent(bob.id)
        assert (movement.amount, movement.reason, movement.actor, movement.note) == (
            30,
            Reason.ADMIN_GRANT,
            f"admin:{ADMIN_ID}",
            "sorry for the outage",
        )

        reply = await send_and_wait(fake_tg, admin, f"/grant {bob.id} -31")
        assert reply.text == translate(
            "admin-grant-below-zero", "ru", user_id=bob.id, balance="30 кредитов", credits="31 кредит"
        )
        assert await billing.balance(bob.id) == 30

        reply = await send_and_wait(fake_tg, admin, f"/grant {bob.id} -30")
        assert await billing.balance(bob.id) == 0

        for bad in (
            "/grant",
            f"/grant {bob.id}",
            f"/grant {bob.id} 0",
            f"/grant {bob.id} lots",
            "/grant x 5",
        ):
            reply = await send_and_wait(fake_tg, admin, bad)
            assert reply.text == translate("admin-grant-usage", "ru"), bad

        reply = await send_and_wait(fake_tg, admin, "/grant 424242 5")
        assert reply.text == translate("admin-unknown-user", "ru", user_id=424242)


async def test_user_shows_balance_ledger_and_jobs(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(admin_settings(tmp_path, fake_tg)):
        admin = fake_tg.as_user(TgUser(id=ADMIN_ID, first_name="Root"))
        carol = fake_tg.as_user(TgUser(id=1203, first_name="Carol", username="carol"))
        charge_id = await buy(fake_tg, carol)

        reply = await send_and_wait(fake_tg, admin, f"/user {carol.id}")
        text = reply.text or ""
        assert "@carol" in text and f"<code>{carol.id}</code>" in text
        assert "<b>50 credits</b> (ledger sum: 50 credits)" in text
        assert f"<code>{charge_id}</code>" in text
        assert translate("reason-purchase", "en") in text

        reply = await send_and_wait(fake_tg, admin, "/user nobody")
        assert reply.text == translate("admin-user-usage", "en")
        reply = await send_and_wait(fake_tg, admin, "/user 777777")
        assert reply.text == translate("admin-unknown-user", "en", user_id=777777)


async def test_stats_reports_money_jobs_and_the_kie_balance(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, fake_tg, None, admin_ids=frozenset({ADMIN_ID}), kie_low_balance_warning=5000
    )
    async with running_bot(settings) as bot:
        admin = fake_tg.as_user(TgUser(id=ADMIN_ID, first_name="Root"))
        dave = fake_tg.as_user(TgUser(id=1204, first_name="Dave"))
        await buy(fake_tg, dave, 250, 260)
        assert bot.components.sandbox is not None
        simulator = bot.components.sandbox.simulator

        text = (await send_and_wait(fake_tg, admin, "/stats")).text or ""
        assert text.startswith(translate("admin-stats-title", "en"))
        assert "Users: 2" in text
        assert "Stars received: 250 ⭐ → credits sold: 260 credits" in text
        assert translate("admin-stats-kie", "en", credits=simulator.balance) in text
        assert "⚠️" not in text

        simulator.balance = 1200
        text = (await send_and_wait(fake_tg, admin, "/stats")).text or ""
        assert translate("admin-stats-kie", "en", credits=1200) in text
        assert translate("admin-stats-kie-low", "en", threshold=5000) in text

        # KIE refuses the key (as when it is revoked): /stats still answers, and says so.
        simulator.faults.inject("credit", code=401, msg="Unauthorized", times=None)
        text = (await send_and_wait(fake_tg, admin, "/stats")).text or ""
        assert translate("admin-stats-kie-unreachable", "en") in text
        assert "Stars received: 250 ⭐" in text


async def test_refund_works_once_then_says_already_refunded(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(admin_settings(tmp_path, fake_tg)) as bot:
        admin = fake_tg.as_user(TgUser(id=ADMIN_ID, first_name="Root"))
        erin = fake_tg.as_user(TgUser(id=1205, first_name="Erin", language_code="ru"))
        charge_id = await buy(fake_tg, erin)
        billing = bot.components.billing
        assert await billing.balance(erin.id) == 50

        since = fake_tg.mark()
        reply = await send_and_wait(fake_tg, admin, f"/refund {charge_id}")
        assert reply.text == translate(
            "admin-refund-done",
            "en",
            charge_id=charge_id,
            user_id=erin.id,
            credits="50 credits",
            balance="0 credits",
        )
        [refund_call] = fake_tg.calls_of("refundStarPayment", since=since)
        assert refund_call.params == {"user_id": erin.id, "telegram_payment_charge_id": charge_id}
        assert fake_tg.charges[charge_id].refunded
        assert await billing.balance(erin.id) == 0
        movement = await billing.ledger.by_op_id(stars_refund_op_id(charge_id))
        assert movement is not None and movement.amount == -50 and movement.actor == f"admin:{ADMIN_ID}"
        # The user hears about it in their language.
        await fake_tg.wait_for("sendMessage", predicate=bot_calls_to(erin.id), since=since)
        assert (fake_tg.last_message(erin.id) or reply).text == translate(
            "refund-user-notice", "ru", charge_id=charge_id, credits="50 кредитов"
        )

        reply = await send_and_wait(fake_tg, admin, f"/refund {charge_id}")
        assert reply.text == translate("admin-refund-already", "en", charge_id=charge_id)
        assert len(fake_tg.calls_of("refundStarPayment")) == 1
        assert await billing.balance(erin.id) == 0

        reply = await send_and_wait(fake_tg, admin, "/refund")
        assert reply.text == translate("admin-refund-usage", "en")
        reply = await send_and_wait(fake_tg, admin, "/refund stxNOSUCHCHARGE")
        assert reply.text == translate("admin-refund-unknown", "en", charge_id="stxNOSUCHCHARGE")


async def test_refund_is_refused_when_the_credits_were_spent(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(admin_settings(tmp_path, fake_tg)) as bot:
        admin = fake_tg.as_user(TgUser(id=ADMIN_ID, first_name="Root"))
        frank = fake_tg.as_user(TgUser(id=1206, first_name="Frank"))
        charge_id = await buy(fake_tg, frank)
        billing = bot.components.billing
        # A generation holds 20 of the 50 credits.
        await billing.reserve(frank.id, 20, "job:test-spend")

        reply = await send_and_wait(fake_tg, admin, f"/refund {charge_id}")
        assert reply.text == translate(
            "admin-refund-credits-spent",
            "en",
            charge_id=charge_id,
            credits="50 credits",
            balance="30 credits",
        )
        assert fake_tg.calls_of("refundStarPayment") == []
        assert not fake_tg.charges[charge_id].refunded
        assert await billing.balance(frank.id) == 30


async def test_charge_already_refunded_at_telegram_counts_as_done(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    """A crash after Telegram refunded but before the database knew: the retried /refund heals it."""
    async with running_bot(admin_settings(tmp_path, fake_tg)) as bot:
        admin = fake_tg.as_user(TgUser(id=ADMIN_ID, first_name="Root"))
        gina = fake_tg.as_user(TgUser(id=1207, first_name="Gina"))
        charge_id = await buy(fake_tg, gina)
        fake_tg.charges[charge_id].refunded = True

        reply = await send_and_wait(fake_tg, admin, f"/refund {charge_id}")
        [refund_call] = fake_tg.calls_of("refundStarPayment")
        assert refund_call.error is not None and "CHARGE_ALREADY_REFUNDED" in refund_call.error.description
        assert reply.text == translate(
            "admin-refund-done",
            "en",
            charge_id=charge_id,
            user_id=gina.id,
            credits="50 credits",
            balance="0 credits",
        )
        payment = await bot.components.billing.payments.get(charge_id)
        assert payment is not None and payment.refunded


async def test_refund_that_telegram_rejects_changes_nothing(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(admin_settings(tmp_path, fake_tg)) as bot:
        admin = fake_tg.as_user(TgUser(id=ADMIN_ID, first_name="Root"))
        hugo = fake_tg.as_user(TgUser(id=1208, first_name="Hugo"))
        charge_id = await buy(fake_tg, hugo)
        fake_tg.fail_next("refundStarPayment", 400, "Bad Request: CHARGE_NOT_FOUND")

        reply = await send_and_wait(fake_tg, admin, f"/refund {charge_id}")
        assert reply.text == translate(
            "admin-refund-telegram-failed", "en", charge_id=charge_id, error="Bad Request: CHARGE_NOT_FOUND"
        )
        assert await bot.components.billing.balance(hugo.id) == 50
        payment = await bot.components.billing.payments.get(charge_id)
        assert payment is not None and not payment.refunded
