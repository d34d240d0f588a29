"""Tests of the fake Bot API server itself, driven by a real aiogram Bot over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
    Update,
)
from aiohttp import web

from tests.fakes.telegram import MB, FakeTelegram, FloodControl, PaymentNotAnswered, TgUser, parse_html

ALICE = TgUser(id=1001, first_name="Alice", language_code="en", username="alice")
BOB = TgUser(id=1002, first_name="Боб", language_code="ru")


def make_bot(fake: FakeTelegram, token: str | None = None, **kwargs: Any) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))
    return Bot(token or fake.token, session=session, **kwargs)


async def close_bot(bot: Bot) -> None:
    # Close the underlying aiohttp session first: AiohttpSession.close() then skips its 0.25 s sleep.
    inner = getattr(bot.session, "_session", None)
    if inner is not None:
        await inner.close()
    await bot.session.close()


@pytest.fixture
async def bot(fake_tg: FakeTelegram) -> AsyncIterator[Bot]:
    b = make_bot(fake_tg)
    yield b
    await close_bot(b)


@pytest.fixture
async def html_bot(fake_tg: FakeTelegram) -> AsyncIterator[Bot]:
    b = make_bot(fake_tg, default=DefaultBotProperties(parse_mode="HTML", link_preview_is_disabled=True))
    yield b
    await close_bot(b)


@asynccontextmanager
async def polling(dp: Dispatcher, bot: Bot, fake: FakeTelegram) -> AsyncIterator[None]:
    task = asyncio.create_task(
        dp.start_polling(bot, polling_timeout=1, handle_signals=False, close_bot_session=False)
    )
    await fake.wait_for("getMe")
    try:
        yield
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(task, 5)


@asynccontextmanager
async def http_server(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


# ------------------------------------------------------------------------------------------ basics
async def test_get_me(bot: Bot) -> None:
    me = await bot.get_me()
    assert me.is_bot is True
    assert me.id == 123456
    assert me.username == "test_video_bot"


async def test_wrong_token_is_unauthorized(fake_tg: FakeTelegram) -> None:
    other = make_bot(fake_tg, token="999:wrong")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await other.get_me()
    finally:
        await close_bot(other)


async def test_unknown_method_is_404(fake_tg: FakeTelegram) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{fake_tg.base_url}/bot{fake_tg.token}/sendTeleport", data={"x": "1"}) as resp,
    ):
        body = await resp.json()
    assert resp.status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found"}


# ------------------------------------------------------------------------------------------ polling
async def test_long_poll_returns_as_soon_as_an_update_is_pushed(fake_tg: FakeTelegram, bot: Bot) -> None:
    async def push_later() -> None:
        await fake_tg.wait_until(lambda: fake_tg.parked_polls > 0)  # the long poll is waiting
        await fake_tg.send_text(ALICE, "/start")

    pusher = asyncio.create_task(push_later())
    started = time.monotonic()
    updates = await bot.get_updates(timeout=5)
    elapsed = time.monotonic() - started
    await pusher
    assert elapsed < 4  # well before the 5 s long-poll timeout
    assert len(updates) == 1
    msg = updates[0].message
    assert msg is not None and msg.text == "/start"
    assert msg.entities is not None and msg.entities[0].type == "bot_command"
    assert msg.from_user is not None and msg.from_user.id == ALICE.id


async def test_long_poll_times_out_with_empty_result(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 3


async def test_offset_acknowledges_and_limit(fake_tg: FakeTelegram, bot: Bot) -> None:
    for i in range(3):
        await fake_tg.send_text(ALICE, f"m{i}")
    first = await bot.get_updates(limit=2)
    assert [u.message.text for u in first if u.message] == ["m0", "m1"]
    again = await bot.get_updates()  # not acknowledged yet: redelivered
    assert [u.update_id for u in again] == [u.update_id for u in first] + [again[-1].update_id]
    rest = await bot.get_updates(offset=first[-1].update_id + 1)
    assert [u.message.text for u in rest if u.message] == ["m2"]
    assert await bot.get_updates(offset=rest[-1].update_id + 1, timeout=0) == []
    assert fake_tg.pending_updates == []


async def test_allowed_updates_filter(fake_tg: FakeTelegram, bot: Bot) -> None:
    await fake_tg.send_text(ALICE, "before")  # created before the filter: still delivered
    assert len(await bot.get_updates(allowed_updates=["callback_query"])) == 1
    await bot.send_message(ALICE.id, "x", reply_markup=_kb(("A", "a")))
    await fake_tg.send_text(ALICE, "hi")  # never created, like Telegram
    await fake_tg.click_button(ALICE, ALICE.id, "A")
    updates = await bot.get_updates(offset=-1)
    assert [u.event_type for u in updates] == ["callback_query"]
    assert [u["message"]["text"] for u in fake_tg.dropped_updates] == ["hi"]


async def test_every_user_side_update_validates_in_aiogram(fake_tg: FakeTelegram, bot: Bot) -> None:
    await fake_tg.send_text(ALICE, "/start@test_video_bot deep")
    await fake_tg.send_photo(ALICE, b"\xff\xd8jpeg", caption="look")
    await fake_tg.send_document(ALICE, b"%PDF", "a.pdf", "application/pdf", caption="doc")
    await fake_tg.send_video(ALICE, b"mp4", 8, 720, 1280)
    await fake_tg.send_audio(ALICE, b"mp3", title="Song")
    await fake_tg.send_voice(ALICE, b"ogg")
    await fake_tg.send_sticker(ALICE)
    await fake_tg.send_animation(ALICE, b"gif")
    sent = await bot.send_message(ALICE.id, "pick", reply_markup=_kb(("One", "one")))
    await fake_tg.click(ALICE, sent.message_id, "one")
    raw = fake_tg.pending_updates
    parsed = [Update.model_validate(u, context={"bot": bot}) for u in raw]
    assert [u.event_type for u in parsed] == ["message"] * 8 + ["callback_query"]
    animation_msg = parsed[7].message
    assert animation_msg is not None and animation_msg.animation is not None
    assert animation_msg.document is not None
    cq = parsed[8].callback_query
    assert cq is not None and isinstance(cq.message, Message) and cq.message.text == "pick"
    # via HTTP too
    assert len(await bot.get_updates()) == 9


# ------------------------------------------------------------------------------------------ messages
def _kb(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=d)] for t, d in buttons]
    )


async def test_send_message_limits(fake_tg: FakeTelegram, bot: Bot) -> None:
    fake_tg.add_user(ALICE)
    ok = await bot.send_message(ALICE.id, "x" * 4096)
    assert ok.message_id == 1
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(ALICE.id, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(ALICE.id, "   ")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(777, "who?")
    assert [c.ok for c in fake_tg.calls_of("sendMessage")] == [True, False, False, False]


async def test_html_is_validated_and_entities_use_plain_length(fake_tg: FakeTelegram, html_bot: Bot) -> None:
    fake_tg.add_user(ALICE)
    # 4096 visible characters but longer raw HTML is fine
    sent = await html_bot.send_message(ALICE.id, "<b>" + "&lt;" * 4096 + "</b>")
    assert sent.text == "<" * 4096
    stored = fake_tg.last_message(ALICE.id)
    assert stored is not None and stored.text is not None and stored.text.startswith("<b>&lt;")
    msg = await html_bot.send_message(
        ALICE.id, 'Hi <b>Алиса</b> 👋 <a href="https://e.x/?a=1&amp;b=2">link</a> <tg-spoiler>s</tg-spoiler>'
    )
    assert msg.text == "Hi Алиса 👋 link s"
    assert msg.entities is not None
    assert [(e.type, e.offset, e.length) for e in msg.entities] == [
        ("bold", 3, 5),
        ("text_link", 12, 4),  # 👋 is two UTF-16 code units
        ("spoiler", 17, 1),
    ]
    assert msg.entities[1].url == "https://e.x/?a=1&b=2"
    assert msg.html_text.startswith("Hi <b>Алиса</b> 👋 <a href=")  # aiogram rebuilds HTML from entities
    for bad in ("a <br> b", "<b>open", "<b>x</i>", "x</b>", "2 < 3", '<span class="x">y</span>'):
        with pytest.raises(TelegramBadRequest, match="can't parse entities"):
            await html_bot.send_message(ALICE.id, bad)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await html_bot.send_message(ALICE.id, "<b> </b>")


def test_parse_html_details() -> None:
    plain, ents = parse_html(
        '<pre><code class="language-python">x = 1</code></pre><blockquote expandable>q</blockquote>'
    )
    assert plain == "x = 1q"
    assert ents == [
        {"offset": 0, "length": 5, "type": "pre", "language": "python"},
        {"offset": 5, "length": 1, "type": "expandable_blockquote"},
    ]
    assert parse_html("a &amp; b &unknown; &#33;")[0] == "a & b &unknown; !"


async def test_callback_data_is_limited_to_64_bytes(fake_tg: FakeTelegram, bot: Bot) -> None:
    fake_tg.add_user(BOB)
    await bot.send_message(BOB.id, "ok", reply_markup=_kb(("a", "x" * 64), ("b", "ж" * 32)))
    for data in ("x" * 65, "ж" * 33):  # 65 and 66 bytes
        with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
            await bot.send_message(BOB.id, "bad", reply_markup=_kb(("a", data)))
    with pytest.raises(TelegramBadRequest, match="text buttons are unallowed"):
        await bot.send_message(
            BOB.id,
            "bad",
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="t")]]),
        )


async def test_edit_message_text_rules(fake_tg: FakeTelegram, bot: Bot) -> None:
    fake_tg.add_user(ALICE)
    sent = await bot.send_message(ALICE.id, "Pick", reply_markup=_kb(("A", "a")))
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "Pick", chat_id=ALICE.id, message_id=sent.message_id, reply_markup=_kb(("A", "a"))
        )
    edited = await bot.edit_message_text("Pick", chat_id=ALICE.id, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.reply_markup is None  # omitted markup removes the keyboard
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(chat_id=ALICE.id, message_id=sent.message_id)
    await bot.edit_message_text("Done", chat_id=ALICE.id, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=ALICE.id, message_id=99)
    stored = fake_tg.last_message(ALICE.id)
    assert stored is not None and stored.text == "Done" and stored.history == ["Pick", "Pick"]
    await bot.delete_message(ALICE.id, sent.message_id)
    assert fake_tg.messages(ALICE.id) == []
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(ALICE.id, sent.message_id)


async def test_click_button_and_answer_callback(fake_tg: FakeTelegram, bot: Bot) -> None:
    await fake_tg.send_text(ALICE, "/menu")
    await bot.send_message(ALICE.id, "Menu", reply_markup=_kb(("Balance", "bal"), ("Buy", "buy")))
    query_id = await fake_tg.click_button(ALICE, ALICE.id, "Buy")
    updates = await bot.get_updates()
    cq = updates[-1].callback_query
    assert cq is not None and cq.id == query_id and cq.data == "buy"
    with pytest.raises(TelegramBadRequest):
        await bot.answer_callback_query(query_id, text="x" * 201)
    assert await bot.answer_callback_query(query_id, text="ok")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query_id)
    assert fake_tg.callback_answer(query_id) is not None
    with pytest.raises(LookupError):
        await fake_tg.click_button(ALICE, ALICE.id, "Nope")


# ------------------------------------------------------------------------------------------ files
async def test_send_video_multipart_then_by_file_id(fake_tg: FakeTelegram, bot: Bot) -> None:
    fake_tg.add_user(ALICE)
    video = b"\x00\x00\x00\x18ftypmp42" + b"v" * 1000
    msg = await bot.send_video(
        ALICE.id,
        BufferedInputFile(video, "out.mp4"),
        width=720,
        height=1280,
        duration=8,
        supports_streaming=True,
        caption="Done ✅",
        thumbnail=BufferedInputFile(b"jpeg", "t.jpg"),
    )
    assert msg.video is not None
    assert (msg.video.width, msg.video.height, msg.video.duration, msg.video.file_size) == (
        720,
        1280,
        8,
        len(video),
    )
    assert msg.video.thumbnail is not None
    call = (await fake_tg.wait_for("sendVideo"))[0]
    assert call.params["supports_streaming"] is True and call.params["width"] == 720
    assert call.files["video"].size == len(video) and call.files["video"].filename == "out.mp4"
    assert call.files["thumbnail"].data == b"jpeg"
    assert fake_tg.files[msg.video.file_id].data == video
    stored = fake_tg.last_message(ALICE.id)
    assert (
        stored is not None
        and stored.caption == "Done ✅"
        and stored.sent_params["supports_streaming"] is True
    )

    again = await bot.send_video(ALICE.id, msg.video.file_id)
    assert again.video is not None and again.video.file_unique_id == msg.video.file_unique_id
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_video(ALICE.id, "BAACnonsense")
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await bot.send_video(ALICE.id, msg.video.file_id, caption="c" * 1025)


async def test_upload_over_50_mb_is_413(fake_tg: FakeTelegram, bot: Bot) -> None:
    fake_tg.add_user(ALICE)
    with pytest.raises(TelegramEntityTooLarge):
        await bot.send_video(ALICE.id, BufferedInputFile(bytes(51 * MB), "big.mp4"))
    assert fake_tg.calls[-1].error is not None and fake_tg.calls[-1].error.status == 413


async def test_upload_limit_is_configurable() -> None:
    async with FakeTelegram(upload_limit_bytes=1 * MB) as fake:
        fake.add_user(ALICE)
        b = make_bot(fake)
        try:
            with pytest.raises(TelegramEntityTooLarge):
                await b.send_document(ALICE.id, BufferedInputFile(bytes(MB + 1), "x.bin"))
            with pytest.raises(TelegramEntityTooLarge):  # bigger than the server body limit too
                await b.send_document(ALICE.id, BufferedInputFile(bytes(12 * MB), "x.bin"))
            doc = await b.send_document(ALICE.id, BufferedInputFile(bytes(MB), "x.bin"))
            assert doc.document is not None and doc.document.file_size == MB
        finally:
            await close_bot(b)


async def test_send_video_by_url(fake_tg: FakeTelegram, bot: Bot) -> None:
    fake_tg.add_user(ALICE)
    small, big = b"m" * 1000, bytes(21 * MB)

    async def media(request: web.Request) -> web.Response:
        body = small if request.match_info["name"] == "small.mp4" else big
        return web.Response(body=body, content_type="video/mp4")

    app = web.Application()
    app.router.add_get("/media/{name}", media)
    async with http_server(app) as base:
        msg = await bot.send_video(ALICE.id, f"{base}/media/small.mp4", width=1080, height=1920, duration=5)
        assert msg.video is not None and msg.video.file_size == len(small) and msg.video.height == 1920
        assert fake_tg.files[msg.video.file_id].data == small
        with pytest.raises(TelegramBadRequest, match="failed to get HTTP URL content"):
            await bot.send_video(ALICE.id, f"{base}/media/big.mp4")
        with pytest.raises(TelegramBadRequest, match="failed to get HTTP URL content"):
            await bot.send_video(ALICE.id, f"{base}/missing")
    with pytest.raises(TelegramBadRequest, match="failed to get HTTP URL content"):
        await bot.send_video(ALICE.id, "https://example.com/video.mp4")  # never leaves loopback


async def test_get_file_and_download(fake_tg: FakeTelegram, bot: Bot) -> None:
    data = b"\x89PNG fake image bytes"
    update = await fake_tg.send_document(ALICE, data, "pic.png", "image/png")
    file_id = update["message"]["document"]["file_id"]
    tg_file = await bot.get_file(file_id)
    assert tg_file.file_size == len(data) and tg_file.file_path
    downloaded = await bot.download(tg_file)
    assert downloaded is not None and downloaded.read() == data

    photo_update = await fake_tg.send_photo(ALICE, b"jpeg-bytes")
    biggest = photo_update["message"]["photo"][-1]
    assert (await bot.download(biggest["file_id"])).read() == b"jpeg-bytes"  # type: ignore[union-attr]


async def test_get_file_over_20_mb_fails(fake_tg: FakeTelegram, bot: Bot) -> None:
    update = await fake_tg.send_video(ALICE, file_size=25 * MB)  # declared size, no bytes held
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file(update["message"]["video"]["file_id"])
    # but it can still be re-sent by file_id (no size limit)
    msg = await bot.send_video(ALICE.id, update["message"]["video"]["file_id"])
    assert msg.video is not None and msg.video.file_size == 25 * MB
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


# ------------------------------------------------------------------------------------------ errors
async def test_injected_errors(fake_tg: FakeTelegram, bot: Bot) -> None:
    fake_tg.add_user(ALICE)
    fake_tg.fail_next("sendMessage", 429, retry_after=3)
    with pytest.raises(TelegramRetryAfter) as exc:
        await bot.send_message(ALICE.id, "hi")
    assert exc.value.retry_after == 3
    assert (await bot.send_message(ALICE.id, "hi")).text == "hi"  # only the next one failed

    fake_tg.fail_next("sendMessage", 502, count=2)
    for _ in range(2):
        with pytest.raises(TelegramServerError):
            await bot.send_message(ALICE.id, "hi")
    fake_tg.fail_next("*", 400, "Bad Request: nope")
    with pytest.raises(TelegramBadRequest, match="nope"):
        await bot.send_chat_action(ALICE.id, "upload_video")

    fake_tg.block_user(ALICE.id)
    with pytest.raises(TelegramForbiddenError, match="blocked"):
        await bot.send_message(ALICE.id, "hi")
    fake_tg.unblock_user(ALICE.id)
    await bot.send_chat_action(ALICE.id, "typing")
    failed = [c for c in fake_tg.calls if not c.ok]
    assert [c.error.status for c in failed if c.error] == [429, 502, 502, 400, 403]


async def test_wait_for_times_out_with_a_useful_message(fake_tg: FakeTelegram) -> None:
    with pytest.raises(AssertionError, match="waiting for 1 x sendVideo"):
        await fake_tg.wait_for("sendVideo", timeout=0.05)


# ------------------------------------------------------------------------------------------ webhook
async def test_webhook_delivery_with_secret_and_retry(fake_tg: FakeTelegram, bot: Bot) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []
    attempts = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            return web.Response(status=500)
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/tg/webhook", hook)
    async with http_server(app) as base:
        await fake_tg.send_text(ALICE, "queued before")
        await bot.set_webhook(f"{base}/tg/webhook", secret_token="s3cret_-X", drop_pending_updates=True)
        info = await bot.get_webhook_info()
        assert info.url.endswith("/tg/webhook") and info.pending_update_count == 0
        with pytest.raises(TelegramConflictError):
            await bot.get_updates()
        await fake_tg.send_text(ALICE, "/start")
        await fake_tg.wait_until(lambda: len(received) == 1)
        assert attempts == 2
        secret, update = received[0]
        assert secret == "s3cret_-X"
        assert update["message"]["text"] == "/start"
        assert [d.status for d in fake_tg.webhook_deliveries] == [500, 200]
        await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == []


# ------------------------------------------------------------------------------------------ payments
async def test_invoice_pay_and_refund_twice(fake_tg: FakeTelegram, bot: Bot) -> None:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer_invoice(
            title="10 credits",
            description="Video credits",
            payload="pack:10",
            currency="XTR",
            prices=[LabeledPrice(label="10 credits", amount=50)],
        )

    @router.pre_checkout_query()
    async def pre_checkout(query: PreCheckoutQuery) -> None:
        await query.answer(ok=query.invoice_payload == "pack:10", error_message="unknown pack")

    @router.message(F.successful_payment)
    async def paid(message: Message) -> None:
        assert message.successful_payment is not None
        await message.answer(f"paid {message.successful_payment.total_amount}")

    dp = Dispatcher()
    dp.include_router(router)
    async with polling(dp, bot, fake_tg):
        await fake_tg.send_text(ALICE, "/start")
        invoice_call = (await fake_tg.wait_for("sendInvoice"))[0]
        assert invoice_call.params["currency"] == "XTR" and "provider_token" not in invoice_call.params
        assert fake_tg.last_message(ALICE.id).kind == "invoice"  # type: ignore[union-attr]
        payment = await fake_tg.pay(ALICE, invoice_call)
        assert payment.ok and payment.charge_id
        await fake_tg.wait_for("sendMessage", predicate=lambda c: c.params["text"] == "paid 50")
        # duplicate delivery of the very same successful_payment
        mark = fake_tg.mark()
        assert payment.update is not None
        await fake_tg.replay_update(payment.update)
        await fake_tg.wait_for("sendMessage", since=mark)

    assert await bot.refund_star_payment(ALICE.id, payment.charge_id)
    with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
        await bot.refund_star_payment(ALICE.id, payment.charge_id)
    with pytest.raises(TelegramBadRequest, match="CHARGE_NOT_FOUND"):
        await bot.refund_star_payment(ALICE.id, "stxNOPE")


async def test_stars_invoice_rules(fake_tg: FakeTelegram, bot: Bot) -> None:
    fake_tg.add_user(ALICE)
    price = [LabeledPrice(label="x", amount=5)]
    with pytest.raises(TelegramBadRequest):
        await bot.send_invoice(ALICE.id, "t", "d", "p", currency="XTR", prices=price * 2)
    with pytest.raises(TelegramBadRequest):
        await bot.send_invoice(ALICE.id, "t", "d", "p", currency="XTR", prices=price, provider_token="tok")
    with pytest.raises(TelegramBadRequest):
        await bot.send_invoice(ALICE.id, "t", "d", "p" * 129, currency="XTR", prices=price)
    msg = await bot.send_invoice(ALICE.id, "t", "d", "p", currency="XTR", prices=price, provider_token="")
    assert msg.invoice is not None and msg.invoice.total_amount == 5


async def test_pay_without_answer_times_out(fake_tg: FakeTelegram, bot: Bot) -> None:
    fake_tg.add_user(ALICE)
    await bot.send_invoice(
        ALICE.id, "t", "d", "p", currency="XTR", prices=[LabeledPrice(label="x", amount=5)]
    )
    call = fake_tg.calls_of("sendInvoice")[0]
    with pytest.raises(PaymentNotAnswered):
        await fake_tg.pay(ALICE, call, answer_timeout=0.1)
    query = next(u for u in fake_tg.pending_updates if "pre_checkout_query" in u)["pre_checkout_query"]
    with pytest.raises(TelegramBadRequest, match="query is too old"):  # too late, like Telegram
        await bot.answer_pre_checkout_query(query["id"], ok=True)
    assert fake_tg.charges == {}


# ------------------------------------------------------------------------------------------ e2e shape
async def test_dispatcher_polling_round_trip(fake_tg: FakeTelegram, html_bot: Bot) -> None:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("<b>Hello</b>", reply_markup=_kb(("Go", "go")))

    @router.callback_query(F.data == "go")
    async def go(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.message.edit_text("Going…")
        await query.answer()

    dp = Dispatcher()
    dp.include_router(router)
    async with polling(dp, html_bot, fake_tg):
        alice = fake_tg.as_user(ALICE)
        await alice.send_text("/start")
        await fake_tg.wait_for("sendMessage")
        assert alice.last_message() is not None and alice.last_message().button_texts == ["Go"]  # type: ignore[union-attr]
        query_id = await alice.click_button("Go")
        await fake_tg.wait_for("answerCallbackQuery")
        assert fake_tg.callback_answer(query_id) is not None
    last = fake_tg.last_message(ALICE.id)
    assert last is not None and last.text == "Going…" and last.buttons == []


async def test_commands_are_stored_per_scope_and_language(bot: Bot, fake_tg: FakeTelegram) -> None:
    from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats

    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    await bot.set_my_commands(
        [BotCommand(command="start", description="Старт")],
        scope=BotCommandScopeAllPrivateChats(),
        language_code="ru",
    )
    assert fake_tg.commands_for() == [{"command": "start", "description": "Start"}]
    assert fake_tg.commands_for({"type": "all_private_chats"}, "ru") == [
        {"command": "start", "description": "Старт"}
    ]
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    with pytest.raises(TelegramBadRequest):
        await bot.set_my_commands([BotCommand(command="Bad-Command", description="x")])


async def test_unknown_method_maps_to_telegram_not_found(fake_tg: FakeTelegram, bot: Bot) -> None:
    from aiogram.methods import GetChat

    with pytest.raises(TelegramNotFound):
        await bot(GetChat(chat_id=ALICE.id))


async def test_other_media_captions_and_misc(fake_tg: FakeTelegram, html_bot: Bot) -> None:
    from aiogram.types import MenuButtonCommands

    fake_tg.add_user(ALICE)
    doc = await html_bot.send_document(
        ALICE.id,
        BufferedInputFile(b"%PDF-1.4", "r.pdf"),
        caption="<i>report</i>",
        reply_markup=_kb(("X", "x")),
    )
    assert doc.document is not None and doc.document.file_name == "r.pdf" and doc.caption == "report"
    photo = await html_bot.send_photo(ALICE.id, BufferedInputFile(b"jpeg", "p.jpg"))
    assert photo.photo is not None and len(photo.photo) == 2
    edited = await html_bot.edit_message_caption(
        chat_id=ALICE.id, message_id=doc.message_id, caption="<b>new</b>"
    )
    assert isinstance(edited, Message) and edited.caption == "new" and edited.reply_markup is None
    with pytest.raises(TelegramBadRequest, match="no text in the message"):
        await html_bot.edit_message_text("t", chat_id=ALICE.id, message_id=photo.message_id)
    # Telegram trims surrounding whitespace, so this edit changes nothing
    text_msg = await html_bot.send_message(ALICE.id, "Hello")
    with pytest.raises(TelegramBadRequest, match="not modified"):
        await html_bot.edit_message_text("Hello\n", chat_id=ALICE.id, message_id=text_msg.message_id)
    assert await html_bot.set_chat_menu_button(menu_button=MenuButtonCommands())
    assert fake_tg.menu_buttons[None] == {"type": "commands"}
    assert [m.kind for m in fake_tg.messages(ALICE.id)] == ["document", "photo", "text"]
    await fake_tg.send_text(ALICE, "hi")
    assert len(fake_tg.messages(ALICE.id, include_user=True)) == 4


# ----------------------------------------------------------------------------- flood control


class _StepClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_flood_control_is_off_by_default(fake_tg: FakeTelegram, bot: Bot) -> None:
    fake_tg.add_user(ALICE)
    for n in range(10):
        await bot.send_message(ALICE.id, f"m{n}")
    assert fake_tg.flood_control is None


async def test_flood_control_per_chat_burst_then_one_a_second(fake_tg: FakeTelegram, bot: Bot) -> None:
    clock = _StepClock()
    fake_tg.flood_control = FloodControl(clock=clock)
    fake_tg.add_user(ALICE)
    fake_tg.add_user(BOB)
    for n in range(3):  # the burst
        await bot.send_message(ALICE.id, f"m{n}")
    with pytest.raises(TelegramRetryAfter) as refused:
        await bot.send_message(ALICE.id, "too soon")
    assert refused.value.retry_after == 1
    await bot.send_chat_action(ALICE.id, "typing")  # not a message: never refused
    await bot.send_message(BOB.id, "another chat is not affected")
    clock.now += 1.0
    await bot.send_message(ALICE.id, "a second later")
    assert fake_tg.flood_control.refused == [("sendMessage", ALICE.id)]
    assert [c.error.status for c in fake_tg.calls if c.error is not None] == [429]


async def test_flood_control_thirty_a_second_per_bot(fake_tg: FakeTelegram, bot: Bot) -> None:
    clock = _StepClock()
    fake_tg.flood_control = FloodControl(clock=clock)
    users = [TgUser(id=5000 + n, first_name=f"U{n}") for n in range(31)]
    for user in users:
        fake_tg.add_user(user)
    for user in users[:30]:
        await bot.send_message(user.id, "hi")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(users[30].id, "the 31st in one second")
    clock.now += 1.0
    await bot.send_message(users[30].id, "a second later")


async def test_flood_control_twenty_a_minute_per_group(fake_tg: FakeTelegram, bot: Bot) -> None:
    clock = _StepClock()
    fake_tg.flood_control = FloodControl(clock=clock)
    group = -100123
    fake_tg.add_group(group, "Team")
    for n in range(20):
        clock.now += 1.0  # within the per-bot and per-chat pace, past the group's
        await bot.send_message(group, f"m{n}")
    with pytest.raises(TelegramRetryAfter) as refused:
        await bot.send_message(group, "21st within a minute")
    assert refused.value.retry_after == 41  # the first of the 20 (at +1 s) leaves the window at +61 s


@pytest.mark.parametrize("quote_fields", [False, True])
async def test_a_multipart_form_reads_as_aiohttp_reads_it(fake_tg: FakeTelegram, quote_fields: bool) -> None:
    # The fake splits multipart forms itself (server.py, _read_form): the same fields and files as
    # aiohttp's request.post(), whatever the values hold (quotes, CRLF, dashes, non-ASCII).
    fake_tg.add_user(ALICE)
    content = b"\x00\r\n--not-the-boundary\r\n\r\n" + bytes(range(256)) * 50
    form = aiohttp.FormData(quote_fields=quote_fields)
    form.add_field("chat_id", str(ALICE.id))
    form.add_field("caption", 'say "hi"\r\n--\r\nпривет ü')
    form.add_field("document", content, filename='clip "1".mp4', content_type="video/mp4")
    url = f"{fake_tg.base_url}/bot{fake_tg.token}/sendDocument"
    async with aiohttp.ClientSession() as http, http.post(url, data=form) as response:
        answer = await response.json()
    assert answer["ok"], answer
    call = fake_tg.calls_of("sendDocument")[-1]
    assert call.params["chat_id"] == ALICE.id
    assert call.params["caption"] == 'say "hi"\r\n--\r\nпривет ü'
    uploaded = call.files["document"]
    # aiohttp's writer percent-encodes a quoted field's file name and its reader leaves it so.
    filename = "clip%20%221%22.mp4" if quote_fields else 'clip "1".mp4'
    assert (uploaded.filename, uploaded.content_type, uploaded.data) == (filename, "video/mp4", content)
