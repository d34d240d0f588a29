"""The HTTP session to the Bot API: aiogram's AiohttpSession, trusting the system's CA store and
writing uploads to the socket in few large writes.

aiogram builds a TLS context of its own from certifi's bundle for every session (~0.7 MB of the
process, bench/bench_jobs.py section 3), while aiohttp already holds a verified context from the
system's store, loaded when aiohttp is imported; the KIE client uses that one. Where the system
has a CA bundle (every distribution, the python:3.11-slim image) Telegram gets the same one, so
the bot trusts one store for both services; where it has none, certifi's as before.

An upload (sendVideo) is a multipart body of ~20 parts; aiohttp writes each part's boundary, headers,
value and line end as a chunk of its own, each a send() system call: ~40 per video, 14% of the
bot's CPU in a burst of 100 deliveries (bench/bench_jobs.py 1b, profiled). CoalescedBody hands the
socket the same bytes in pieces of up to COALESCE_BYTES instead; the video file itself still streams
in its UPLOAD_READ_BYTES parts, so memory per upload stays bounded.

A call without files (every wizard step, every answer to a tap) goes out as one JSON body, which the
Bot API takes as well as a form: aiogram walks every button's dozen unset fields in Python
(BaseSession.prepare_value) and aiohttp then percent-encodes the JSON it made, character by character;
pydantic leaves the unset fields out in Rust and the body is half the size. ~0.2 ms less per wizard
edit, about a tenth of the bot's CPU per tap (bench/bench_wizard.py). Anything the JSON body cannot
say exactly as the form would (a file, a default resolved inside a nested object, a date) takes
aiogram's form.

A successful answer is read as a small model where the caller asked for it (lean_answers.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any, NoReturn, cast

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import InputFile, TelegramObject
from aiohttp import ClientError, ClientTimeout, FormData, MultipartWriter, TCPConnector
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import AsyncIterablePayload, BytesPayload, Payload

from bot.telegram.lean_answers import answer_response_model

# aiogram's own values (aiogram/client/session/aiohttp.py, 3.31); tests/unit/test_http_session.py
# compares this session with aiogram's, so an aiogram upgrade that changes them fails there.
CONNECTION_LIMIT = 100
DNS_CACHE_TTL_S = 3600


def system_ca_available() -> bool:
    """True when OpenSSL's default verify paths hold a CA bundle or a certificate directory."""
    paths = ssl.get_default_verify_paths()
    if paths.cafile and os.path.isfile(paths.cafile):
        return True
    return bool(paths.capath and os.path.isdir(paths.capath) and os.listdir(paths.capath))


def telegram_tls() -> ssl.SSLContext | bool:
    """`True` (aiohttp's verified context from the system store) when the system has CAs, else a
    context from certifi's bundle (what aiogram does by default)."""
    if system_ca_available():
        return True
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class TelegramHttpSession(AiohttpSession):
    """AiohttpSession without the TLS context it would build in __init__ (see the module doc)."""

    def __init__(self, **kwargs: Any) -> None:
        # AiohttpSession.__init__ minus its certifi context; proxies are not configurable here.
        BaseSession.__init__(self, **kwargs)
        self._session = None
        self._connector_type = TCPConnector
        self._connector_init = {
            "ssl": telegram_tls(),
            "limit": CONNECTION_LIMIT,
            "ttl_dns_cache": DNS_CACHE_TTL_S,
        }
        self._should_reset_connector = True
        self._proxy = None

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        """aiogram's make_request (3.31), with the body from request_body instead of build_form_data."""
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        body = self.request_body(bot, method)
        # What aiohttp makes of aiogram's number of seconds (ClientSession._request).
        request_timeout = ClientTimeout(total=self.timeout if timeout is None else timeout)
        try:
            async with session.post(url, data=body, timeout=request_timeout) as resp:
                raw_result = await resp.text()
        except TimeoutError as e:
            raise TelegramNetworkError(method=method, message="Request timeout error") from e
        except ClientError as e:
            raise TelegramNetworkError(method=method, message=f"{type(e).__name__}: {e}") from e
        response = self.check_response(bot=bot, method=method, status_code=resp.status, content=raw_result)
        return cast(TelegramType, response.result)

    def request_body(self, bot: Bot, method: TelegramMethod[TelegramType]) -> Payload | FormData:
        """The call as one JSON body when that says exactly what aiogram's form says, else the form."""
        return json_body(bot, method) or self.build_form_data(bot, method)

    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        """aiogram's check_response, but a successful answer is read as lean_answers says when a
        call asked for it (lean_answers.answer_read_as); everything else goes to aiogram's."""
        response_model = answer_response_model()
        if response_model is not None and HTTPStatus.OK <= status_code <= HTTPStatus.IM_USED:
            # ValueError: not JSON (json.JSONDecodeError) or not the small model (ValidationError).
            with contextlib.suppress(ValueError):
                response = response_model.model_validate(self.json_loads(content), context={"bot": bot})
                if response.ok:
                    return cast(Response[TelegramType], response)
        return super().check_response(bot, method, status_code, content)

    def build_form_data(self, bot: Bot, method: TelegramMethod[TelegramType]) -> FormData:
        """aiogram's build_form_data (3.31), on CoalescedFormData, with two changes for uploads:

        - a file given directly as a parameter (the video, its thumbnail) is attached as
          "file-<parameter>" instead of under a random name (secrets.token_urlsafe, a getrandom()
          system call each: the name only ties the parameter to its part);
        - a file whose size is known (UploadFile.size_bytes) makes a body of known length: the
          request goes out with Content-Length instead of chunked, headers and a small body in one
          write, with no closing chunk of its own.
        """
        form = CoalescedFormData(quote_fields=False)
        files: dict[str, InputFile] = {}
        for key, value in method.model_dump(warnings=False).items():
            if isinstance(value, InputFile):
                files[f"file-{key}"] = value
                value = f"attach://file-{key}"
            else:
                value = self.prepare_value(value, bot=bot, files=files)
            if not value:
                continue
            form.add_field(key, value)
        for key, file in files.items():
            size: int | None = getattr(file, "size_bytes", None)
            stream = file.read(bot)
            body = stream if size is None else SizedStreamPayload(stream, size)
            form.add_field(key, body, filename=file.filename or key)
        return form


class _NotJson(Exception):
    """A value the JSON body would not carry as aiogram's form does: the call takes the form."""


def _refuse(value: object) -> NoReturn:
    raise _NotJson(type(value).__name__)


def json_body(bot: Bot, method: TelegramMethod[Any]) -> BytesPayload | None:
    """The call's parameters as aiogram's form would send them (BaseSession.prepare_value), as JSON;
    None when a value has no such JSON form here: a file, a date, a default inside a nested object
    the call was given (all of them are left to the form, which resolves or attaches them).

    The form leaves out unset (None) values at every depth and empty strings at the top. A top-level
    default is resolved from the bot's and left out when that is None; one that resolves to an object
    (the bot's link preview options, whose own unset fields are defaults too) is prepared by aiogram.
    """
    fields = method.model_dump(warnings=False, exclude_none=True)
    for key, value in list(fields.items()):
        if isinstance(value, Default):
            value = bot.default[value.name]
            if isinstance(value, TelegramObject):
                files: dict[str, InputFile] = {}
                value = bot.session.prepare_value(value, bot=bot, files=files, _dumps_json=False)
                if files:
                    return None
            if value is None:
                del fields[key]
                continue
            fields[key] = value
        if value == "":
            del fields[key]
    try:
        # separators: no spaces; ensure_ascii off: UTF-8 text, a third of the \uXXXX escapes' size.
        # A lone surrogate cannot be encoded; the form would fail on it alike, with aiogram's error.
        data = json.dumps(fields, ensure_ascii=False, separators=(",", ":"), default=_refuse).encode()
    except (_NotJson, UnicodeEncodeError):
        return None
    return BytesPayload(data, content_type="application/json")


# Small writes are gathered up to this size before they reach the socket; larger ones pass through.
COALESCE_BYTES = 64 * 1024


class SizedStreamPayload(AsyncIterablePayload):
    """A streamed file part whose size is known beforehand (aiohttp cannot know a stream's)."""

    def __init__(self, stream: AsyncIterator[bytes], size: int) -> None:
        super().__init__(stream)
        self._size = size


class CoalescedFormData(FormData):
    """aiohttp's FormData whose multipart body is a CoalescedBody."""

    def __call__(self) -> Payload:
        body = super().__call__()
        return CoalescedBody(body) if isinstance(body, MultipartWriter) else body


class CoalescedBody(Payload):
    """A multipart body written through a _GatheringWriter: the same bytes, in few writes."""

    _value: MultipartWriter

    def __init__(self, multipart: MultipartWriter) -> None:
        # The multipart's Content-Type carries its boundary. Its size is known when every part's is
        # (SizedStreamPayload); else None, and the request is sent chunked.
        super().__init__(multipart, content_type=multipart.content_type)
        self._size = multipart.size

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self._value.decode(encoding, errors)

    async def write(self, writer: AbstractStreamWriter) -> None:
        gathering = _GatheringWriter(writer)
        await self._value.write(gathering)
        await gathering.flush()

    async def as_bytes(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return await self._value.as_bytes(encoding, errors)

    async def close(self) -> None:
        await self._value.close()


class _GatheringWriter(AbstractStreamWriter):
    """What MultipartWriter.write writes to (it only calls write): gathers small writes."""

    def __init__(self, target: AbstractStreamWriter, limit: int = COALESCE_BYTES) -> None:
        self.target = target
        self.limit = limit
        self._pending = bytearray()

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        if len(self._pending) + len(chunk) <= self.limit:
            self._pending += chunk
            return
        await self.flush()
        if len(chunk) <= self.limit:
            self._pending += chunk
        else:
            await self.target.write(chunk)

    async def flush(self) -> None:
        if self._pending:
            pending, self._pending = bytes(self._pending), bytearray()
            await self.target.write(pending)

    async def write_eof(self, chunk: bytes = b"") -> None:
        raise NotImplementedError("a multipart body never ends the request")

    async def drain(self) -> None:
        await self.target.drain()

    def enable_compression(self, encoding: str = "deflate", strategy: int | None = None) -> None:
        raise NotImplementedError("aiogram's parts are not compressed")

    def enable_chunking(self) -> None:
        raise NotImplementedError("the request's writer does the chunking")

    async def write_headers(self, status_line: str, headers: Any) -> None:
        raise NotImplementedError("the request's writer writes the headers")
