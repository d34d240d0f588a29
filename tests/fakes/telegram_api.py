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
* injected failures (``fail_next``) and blocked users (``block_user``).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from tests.fakes.tg_user import TgUser, UserClient

__all__ = [
    "DEFAULT_TOKEN",
    "MB",
    "Call",
    "CallError",
    "Charge",
    "FakeTelegram",
    "FileRecord",
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

logger = logging.getLogger("tests.fakes.telegram")

T = TypeVar("T")

MB = 1024 * 1024
DEFAULT_TOKEN = "123456:TEST-token_abc"
UPLOAD_LIMIT = 50 * MB
URL_LIMIT = 20 * MB
URL_PHOTO_LIMIT = 5 * MB
DOWNLOAD_LIMIT = 20 * MB
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_ANSWER_LIMIT = 200
CALLBACK_DATA_LIMIT = 64
PRE_CHECKOUT_TIMEOUT = 10.0
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

# ----------------------------------------------------------------------------- errors texts
E_UNAUTHORIZED = "Unauthorized"
E_NOT_FOUND = "Not Found"
E_TOO_LARGE = "Request Entity Too Large"
E_BLOCKED = "Forbidden: bot was blocked by the user"
E_CHAT_NOT_FOUND = "Bad Request: chat not found"
E_TEXT_EMPTY = "Bad Request: message text is empty"
E_TEXT_LONG = "Bad Request: message is too long"
E_EDIT_TEXT_LONG = "Bad Request: MESSAGE_TOO_LONG"
E_CAPTION_LONG = "Bad Request: message caption is too long"
E_BUTTON_DATA = "Bad Request: BUTTON_DATA_INVALID"
E_EDIT_NOT_FOUND = "Bad Request: message to edit not found"
E_DELETE_NOT_FOUND = "Bad Request: message to delete not found"
E_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a content and reply markup of the current message"
)
E_REPLY_NOT_FOUND = "Bad Request: message to be replied not found"
E_QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
E_WRONG_FILE = "Bad Request: wrong file identifier/HTTP URL specified"
E_URL_CONTENT = "Bad Request: failed to get HTTP URL content"
E_URL_TYPE = "Bad Request: wrong type of the web page content"
E_FILE_TOO_BIG = "Bad Request: file is too big"
E_INVALID_FILE_ID = "Bad Request: invalid file_id"
E_FILE_EMPTY = "Bad Request: file must be non-empty"
E_CHARGE_NOT_FOUND = "Bad Request: CHARGE_NOT_FOUND"
E_CHARGE_REFUNDED = "Bad Request: CHARGE_ALREADY_REFUNDED"
E_WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the "
    "webhook first"
)
E_POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)

DEFAULT_DESCRIPTIONS: dict[int, str] = {
    400: "Bad Request: injected error",
    401: E_UNAUTHORIZED,
    403: E_BLOCKED,
    404: E_NOT_FOUND,
    409: E_POLL_CONFLICT,
    413: E_TOO_LARGE,
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


# ----------------------------------------------------------------------------- param coercion
def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


JSON_FIELDS = frozenset(
    _words(
        "reply_markup prices commands scope allowed_updates entities caption_entities "
        "link_preview_options reply_parameters menu_button media suggested_tip_amounts "
        "shipping_options results options explanation_entities question_entities reaction "
        "input_message_content message_ids permissions"
    )
)
INT_FIELDS = frozenset(
    _words(
        "chat_id from_chat_id message_id message_thread_id reply_to_message_id offset limit "
        "timeout width height duration user_id cache_time max_connections max_tip_amount "
        "subscription_period photo_size photo_width photo_height star_count until_date "
        "direct_messages_topic_id video_start_timestamp"
    )
)
BOOL_FIELDS = frozenset(
    _words(
        "disable_notification protect_content supports_streaming show_alert ok "
        "drop_pending_updates has_spoiler show_caption_above_media is_flexible need_name "
        "need_phone_number need_email need_shipping_address send_phone_number_to_provider "
        "send_email_to_provider disable_web_page_preview allow_sending_without_reply "
        "allow_paid_broadcast disable_content_type_detection for_channels revoke_messages "
        "only_if_banned is_big"
    )
)
STRING_FIELDS = frozenset(
    _words(
        "text caption payload title description url secret_token error_message file_id "
        "callback_query_id pre_checkout_query_id telegram_payment_charge_id parse_mode currency "
        "start_parameter provider_token provider_data photo_url business_connection_id "
        "message_effect_id action language_code inline_message_id emoji name short_description "
        "ip_address performer file_name video document photo audio voice sticker animation "
        "video_note thumbnail cover"
    )
)
MEDIA_KEYS = ("video", "animation", "document", "photo", "audio", "voice", "sticker", "video_note")
BUTTON_ACTION_KEYS = tuple(
    _words(
        "callback_data url web_app login_url switch_inline_query switch_inline_query_current_chat "
        "switch_inline_query_chosen_chat copy_text callback_game pay"
    )
)
CHAT_ACTIONS = frozenset(
    _words(
        "typing upload_photo record_video upload_video record_voice upload_voice upload_document "
        "choose_sticker find_location record_video_note upload_video_note"
    )
)
UPDATE_TYPES = tuple(
    _words(
        "message edited_message channel_post edited_channel_post business_connection "
        "business_message edited_business_message deleted_business_messages message_reaction "
        "message_reaction_count inline_query chosen_inline_result callback_query shipping_query "
        "pre_checkout_query purchased_paid_media poll poll_answer my_chat_member chat_member "
        "chat_join_request chat_boost removed_chat_boost"
    )
)
# What Telegram puts in `from` of a message an anonymous group admin sent as the group.
GROUP_ANONYMOUS_BOT: dict[str, Any] = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}

DEFAULT_ALLOWED_UPDATES = frozenset(UPDATE_TYPES) - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}
SECRET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
BOT_COMMAND_IN_TEXT_RE = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")
FILE_ID_PREFIX = {
    "video": "BAAC",
    "document": "BQAC",
    "photo": "AgAC",
    "audio": "CQAC",
    "voice": "AwAC",
    "sticker": "CAAC",
    "animation": "CgAC",
    "video_note": "DQAC",
    "thumbnail": "AAMC",
}
FILE_DIRS = {
    "video": ("videos", "mp4"),
    "document": ("documents", "bin"),
    "photo": ("photos", "jpg"),
    "audio": ("music", "mp3"),
    "voice": ("voice", "oga"),
    "sticker": ("stickers", "webp"),
    "animation": ("animations", "mp4"),
    "video_note": ("video_notes", "mp4"),
    "thumbnail": ("thumbnails", "jpg"),
}


# ============================================================================= data classes
class TgError(Exception):
    """Raised inside the fake; becomes a Bot API error response."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


class WaitTimeout(AssertionError):
    """`wait_for` / `wait_until` ran out of time (an AssertionError, so pytest shows it nicely)."""


class PaymentNotAnswered(AssertionError):
    """The bot did not answer a pre_checkout_query within the deadline."""


@dataclass
class UploadedFile:
    """One multipart file part as received."""

    filename: str | None
    content_type: str | None
    size: int
    sha256: str
    data: bytes | None = field(default=None, repr=False)


@dataclass
class CallError:
    status: int
    description: str
    parameters: dict[str, Any] | None = None


@dataclass
class Call:
    """One Bot API request as the fake saw it.

    `params` holds decoded values (ints, bools, JSON objects); file params hold the
    `UploadedFile`. `files` maps the *param name* (``video``, ``thumbnail``) to the
    `UploadedFile`. Exactly one of `result` / `error` is meaningful (see `ok`).
    """

    method: str
    params: dict[str, Any]
    files: dict[str, UploadedFile] = field(default_factory=dict)
    result: Any = None
    error: CallError | None = None
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class FileRecord:
    """A file known to the fake "Telegram cloud"."""

    file_id: str
    file_unique_id: str
    kind: str
    file_size: int
    file_path: str
    data: bytes | None = field(default=None, repr=False)
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None
    source: str = "registered"  # upload | url | user | registered
    url: str | None = None

    def get_file(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
            "file_path": self.file_path,
        }


@dataclass
class StoredMessage:
    """The current state of one message in a chat.

    `data` is the Bot API `Message` JSON exactly as the fake returns it (plain text +
    entities). `text` / `caption` are the *raw* strings the bot sent (HTML tags kept);
    `plain_text` / `plain_caption` are what the user sees. `reply_markup` is the markup as
    sent (inline or reply keyboard); `history` keeps previous raw texts/captions of edits.
    """

    chat_id: int
    message_id: int
    from_bot: bool
    data: dict[str, Any]
    text: str | None = None
    caption: str | None = None
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    deleted: bool = False
    history: list[str | None] = field(default_factory=list)
    invoice_payload: str | None = None
    sent_params: dict[str, Any] = field(default_factory=dict, repr=False)  # params of the send call

    @property
    def plain_text(self) -> str | None:
        return self.data.get("text")

    @property
    def plain_caption(self) -> str | None:
        return self.data.get("caption")

    @property
    def kind(self) -> str:
        for key in ("text", *MEDIA_KEYS, "invoice", "successful_payment"):
            if key in self.data:
                return key
        return "other"

    @property
    def media(self) -> dict[str, Any] | None:
        """The video/document/... object (for photo: the largest size)."""
        for key in MEDIA_KEYS:
            if key in self.data:
                value = self.data[key]
                return value[-1] if isinstance(value, list) else value
        return None

    @property
    def buttons(self) -> list[list[dict[str, Any]]]:
        """Rows of inline buttons (empty when there is no inline keyboard)."""
        markup = self.reply_markup or {}
        rows = markup.get("inline_keyboard")
        return [list(r) for r in rows] if isinstance(rows, list) else []

    @property
    def button_texts(self) -> list[str]:
        return [b.get("text", "") for row in self.buttons for b in row]

    @property
    def callback_datas(self) -> list[str]:
        return [b["callback_data"] for row in self.buttons for b in row if "callback_data" in b]

    def button(self, text: str) -> dict[str, Any]:
        for row in self.buttons:
            for b in row:
                if b.get("text") == text:
                    return b
        raise KeyError(f"no inline button {text!r}; buttons: {self.button_texts}")


@dataclass
class Charge:
    charge_id: str
    user_id: int
    currency: str
    total_amount: int
    payload: str
    refunded: bool = False


@dataclass
class Payment:
    """Outcome of `FakeTelegram.pay`. `update` is the successful_payment update (replayable)."""

    ok: bool
    pre_checkout_query_id: str
    charge_id: str | None = None
    error_message: str | None = None
    update: dict[str, Any] | None = None
    answer: Call | None = None


@dataclass
class WebhookDelivery:
    update_id: int
    url: str
    status: int | None
    error: str | None
    secret_header: str | None
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class UrlFetch:
    url: str
    status: int | None
    size: int
    error: str | None


@dataclass
class _Failure:
    method: str  # lower-case name or "*"
    status: int
    description: str
    parameters: dict[str, Any] | None
    remaining: int


@dataclass
class _PreCheckout:
    query_id: str
    user_id: int
    payload: str
    currency: str
    total_amount: int
    answered: bool = False
    expired: bool = False


# ============================================================================= HTML parse mode
_HTML_TAGS = frozenset(
    _words("a b strong i em u ins s strike del span tg-spoiler code pre blockquote tg-emoji")
)
_SIMPLE_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(
    r"&(?:#(?:[xX](?P<hex>[0-9a-fA-F]{1,8})|(?P<dec>[0-9]{1,10}))|(?P<name>[a-zA-Z]{2,4}));"
)


def _utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _decode_entity_at(text: str, i: int) -> tuple[str, int]:
    """Decode an HTML entity at text[i] == '&'. Unknown entities stay literal, like tdlib."""
    m = _ENTITY_RE.match(text, i)
    if m is None:
        return "&", 1
    if m.group("name") is not None:
        value = _NAMED_ENTITIES.get(m.group("name"))
        if value is None:
            return "&", 1
        return value, m.end() - i
    code = int(m.group("hex"), 16) if m.group("hex") is not None else int(m.group("dec"))
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return "&", 1
    return chr(code), m.end() - i


def _decode_entities(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "&":
            value, used = _decode_entity_at(text, i)
            out.append(value)
            i += used
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-flavoured HTML like tdlib does: return (plain text, entities).

    Raises TgError(400, "Bad Request: can't parse entities: ...") with tdlib's wording for
    unsupported/unclosed/unmatched tags. Entity offsets are in UTF-16 code units.
    """

    def fail(msg: str) -> TgError:
        return TgError(400, f"Bad Request: can't parse entities: {msg}")

    def byte_offset(pos: int) -> int:
        return len(text[:pos].encode("utf-8"))

    out: list[str] = []
    u16 = 0
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, int, dict[str, str]]] = []
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "&":
            value, used = _decode_entity_at(text, i)
            out.append(value)
            u16 += _utf16_len(value)
            i += used
            continue
        if c != "<":
            out.append(c)
            u16 += _utf16_len(c)
            i += 1
            continue
        begin = i
        i += 1
        if i < n and text[i] == "/":
            if not stack:
                raise fail(f"Unexpected end tag at byte offset {byte_offset(begin)}")
            j = i + 1
            while j < n and not text[j].isspace() and text[j] != ">":
                j += 1
            end_name = text[i + 1 : j].lower()
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != ">":
                raise fail(f"Unclosed end tag at byte offset {byte_offset(begin)}")
            tag, start, attrs = stack.pop()
            if end_name and end_name != tag:
                raise fail(
                    f'Unmatched end tag at byte offset {byte_offset(begin)}, expected "</{tag}>", '
                    f'found "</{end_name}>"'
                )
            entity = _make_entity(tag, attrs, start, u16 - start, stack)
            if entity is not None:
                entities.append(entity)
            i = j + 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] != ">":
            j += 1
        if j >= n:
            raise fail(f"Unclosed start tag at byte offset {byte_offset(begin)}")
        tag = text[i:j].lower()
        if tag not in _HTML_TAGS:
            raise fail(f'Unsupported start tag "{tag}" at byte offset {byte_offset(begin)}')
        attrs: dict[str, str] = {}
        i = j
        while True:
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise fail(f"Unclosed start tag at byte offset {byte_offset(begin)}")
            if text[i] == ">":
                i += 1
                break
            attr_begin = i
            while i < n and not text[i].isspace() and text[i] not in "=>":
                i += 1
            attr_name = text[attr_begin:i].lower()
            if not attr_name:
                raise fail(f'Empty attribute name in the tag "{tag}" at byte offset {byte_offset(begin)}')
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise fail(f"Unclosed start tag at byte offset {byte_offset(begin)}")
            if text[i] != "=":
                attrs[attr_name] = ""
                continue
            i += 1
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise fail(f"Unclosed start tag at byte offset {byte_offset(begin)}")
            if text[i] in "'\"":
                quote = text[i]
                end = text.find(quote, i + 1)
                if end < 0:
                    raise fail(f"Unclosed end of attribute value at byte offset {byte_offset(i)}")
                value = _decode_entities(text[i + 1 : end])
                i = end + 1
            else:
                value_begin = i
                while i < n and (text[i].isalnum() or text[i] in "_-."):
                    i += 1
                value = text[value_begin:i]
                if not value:
                    raise fail(
                        f'Expected quote in declaration of attribute "{attr_name}" of the tag "{tag}" '
                        f"at byte offset {byte_offset(begin)}"
                    )
            attrs[attr_name] = value
        if tag == "span" and attrs.get("class") != "tg-spoiler":
            raise fail(f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}')
        if tag == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
            raise fail(
                f"Custom emoji entity must contain a valid emoji-id at byte offset {byte_offset(begin)}"
            )
        stack.append((tag, u16, attrs))
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _make_entity(
    tag: str, attrs: dict[str, str], offset: int, length: int, stack: list[tuple[str, int, dict[str, str]]]
) -> dict[str, Any] | None:
    if length <= 0:
        return None
    entity: dict[str, Any] = {"offset": offset, "length": length}
    if tag == "a":
        href = attrs.get("href", "")
        if not href:
            return None
        entity.update(type="text_link", url=href)
    elif tag == "blockquote":
        entity["type"] = "expandable_blockquote" if "expandable" in attrs else "blockquote"
    elif tag == "tg-emoji":
        entity.update(type="custom_emoji", custom_emoji_id=attrs["emoji-id"])
    elif tag == "code" and stack and stack[-1][0] == "pre":
        lang = attrs.get("class", "")
        if lang.startswith("language-"):
            # tdlib folds <pre><code class="language-x"> into one pre entity with a language
            stack[-1][2]["_language"] = lang[len("language-") :]
            return None
        entity["type"] = "code"
    else:
        entity["type"] = _SIMPLE_ENTITY[tag]
        if tag == "pre" and attrs.get("_language"):
            entity["language"] = attrs["_language"]
    return entity


def _bot_command_entities(text: str) -> list[dict[str, Any]]:
    entities = []
    for m in BOT_COMMAND_IN_TEXT_RE.finditer(text):
        entities.append(
            {
                "type": "bot_command",
                "offset": _utf16_len(text[: m.start()]),
                "length": _utf16_len(m.group(0)),
            }
        )
    return entities


# ============================================================================= the server
Handler = Callable[[dict[str, Any], dict[str, UploadedFile]], Awaitable[Any]]


class FakeTelegram:
    """Fake Bot API server. ``await start()``, point the bot at ``base_url``, ``await stop()``."""

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
    ) -> None:
        self.token = token
        self.upload_limit_bytes = upload_limit_bytes
        self.url_limit_bytes = url_limit_bytes
        self.download_limit_bytes = download_limit_bytes
        self.strict_chats = strict_chats
        self.record_polling = record_polling
        self.webhook_retry_delay = webhook_retry_delay
        self.url_fetch_timeout = url_fetch_timeout
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
        self._handlers: dict[str, tuple[str, Handler]] = {k.lower(): (k, v) for k, v in handlers.items()}

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

    # ------------------------------------------------------------------ acting as a user
    async def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update (a missing update_id is assigned); returns a copy of it.

        Like Telegram, an update whose type is excluded by the bot's current
        ``allowed_updates`` is never created: it goes to `dropped_updates` instead."""
        update = copy.deepcopy(update)
        async with self._updates_cond:
            if "update_id" not in update:
                update["update_id"] = self._next_update_id
            self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
            kind = _update_type(update)
            if kind in UPDATE_TYPES and kind not in self._allowed():
                self.dropped_updates.append(update)
                logger.warning("update %s (%s) dropped: not in allowed_updates", update["update_id"], kind)
            else:
                self._updates.append(update)
                self._updates_cond.notify_all()
        return copy.deepcopy(update)

    async def replay_update(self, update: dict[str, Any], *, new_update_id: bool = True) -> dict[str, Any]:
        """Push the same update content again (Telegram redelivery / duplicate)."""
        update = copy.deepcopy(update)
        if new_update_id:
            update.pop("update_id", None)
        return await self.push_update(update)

    async def send_text(
        self,
        user: TgUser,
        text: str,
        *,
        reply_to: StoredMessage | int | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """User sends text; /commands get bot_command entities. Returns the update."""
        fields: dict[str, Any] = {"text": text}
        ents = entities if entities is not None else _bot_command_entities(text)
        if ents:
            fields["entities"] = ents
        return await self.push_message(user, fields, reply_to=reply_to)

    async def push_message(
        self,
        user: TgUser,
        fields: dict[str, Any],
        *,
        reply_to: StoredMessage | int | None = None,
    ) -> dict[str, Any]:
        """User sends a message with arbitrary Message fields (contact, location, ...)."""
        self.add_user(user)
        chat_id = user.id
        msg: dict[str, Any] = {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": copy.deepcopy(self._chats[chat_id]),
            "from": user.to_api(),
            **copy.deepcopy(fields),
        }
        if reply_to is not None:
            rid = reply_to.message_id if isinstance(reply_to, StoredMessage) else reply_to
            target = self.message(chat_id, rid)
            if target is None:
                raise LookupError(f"no message {rid} in chat {chat_id}")
            msg["reply_to_message"] = _shallow_message(target.data)
        stored = StoredMessage(
            chat_id=chat_id,
            message_id=msg["message_id"],
            from_bot=False,
            data=msg,
            text=msg.get("text"),
            caption=msg.get("caption"),
        )
        self._messages.setdefault(chat_id, {})[stored.message_id] = stored
        return await self.push_update({"message": msg})

    def add_group(
        self, chat_id: int, title: str = "Test group", *, kind: str = "supergroup"
    ) -> dict[str, Any]:
        """Make a group or supergroup known, as if the bot had been added to it (ids are negative)."""
        if chat_id >= 0 or kind not in ("group", "supergroup"):
            raise ValueError("groups have negative ids and type group or supergroup")
        return copy.deepcopy(self._chats.setdefault(chat_id, {"id": chat_id, "type": kind, "title": title}))

    def add_channel(self, chat_id: int, title: str = "Test channel") -> dict[str, Any]:
        if chat_id >= 0:
            raise ValueError("channels have negative ids")
        return copy.deepcopy(
            self._chats.setdefault(chat_id, {"id": chat_id, "type": "channel", "title": title})
        )

    async def send_group_text(
        self,
        chat_id: int,
        text: str,
        *,
        sender: TgUser | None = None,
        sender_bot: dict[str, Any] | None = None,
        anonymous_admin: bool = False,
    ) -> dict[str, Any]:
        """A message in a group (see `add_group`), as Telegram shapes it:

        * `sender`: a person (their `from`);
        * `sender_bot`: another bot's User object (`is_bot` true);
        * `anonymous_admin`: an admin posting as the group: `from` is the GroupAnonymousBot
          stand-in and `sender_chat` is the group itself.
        """
        if sum((sender is not None, sender_bot is not None, anonymous_admin)) != 1:
            raise ValueError("pass exactly one of sender, sender_bot, anonymous_admin")
        chat = self._chats.get(chat_id)
        if chat is None or chat["type"] not in ("group", "supergroup"):
            raise LookupError(f"no group {chat_id}: call add_group first")
        msg: dict[str, Any] = {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": copy.deepcopy(chat),
            "text": text,
        }
        if sender is not None:
            msg["from"] = sender.to_api()
        elif sender_bot is not None:
            msg["from"] = dict(sender_bot, is_bot=True)
        else:
            msg["from"] = dict(GROUP_ANONYMOUS_BOT)
            msg["sender_chat"] = copy.deepcopy(chat)
        entities = _bot_command_entities(text)
        if entities:
            msg["entities"] = entities
        self._messages.setdefault(chat_id, {})[msg["message_id"]] = StoredMessage(
            chat_id=chat_id, message_id=msg["message_id"], from_bot=False, data=msg, text=text
        )
        return await self.push_update({"message": msg})

    def channel_post_update(self, chat_id: int, text: str) -> dict[str, Any]:
        """A `channel_post` update for a channel (see `add_channel`): no `from`, `sender_chat` is
        the channel. Not queued: Telegram sends these only to bots that ask for channel_post in
        allowed_updates; push it with `push_update` or post it to a webhook directly."""
        chat = self._chats.get(chat_id)
        if chat is None or chat["type"] != "channel":
            raise LookupError(f"no channel {chat_id}: call add_channel first")
        msg = {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": copy.deepcopy(chat),
            "sender_chat": copy.deepcopy(chat),
            "text": text,
        }
        entities = _bot_command_entities(text)
        if entities:
            msg["entities"] = entities
        return {"channel_post": msg}

    async def send_photo(
        self,
        user: TgUser,
        data: bytes | None = None,
        *,
        caption: str | None = None,
        width: int = 1280,
        height: int = 720,
        file_size: int | None = None,
    ) -> dict[str, Any]:
        """User sends a photo (three PhotoSize entries, the largest holds the bytes)."""
        big = self._register_file(
            "photo", data=data, file_size=file_size, width=width, height=height, source="user"
        )
        sizes = []
        for scale in (8, 3):
            w, h = max(1, width // scale), max(1, height // scale)
            small = self._register_file(
                "photo",
                data=data,
                file_size=max(1, big.file_size // (scale * scale)),
                width=w,
                height=h,
                source="user",
            )
            sizes.append(_photo_size(small))
        sizes.append(_photo_size(big))
        return await self.push_message(user, _with_caption({"photo": sizes}, caption))

    async def send_document(
        self,
        user: TgUser,
        data: bytes | None = None,
        file_name: str = "file.bin",
        mime_type: str = "application/octet-stream",
        *,
        caption: str | None = None,
        file_size: int | None = None,
    ) -> dict[str, Any]:
        rec = self._register_file(
            "document",
            data=data,
            file_size=file_size,
            file_name=file_name,
            mime_type=mime_type,
            source="user",
        )
        return await self.push_message(user, _with_caption({"document": _document_obj(rec)}, caption))

    async def send_video(
        self,
        user: TgUser,
        data: bytes | None = None,
        duration: int = 5,
        width: int = 1280,
        height: int = 720,
        *,
        caption: str | None = None,
        file_name: str | None = "video.mp4",
        mime_type: str = "video/mp4",
        file_size: int | None = None,
    ) -> dict[str, Any]:
        rec = self._register_file(
            "video",
            data=data,
            file_size=file_size,
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
            duration=duration,
            source="user",
        )
        return await self.push_message(user, _with_caption({"video": _video_obj(rec)}, caption))

    async def send_audio(
        self,
        user: TgUser,
        data: bytes | None = None,
        duration: int = 30,
        *,
        file_name: str = "audio.mp3",
        mime_type: str = "audio/mpeg",
        title: str | None = None,
        performer: str | None = None,
        caption: str | None = None,
        file_size: int | None = None,
    ) -> dict[str, Any]:
        rec = self._register_file(
            "audio",
            data=data,
            file_size=file_size,
            file_name=file_name,
            mime_type=mime_type,
            duration=duration,
            source="user",
        )
        audio = _audio_obj(rec)
        if title:
            audio["title"] = title
        if performer:
            audio["performer"] = performer
        return await self.push_message(user, _with_caption({"audio": audio}, caption))

    async def send_voice(
        self,
        user: TgUser,
        data: bytes | None = None,
        duration: int = 3,
        *,
        mime_type: str = "audio/ogg",
        file_size: int | None = None,
    ) -> dict[str, Any]:
        rec = self._register_file(
            "voice", data=data, file_size=file_size, mime_type=mime_type, duration=duration, source="user"
        )
        voice = {
            "file_id": rec.file_id,
            "file_unique_id": rec.file_unique_id,
            "duration": duration,
            "mime_type": mime_type,
            "file_size": rec.file_size,
        }
        return await self.push_message(user, {"voice": voice})

    async def send_sticker(
        self,
        user: TgUser,
        data: bytes | None = None,
        *,
        emoji: str = "😀",
        width: int = 512,
        height: int = 512,
        is_animated: bool = False,
        is_video: bool = False,
        file_size: int | None = None,
    ) -> dict[str, Any]:
        rec = self._register_file(
            "sticker",
            data=data if data is not None or file_size is not None else b"RIFF\x00\x00\x00\x00WEBP",
            file_size=file_size,
            width=width,
            height=height,
            source="user",
        )
        sticker = {
            "file_id": rec.file_id,
            "file_unique_id": rec.file_unique_id,
            "type": "regular",
            "width": width,
            "height": height,
            "is_animated": is_animated,
            "is_video": is_video,
            "emoji": emoji,
            "file_size": rec.file_size,
        }
        return await self.push_message(user, {"sticker": sticker})

    async def send_animation(
        self,
        user: TgUser,
        data: bytes | None = None,
        duration: int = 2,
        width: int = 320,
        height: int = 240,
        *,
        file_name: str = "animation.gif.mp4",
        mime_type: str = "video/mp4",
        caption: str | None = None,
        file_size: int | None = None,
    ) -> dict[str, Any]:
        """User sends a GIF: like Telegram, the message has both `animation` and `document`."""
        rec = self._register_file(
            "animation",
            data=data,
            file_size=file_size,
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
            duration=duration,
            source="user",
        )
        animation = _video_obj(rec)
        return await self.push_message(
            user, _with_caption({"animation": animation, "document": _document_obj(rec)}, caption)
        )

    async def click(
        self,
        user: TgUser,
        message: StoredMessage | int,
        callback_data: str,
        *,
        chat_id: int | None = None,
        strict: bool = True,
    ) -> str:
        """Press an inline button: push a callback_query carrying the message's current state.

        With `strict` the message must currently show a button with this callback_data.
        Returns the callback_query id (see ``callback_answer``)."""
        self.add_user(user)
        if isinstance(message, int):
            cid = chat_id if chat_id is not None else user.id
            found = self.message(cid, message)
            if found is None:
                raise LookupError(f"no message {message} in chat {cid}")
            message = found
        if message.deleted:
            raise LookupError(f"message {message.message_id} was deleted")
        if strict and callback_data not in message.callback_datas:
            raise LookupError(
                f"message {message.message_id} has no button with callback_data {callback_data!r}; "
                f"has {message.callback_datas}"
            )
        query_id = str(next(self._id_counter) * 7919 + 10**15)
        self._callback_queries[query_id] = False
        await self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": user.to_api(),
                    "message": copy.deepcopy(message.data),
                    "chat_instance": str(-(10**12) - message.chat_id),
                    "data": callback_data,
                }
            }
        )
        return query_id

    async def click_button(self, user: TgUser, chat_id: int, text: str) -> str:
        """Press the inline button labelled `text` on the latest bot message showing it."""
        for msg in reversed(self.messages(chat_id)):
            for row in msg.buttons:
                for button in row:
                    if button.get("text") == text:
                        if "callback_data" not in button:
                            raise LookupError(f"button {text!r} is not a callback button: {button}")
                        return await self.click(user, msg, button["callback_data"])
        seen = [msg.button_texts for msg in self.messages(chat_id) if msg.buttons]
        raise LookupError(f"no inline button {text!r} in chat {chat_id}; keyboards: {seen}")

    def callback_answer(self, query_id: str) -> Call | None:
        for c in self.calls:
            if c.method == "answerCallbackQuery" and c.ok and c.params.get("callback_query_id") == query_id:
                return c
        return None

    async def pay(
        self,
        user: TgUser,
        invoice: Call | StoredMessage,
        *,
        answer_timeout: float = PRE_CHECKOUT_TIMEOUT,
        before_successful_payment: Callable[[], Awaitable[object]] | None = None,
    ) -> Payment:
        """Pay an invoice (a sendInvoice/createInvoiceLink Call or the invoice message).

        Pushes pre_checkout_query, waits ≤ `answer_timeout` for answerPreCheckoutQuery
        (PaymentNotAnswered otherwise; a later answer gets 400 like Telegram), and on ok=True
        pushes a successful_payment message with a fresh telegram_payment_charge_id.
        `before_successful_payment` runs between the two (e.g. the bot restarts meanwhile)."""
        self.add_user(user)
        if isinstance(invoice, StoredMessage):
            inv = invoice.data.get("invoice")
            if inv is None or invoice.invoice_payload is None:
                raise ValueError("message is not an invoice")
            payload, currency, amount = invoice.invoice_payload, inv["currency"], inv["total_amount"]
        else:
            if invoice.method not in ("sendInvoice", "createInvoiceLink") or not invoice.ok:
                raise ValueError(f"not a successful invoice call: {invoice.method}")
            payload = invoice.params["payload"]
            currency = invoice.params["currency"]
            amount = sum(int(p["amount"]) for p in invoice.params["prices"])
        query_id = str(next(self._id_counter) * 104729 + 2 * 10**15)
        state = _PreCheckout(query_id, user.id, payload, currency, amount)
        self._pre_checkouts[query_id] = state
        since = self.mark()
        pushed = await self.push_update(
            {
                "pre_checkout_query": {
                    "id": query_id,
                    "from": user.to_api(),
                    "currency": currency,
                    "total_amount": amount,
                    "invoice_payload": payload,
                }
            }
        )
        if any(u["update_id"] == pushed["update_id"] for u in self.dropped_updates):
            state.expired = True
            raise PaymentNotAnswered(
                f"pre_checkout_query dropped: the bot's allowed_updates {self.allowed_updates} exclude it"
            )
        try:
            calls = await self.wait_for(
                "answerPreCheckoutQuery",
                timeout=answer_timeout,
                predicate=lambda c: c.ok and c.params.get("pre_checkout_query_id") == query_id,
                since=since,
            )
        except WaitTimeout:
            state.expired = True
            raise PaymentNotAnswered(
                f"pre_checkout_query {query_id} was not answered within {answer_timeout}s"
            ) from None
        answer = calls[0]
        if not answer.params.get("ok"):
            return Payment(
                ok=False,
                pre_checkout_query_id=query_id,
                error_message=answer.params.get("error_message"),
                answer=answer,
            )
        if before_successful_payment is not None:
            await before_successful_payment()
        charge_id = "stxFAKE" + secrets.token_urlsafe(24).replace("-", "A").replace("_", "B")
        self.charges[charge_id] = Charge(charge_id, user.id, currency, amount, payload)
        update = await self.push_message(
            user,
            {
                "successful_payment": {
                    "currency": currency,
                    "total_amount": amount,
                    "invoice_payload": payload,
                    "telegram_payment_charge_id": charge_id,
                    "provider_payment_charge_id": "",
                }
            },
        )
        return Payment(
            ok=True, pre_checkout_query_id=query_id, charge_id=charge_id, update=update, answer=answer
        )

    async def push_successful_payment(
        self,
        user: TgUser,
        *,
        payload: str,
        total_amount: int,
        currency: str = "XTR",
        charge_id: str | None = None,
    ) -> dict[str, Any]:
        """A raw successful_payment with whatever payload and amount, no pre-checkout before it.

        Telegram itself never sends this for an invoice the bot declined; it is what someone who
        can post to the bot's webhook (or a bug on the way) would deliver. The charge is recorded
        like a real one (so a /refund of it works) when `currency` is XTR."""
        charge_id = charge_id or "stxRAW" + secrets.token_urlsafe(24).replace("-", "A").replace("_", "B")
        if currency == "XTR":
            self.charges[charge_id] = Charge(charge_id, user.id, currency, total_amount, payload)
        return await self.push_message(
            user,
            {
                "successful_payment": {
                    "currency": currency,
                    "total_amount": total_amount,
                    "invoice_payload": payload,
                    "telegram_payment_charge_id": charge_id,
                    "provider_payment_charge_id": "",
                }
            },
        )

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
                    form = await request.post()
                except web.HTTPRequestEntityTooLarge:
                    await self._drain(request)
                    raise TgError(413, E_TOO_LARGE) from None
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        data = value.file.read()
                        uploads[key] = UploadedFile(
                            filename=value.filename,
                            content_type=value.content_type,
                            size=len(data),
                            sha256=hashlib.sha256(data).hexdigest(),
                            data=data,
                        )
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

    async def _record(self, call: Call) -> None:
        async with self._calls_cond:
            self.calls.append(call)
            self._calls_cond.notify_all()

    def _check_injected(self, name: str) -> None:
        lname = name.lower()
        for failure in self._failures:
            if failure.remaining > 0 and (
                failure.method == lname or (failure.method == "*" and lname != "getupdates")
            ):
                failure.remaining -= 1
                raise TgError(failure.status, failure.description, failure.parameters)

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

    def _allowed(self) -> frozenset[str]:
        return frozenset(self.allowed_updates) if self.allowed_updates else DEFAULT_ALLOWED_UPDATES

    def _deliverable(self, limit: int) -> list[dict[str, Any]]:
        return copy.deepcopy(self._updates[:limit])

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
            "chat": copy.deepcopy(chat),
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
        return copy.deepcopy(msg)

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

    # ------------------------------------------------------------------ helpers: validation
    def _format(
        self, params: dict[str, Any], text_key: str, entities_key: str
    ) -> tuple[str | None, str | None, list[dict[str, Any]]]:
        """Return (raw, plain, entities) for `text`/`caption` honouring parse_mode.

        Like Telegram, the visible text is stripped of leading/trailing whitespace (entities
        shifted accordingly), so "Hello\n" and "Hello" are the same content."""
        raw = params.get(text_key)
        if raw is None or raw == "":
            return None, None, []
        raw = str(raw)
        explicit = params.get(entities_key)
        mode = params.get("parse_mode")
        if explicit:
            if not isinstance(explicit, list):
                raise TgError(400, f"Bad Request: can't parse {entities_key} JSON object")
            plain, entities = raw, list(explicit)
        elif not mode or str(mode).lower() in ("markdown", "markdownv2"):
            plain, entities = raw, []  # Markdown is not validated by the fake: the bot uses HTML
        elif str(mode).lower() == "html":
            plain, entities = parse_html(raw)
        else:
            raise TgError(400, f"Bad Request: unsupported parse_mode {mode!r}")
        plain, entities = _strip_text(plain, entities)
        return raw, plain, entities

    def _text(self, params: dict[str, Any], *, edit: bool = False) -> tuple[str, str, list[dict[str, Any]]]:
        raw, plain, entities = self._format(params, "text", "entities")
        if raw is None or plain is None or not plain.strip():
            raise TgError(400, E_TEXT_EMPTY)
        if len(plain) > TEXT_LIMIT:
            raise TgError(400, E_EDIT_TEXT_LONG if edit else E_TEXT_LONG)
        return raw, plain, entities

    def _caption(self, params: dict[str, Any]) -> tuple[str | None, str | None, list[dict[str, Any]]]:
        raw, plain, entities = self._format(params, "caption", "caption_entities")
        if plain is not None and len(plain) > CAPTION_LIMIT:
            raise TgError(400, E_CAPTION_LONG)
        return raw, plain, entities

    def _markup(self, params: dict[str, Any], *, inline_only: bool = False) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise TgError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or any(not isinstance(r, list) for r in rows):
                raise TgError(
                    400,
                    'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup should be an '
                    "Array of Arrays",
                )
            for row in rows:
                for button in row:
                    if not isinstance(button, dict) or not button.get("text"):
                        raise TgError(400, "Bad Request: can't parse inline keyboard button: Text is empty")
                    if not any(k in button for k in BUTTON_ACTION_KEYS):
                        raise TgError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
                    if "callback_data" in button:
                        data = button["callback_data"]
                        if not isinstance(data, str) or not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
                            raise TgError(400, E_BUTTON_DATA)
                    if "url" in button and not re.match(r"^(https?|tg)://\S+$", str(button["url"])):
                        raise TgError(
                            400, f"Bad Request: inline keyboard button URL '{button['url']}' is invalid"
                        )
            return markup
        if inline_only:
            raise TgError(400, "Bad Request: inline keyboard expected")
        if "keyboard" in markup or "remove_keyboard" in markup or "force_reply" in markup:
            return markup
        raise TgError(400, "Bad Request: can't parse reply keyboard markup JSON object")

    async def _fetch_url(self, url: str, limit: int) -> tuple[bytes, str | None]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK_HOSTS:
            self.url_fetches.append(UrlFetch(url, None, 0, "not a loopback URL"))
            raise TgError(400, E_URL_CONTENT)
        assert self._client is not None
        try:
            async with self._client.get(
                url, timeout=aiohttp.ClientTimeout(total=self.url_fetch_timeout)
            ) as resp:
                if resp.status != 200:
                    self.url_fetches.append(UrlFetch(url, resp.status, 0, "status"))
                    raise TgError(400, E_URL_CONTENT)
                if resp.content_length is not None and resp.content_length > limit:
                    self.url_fetches.append(UrlFetch(url, resp.status, resp.content_length, "too big"))
                    raise TgError(400, E_URL_CONTENT)
                buf = bytearray()
                async for chunk in resp.content.iter_chunked(256 * 1024):
                    buf += chunk
                    if len(buf) > limit:
                        self.url_fetches.append(UrlFetch(url, resp.status, len(buf), "too big"))
                        raise TgError(400, E_URL_CONTENT)
                content_type = resp.content_type
        except (aiohttp.ClientError, TimeoutError) as e:
            self.url_fetches.append(UrlFetch(url, None, 0, repr(e)))
            raise TgError(400, E_URL_CONTENT) from None
        self.url_fetches.append(UrlFetch(url, 200, len(buf), None))
        if content_type == "text/html":
            raise TgError(400, E_URL_TYPE)
        return bytes(buf), content_type

    async def _input_file(
        self, kind: str, value: Any, params: dict[str, Any], *, mime_default: str
    ) -> FileRecord:
        """Resolve an InputFile param (upload, URL or file_id) to a FileRecord."""
        meta: dict[str, Any] = {
            "width": params.get("width"),
            "height": params.get("height"),
            "duration": params.get("duration"),
        }
        if isinstance(value, UploadedFile):
            if value.size == 0:
                raise TgError(400, E_FILE_EMPTY)
            return self._register_file(
                kind,
                data=value.data,
                file_name=value.filename,
                mime_type=value.content_type or mime_default,
                source="upload",
                **meta,
            )
        if not isinstance(value, str) or not value:
            raise TgError(400, f"Bad Request: there is no {kind} in the request")
        if value.startswith(("http://", "https://")):
            limit = min(URL_PHOTO_LIMIT, self.url_limit_bytes) if kind == "photo" else self.url_limit_bytes
            data, content_type = await self._fetch_url(value, limit)
            name = urlsplit(value).path.rsplit("/", 1)[-1] or None
            return self._register_file(
                kind,
                data=data,
                file_name=name,
                mime_type=content_type or mime_default,
                source="url",
                url=value,
                **meta,
            )
        rec = self.files.get(value)
        if rec is None:
            raise TgError(400, E_WRONG_FILE)
        return rec

    # ------------------------------------------------------------------ Bot API methods
    async def _return_true(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> bool:
        return True

    async def _get_me(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> dict[str, Any]:
        return dict(self.bot_user)

    async def _set_webhook(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> bool:
        url = p.get("url") or ""
        secret = p.get("secret_token")
        if url:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise TgError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        if secret and not SECRET_TOKEN_RE.match(secret):
            raise TgError(400, "Bad Request: bad webhook: secret token contains unallowed characters")
        async with self._updates_cond:
            self.webhook_url = url or None
            self.webhook_secret = secret or None
            if "allowed_updates" in p:
                self.allowed_updates = list(p["allowed_updates"] or []) or None
            if p.get("drop_pending_updates"):
                self._updates.clear()
            self.webhook_last_error = None
            self._updates_cond.notify_all()
        return True

    async def _delete_webhook(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> bool:
        async with self._updates_cond:
            self.webhook_url = None
            self.webhook_secret = None
            if p.get("drop_pending_updates"):
                self._updates.clear()
            self._updates_cond.notify_all()
        return True

    async def _get_webhook_info(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook_url:
            info["max_connections"] = 40
            info["ip_address"] = "127.0.0.1"
            if self.allowed_updates:
                info["allowed_updates"] = list(self.allowed_updates)
            if self.webhook_last_error:
                info["last_error_message"] = self.webhook_last_error
                info["last_error_date"] = self.webhook_last_error_date
        return info

    async def _send_message(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> dict[str, Any]:
        chat = self._chat(p)
        raw, plain, entities = self._text(p)
        markup = self._markup(p)
        fields: dict[str, Any] = {"text": plain}
        if entities:
            fields["entities"] = entities
        if isinstance(p.get("link_preview_options"), dict):
            fields["link_preview_options"] = p["link_preview_options"]
        return self._store_bot_message(chat, fields, p, raw_text=raw, markup=markup)

    async def _edit_message_text(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> dict[str, Any]:
        stored = self._find_own_message(p, E_EDIT_NOT_FOUND)
        if "text" not in stored.data:
            raise TgError(400, "Bad Request: there is no text in the message to edit")
        raw, plain, entities = self._text(p, edit=True)
        markup = self._markup(p, inline_only=True)
        current = stored.data.get("reply_markup")
        if (
            plain == stored.data.get("text")
            and entities == stored.data.get("entities", [])
            and markup == current
        ):
            raise TgError(400, E_NOT_MODIFIED)
        stored.history.append(stored.text)
        stored.text = raw
        stored.parse_mode = p.get("parse_mode")
        stored.data["text"] = plain
        _set_or_pop(stored.data, "entities", entities or None)
        return self._apply_edit(stored, markup)

    async def _edit_message_caption(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> dict[str, Any]:
        stored = self._find_own_message(p, E_EDIT_NOT_FOUND)
        if not any(k in stored.data for k in MEDIA_KEYS):
            raise TgError(400, "Bad Request: there is no caption in the message to edit")
        raw, plain, entities = self._caption(p)
        markup = self._markup(p, inline_only=True)
        if (
            plain == stored.data.get("caption")
            and entities == stored.data.get("caption_entities", [])
            and markup == stored.data.get("reply_markup")
        ):
            raise TgError(400, E_NOT_MODIFIED)
        stored.history.append(stored.caption)
        stored.caption = raw
        _set_or_pop(stored.data, "caption", plain)
        _set_or_pop(stored.data, "caption_entities", entities or None)
        return self._apply_edit(stored, markup)

    async def _edit_message_reply_markup(
        self, p: dict[str, Any], _: dict[str, UploadedFile]
    ) -> dict[str, Any]:
        stored = self._find_own_message(p, E_EDIT_NOT_FOUND)
        markup = self._markup(p, inline_only=True)
        if markup == stored.data.get("reply_markup"):
            raise TgError(400, E_NOT_MODIFIED)
        return self._apply_edit(stored, markup)

    def _apply_edit(self, stored: StoredMessage, markup: dict[str, Any] | None) -> dict[str, Any]:
        # like Telegram: an edit without reply_markup removes the inline keyboard
        stored.reply_markup = markup
        _set_or_pop(stored.data, "reply_markup", markup)
        stored.data["edit_date"] = int(time.time())
        return copy.deepcopy(stored.data)

    async def _delete_message(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> bool:
        chat = self._chat(p)
        stored = self.message(chat["id"], int(p.get("message_id") or 0))
        if stored is None or stored.deleted:
            raise TgError(400, E_DELETE_NOT_FOUND)
        stored.deleted = True
        return True

    async def _delete_messages(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> bool:
        chat = self._chat(p)
        ids = p.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise TgError(400, "Bad Request: message_ids must be a non-empty array")
        for mid in ids:
            stored = self.message(chat["id"], int(mid))
            if stored is not None:
                stored.deleted = True
        return True

    async def _answer_callback_query(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> bool:
        query_id = str(p.get("callback_query_id") or "")
        if self._callback_queries.get(query_id, True):
            raise TgError(400, E_QUERY_INVALID)
        if len(str(p.get("text") or "")) > CALLBACK_ANSWER_LIMIT:
            raise TgError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._callback_queries[query_id] = True
        return True

    async def _send_chat_action(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> bool:
        self._chat(p)
        if p.get("action") not in CHAT_ACTIONS:
            raise TgError(400, "Bad Request: wrong parameter action in request")
        return True

    def _media_sender(self, kind: str) -> Handler:
        mime_default = {
            "video": "video/mp4",
            "animation": "video/mp4",
            "photo": "image/jpeg",
            "audio": "audio/mpeg",
            "voice": "audio/ogg",
        }.get(kind, "application/octet-stream")

        async def send(p: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
            chat = self._chat(p)
            raw_caption, caption, caption_entities = self._caption(p)
            markup = self._markup(p)
            rec = await self._input_file(kind, p.get(kind), p, mime_default=mime_default)
            fields: dict[str, Any] = {}
            if kind == "photo":
                thumb = self._register_file(
                    "photo",
                    data=rec.data,
                    file_size=max(1, rec.file_size // 16),
                    width=320,
                    height=180,
                    source=rec.source,
                )
                rec.width, rec.height = rec.width or 1280, rec.height or 720
                fields["photo"] = [_photo_size(thumb), _photo_size(rec)]
            elif kind == "video":
                fields["video"] = _video_obj(rec)
            elif kind == "animation":
                fields["animation"] = _video_obj(rec)
                fields["document"] = _document_obj(rec)
            elif kind == "audio":
                fields["audio"] = _audio_obj(rec)
            elif kind == "voice":
                fields["voice"] = {
                    "file_id": rec.file_id,
                    "file_unique_id": rec.file_unique_id,
                    "duration": rec.duration or 0,
                    "file_size": rec.file_size,
                }
            else:
                fields["document"] = _document_obj(rec)
            thumbnail = p.get("thumbnail")
            if kind in ("video", "animation", "document", "audio") and isinstance(thumbnail, UploadedFile):
                thumb = self._register_file(
                    "thumbnail",
                    data=thumbnail.data,
                    mime_type=thumbnail.content_type,
                    width=320,
                    height=180,
                    source="upload",
                )
                fields[kind]["thumbnail"] = _photo_size(thumb)
            if caption is not None:
                fields["caption"] = caption
                if caption_entities:
                    fields["caption_entities"] = caption_entities
            return self._store_bot_message(chat, fields, p, raw_caption=raw_caption, markup=markup)

        return send

    async def _get_file(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> dict[str, Any]:
        rec = self.files.get(str(p.get("file_id") or ""))
        if rec is None:
            raise TgError(400, E_INVALID_FILE_ID)
        if rec.file_size > self.download_limit_bytes:
            raise TgError(400, E_FILE_TOO_BIG)
        return rec.get_file()

    def _validate_invoice(self, p: dict[str, Any]) -> tuple[str, int]:
        title, description = str(p.get("title") or ""), str(p.get("description") or "")
        if not 1 <= len(title) <= 32:
            raise TgError(400, "Bad Request: TITLE_INVALID")
        if not 1 <= len(description) <= 255:
            raise TgError(400, "Bad Request: DESCRIPTION_INVALID")
        payload = p.get("payload")
        if not isinstance(payload, str) or not 1 <= len(payload.encode()) <= 128:
            raise TgError(400, "Bad Request: INVOICE_PAYLOAD_INVALID")
        currency = str(p.get("currency") or "")
        prices = p.get("prices")
        if not isinstance(prices, list) or not prices:
            raise TgError(400, "Bad Request: can't parse prices JSON object")
        try:
            total = sum(int(price["amount"]) for price in prices)
        except (KeyError, TypeError, ValueError):
            raise TgError(400, "Bad Request: can't parse prices JSON object") from None
        if any(not str(price.get("label", "")) for price in prices):
            raise TgError(400, "Bad Request: LABEL_INVALID")
        if currency == "XTR":
            if len(prices) != 1:
                raise TgError(400, "Bad Request: STARS_INVOICE_INVALID: exactly one price is required")
            if p.get("provider_token"):
                raise TgError(400, "Bad Request: PROVIDER_TOKEN_INVALID: must be empty for Telegram Stars")
            if p.get("max_tip_amount") or p.get("suggested_tip_amounts"):
                raise TgError(400, "Bad Request: tips are not supported for Telegram Stars")
            if total < 1:
                raise TgError(400, "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")
        else:
            if not p.get("provider_token"):
                raise TgError(400, "Bad Request: PAYMENT_PROVIDER_INVALID")
            if total <= 0:
                raise TgError(400, "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")
        return currency, total

    async def _send_invoice(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> dict[str, Any]:
        chat = self._chat(p)
        currency, total = self._validate_invoice(p)
        markup = self._markup(p, inline_only=True)
        invoice = {
            "title": p["title"],
            "description": p["description"],
            "start_parameter": p.get("start_parameter") or "",
            "currency": currency,
            "total_amount": total,
        }
        return self._store_bot_message(
            chat, {"invoice": invoice}, p, markup=markup, invoice_payload=p["payload"]
        )

    async def _create_invoice_link(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> str:
        self._validate_invoice(p)
        link = f"https://t.me/$FAKE{secrets.token_hex(8)}"
        self.invoice_links[link] = dict(p)
        return link

    async def _answer_pre_checkout_query(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> bool:
        state = self._pre_checkouts.get(str(p.get("pre_checkout_query_id") or ""))
        if state is None or state.answered or state.expired:
            raise TgError(400, E_QUERY_INVALID)
        if "ok" not in p:
            raise TgError(400, 'Bad Request: parameter "ok" is required')
        if not p["ok"] and not p.get("error_message"):
            raise TgError(400, "Bad Request: ERROR_MESSAGE_EMPTY")
        state.answered = True
        return True

    async def _refund_star_payment(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> bool:
        charge = self.charges.get(str(p.get("telegram_payment_charge_id") or ""))
        if charge is None or charge.user_id != p.get("user_id"):
            raise TgError(400, E_CHARGE_NOT_FOUND)
        if charge.refunded:
            raise TgError(400, E_CHARGE_REFUNDED)
        charge.refunded = True
        return True

    async def _set_my_commands(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> bool:
        commands = p.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise TgError(400, "Bad Request: can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not COMMAND_RE.match(str(command.get("command", ""))):
                raise TgError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise TgError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = (_scope_key(p.get("scope")), str(p.get("language_code") or ""))
        if commands:
            self.commands[key] = commands
        else:
            self.commands.pop(key, None)
        return True

    async def _get_my_commands(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> list[dict[str, Any]]:
        return list(self.commands_for(p.get("scope"), str(p.get("language_code") or "")) or [])

    async def _delete_my_commands(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> bool:
        self.commands.pop((_scope_key(p.get("scope")), str(p.get("language_code") or "")), None)
        return True

    async def _set_chat_menu_button(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> bool:
        chat_id = p.get("chat_id")
        self.menu_buttons[chat_id if isinstance(chat_id, int) else None] = p.get("menu_button") or {
            "type": "default"
        }
        return True

    async def _get_chat_menu_button(self, p: dict[str, Any], _: dict[str, UploadedFile]) -> dict[str, Any]:
        chat_id = p.get("chat_id")
        key = chat_id if isinstance(chat_id, int) else None
        return self.menu_buttons.get(key) or self.menu_buttons.get(None) or {"type": "commands"}


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


def _strip_text(plain: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    left_stripped = plain.lstrip()
    shift = _utf16_len(plain) - _utf16_len(left_stripped)
    result = left_stripped.rstrip()
    total = _utf16_len(result)
    kept = []
    for entity in entities:
        start = max(int(entity["offset"]) - shift, 0)
        end = min(int(entity["offset"]) + int(entity["length"]) - shift, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return result, kept


def _update_type(update: dict[str, Any]) -> str | None:
    return next((k for k in update if k != "update_id"), None)


def _scope_key(scope: Any) -> str:
    return json.dumps(scope or {"type": "default"}, sort_keys=True)


def _set_or_pop(data: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        data.pop(key, None)
    else:
        data[key] = value


def _shallow_message(data: dict[str, Any]) -> dict[str, Any]:
    msg = copy.deepcopy(data)
    msg.pop("reply_to_message", None)
    return msg


def _with_caption(fields: dict[str, Any], caption: str | None) -> dict[str, Any]:
    if caption:
        fields["caption"] = caption
        ents = _bot_command_entities(caption)
        if ents:
            fields["caption_entities"] = ents
    return fields


def _photo_size(rec: FileRecord) -> dict[str, Any]:
    return {
        "file_id": rec.file_id,
        "file_unique_id": rec.file_unique_id,
        "width": rec.width or 0,
        "height": rec.height or 0,
        "file_size": rec.file_size,
    }


def _video_obj(rec: FileRecord) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "file_id": rec.file_id,
        "file_unique_id": rec.file_unique_id,
        "width": rec.width or 0,
        "height": rec.height or 0,
        "duration": rec.duration or 0,
        "file_size": rec.file_size,
    }
    if rec.file_name:
        obj["file_name"] = rec.file_name
    if rec.mime_type:
        obj["mime_type"] = rec.mime_type
    return obj


def _document_obj(rec: FileRecord) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "file_id": rec.file_id,
        "file_unique_id": rec.file_unique_id,
        "file_size": rec.file_size,
    }
    if rec.file_name:
        obj["file_name"] = rec.file_name
    if rec.mime_type:
        obj["mime_type"] = rec.mime_type
    return obj


def _audio_obj(rec: FileRecord) -> dict[str, Any]:
    obj = _document_obj(rec)
    obj["duration"] = rec.duration or 0
    return obj
