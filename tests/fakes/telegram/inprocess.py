"""The fake Telegram without HTTP: an aiogram session that hands every call to the fake's methods.

`RecordingSession` is the in-process layer's Bot session (the pattern of aiogram's own
tests/mocked_bot.py, which is not shipped in the wheel). Each Bot API call is encoded exactly as
`AiohttpSession` would put it in a form (``prepare_value``: JSON for objects, ``attach://`` for
files, defaults such as parse_mode filled in), decoded with the fake server's coercion, run by the
same method handler the HTTP server routes to, and answered through aiogram's real
``check_response``. So results are realistic objects (a sent Message has a per-chat id, a date,
the bot as sender), Telegram's errors become aiogram's real exceptions ("message is not
modified", 403 for a blocked user, ``fail_next``), and the fake's chat state (``messages``,
``last_message``, ``callback_answer``) and call log (``calls``, ``calls_of``) work as in e2e tests.

No sockets: `FakeTelegram.start()` is never called. Sending media by URL would need them (the
fake downloads the URL) and fails with "failed to get HTTP URL content"; ``hold_next`` and
``drop_next`` act on HTTP requests only; updates are fed to the dispatcher by the test, not polled.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile

from tests.fakes.telegram.constants import E_NOT_FOUND, E_TOO_LARGE
from tests.fakes.telegram.records import Call, CallError, TgError, UploadedFile
from tests.fakes.telegram.server import _coerce

if TYPE_CHECKING:
    from aiogram import Bot

    from tests.fakes.telegram.server import FakeTelegram

logger = logging.getLogger("tests.fakes.telegram")

ATTACH = "attach://"


class RecordingSession(BaseSession):
    """A Bot session that runs each call against a (not started) `FakeTelegram`, in process.

    `requests` keeps the aiogram method objects in order (typed assertions); the fake's `calls`
    keeps what Telegram would have seen (decoded params, result or error)."""

    def __init__(self, fake: FakeTelegram) -> None:
        super().__init__()
        self.fake = fake
        self.requests: list[TelegramMethod[Any]] = []

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        self.requests.append(method)
        name = method.__api_method__
        call = Call(name, {})
        try:
            call.params, call.files = await self._encode(bot, method)
            entry = self.fake._handlers.get(name.lower())
            if entry is None:
                raise TgError(404, E_NOT_FOUND)
            name, handler = entry
            call.method = name
            # What the HTTP server does between reading a request and running the method.
            self.fake._check_injected(name)
            self.fake._check_blocked(name, call.params)
            self.fake._check_flood(name, call.params)
            call.result = await handler(call.params, call.files)
        except TgError as e:
            call.error = CallError(e.status, e.description, e.parameters)
        except Exception as e:  # a bug in the fake: make it visible, as the server does
            logger.exception("FakeTelegram failed on %s", name)
            self.fake.internal_errors.append(e)
            call.error = CallError(500, f"Internal Server Error: fake crashed: {e!r}")
        await self.fake._record(call)
        if call.error is None:
            status, body = 200, {"ok": True, "result": call.result}
        else:
            status = call.error.status
            body = {"ok": False, "error_code": status, "description": call.error.description}
            if call.error.parameters:
                body["parameters"] = call.error.parameters
        response = self.check_response(bot, method, status, self.json_dumps(body))
        return response.result  # type: ignore[return-value]

    async def _encode(
        self, bot: Bot, method: TelegramMethod[Any]
    ) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        """The method as the fake server decodes aiogram's form: typed params and uploaded files."""
        files: dict[str, InputFile] = {}
        form: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files)
            if prepared:  # aiogram leaves empty values out of the form
                # On the wire a str enum (ParseMode.HTML) is its text, "HTML".
                form[key] = str.__str__(prepared) if isinstance(prepared, str) else prepared
        uploads = {ref: await _read_upload(bot, ref, input_file) for ref, input_file in files.items()}
        if sum(upload.size for upload in uploads.values()) > self.fake.upload_limit_bytes:
            raise TgError(413, E_TOO_LARGE)
        params: dict[str, Any] = {}
        attached: dict[str, UploadedFile] = {}
        for key, value in form.items():
            if isinstance(value, str) and value.startswith(ATTACH) and value[len(ATTACH) :] in uploads:
                params[key] = attached[key] = uploads[value[len(ATTACH) :]]
            else:
                params[key] = _coerce(key, value)
        # Files referenced from inside JSON (InputMedia) keep their part name, like the server.
        referenced = {id(upload) for upload in attached.values()}
        for ref, upload in uploads.items():
            if id(upload) not in referenced:
                attached[ref] = upload
        return params, attached

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        """`bot.download`: the bytes of a file the fake knows, by its file_path."""
        _, _, rest = url.partition("/file/bot")
        _, _, path = rest.partition("/")
        record = next((r for r in self.fake.files.values() if r.file_path == path and r.data), None)
        if record is None or record.data is None:
            raise FileNotFoundError(f"the fake has no file at {path!r}")
        for start in range(0, len(record.data), chunk_size):
            yield record.data[start : start + chunk_size]

    async def close(self) -> None:
        """Nothing to close: no connection was ever opened."""


async def _read_upload(bot: Bot, ref: str, input_file: InputFile) -> UploadedFile:
    data = b"".join([chunk async for chunk in input_file.read(bot)])
    return UploadedFile(
        filename=input_file.filename or ref,
        content_type="application/octet-stream",  # what aiohttp's FormData labels a file part
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
    )

