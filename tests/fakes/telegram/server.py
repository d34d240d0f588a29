"""`FakeTelegram`: the aiohttp app, routing, long poll and webhook delivery, injected failures."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import re
import time
from functools import cached_property
from typing import Any

import aiohttp
from aiohttp import hdrs, web
from aiohttp.helpers import parse_mimetype
from aiohttp.multipart import content_disposition_filename, parse_content_disposition

from tests.fakes.telegram.constants import (
    BOOL_FIELDS,
    DEFAULT_DESCRIPTIONS,
    E_BLOCKED,
    E_NOT_FOUND,
    E_POLL_CONFLICT,
    E_TOO_LARGE,
    E_UNAUTHORIZED,
    E_WEBHOOK_CONFLICT,
    E_WRONG_FILE,
    INT_FIELDS,
    JSON_FIELDS,
    MB,
    MEDIA_KEYS,
    STRING_FIELDS,
)
from tests.fakes.telegram.methods import MethodsMixin
from tests.fakes.telegram.records import (
    Call,
    CallError,
    Handler,
    TgError,
    UploadedFile,
    WebhookDelivery,
    _Failure,
    clone,
)
from tests.fakes.telegram.updates import UpdatesMixin

logger = logging.getLogger("tests.fakes.telegram")


class FakeTelegram(UpdatesMixin, MethodsMixin):
    """Fake Bot API server. ``await start()``, point the bot at ``base_url``, ``await stop()``.

    The constructor (options and state) is `FakeTelegramState.__init__` in state.py."""

    @cached_property
    def _handlers(self) -> dict[str, tuple[str, Handler]]:
        """Bot API method name (lower-case) -> (its canonical spelling, its handler)."""
        handlers: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "sendVideo": self._media_sender("video"),
            "sendDocument": self._media_sender("document"),
            "sendPhoto": self._media_sender("photo"),
            "sendAnimation": self._media_sender("animation"),
            "sendAudio": self._media_sender("audio"),
            "sendVoice": self._media_sender("voice"),
            "getFile": self._get_file,
            "sendInvoice": self._send_invoice,
            "createInvoiceLink": self._create_invoice_link,
            "answerPreCheckoutQuery": self._answer_pre_checkout_query,
            "refundStarPayment": self._refund_star_payment,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
            "setMyDescription": self._return_true,
            "setMyShortDescription": self._return_true,
            "setMyName": self._return_true,
            "close": self._return_true,
            "logOut": self._return_true,
        }
        return {k.lower(): (k, v) for k, v in handlers.items()}

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        app = web.Application(client_max_size=self.upload_limit_bytes + 10 * MB)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        self._client = aiohttp.ClientSession()
        self._webhook_task = asyncio.create_task(self._webhook_loop(), name="fake-telegram-webhook")

    async def stop(self) -> None:
        self._closing = True
        async with self._updates_cond:
            self._updates_cond.notify_all()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            try:
                await self._webhook_task
            except asyncio.CancelledError:
                pass
            self._webhook_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """Pass to ``TelegramAPIServer.from_base``."""
        if self._port is None:
            raise RuntimeError("FakeTelegram is not started")
        return f"http://127.0.0.1:{self._port}"

    # ------------------------------------------------------------------ test controls
    def fail_next(
        self,
        method: str,
        status: int = 429,
        description: str | None = None,
        *,
        retry_after: int | None = None,
        count: int = 1,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Make the next `count` calls of `method` ("*" = any except getUpdates) fail.

        429 always carries ``parameters.retry_after`` (default 1), so aiogram raises
        TelegramRetryAfter. Status → default text: 400 injected, 403 blocked, 413, 5xx.
        """
        params = dict(parameters or {})
        if status == 429 and retry_after is None:
            retry_after = 1
        if retry_after is not None:
            params["retry_after"] = retry_after
        if description is None:
            template = DEFAULT_DESCRIPTIONS.get(status, f"Error {status}")
            description = template.format(retry_after=retry_after)
        self._failures.append(
            _Failure(method.lower(), status, description, params or None, count),
        )

    def drop_next(self, method: str, *, count: int = 1) -> None:
        """The next `count` calls of `method` are read, then the connection is closed unanswered.

        What a network failure or a proxy dying mid-request looks like to the client (aiogram raises
        TelegramNetworkError). The call is recorded with error status 0.
        """
        self._drops[method.lower()] = self._drops.get(method.lower(), 0) + count

    def hold_next(self, method: str) -> asyncio.Event:
        """Park the next call of `method` (after reading it) until the returned event is set.

        Lets a test catch the bot in the middle of a handler, e.g. to send SIGTERM right then.
        `held` counts calls currently parked.
        """
        release = asyncio.Event()
        self._holds.setdefault(method.lower(), []).append(release)
        return release

    def block_user(self, chat_id: int) -> None:
        """Every call targeting this chat answers 403 "bot was blocked by the user"."""
        self.blocked.add(chat_id)

    def unblock_user(self, chat_id: int) -> None:
        self.blocked.discard(chat_id)

    # ------------------------------------------------------------------ HTTP plumbing
    async def _handle_api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            await self._drain(request)
            return _error_response(401, E_UNAUTHORIZED)
        method = request.match_info["method"]
        entry = self._handlers.get(method.lower())
        if entry is None:
            await self._drain(request)
            await self._record(Call(method, {}, error=CallError(404, E_NOT_FOUND)))
            return _error_response(404, E_NOT_FOUND)
        name, handler = entry
        call = Call(name, {})
        try:
            call.params, call.files = await self._read_params(request)
            holds = self._holds.get(name.lower())
            if holds:
                release = holds.pop(0)
                self.held += 1
                async with self._calls_cond:
                    self._calls_cond.notify_all()
                try:
                    await release.wait()
                finally:
                    self.held -= 1
            if self._drops.get(name.lower(), 0) > 0:
                self._drops[name.lower()] -= 1
                call.error = CallError(0, "connection dropped by the fake")
                await self._record(call)
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=500)  # never reaches the client: the socket is closed
            self._check_injected(name)
            self._check_blocked(name, call.params)
            self._check_flood(name, call.params)
            result = await handler(call.params, call.files)
        except TgError as e:
            call.error = CallError(e.status, e.description, e.parameters)
        except Exception as e:  # a bug in the fake: make it visible
            logger.exception("FakeTelegram failed on %s", name)
            self.internal_errors.append(e)
            call.error = CallError(500, f"Internal Server Error: fake crashed: {e!r}")
        else:
            call.result = result
        if name != "getUpdates" or self.record_polling:
            await self._record(call)
        else:
            async with self._calls_cond:
                self.poll_calls.append(call)
                self._calls_cond.notify_all()
        if call.error is not None:
            return _error_response(call.error.status, call.error.description, call.error.parameters)
        return web.json_response({"ok": True, "result": call.result})

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error_response(401, E_UNAUTHORIZED)
        path = request.match_info["path"]
        for rec in self.files.values():
            if rec.file_path == path and rec.data is not None:
                return web.Response(body=rec.data, content_type=rec.mime_type or "application/octet-stream")
        return _error_response(404, E_NOT_FOUND)

    async def _drain(self, request: web.Request) -> None:
        while await request.content.readany():
            pass

    async def _read_form(self, request: web.Request) -> list[tuple[str, str | bytes | UploadedFile]]:
        """The form's fields and files, as aiohttp's request.post() reads them, with its size limit.

        A multipart form is split here: aiohttp's reader parses every part's Content-Disposition
        up to four times, and its parser rebuilds an escaping pattern on each call, which made reading
        the form most of this fake's CPU under a burst of uploads (bench/bench_jobs.py 1b). Bot API
        clients send plain form-data (no nested parts, no transfer encodings); the part headers come
        back in every call, so each distinct one is parsed once, by aiohttp's own parser."""
        if request.content_type != "multipart/form-data":
            fields = await request.post()  # urlencoded: no parts
            return [(key, value) for key, value in fields.items() if not isinstance(value, web.FileField)]
        boundary = parse_mimetype(request.headers[hdrs.CONTENT_TYPE]).parameters.get("boundary")
        if not boundary:
            raise ValueError("multipart form without a boundary")
        body = await request.read()  # HTTPRequestEntityTooLarge past the app's client_max_size
        # "--b\r\n<part>\r\n--b\r\n<part>\r\n--b--": each part between two delimiters.
        sections = (b"\r\n" + body).split(b"\r\n--" + boundary.encode())
        if len(sections) < 2 or not sections[-1].startswith(b"--"):
            raise ValueError("multipart form not closed")
        form: list[tuple[str, str | bytes | UploadedFile]] = []
        for section in sections[1:-1]:
            head, separator, data = section.partition(b"\r\n\r\n")
            if not separator:
                raise ValueError("multipart part without headers")
            headers = _part_headers(head)
            name, filename = _disposition(headers.get("content-disposition", ""))
            if name is None:
                raise ValueError("Multipart field missing name.")
            content_type = headers.get("content-type")
            if filename:
                form.append(
                    (
                        name,
                        UploadedFile(
                            filename=filename,
                            content_type=content_type or "application/octet-stream",
                            size=len(data),
                            sha256=hashlib.sha256(data).hexdigest(),
                            data=data,
                        ),
                    )
                )
            elif content_type is None or content_type.startswith("text/"):
                charset = parse_mimetype(content_type).parameters.get("charset") if content_type else None
                form.append((name, data.decode(charset or "utf-8")))
            else:
                form.append((name, data))
        return form

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        raw: dict[str, Any] = dict(request.query)
        uploads: dict[str, UploadedFile] = {}
        typed: dict[str, Any] = {}
        if request.body_exists:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise TgError(400, "Bad Request: can't parse JSON object") from None
                if isinstance(body, dict):
                    typed.update(body)
            else:
                try:
                    form = await self._read_form(request)
                except web.HTTPRequestEntityTooLarge:
                    await self._drain(request)
                    raise TgError(413, E_TOO_LARGE) from None
                for key, value in form:
                    if isinstance(value, UploadedFile):
                        uploads[key] = value
                    else:
                        raw[key] = value
        if sum(u.size for u in uploads.values()) > self.upload_limit_bytes:
            raise TgError(413, E_TOO_LARGE)
        params: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        for key, value in raw.items():
            if key in uploads:
                continue
            if isinstance(value, str) and value.startswith("attach://"):
                ref = value[len("attach://") :]
                if ref not in uploads:
                    raise TgError(400, E_WRONG_FILE)
                params[key] = files[key] = uploads[ref]
            else:
                params[key] = _coerce(key, value)
        for key, value in typed.items():
            if isinstance(value, str) and value.startswith("attach://") and value[9:] in uploads:
                params[key] = files[key] = uploads[value[9:]]
            else:
                params[key] = value
        # parts posted directly under the parameter name (no attach://) and parts referenced
        # from inside JSON (InputMedia) are kept under their own part name
        referenced = {id(f) for f in files.values()}
        for ref, upload in uploads.items():
            if id(upload) not in referenced:
                files[ref] = upload
                if ref in MEDIA_KEYS or ref == "thumbnail":
                    params.setdefault(ref, upload)
        return params, files

    def _check_injected(self, name: str) -> None:
        lname = name.lower()
        for failure in self._failures:
            if failure.remaining > 0 and (
                failure.method == lname or (failure.method == "*" and lname != "getupdates")
            ):
                failure.remaining -= 1
                raise TgError(failure.status, failure.description, failure.parameters)

    def _check_flood(self, name: str, params: dict[str, Any]) -> None:
        if self.flood_control is None:
            return
        retry_after = self.flood_control.check(name, params.get("chat_id"))
        if retry_after is not None:
            description = DEFAULT_DESCRIPTIONS[429].format(retry_after=retry_after)
            raise TgError(429, description, {"retry_after": retry_after})

    def _check_blocked(self, name: str, params: dict[str, Any]) -> None:
        chat_id = params.get("chat_id")
        if isinstance(chat_id, int) and chat_id in self.blocked and name != "deleteMessage":
            raise TgError(403, E_BLOCKED)

    # ------------------------------------------------------------------ update delivery
    def _ack(self, offset: int | None) -> None:
        if offset is None:
            return
        if offset < 0:
            self._updates = self._updates[offset:] if -offset < len(self._updates) else self._updates
            return
        self._updates = [u for u in self._updates if u["update_id"] >= offset]

    def _deliverable(self, limit: int) -> list[dict[str, Any]]:
        return clone(self._updates[:limit])

    async def _get_updates(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise TgError(409, E_WEBHOOK_CONFLICT)
        limit = min(max(int(p.get("limit") or 100), 1), 100)
        timeout = max(float(p.get("timeout") or 0), 0.0)
        if "allowed_updates" in p:
            self.allowed_updates = list(p["allowed_updates"] or []) or None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._updates_cond:
            self._poll_generation += 1
            generation = self._poll_generation
            self._updates_cond.notify_all()  # an older long poll gets 409
            self._ack(p.get("offset"))
            parked = False
            try:
                while True:
                    if self._poll_generation != generation:
                        raise TgError(409, E_POLL_CONFLICT)
                    if self.webhook_url:
                        raise TgError(409, E_WEBHOOK_CONFLICT)
                    ready = self._deliverable(limit)
                    remaining = deadline - loop.time()
                    if ready or remaining <= 0 or self._closing:
                        return ready
                    if not parked:
                        parked = True
                        await self._set_parked(+1)
                    try:
                        async with asyncio.timeout(remaining):
                            await self._updates_cond.wait()
                    except TimeoutError:
                        pass
            finally:
                if parked:
                    await self._set_parked(-1)

    async def _set_parked(self, delta: int) -> None:
        async with self._calls_cond:
            self.parked_polls += delta
            self._calls_cond.notify_all()

    async def _webhook_loop(self) -> None:
        delay = self.webhook_retry_delay
        while not self._closing:
            async with self._updates_cond:
                await self._updates_cond.wait_for(
                    lambda: self._closing or (bool(self.webhook_url) and bool(self._updates))
                )
                if self._closing:
                    return
                update = self._deliverable(1)[0]
                url, secret = self.webhook_url, self.webhook_secret
            assert url is not None
            status, error = await self._post_webhook(url, secret, update)
            delivery = WebhookDelivery(update["update_id"], url, status, error, secret)
            async with self._updates_cond:
                if delivery.ok:
                    self._updates = [u for u in self._updates if u["update_id"] != update["update_id"]]
                else:
                    self.webhook_last_error = error or f"Wrong response from the webhook: {status}"
                    self.webhook_last_error_date = int(time.time())
            async with self._calls_cond:
                self.webhook_deliveries.append(delivery)
                self._calls_cond.notify_all()
            if delivery.ok:
                delay = self.webhook_retry_delay
                continue
            async with self._updates_cond:  # back off; setWebhook/deleteWebhook/stop wake us
                try:
                    async with asyncio.timeout(delay):
                        await self._updates_cond.wait()
                except TimeoutError:
                    pass
            delay = min(delay * 2, 1.0)

    async def _post_webhook(
        self, url: str, secret: str | None, update: dict[str, Any]
    ) -> tuple[int | None, str | None]:
        assert self._client is not None
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        try:
            async with self._client.post(
                url, json=update, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
            ) as resp:
                await resp.read()
                return resp.status, None
        except (aiohttp.ClientError, TimeoutError) as e:
            return None, f"Connection failed: {e!r}"


# ============================================================================= module helpers
def _error_response(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


def _coerce(key: str, value: Any) -> Any:
    if not isinstance(value, str) or key in STRING_FIELDS:
        return value
    if key in JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            raise TgError(400, f"Bad Request: can't parse {key} JSON object") from None
    if key in INT_FIELDS:
        try:
            return int(value)
        except ValueError:
            if key == "chat_id":
                return value  # @channelusername
            raise TgError(400, f'Bad Request: invalid parameter "{key}"') from None
    if key in BOOL_FIELDS:
        return value.strip().lower() in ("true", "1")
    if value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if re.fullmatch(r"-?\d{1,18}", value):
        return int(value)
    if value in ("true", "false"):
        return value == "true"
    return value


def _part_headers(head: bytes) -> dict[str, str]:
    """A part's header block (after its delimiter line's CRLF) as lower-case names to values."""
    headers: dict[str, str] = {}
    for line in head.decode("utf-8").split("\r\n"):
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return headers


@functools.lru_cache(maxsize=4096)
def _disposition(header: str) -> tuple[str | None, str | None]:
    """(name, filename) of a form part, by aiohttp's own parser, once per distinct header."""
    _, params = parse_content_disposition(header)
    return content_disposition_filename(params, "name"), content_disposition_filename(params, "filename")
