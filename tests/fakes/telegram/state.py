"""The fake's state: chats, messages, files, charges, the update queue and recorded calls.

`FakeTelegramState` owns every attribute; the mixins in updates.py (acting as a user) and
methods.py (Bot API methods) and the server (server.py) all work on it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from tests.fakes.telegram.constants import (
    DEFAULT_ALLOWED_UPDATES,
    DEFAULT_TOKEN,
    DOWNLOAD_LIMIT,
    E_CHAT_NOT_FOUND,
    E_REPLY_NOT_FOUND,
    FILE_DIRS,
    FILE_ID_PREFIX,
    UPLOAD_LIMIT,
    URL_LIMIT,
)
from tests.fakes.telegram.flood import FloodControl
from tests.fakes.telegram.records import (
    Call,
    Charge,
    FileRecord,
    StoredMessage,
    TgError,
    UrlFetch,
    WaitTimeout,
    WebhookDelivery,
    _Failure,
    _PreCheckout,
    clone,
)
from tests.fakes.telegram.user import TgUser, UserClient

T = TypeVar("T")


class FakeTelegramState:
    """Everything the fake knows, and the test-side queries and waits on it."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        upload_limit_bytes: int = UPLOAD_LIMIT,
        url_limit_bytes: int = URL_LIMIT,
        download_limit_bytes: int = DOWNLOAD_LIMIT,
        bot_first_name: str = "Test Video Bot",
        bot_username: str = "test_video_bot",
        strict_chats: bool = True,
        record_polling: bool = False,
        webhook_retry_delay: float = 0.05,
        url_fetch_timeout: float = 10.0,
        flood_control: FloodControl | None = None,
    ) -> None:
        self.token = token
        self.upload_limit_bytes = upload_limit_bytes
        self.url_limit_bytes = url_limit_bytes
        self.download_limit_bytes = download_limit_bytes
        self.strict_chats = strict_chats
        self.record_polling = record_polling
        self.webhook_retry_delay = webhook_retry_delay
        self.url_fetch_timeout = url_fetch_timeout
        # Telegram's 429s for too many messages (tests/fakes/telegram/flood.py); None: never.
        self.flood_control = flood_control
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

        # recording
        self.calls: list[Call] = []
        self.poll_calls: list[Call] = []
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.url_fetches: list[UrlFetch] = []
        self.internal_errors: list[BaseException] = []
        self.dropped_updates: list[dict[str, Any]] = []
        # state
        self.files: dict[str, FileRecord] = {}
        self.charges: dict[str, Charge] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self.reply_keyboards: dict[int, dict[str, Any] | None] = {}
        self.blocked: set[int] = set()
        self._holds: dict[str, list[asyncio.Event]] = {}
        self.held = 0
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_last_error: str | None = None
        self.webhook_last_error_date: int | None = None
        self.allowed_updates: list[str] | None = None
        self.invoice_links: dict[str, dict[str, Any]] = {}

        self._users: dict[int, TgUser] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._messages: dict[int, dict[int, StoredMessage]] = {}
        self._next_message_id: dict[int, int] = {}
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._poll_generation = 0
        self.parked_polls = 0  # getUpdates requests currently waiting (see wait_until)
        self._callback_queries: dict[str, bool] = {}  # id -> answered
        self._pre_checkouts: dict[str, _PreCheckout] = {}
        self._failures: list[_Failure] = []
        # method (lower-case) -> how many of its next calls lose their connection unanswered
        self._drops: dict[str, int] = {}
        self._file_counter = itertools.count(1)
        self._id_counter = itertools.count(1)
        self._updates_cond = asyncio.Condition()
        self._calls_cond = asyncio.Condition()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------ test-side state
    def add_user(self, user: TgUser) -> UserClient:
        """Make the private chat known (as if the user had pressed Start)."""
        self._users[user.id] = user
        self._chats.setdefault(user.id, user.private_chat())
        return UserClient(self, user)

    def as_user(self, user: TgUser) -> UserClient:
        return self.add_user(user)

    def add_file(
        self,
        data: bytes | None = None,
        *,
        kind: str = "document",
        file_size: int | None = None,
        file_name: str | None = None,
        mime_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
        duration: int | None = None,
    ) -> FileRecord:
        """Register a file in the fake cloud. Pass `file_size` without `data` to declare a
        big file cheaply (e.g. 25 MB for the getFile limit); its download then 404s."""
        if data is None and file_size is None:
            raise ValueError("pass data or file_size")
        return self._register_file(
            kind,
            data=data,
            file_size=file_size,
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
            duration=duration,
            source="registered",
        )

    def mark(self) -> int:
        """Index for ``wait_for(..., since=mark)``: only calls recorded after now count."""
        return len(self.calls)

    def calls_of(self, method: str, *, since: int = 0) -> list[Call]:
        name = method.lower()
        return [c for c in self.calls[since:] if c.method.lower() == name]

    async def wait_for(
        self,
        method: str | None,
        count: int = 1,
        timeout: float = 10.0,
        predicate: Callable[[Call], bool] | None = None,
        *,
        since: int = 0,
    ) -> list[Call]:
        """Wait until at least `count` calls of `method` (None = any) matching `predicate`
        have been recorded (counting from index `since`); return all matching calls."""
        name = method.lower() if method else None

        def matching() -> list[Call]:
            return [
                c
                for c in self.calls[since:]
                if (name is None or c.method.lower() == name) and (predicate is None or predicate(c))
            ]

        async with self._calls_cond:
            try:
                async with asyncio.timeout(timeout):
                    await self._calls_cond.wait_for(lambda: len(matching()) >= count)
            except TimeoutError:
                seen = ", ".join(f"{c.method}{'' if c.ok else '!'}" for c in self.calls[since:][-30:])
                raise WaitTimeout(
                    f"timed out after {timeout}s waiting for {count} x {method}; "
                    f"got {len(matching())}; recent calls: [{seen}]"
                ) from None
            return matching()

    async def wait_until(self, condition: Callable[[], T], timeout: float = 10.0) -> T:
        """Wait until `condition()` is truthy (re-checked after every recorded call or
        webhook delivery); return its value."""
        async with self._calls_cond:
            try:
                async with asyncio.timeout(timeout):
                    await self._calls_cond.wait_for(condition)
            except TimeoutError:
                raise WaitTimeout(f"condition not met within {timeout}s") from None
            return condition()

    def messages(self, chat_id: int, *, include_user: bool = False) -> list[StoredMessage]:
        """Current (non-deleted) messages of a chat in order; bot messages only by default."""
        return [
            m
            for _, m in sorted(self._messages.get(chat_id, {}).items())
            if not m.deleted and (include_user or m.from_bot)
        ]

    def last_message(self, chat_id: int) -> StoredMessage | None:
        msgs = self.messages(chat_id)
        return msgs[-1] if msgs else None

    def message(self, chat_id: int, message_id: int) -> StoredMessage | None:
        return self._messages.get(chat_id, {}).get(message_id)

    def commands_for(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]] | None:
        return self.commands.get((_scope_key(scope), language_code))

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet acknowledged by the bot (getUpdates offset or webhook 2xx)."""
        return list(self._updates)

    async def wait_updates_acknowledged(self, timeout: float = 10.0) -> None:
        """Wait until the bot has acknowledged every pushed update (its handlers may still
        be running in background tasks: wait for their calls with `wait_for`)."""
        await self.wait_until(lambda: not self._updates, timeout)

    async def _record(self, call: Call) -> None:
        async with self._calls_cond:
            self.calls.append(call)
            self._calls_cond.notify_all()

    def _allowed(self) -> frozenset[str]:
        return frozenset(self.allowed_updates) if self.allowed_updates else DEFAULT_ALLOWED_UPDATES

    # ------------------------------------------------------------------ helpers: state
    def _new_message_id(self, chat_id: int) -> int:
        mid = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = mid + 1
        return mid

    def _chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise TgError(400, "Bad Request: chat_id is empty")
        if isinstance(chat_id, str):
            for chat in self._chats.values():
                if chat_id.startswith("@") and chat.get("username") == chat_id[1:]:
                    return chat
            raise TgError(400, E_CHAT_NOT_FOUND)
        chat = self._chats.get(chat_id)
        if chat is None:
            if self.strict_chats:
                raise TgError(400, E_CHAT_NOT_FOUND)
            chat = {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
            self._chats[chat_id] = chat
        return chat

    def _register_file(
        self,
        kind: str,
        *,
        data: bytes | None,
        file_size: int | None = None,
        file_name: str | None = None,
        mime_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
        duration: int | None = None,
        source: str,
        url: str | None = None,
    ) -> FileRecord:
        if data is None and file_size is None:
            raise ValueError("a file needs data or a declared file_size")
        n = next(self._file_counter)
        directory, ext = FILE_DIRS.get(kind, ("documents", "bin"))
        if file_name and "." in file_name:
            ext = file_name.rsplit(".", 1)[1]
        rec = FileRecord(
            file_id=f"{FILE_ID_PREFIX.get(kind, 'BQAC')}AgADFAKE{n:06d}{secrets.token_hex(8)}",
            file_unique_id=f"AgADF{n:06d}",
            kind=kind,
            file_size=file_size if file_size is not None else len(data or b""),
            file_path=f"{directory}/file_{n}.{ext}",
            data=data,
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
            duration=duration,
            source=source,
            url=url,
        )
        self.files[rec.file_id] = rec
        return rec

    def _store_bot_message(
        self,
        chat: dict[str, Any],
        fields: dict[str, Any],
        params: dict[str, Any],
        *,
        raw_text: str | None = None,
        raw_caption: str | None = None,
        markup: dict[str, Any] | None = None,
        invoice_payload: str | None = None,
    ) -> dict[str, Any]:
        chat_id = chat["id"]
        reply_to = self._reply_target(chat_id, params)
        msg: dict[str, Any] = {
            "message_id": self._new_message_id(chat_id),
            "from": dict(self.bot_user),
            "date": int(time.time()),
            "chat": clone(chat),
        }
        if reply_to is not None:
            msg["reply_to_message"] = _shallow_message(reply_to.data)
        msg.update(fields)
        if markup is not None and "inline_keyboard" in markup:
            msg["reply_markup"] = markup
        if markup is not None and "inline_keyboard" not in markup:
            self.reply_keyboards[chat_id] = None if markup.get("remove_keyboard") else markup
        stored = StoredMessage(
            chat_id=chat_id,
            message_id=msg["message_id"],
            from_bot=True,
            data=msg,
            text=raw_text,
            caption=raw_caption,
            parse_mode=params.get("parse_mode"),
            reply_markup=markup,
            invoice_payload=invoice_payload,
            sent_params=dict(params),
        )
        self._messages.setdefault(chat_id, {})[stored.message_id] = stored
        return clone(msg)

    def _reply_target(self, chat_id: int, params: dict[str, Any]) -> StoredMessage | None:
        reply = params.get("reply_parameters") or {}
        message_id = reply.get("message_id") if isinstance(reply, dict) else None
        if message_id is None:
            message_id = params.get("reply_to_message_id")
        if message_id is None:
            return None
        target = self.message(chat_id, int(message_id))
        if target is None or target.deleted:
            if reply.get("allow_sending_without_reply") or params.get("allow_sending_without_reply"):
                return None
            raise TgError(400, E_REPLY_NOT_FOUND)
        return target

    def _find_own_message(self, params: dict[str, Any], not_found: str) -> StoredMessage:
        if params.get("inline_message_id"):
            raise TgError(400, "Bad Request: MESSAGE_ID_INVALID")
        chat = self._chat(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise TgError(400, "Bad Request: message identifier is not specified")
        stored = self.message(chat["id"], message_id)
        if stored is None or stored.deleted:
            raise TgError(400, not_found)
        if not stored.from_bot:
            raise TgError(400, "Bad Request: message can't be edited")
        return stored


def _scope_key(scope: Any) -> str:
    return json.dumps(scope or {"type": "default"}, sort_keys=True)


def _set_or_pop(data: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        data.pop(key, None)
    else:
        data[key] = value


def _shallow_message(data: dict[str, Any]) -> dict[str, Any]:
    msg = clone(data)
    msg.pop("reply_to_message", None)
    return msg
