"""Stars purchases, /balance and /paysupport end to end: the real bot against the fake Bot API.

Each test runs its own bot on a fresh database (tmp_path) with the in-process KIE sandbox.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from bot.config import StarPack
from bot.i18n import language_for, translate, translate_plural
from bot.services.billing import Reason
from bot.store.payments import payment_op_id
from bot.telegram.payments import PackCb
from bot.telegram.wizard.view import WizardCallback
from tests.e2e.harness import RunningBot, make_settings, running_bot, start_bot
from tests.fakes.telegram import Call, FakeTelegram, StoredMessage, TgUser, UserClient

ADMIN_ID = 900_001


def pack_button(stars: int, credits: int, lang: str = "en") -> str:
    """A pack button with no order waiting; every pack list in these tests starts with 50 ⭐ → 50,
    the base rate (1 credit a star), so a pack's bonus is its credits per star over 1, in percent."""
    label = translate(
        "buy-pack-button", lang, stars=stars, credits=translate_plural("credits-count", credits, lang)
    )
    bonus = round(credits * 100 / stars) - 100
    if bonus > 0:
        label += " · " + translate("buy-pack-bonus", lang, percent=bonus)
    return label


def bot_calls_to(chat_id: int) -> Callable[[Call], bool]:
    """A predicate for wait_for: a successful call addressed to this chat."""
    return lambda c: c.ok and c.params.get("chat_id") == chat_id


async def send_and_wait(fake: FakeTelegram, user: UserClient, text: str) -> StoredMessage:
    """Send a message and wait for the bot's reply in that chat; return the reply."""
    since = fake.mark()
    await user.send_text(text)
    await fake.wait_for("sendMessage", predicate=bot_calls_to(user.id), since=since)
    reply = fake.last_message(user.id)
    assert reply is not None
    return reply


async def open_invoice(fake: FakeTelegram, user: UserClient, stars: int, credits: int) -> Call:
    """/buy, tap the pack, return the sendInvoice call."""
    button = pack_button(stars, credits, language_for(user.user.language_code))
    packs = await send_and_wait(fake, user, "/buy")
    assert button in packs.button_texts
    since = fake.mark()
    await user.click_button(button)
    [invoice] = await fake.wait_for("sendInvoice", predicate=bot_calls_to(user.id), since=since)
    return invoice


async def buy(fake: FakeTelegram, user: UserClient, stars: int = 50, credits: int = 50) -> str:
    """The whole purchase; returns the charge id once the bot confirmed it to the user."""
    invoice = await open_invoice(fake, user, stars, credits)
    since = fake.mark()
    payment = await user.pay(invoice)
    assert payment.ok and payment.charge_id is not None
    await fake.wait_for(
        "sendMessage",
        predicate=lambda c: (
            c.ok and c.params.get("chat_id") == user.id and payment.charge_id in c.params["text"]
        ),
        since=since,
    )
    return payment.charge_id


async def test_buy_a_pack_credits_once_and_shows_the_charge_id(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, None)) as bot:
        alice = fake_tg.as_user(TgUser(id=1101, first_name="Alice"))
        invoice = await open_invoice(fake_tg, alice, 250, 260)
        # Telegram's rules for Stars: XTR, exactly one price, no provider token.
        assert invoice.params["currency"] == "XTR"
        assert len(invoice.params["prices"]) == 1 and invoice.params["prices"][0]["amount"] == 250
        assert "provider_token" not in invoice.params
        assert invoice.params["payload"] == "pack:250:260"

        since = fake_tg.mark()
        payment = await alice.pay(invoice)
        assert payment.ok and payment.charge_id and payment.update
        [confirmation] = await fake_tg.wait_for("sendMessage", predicate=bot_calls_to(alice.id), since=since)
        # The receipt opens with what was bought, the credits and the balance; the charge id
        # (for /paysupport) comes last, in small print.
        receipt = confirmation.params["text"]
        head = "✅ Payment received: 250 ⭐ → <b>+260 credits</b>.\nBalance: <b>260 credits</b>.\n"
        assert receipt.startswith(head)
        assert receipt.endswith(translate("payment-charge-id", "en", charge_id=payment.charge_id))

        billing = bot.components.billing
        assert await billing.balance(alice.id) == 260
        movement = await billing.ledger.by_op_id(payment_op_id(payment.charge_id))
        assert movement is not None
        assert (movement.amount, movement.reason, movement.charge_id) == (
            260,
            Reason.PURCHASE,
            payment.charge_id,
        )

        # Telegram (or a webhook retry) delivers the same successful_payment again.
        since = fake_tg.mark()
        await fake_tg.replay_update(payment.update)
        [again] = await fake_tg.wait_for("sendMessage", predicate=bot_calls_to(alice.id), since=since)
        assert again.params["text"] == translate(
            "payment-already-credited", "en", charge_id=payment.charge_id, balance="260 credits"
        )
        assert await billing.balance(alice.id) == 260
        purchases = [m for m in await billing.ledger.recent(alice.id) if m.reason == Reason.PURCHASE]
        assert len(purchases) == 1


async def test_forged_or_stale_invoices_are_declined_at_pre_checkout(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, None)) as bot:
        mallory = fake_tg.as_user(TgUser(id=1102, first_name="Mallory"))
        await send_and_wait(fake_tg, mallory, "/start")
        forged = Call(
            "sendInvoice", {"payload": "pack:1:100000", "currency": "XTR", "prices": [{"amount": 1}]}
        )
        declined = await mallory.pay(forged)
        assert not declined.ok
        assert declined.error_message == translate("precheckout-unknown_pack", "en")

        # A real pack's payload, but a different amount.
        cheap = Call("sendInvoice", {"payload": "pack:50:50", "currency": "XTR", "prices": [{"amount": 5}]})
        declined = await mallory.pay(cheap)
        assert not declined.ok
        assert declined.error_message == translate("precheckout-wrong_amount", "en")

        assert fake_tg.calls_of("answerPreCheckoutQuery")[-1].params["ok"] is False
        assert await bot.components.billing.balance(mallory.id) == 0
        assert await bot.components.billing.payments.for_user(mallory.id) == []


async def test_a_pack_that_is_not_on_sale_gets_an_alert_and_no_invoice(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, None)):
        eve = fake_tg.as_user(TgUser(id=1103, first_name="Eve"))
        packs = await send_and_wait(fake_tg, eve, "/buy")
        since = fake_tg.mark()
        query_id = await eve.click(packs, PackCb(stars=1, credits=5000).pack(), strict=False)
        [answer] = await fake_tg.wait_for(
            "answerCallbackQuery",
            predicate=lambda c: c.params.get("callback_query_id") == query_id,
            since=since,
        )
        assert answer.params.get("show_alert") is True
        assert answer.params["text"] == translate("buy-pack-not-on-sale", "en")
        assert fake_tg.calls_of("sendInvoice") == []


async def test_balance_lists_movements_with_russian_plurals(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, None)) as bot:
        boris = fake_tg.as_user(TgUser(id=1104, first_name="Борис", language_code="ru"))
        await send_and_wait(fake_tg, boris, "/start")
        billing = bot.components.billing
        for credits in (1, 3, 5, 12):
            await billing.grant(ADMIN_ID, boris.id, credits, "test")

        reply = await send_and_wait(fake_tg, boris, "/balance")
        text = reply.text or ""
        assert "<b>21 кредит</b>" in text  # 1 + 3 + 5 + 12
        for line in ("+1 кредит ·", "+3 кредита ·", "+5 кредитов ·", "+12 кредитов ·"):
            assert line in text, (line, text)
        assert text.count(translate("reason-admin_grant", "ru")) == 4
        assert re.search(r"\d\d\.\d\d\.\d{4} \d\d:\d\d · \+1 кредит", text)
        assert translate("menu-buy", "ru") in reply.button_texts

        # The main menu's balance button shows the same, and its callback is answered.
        await send_and_wait(fake_tg, boris, "/start")
        since = fake_tg.mark()
        query_id = await boris.click_button(translate("menu-balance", "ru"))
        await fake_tg.wait_for("sendMessage", predicate=bot_calls_to(boris.id), since=since)
        await fake_tg.wait_until(lambda: fake_tg.callback_answer(query_id) is not None)
        assert (fake_tg.last_message(boris.id) or reply).text == text


async def test_balance_of_a_new_user_says_there_are_no_movements(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, None)):
        zoe = fake_tg.as_user(TgUser(id=1105, first_name="Zoe"))
        reply = await send_and_wait(fake_tg, zoe, "/balance")
        assert reply.text is not None
        assert translate("balance-title", "en", credits="0 credits") in reply.text
        assert translate("balance-no-movements", "en") in reply.text


async def test_paysupport_lists_charge_ids_and_forwards_a_request(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, fake_tg, None, admin_ids=frozenset({ADMIN_ID}))
    async with running_bot(settings):
        admin = fake_tg.as_user(TgUser(id=ADMIN_ID, first_name="Admin"))
        await send_and_wait(fake_tg, admin, "/start")
        carol = fake_tg.as_user(TgUser(id=1106, first_name="Carol", username="carol"))
        charge_id = await buy(fake_tg, carol)

        reply = await send_and_wait(fake_tg, carol, "/paysupport")
        assert reply.text is not None
        assert translate("paysupport-text", "en") in reply.text
        assert f"<code>{charge_id}</code>" in reply.text

        since = fake_tg.mark()
        await carol.send_text(f"/paysupport no credits? {charge_id}")
        [forwarded] = await fake_tg.wait_for("sendMessage", predicate=bot_calls_to(ADMIN_ID), since=since)
        assert charge_id in forwarded.params["text"] and "@carol" in forwarded.params["text"]
        await fake_tg.wait_for("sendMessage", predicate=bot_calls_to(carol.id), since=since)
        assert (fake_tg.last_message(carol.id) or reply).text == translate("paysupport-sent", "en")


# --- a successful_payment that does not match a pack sold (issue 10, item 2) ------------------------

RU_ADMIN_ID = 900_002


async def books_balance(bot: RunningBot) -> None:
    """Every user's balance equals the sum of their ledger rows."""
    rows = await bot.components.db.fetchall(
        """SELECT u.id, u.balance, COALESCE(SUM(l.amount), 0) FROM users u
           LEFT JOIN ledger l ON l.user_id = u.id GROUP BY u.id"""
    )
    assert rows and all(int(r[1]) == int(r[2]) for r in rows), [tuple(r) for r in rows]


def alerts_sent(fake: FakeTelegram, admin_id: int, charge_id: str, since: int = 0) -> list[Call]:
    return [
        c
        for c in fake.calls_of("sendMessage", since=since)
        if c.ok and c.params.get("chat_id") == admin_id and charge_id in c.params["text"]
    ]


async def forged_payment(
    fake: FakeTelegram, user: UserClient, *, payload: str, total_amount: int, currency: str = "XTR"
) -> tuple[str, dict[str, object]]:
    """Push a raw successful_payment; wait for the bot's answer to the user; return (charge id, update)."""
    charge_id = f"stxFORGED{fake.mark()}x{total_amount}"
    since = fake.mark()
    update = await fake.push_successful_payment(
        user.user, payload=payload, total_amount=total_amount, currency=currency, charge_id=charge_id
    )
    [answer] = await fake.wait_for("sendMessage", predicate=bot_calls_to(user.id), since=since)
    assert answer.params["text"] == translate(
        "payment-unrecognized", language_for(user.user.language_code), stars=total_amount, charge_id=charge_id
    )
    return charge_id, update


async def test_forged_successful_payment_credits_nothing_and_alerts_each_admin_once(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, fake_tg, None, admin_ids=frozenset({ADMIN_ID, RU_ADMIN_ID}))
    async with running_bot(settings) as bot:
        admin = fake_tg.as_user(TgUser(id=ADMIN_ID, first_name="Admin"))
        ru_admin = fake_tg.as_user(TgUser(id=RU_ADMIN_ID, first_name="Админ", language_code="ru"))
        for someone in (admin, ru_admin):
            await send_and_wait(fake_tg, someone, "/start")
        mallory = fake_tg.as_user(TgUser(id=1110, first_name="Mallory"))
        await send_and_wait(fake_tg, mallory, "/start")
        billing = bot.components.billing

        # 1 star "for" a million credits: a pack that was never on sale.
        since = fake_tg.mark()
        charge_id, update = await forged_payment(fake_tg, mallory, payload="pack:1:1000000", total_amount=1)
        assert await billing.balance(mallory.id) == 0
        payment = await billing.payment(charge_id)
        assert payment is not None and (payment.stars, payment.credits, payment.status) == (1, 0, "paid")
        [en_alert] = await fake_tg.wait_until(lambda: alerts_sent(fake_tg, ADMIN_ID, charge_id, since))
        [ru_alert] = await fake_tg.wait_until(lambda: alerts_sent(fake_tg, RU_ADMIN_ID, charge_id, since))
        values = {
            "user_id": mallory.id,
            "amount": 1,
            "currency": "XTR",
            "payload": "pack:1:1000000",
            "charge_id": charge_id,
        }
        assert en_alert.params["text"] == translate("operator-unsold_payment", "en", **values)
        assert ru_alert.params["text"] == translate("operator-unsold_payment", "ru", **values)

        # Telegram (or the forger) sends it again: the same answer, no credits, no second alert.
        since = fake_tg.mark()
        await fake_tg.replay_update(update)
        [again] = await fake_tg.wait_for("sendMessage", predicate=bot_calls_to(mallory.id), since=since)
        assert charge_id in again.params["text"]
        assert alerts_sent(fake_tg, ADMIN_ID, charge_id, since) == []
        assert alerts_sent(fake_tg, RU_ADMIN_ID, charge_id, since) == []
        assert await billing.balance(mallory.id) == 0

        # The operator can give the Stars back: the payment is on record with 0 credits.
        since = fake_tg.mark()
        await admin.send_text(f"/refund {charge_id}")
        await fake_tg.wait_for("sendMessage", predicate=bot_calls_to(ADMIN_ID), since=since)
        assert fake_tg.charges[charge_id].refunded
        await fake_tg.wait_for("sendMessage", predicate=bot_calls_to(mallory.id), since=since)  # told
        assert (await billing.payment(charge_id) or payment).refunded

        # A real purchase still works.
        await buy(fake_tg, mallory, 50, 50)
        assert await billing.balance(mallory.id) == 50
        await books_balance(bot)


async def test_successful_payment_not_in_stars_or_not_the_pack_price_credits_nothing(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, fake_tg, None, admin_ids=frozenset({ADMIN_ID}))
    async with running_bot(settings) as bot:
        admin = fake_tg.as_user(TgUser(id=ADMIN_ID, first_name="Admin"))
        await send_and_wait(fake_tg, admin, "/start")
        trudy = fake_tg.as_user(TgUser(id=1111, first_name="Trudy"))
        await send_and_wait(fake_tg, trudy, "/start")
        billing = bot.components.billing
        cases = [
            # A real pack's payload and price, but not in Stars.
            {"payload": "pack:250:260", "total_amount": 250, "currency": "USD"},
            # A real pack, paid less than its price.
            {"payload": "pack:1000:1100", "total_amount": 50, "currency": "XTR"},
        ]
        for case in cases:
            since = fake_tg.mark()
            charge_id, _ = await forged_payment(fake_tg, trudy, **case)  # type: ignore[arg-type]
            [alert] = await fake_tg.wait_until(
                lambda c=charge_id, s=since: alerts_sent(fake_tg, ADMIN_ID, c, s)
            )
            assert f"{case['total_amount']} {case['currency']}" in alert.params["text"]
            payment = await billing.payment(charge_id)
            assert payment is not None and (payment.credits, payment.currency) == (0, case["currency"])
        assert await billing.balance(trudy.id) == 0
        purchases = [m for m in await billing.ledger.recent(trudy.id) if m.reason == Reason.PURCHASE]
        assert [m.amount for m in purchases] == [0, 0]  # on the books, worth nothing
        await books_balance(bot)


async def test_pack_removed_between_pre_checkout_and_payment_is_credited_as_sold(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, fake_tg, None, star_packs="50:50,250:260")
    peggy = fake_tg.as_user(TgUser(id=1112, first_name="Peggy"))
    first = await start_bot(settings)
    try:
        invoice = await open_invoice(fake_tg, peggy, 250, 260)
        # The operator restarts with new packs while Peggy's payment is being completed.
        payment = await peggy.pay(invoice, before_successful_payment=first.stop)
    finally:
        if not first.task.done():
            await first.stop()
    assert payment.ok and payment.charge_id is not None
    since = fake_tg.mark()
    async with running_bot(settings.model_copy(update={"star_packs": (StarPack(50, 50),)})) as second:
        [confirmation] = await fake_tg.wait_for("sendMessage", predicate=bot_calls_to(peggy.id), since=since)
        assert payment.charge_id in confirmation.params["text"]
        assert "260 credits" in confirmation.params["text"]
        assert await second.components.billing.balance(peggy.id) == 260
        # The pack is gone for new buyers: pre-checkout declines it.
        declined = await peggy.pay(invoice)
        assert not declined.ok
        assert declined.error_message == translate("precheckout-unknown_pack", "en")
        await books_balance(second)


# --- the wizard's "not enough credits" path -------------------------------------------------------


def wizard_message(fake: FakeTelegram, chat_id: int) -> StoredMessage:
    for message in reversed(fake.messages(chat_id)):
        if any(data.startswith("w:") for data in message.callback_datas):
            return message
    raise AssertionError(f"no wizard message in chat {chat_id}")


async def drive_wizard_to_summary(fake: FakeTelegram, user: UserClient) -> StoredMessage:
    """/generate ▸ All models ▸ Veo 3.1 Fast ▸ text→video ▸ first ratio/options ▸ a prompt ▸ summary."""
    preferred = {"cat": "all", "model": "veo_fast", "mode": "t2v"}
    await send_and_wait(fake, user, "/generate")
    for _ in range(15):
        message = wizard_message(fake, user.id)
        datas = [WizardCallback.unpack(d) for d in message.callback_datas if d.startswith("w:")]
        if "menu:buy" in message.callback_datas or any(d.action == "ok" for d in datas):
            return message
        choices = [d for d in datas if d.action in ("cat", "model", "mode", "ratio", "opt")]
        since = fake.mark()
        if choices:
            wanted = [d for d in choices if preferred.get(d.action) == d.value] or choices
            await user.click(message, wanted[0].pack())
            await fake.wait_for(
                None,
                predicate=lambda c: (
                    c.ok
                    and c.method in ("editMessageText", "sendMessage")
                    and c.params.get("chat_id") == user.id
                ),
                since=since,
            )
        else:
            await user.send_text("A red fox runs through fresh snow at sunrise, cinematic wide shot")
            await fake.wait_for("sendMessage", predicate=bot_calls_to(user.id), since=since)
    raise AssertionError("the wizard did not reach its summary")


async def test_wizard_confirm_without_enough_credits_offers_packs_and_charges_nothing(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(make_settings(tmp_path, fake_tg, None)) as bot:
        billing = bot.components.billing
        dave = fake_tg.as_user(TgUser(id=1107, first_name="Dave"))
        await send_and_wait(fake_tg, dave, "/start")
        await billing.grant(ADMIN_ID, dave.id, 100_000, "enough to see the Confirm button")
        summary = await drive_wizard_to_summary(fake_tg, dave)
        confirm = next(
            WizardCallback.unpack(d) for d in summary.callback_datas if d.startswith("w:") and ":ok" in d
        )

        # The credits go elsewhere before the user taps Confirm.
        await billing.grant(ADMIN_ID, dave.id, -100_000, "spent elsewhere")
        since = fake_tg.mark()
        await dave.click(summary, confirm.pack())
        await fake_tg.wait_for("editMessageText", predicate=bot_calls_to(dave.id), since=since)
        refusal = fake_tg.message(dave.id, summary.message_id)
        assert refusal is not None and refusal.text is not None
        price = bot.components.catalog.quote("veo_fast", "t2v", {}).user_credits
        assert price > 0
        # The summary again, with the balance that fell short and the order kept.
        assert translate("wizard-summary-not-enough", "en", balance=0, price=price) in refusal.text
        assert translate("menu-buy", "en") in refusal.button_texts
        assert await billing.balance(dave.id) == 0
        assert await bot.components.jobs.recent_for_user(dave.id) == []

        # "Buy" offers the packs; paying works although the wizard's draft is still open.
        since = fake_tg.mark()
        await dave.click_button(translate("menu-buy", "en"))
        await fake_tg.wait_for("sendMessage", predicate=bot_calls_to(dave.id), since=since)
        packs = fake_tg.last_message(dave.id)
        assert packs is not None and PackCb(stars=1000, credits=1100).pack() in packs.callback_datas
        since = fake_tg.mark()
        await dave.click(packs, PackCb(stars=1000, credits=1100).pack())
        [invoice] = await fake_tg.wait_for("sendInvoice", predicate=bot_calls_to(dave.id), since=since)
        since = fake_tg.mark()
        payment = await dave.pay(invoice)
        assert payment.ok
        await fake_tg.wait_for("sendMessage", predicate=bot_calls_to(dave.id), since=since)
        assert await billing.balance(dave.id) == 1100
