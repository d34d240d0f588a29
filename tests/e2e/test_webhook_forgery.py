"""Webhook mode: forged updates (an admin's /grant, a successful_payment) without the secret mint nothing."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.e2e.harness import free_port, make_settings, running_bot
from tests.e2e.jobs_support import books_balance
from tests.fakes.telegram import FakeTelegram, TgUser

ADMIN = 9101
VICTIM = 9102
SECRET = "forgery-test-secret_0123456789"


async def test_forged_grant_and_payment_without_the_secret_mint_nothing(
    fake_tg: FakeTelegram, tmp_path: Path
) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    settings = make_settings(
        tmp_path,
        fake_tg,
        None,
        web_port=port,
        telegram_webhook=True,
        public_url=public,
        webhook_secret=SECRET,
        admin_ids=str(ADMIN),
    )
    async with running_bot(settings) as bot:
        fake_tg.add_user(TgUser(id=VICTIM, first_name="Mallory"))
        await bot.components.accounts.register(VICTIM, language_code="en", first_name="Mallory")
        grant = {
            "update_id": 5001,
            "message": {
                "message_id": 1,
                "date": int(time.time()),
                "chat": {"id": ADMIN, "type": "private", "first_name": "Admin"},
                "from": {"id": ADMIN, "is_bot": False, "first_name": "Admin"},
                "text": f"/grant {VICTIM} 5000000",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }
        payment = {
            "update_id": 5002,
            "message": {
                "message_id": 2,
                "date": int(time.time()),
                "chat": {"id": VICTIM, "type": "private", "first_name": "Mallory"},
                "from": {"id": VICTIM, "is_bot": False, "first_name": "Mallory"},
                "successful_payment": {
                    "currency": "XTR",
                    "total_amount": 1000,
                    "invoice_payload": "pack:1000:1100",
                    "telegram_payment_charge_id": "forged-charge-1",
                    "provider_payment_charge_id": "",
                },
            },
        }
        async with httpx.AsyncClient() as client:
            for update in (grant, payment):
                for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": SECRET[:-1] + "x"}):
                    answer = await client.post(f"{public}/tg/webhook", json=update, headers=headers)
                    assert answer.status_code == 401
        assert await bot.components.inflight.wait_idle(10)
        assert await bot.components.billing.balance(VICTIM) == 0
        assert await bot.components.accounts.get(ADMIN) is None, "nothing reached the handlers"
        assert await books_balance(bot)
