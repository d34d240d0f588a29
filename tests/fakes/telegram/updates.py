"""A test acting as Telegram's users: the updates a message, a click or a payment produce."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tests.fakes.telegram.constants import GROUP_ANONYMOUS_BOT, PRE_CHECKOUT_TIMEOUT, UPDATE_TYPES
from tests.fakes.telegram.html import _bot_command_entities
from tests.fakes.telegram.records import (
    Call,
    Charge,
    Payment,
    PaymentNotAnswered,
    StoredMessage,
    WaitTimeout,
    _audio_obj,
    _document_obj,
    _photo_size,
    _PreCheckout,
    _video_obj,
    clone,
)
from tests.fakes.telegram.state import FakeTelegramState, _shallow_message
from tests.fakes.telegram.user import TgUser

logger = logging.getLogger("tests.fakes.telegram")


class UpdatesMixin(FakeTelegramState):
    """Pushes the updates Telegram would create when a user acts."""

    # ------------------------------------------------------------------ acting as a user
    async def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update (a missing update_id is assigned); returns a copy of it.

        Like Telegram, an update whose type is excluded by the bot's current
        ``allowed_updates`` is never created: it goes to `dropped_updates` instead."""
        update = clone(update)
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
        return clone(update)

    async def replay_update(self, update: dict[str, Any], *, new_update_id: bool = True) -> dict[str, Any]:
        """Push the same update content again (Telegram redelivery / duplicate)."""
        update = clone(update)
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
            "chat": clone(self._chats[chat_id]),
            "from": user.to_api(),
            **clone(fields),
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
        return clone(self._chats.setdefault(chat_id, {"id": chat_id, "type": kind, "title": title}))

    def add_channel(self, chat_id: int, title: str = "Test channel") -> dict[str, Any]:
        if chat_id >= 0:
            raise ValueError("channels have negative ids")
        return clone(
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
            "chat": clone(chat),
            "text": text,
        }
        if sender is not None:
            msg["from"] = sender.to_api()
        elif sender_bot is not None:
            msg["from"] = dict(sender_bot, is_bot=True)
        else:
            msg["from"] = dict(GROUP_ANONYMOUS_BOT)
            msg["sender_chat"] = clone(chat)
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
            "chat": clone(chat),
            "sender_chat": clone(chat),
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

    async def send_video_note(
        self, user: TgUser, data: bytes | None = None, duration: int = 5, *, length: int = 240
    ) -> dict[str, Any]:
        """A round video message ("video note"): no file name, no MIME type, no caption."""
        content = data if data is not None else b"\x00\x00\x00\x18ftypmp42"
        rec = self._register_file("video_note", data=content, duration=duration, source="user")
        note = {
            "file_id": rec.file_id,
            "file_unique_id": rec.file_unique_id,
            "length": length,
            "duration": duration,
            "file_size": rec.file_size,
        }
        return await self.push_message(user, {"video_note": note})

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
                    "message": clone(message.data),
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


def _update_type(update: dict[str, Any]) -> str | None:
    return next((k for k in update if k != "update_id"), None)


def _with_caption(fields: dict[str, Any], caption: str | None) -> dict[str, Any]:
    if caption:
        fields["caption"] = caption
        ents = _bot_command_entities(caption)
        if ents:
            fields["caption_entities"] = ents
    return fields
