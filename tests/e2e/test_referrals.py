"""A way in for new users (issue 13, item 13): the free first video and referral links, end to end.

Each test runs its own bot on a fresh database (tmp_path) against the fake Bot API.
"""

from __future__ import annotations

from pathlib import Path

from bot.i18n import translate, translate_plural
from bot.services.billing import Reason
from bot.store.referrals import invited_op_id, inviter_op_id, referral_code
from tests.e2e.harness import make_settings, running_bot
from tests.e2e.test_payments import books_balance, bot_calls_to, buy, open_invoice, send_and_wait
from tests.fakes.telegram import FakeTelegram, TgUser

BONUS = 30


def credits(count: int, lang: str) -> str:
    return translate_plural("credits-count", count, lang)


async def referral_rows(bot_db: object, user_id: int) -> list[str]:
    rows = await bot_db.fetchall(  # type: ignore[attr-defined]
        "SELECT op_id FROM ledger WHERE user_id = ? AND reason = ? ORDER BY id",
        (user_id, Reason.REFERRAL_BONUS.value),
    )
    return [str(r[0]) for r in rows]


async def test_referral_pays_both_once_on_the_first_paid_top_up(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, fake_tg, None, referral_bonus_credits=BONUS)
    async with running_bot(settings) as bot:
        db = bot.components.db
        billing = bot.components.billing
        alice = fake_tg.as_user(TgUser(id=1301, first_name="Alice"))
        await send_and_wait(fake_tg, alice, "/start")

        link_reply = await send_and_wait(fake_tg, alice, "/invite")
        link = f"https://t.me/test_video_bot?start=ref_{referral_code(alice.id)}"
        assert link in link_reply.text
        assert translate(
            "invite-text", "en", bonus=credits(BONUS, "en"), link=link, invited=0, paid=0,
            earned=credits(0, "en"),
        ) == link_reply.text

        bob = fake_tg.as_user(TgUser(id=1302, first_name="Bob"))
        greeting = await send_and_wait(fake_tg, bob, f"/start ref_{referral_code(alice.id)}")
        assert translate("referral-attached", "en", bonus=credits(BONUS, "en")) in greeting.text
        # Joining alone pays nothing: the bonus waits for a paid top-up.
        assert await billing.balance(alice.id) == 0 and await billing.balance(bob.id) == 0

        invoice = await open_invoice(fake_tg, bob, 50, 50)
        since = fake_tg.mark()
        payment = await bob.pay(invoice)
        assert payment.ok and payment.update is not None
        [confirmation] = await fake_tg.wait_for("sendMessage", predicate=bot_calls_to(bob.id), since=since)
        bonus_line = translate("payment-referral-bonus", "en", bonus=credits(BONUS, "en"))
        assert bonus_line in confirmation.params["text"]
        assert await billing.balance(bob.id) == 50 + BONUS
        assert await billing.balance(alice.id) == BONUS
        assert await referral_rows(db, alice.id) == [inviter_op_id(bob.id)]
        assert await referral_rows(db, bob.id) == [invited_op_id(bob.id)]

        # The same successful_payment delivered again (a webhook retry): nothing more.
        since = fake_tg.mark()
        await fake_tg.replay_update(payment.update)
        [again] = await fake_tg.wait_for("sendMessage", predicate=bot_calls_to(bob.id), since=since)
        assert bonus_line not in again.params["text"]
        assert await billing.balance(bob.id) == 50 + BONUS
        assert await billing.balance(alice.id) == BONUS
        # A second paid top-up is not a first one.
        await buy(fake_tg, bob, 50, 50)
        assert await billing.balance(bob.id) == 100 + BONUS
        assert await billing.balance(alice.id) == BONUS
        assert len(await referral_rows(db, alice.id)) == 1 and len(await referral_rows(db, bob.id)) == 1

        stats_reply = await send_and_wait(fake_tg, alice, "/invite")
        assert stats_reply.text == translate(
            "invite-text", "en", bonus=credits(BONUS, "en"), link=link, invited=1, paid=1,
            earned=credits(BONUS, "en"),
        )
        await books_balance(bot)


async def test_self_referral_existing_users_and_unknown_codes_are_refused_politely(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, fake_tg, None, referral_bonus_credits=BONUS)
    async with running_bot(settings) as bot:
        db = bot.components.db
        billing = bot.components.billing
        # A new user opening a link with their own code (they can work it out from their id).
        carol = fake_tg.as_user(TgUser(id=1311, first_name="Карина", language_code="ru"))
        greeting = await send_and_wait(fake_tg, carol, f"/start ref_{referral_code(carol.id)}")
        assert translate("referral-self", "ru") in greeting.text
        assert greeting.text.startswith(translate("start-greeting", "ru", name="Карина"))

        # Someone already known to the bot cannot become "invited" later.
        dave = fake_tg.as_user(TgUser(id=1312, first_name="Дима", language_code="ru"))
        await send_and_wait(fake_tg, dave, "/start")
        late = await send_and_wait(fake_tg, dave, f"/start ref_{referral_code(carol.id)}")
        assert translate("referral-existing-user", "ru") in late.text

        # A code of nobody the bot knows, and a malformed one: a welcome, no error.
        erin = fake_tg.as_user(TgUser(id=1313, first_name="Erin", language_code="ru"))
        unknown = await send_and_wait(fake_tg, erin, f"/start ref_{referral_code(999_999)}")
        assert translate("referral-unknown", "ru") in unknown.text
        frank = fake_tg.as_user(TgUser(id=1314, first_name="Frank"))
        malformed = await send_and_wait(fake_tg, frank, "/start ref_<b>!")
        assert translate("referral-unknown", "en") in malformed.text

        for user in (carol, dave):
            await buy(fake_tg, user, 50, 50)
            assert await billing.balance(user.id) == 50
        for user_id in (carol.id, dave.id, erin.id, frank.id):
            assert await referral_rows(db, user_id) == []
        rows = await db.fetchall("SELECT COUNT(*) FROM referrals")
        assert int(rows[0][0]) == 0
        await books_balance(bot)


async def test_referrals_off_by_default(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, None)) as bot:
        alice = fake_tg.as_user(TgUser(id=1321, first_name="Alice"))
        await send_and_wait(fake_tg, alice, "/start")
        assert (await send_and_wait(fake_tg, alice, "/invite")).text == translate("invite-off", "en")
        bob = fake_tg.as_user(TgUser(id=1322, first_name="Bob"))
        greeting = await send_and_wait(fake_tg, bob, f"/start ref_{referral_code(alice.id)}")
        assert greeting.text == translate("start-greeting", "en", name="Bob")
        await buy(fake_tg, bob, 50, 50)
        assert await bot.components.billing.balance(alice.id) == 0
        await books_balance(bot)


async def test_free_first_video_is_given_once_across_restarts(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    free = 42
    settings = make_settings(tmp_path, fake_tg, None, free_first_video_credits=free)
    for lang, user_id in (("en", 1331), ("ru", 1332)):
        user = fake_tg.as_user(TgUser(id=user_id, first_name="Nova", language_code=lang))
        async with running_bot(settings) as bot:
            greeting = await send_and_wait(fake_tg, user, "/start")
            line = translate("start-free-first-video", lang, credits=credits(free, lang))
            assert line in greeting.text
            assert await bot.components.billing.balance(user_id) == free
            again = await send_and_wait(fake_tg, user, "/start")
            assert line not in again.text
            await books_balance(bot)
        # A restart (empty caches, same database) gives nothing more.
        async with running_bot(settings) as bot:
            later = await send_and_wait(fake_tg, user, "/start")
            assert line not in later.text
            assert await bot.components.billing.balance(user_id) == free
            rows = await bot.components.db.fetchall(
                "SELECT op_id, amount FROM ledger WHERE user_id = ? AND reason = ?",
                (user_id, Reason.FREE_FIRST_VIDEO.value),
            )
            assert [tuple(r) for r in rows] == [(f"free_first:{user_id}", free)]
            await books_balance(bot)
