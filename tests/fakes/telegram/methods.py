"""Bot API method handlers: messages, edits, callback answers, media, files, invoices, commands."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from tests.fakes.telegram.constants import (
    BUTTON_ACTION_KEYS,
    CALLBACK_ANSWER_LIMIT,
    CALLBACK_DATA_LIMIT,
    CAPTION_LIMIT,
    CHAT_ACTIONS,
    COMMAND_RE,
    E_BUTTON_DATA,
    E_CAPTION_LONG,
    E_CHARGE_NOT_FOUND,
    E_CHARGE_REFUNDED,
    E_DELETE_NOT_FOUND,
    E_EDIT_NOT_FOUND,
    E_EDIT_TEXT_LONG,
    E_FILE_EMPTY,
    E_FILE_TOO_BIG,
    E_INVALID_FILE_ID,
    E_NOT_MODIFIED,
    E_QUERY_INVALID,
    E_TEXT_EMPTY,
    E_TEXT_LONG,
    E_URL_CONTENT,
    E_URL_TYPE,
    E_WRONG_FILE,
    LOOPBACK_HOSTS,
    MEDIA_KEYS,
    SECRET_TOKEN_RE,
    TEXT_LIMIT,
    URL_PHOTO_LIMIT,
)
from tests.fakes.telegram.html import _strip_text, parse_html
from tests.fakes.telegram.records import (
    FileRecord,
    Handler,
    StoredMessage,
    TgError,
    UploadedFile,
    UrlFetch,
    _audio_obj,
    _document_obj,
    _photo_size,
    _video_obj,
    clone,
)
from tests.fakes.telegram.state import FakeTelegramState, _scope_key, _set_or_pop


class MethodsMixin(FakeTelegramState):
    """One coroutine per Bot API method; server.py routes requests to them."""

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
        return clone(stored.data)

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
