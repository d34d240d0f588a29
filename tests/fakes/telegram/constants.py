"""Limits, Telegram's error texts and how the fake decodes each request parameter."""

from __future__ import annotations

import re
from typing import Any

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
