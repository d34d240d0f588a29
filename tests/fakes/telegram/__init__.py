"""A faithful fake of the Telegram Bot API over real HTTP on 127.0.0.1.

The unchanged bot talks to it through
``AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))``; tests act as users
(``send_text``, ``click_button``, ``pay`` ...) and assert on recorded calls and on the
current state of every chat (``messages``, ``last_message``).

What is emulated (see tests/unit/test_fake_telegram.py for executable examples):

* form/multipart decoding exactly as aiogram sends it, ``attach://`` resolution;
* real long-poll ``getUpdates`` (offset acknowledges, timeout, limit, allowed_updates,
  409 while a webhook is set or when another getUpdates takes over);
* webhook delivery (POST with ``X-Telegram-Bot-Api-Secret-Token``, retried until 2xx);
* messages per chat with per-chat ids, edits ("not modified", "not found", keyboard
  removed when an edit omits ``reply_markup``), deletes;
* HTML parse mode validation and entity extraction, text/caption/callback limits;
* files: multipart upload (limit configurable, 413 above it), send by URL (loopback only,
  20 MB cap, 5 MB for photos), by file_id, ``getFile`` (20 MB cap) and the download route;
* Telegram Stars: ``sendInvoice``/``createInvoiceLink`` (XTR rules), pre-checkout with a
  10 s answer deadline, ``successful_payment``, ``refundStarPayment``;
* injected failures (``fail_next``) and blocked users (``block_user``);
* optional flood control (``FloodControl``: 429 past about 1 message/s per chat, 30/s per bot,
  20/min per group), off by default.

Modules: ``server`` (the aiohttp app, routing, long poll and webhook delivery, injected
failures and holds; `FakeTelegram` itself), ``flood`` (optional flood control), ``state``
(chats, messages, files, recorded calls and the waits on them), ``updates`` (a test acting as
a user: messages, clicks, payments, group and channel updates), ``methods`` (the Bot API method
handlers), ``html`` (HTML parse mode, entities, UTF-16 offsets), ``records`` (the dataclasses
tests read), ``constants`` (limits, Telegram's error texts, parameter kinds) and ``user``
(`TgUser`, `UserClient`).
"""

from tests.fakes.telegram.constants import DEFAULT_TOKEN, MB
from tests.fakes.telegram.flood import FloodControl
from tests.fakes.telegram.html import parse_html
from tests.fakes.telegram.records import (
    Call,
    CallError,
    Charge,
    FileRecord,
    Payment,
    PaymentNotAnswered,
    StoredMessage,
    UploadedFile,
    UrlFetch,
    WaitTimeout,
    WebhookDelivery,
)
from tests.fakes.telegram.server import FakeTelegram
from tests.fakes.telegram.user import TgUser, UserClient

__all__ = [
    "DEFAULT_TOKEN",
    "MB",
    "Call",
    "CallError",
    "Charge",
    "FakeTelegram",
    "FileRecord",
    "FloodControl",
    "Payment",
    "PaymentNotAnswered",
    "StoredMessage",
    "TgUser",
    "UploadedFile",
    "UrlFetch",
    "UserClient",
    "WaitTimeout",
    "WebhookDelivery",
    "parse_html",
]
