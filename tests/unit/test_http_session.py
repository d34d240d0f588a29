"""The Bot API session: aiogram's AiohttpSession with the system's CA store instead of its own."""

from __future__ import annotations

import datetime
import hashlib
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import (
    AnswerCallbackQuery,
    BanChatMember,
    EditMessageReplyMarkup,
    EditMessageText,
    GetUpdates,
    SendChatAction,
    SendInvoice,
    SendMediaGroup,
    SendMessage,
    SendVideo,
    TelegramMethod,
)
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    LabeledPrice,
    LinkPreviewOptions,
    ReplyKeyboardRemove,
)
from aiohttp import FormData, MultipartWriter
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import BytesPayload

from bot.telegram import http_session
from bot.telegram.http_session import (
    CoalescedBody,
    CoalescedFormData,
    TelegramHttpSession,
    json_body,
    telegram_tls,
)
from bot.telegram.job_results import UploadFile
from tests.fakes.telegram import FakeTelegram, TgUser


def without_tls(session: AiohttpSession) -> dict[str, Any]:
    state = dict(vars(session))
    state["_connector_init"] = {k: v for k, v in state["_connector_init"].items() if k != "ssl"}
    state.pop("api")
    state.pop("middleware")
    return state


def test_same_state_as_aiograms_session_but_the_tls_context() -> None:
    # The subclass sets aiogram's private attributes itself: an aiogram upgrade that adds or changes
    # one fails here instead of in production.
    api = TelegramAPIServer.from_base("http://127.0.0.1:1")
    ours, theirs = TelegramHttpSession(api=api), AiohttpSession(api=api)
    assert without_tls(ours) == without_tls(theirs)
    assert ours.api == theirs.api
    assert isinstance(theirs._connector_init["ssl"], ssl.SSLContext)


def test_system_store_when_there_is_one_else_certifi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    store = ssl.DefaultVerifyPaths(str(bundle), "", "SSL_CERT_FILE", "", "SSL_CERT_DIR", "")
    monkeypatch.setattr(http_session.ssl, "get_default_verify_paths", lambda: store)
    assert telegram_tls() is True  # aiohttp's verified context from the system store

    nothing = ssl.DefaultVerifyPaths("", str(tmp_path / "none"), "SSL_CERT_FILE", "", "SSL_CERT_DIR", "")
    monkeypatch.setattr(http_session.ssl, "get_default_verify_paths", lambda: nothing)
    context = telegram_tls()
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # certifi's bundle


class RecordingWriter:
    """The request's writer as a multipart body sees it (it only calls `write`): records each write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(chunk))


def upload_form(form: FormData, video: bytes, part_bytes: int) -> FormData:
    async def parts() -> AsyncIterator[bytes]:
        for start in range(0, len(video), part_bytes):
            yield video[start : start + part_bytes]

    for n in range(20):
        form.add_field(f"field{n}", f"value {n} " * 3)
    form.add_field("video", parts(), filename="video.mp4")
    return form


async def test_an_upload_reaches_the_socket_in_few_writes_with_the_same_bytes() -> None:
    video = bytes(range(256)) * 12_000  # ~3 MB, sent in 1 MB parts as UploadFile does
    part_bytes = 1024 * 1024
    plain = upload_form(FormData(quote_fields=False), video, part_bytes)()
    coalesced = upload_form(CoalescedFormData(quote_fields=False), video, part_bytes)()
    assert isinstance(plain, MultipartWriter) and isinstance(coalesced, CoalescedBody)
    # The same boundary makes the same bytes.
    coalesced._value._boundary = plain._boundary
    coalesced.headers["Content-Type"] = plain.content_type
    direct, gathered = RecordingWriter(), RecordingWriter()
    await plain.write(cast(AbstractStreamWriter, direct))
    await coalesced.write(cast(AbstractStreamWriter, gathered))
    assert b"".join(gathered.writes) == b"".join(direct.writes)
    assert video in b"".join(gathered.writes)
    # aiohttp alone: boundary, headers, value and line end per part. Gathered: the 20 small parts in
    # one write, each 1 MB file part as it comes, the closing lines in one more.
    assert len(direct.writes) > 80
    assert len(gathered.writes) <= 2 + len(video) // part_bytes + 1
    assert coalesced.size is None and coalesced.content_type.startswith("multipart/form-data; boundary=")


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_video_sent_through_the_session_arrives_whole(tmp_path: Path, declared: bool) -> None:
    fake = FakeTelegram()
    await fake.start()
    bot = Bot(fake.token, session=TelegramHttpSession(api=TelegramAPIServer.from_base(fake.base_url)))
    try:
        fake.as_user(TgUser(id=5, first_name="Ann"))
        video = tmp_path / "clip.mp4"
        video.write_bytes(bytes(range(256)) * 4_000)
        message = await bot.send_video(
            5,
            UploadFile(
                video,
                filename="video.mp4",
                part_bytes=256 * 1024,
                size_bytes=video.stat().st_size if declared else None,
            ),
            width=720,
            height=1280,
            caption="<b>#1</b> a fox",
            supports_streaming=True,
        )
        call = fake.calls_of("sendVideo")[-1]
        assert (call.params["width"], call.params["height"]) == (720, 1280)
        assert call.params["caption"] == "<b>#1</b> a fox"
        uploaded = call.files["video"]
        assert uploaded.sha256 == hashlib.sha256(video.read_bytes()).hexdigest()
        assert uploaded.size == video.stat().st_size and uploaded.filename == "video.mp4"
        assert message.video is not None
    finally:
        await bot.session.close()
        await fake.stop()


async def test_a_file_of_known_size_makes_a_body_of_known_length(tmp_path: Path) -> None:
    # aiohttp sends a body of known size with a Content-Length (headers and a small body in one
    # write), of unknown size chunked. The file is attached under a fixed name, not a random one.
    video = tmp_path / "clip.mp4"
    video.write_bytes(bytes(range(256)) * 40)
    session = TelegramHttpSession(api=TelegramAPIServer.from_base("http://127.0.0.1:1"))
    bot = Bot("42:TEST", session=session)
    sized = SendVideo(chat_id=5, video=UploadFile(video, size_bytes=video.stat().st_size), caption="<b>a</b>")
    unsized = SendVideo(chat_id=5, video=UploadFile(video), caption="<b>a</b>")
    sized_body = session.build_form_data(bot, sized)()
    unsized_body = session.build_form_data(bot, unsized)()
    written = RecordingWriter()
    await sized_body.write(cast(AbstractStreamWriter, written))
    assert sized_body.size == len(b"".join(written.writes)) and unsized_body.size is None
    assert len(written.writes) == 1
    assert b'name="video"\r\n\r\nattach://file-video\r\n' in written.writes[0]
    assert b'name="file-video"; filename="clip.mp4"' in written.writes[0]
    # Each form has a boundary of its own (aiohttp's).
    assert sized_body.content_type != unsized_body.content_type
    await session.close()


async def test_a_file_that_is_not_its_declared_size_fails_the_upload(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(bytes(1000))
    with pytest.raises(OSError, match="is 1000 bytes, not the 999 declared"):
        async for _part in UploadFile(video, size_bytes=999).read(cast(Bot, None)):
            pass


def form_fields(session: TelegramHttpSession, bot: Bot, method: TelegramMethod[Any]) -> dict[str, str]:
    """What aiogram's form says: every field as the string it sends."""
    form = session.build_form_data(bot, method)
    return {str(options["name"]): value for options, _headers, value in form._fields}


def as_form_says(value: Any) -> str:
    """A JSON body's value as the form sends it: a string as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


keyboard = InlineKeyboardMarkup(
    inline_keyboard=[
        [
            InlineKeyboardButton(text="Кино 🎬 <b>", callback_data="w:abc:m:veo3"),
            InlineKeyboardButton(text="x", url="https://e.x/"),
        ],
        [InlineKeyboardButton(text="Back", callback_data="w:abc:b:")],
    ]
)


@pytest.mark.parametrize(
    "method",
    [
        EditMessageText(chat_id=5, message_id=7, text='<b>Шаг 2</b> & "q" 🎬', reply_markup=keyboard),
        EditMessageReplyMarkup(chat_id=5, message_id=7, reply_markup=keyboard),
        AnswerCallbackQuery(callback_query_id="123", text="Готово", show_alert=True),
        AnswerCallbackQuery(callback_query_id="123"),
        SendMessage(chat_id=5, text="a\nb"),
        SendMessage(chat_id=-1001, text="t", reply_markup=ReplyKeyboardRemove()),
        GetUpdates(offset=10, timeout=30, allowed_updates=["message", "callback_query"]),
        SendChatAction(chat_id=5, action="upload_video"),
        SendInvoice(
            chat_id=5,
            title="Pack",
            description="d",
            payload="p",
            currency="XTR",
            prices=[LabeledPrice(label="x", amount=50)],
        ),
    ],
    ids=lambda method: type(method).__name__,
)
@pytest.mark.parametrize("parse_mode", ["HTML", None], ids=["default-parse-mode", "no-default"])
def test_a_call_without_files_is_one_json_body_saying_what_the_form_says(
    method: TelegramMethod[Any], parse_mode: str | None
) -> None:
    session = TelegramHttpSession(api=TelegramAPIServer.from_base("http://127.0.0.1:1"))
    # The bot's own defaults (bot/app.py): a parse mode and link previews off, an object whose other
    # fields are defaults again.
    default = DefaultBotProperties(parse_mode=parse_mode, link_preview_is_disabled=parse_mode is not None)
    bot = Bot("42:TEST", session=session, default=default)
    body = session.request_body(bot, method)
    assert isinstance(body, BytesPayload) and body.content_type == "application/json"
    sent = json.loads(body._value)
    assert {key: as_form_says(value) for key, value in sent.items()} == form_fields(session, bot, method)
    fields = type(method).model_fields
    assert ("parse_mode" in sent) == (parse_mode is not None and "parse_mode" in fields)
    if parse_mode is not None and "link_preview_options" in fields:
        assert sent["link_preview_options"] == {"is_disabled": True}


@pytest.mark.parametrize(
    "method",
    [
        SendVideo(chat_id=5, video=BufferedInputFile(b"v", "v.mp4")),  # a file: multipart
        # parse_mode inside a media item: a default nested in an object
        SendMediaGroup(chat_id=5, media=[InputMediaPhoto(media="id1", caption="<b>x</b>")]),
        SendMessage(chat_id=5, text="t", link_preview_options=LinkPreviewOptions(is_disabled=True)),
        BanChatMember(chat_id=5, user_id=6, until_date=datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)),
        SendMessage(chat_id=5, text="lone \ud83d surrogate"),
    ],
    ids=["file", "nested-default", "nested-defaults", "date", "lone-surrogate"],
)
def test_a_call_the_json_body_cannot_say_exactly_takes_aiograms_form(method: TelegramMethod[Any]) -> None:
    session = TelegramHttpSession(api=TelegramAPIServer.from_base("http://127.0.0.1:1"))
    bot = Bot("42:TEST", session=session, default=DefaultBotProperties(parse_mode="HTML"))
    assert json_body(bot, method) is None
    assert isinstance(session.request_body(bot, method), FormData)


async def test_json_calls_reach_the_bot_api_and_answers_come_back() -> None:
    fake = FakeTelegram()
    await fake.start()
    bot = Bot(
        fake.token,
        session=TelegramHttpSession(api=TelegramAPIServer.from_base(fake.base_url)),
        default=DefaultBotProperties(parse_mode="HTML"),
    )
    try:
        fake.as_user(TgUser(id=5, first_name="Ann"))
        sent = await bot.send_message(5, "<b>Шаг</b> 1", reply_markup=keyboard)
        edited = await bot.edit_message_text(
            "<i>Шаг</i> 2", chat_id=5, message_id=sent.message_id, reply_markup=keyboard
        )
        assert not isinstance(edited, bool) and edited.text == "Шаг 2"
        call = fake.calls_of("editMessageText")[-1]
        assert call.params["parse_mode"] == "HTML" and call.params["text"] == "<i>Шаг</i> 2"
        assert call.params["reply_markup"] == keyboard.model_dump(exclude_none=True)
    finally:
        await bot.session.close()
        await fake.stop()
