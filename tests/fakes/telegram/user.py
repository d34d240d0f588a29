"""Test-side description of a Telegram user, plus a helper bound to a `FakeTelegram`.

`TgUser` is plain data (what Telegram puts in `from` and in the private `chat`).
`UserClient` is the same user "holding a phone": every action pushes a real update
into the fake Bot API server, so the bot sees it through polling or its webhook.

    alice = fake.as_user(TgUser(id=1001, first_name="Alice", language_code="ru"))
    await alice.send_text("/start")
    await fake.wait_for("sendMessage")
    await alice.click_button("Buy")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.telegram.records import Call, Payment, StoredMessage
    from tests.fakes.telegram.server import FakeTelegram


@dataclass(frozen=True, slots=True)
class TgUser:
    """A private-chat Telegram user. Its private chat id equals `id`."""

    id: int
    first_name: str = "Test"
    language_code: str | None = "en"
    username: str | None = None
    last_name: str | None = None
    is_premium: bool | None = None

    def to_api(self) -> dict[str, Any]:
        """The Bot API `User` object."""
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        if self.is_premium:
            data["is_premium"] = True
        return data

    def private_chat(self) -> dict[str, Any]:
        """The Bot API `Chat` object of the private chat with this user."""
        chat: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat


class UserClient:
    """A `TgUser` bound to a `FakeTelegram`: the same actions without repeating the user."""

    def __init__(self, fake: FakeTelegram, user: TgUser) -> None:
        self.fake = fake
        self.user = user

    @property
    def id(self) -> int:
        return self.user.id

    async def send_text(self, text: str, **kwargs: Any) -> dict[str, Any]:
        return await self.fake.send_text(self.user, text, **kwargs)

    async def send_photo(self, data: bytes | None = None, **kwargs: Any) -> dict[str, Any]:
        return await self.fake.send_photo(self.user, data, **kwargs)

    async def send_document(self, data: bytes | None = None, **kwargs: Any) -> dict[str, Any]:
        return await self.fake.send_document(self.user, data, **kwargs)

    async def send_video(self, data: bytes | None = None, **kwargs: Any) -> dict[str, Any]:
        return await self.fake.send_video(self.user, data, **kwargs)

    async def send_audio(self, data: bytes | None = None, **kwargs: Any) -> dict[str, Any]:
        return await self.fake.send_audio(self.user, data, **kwargs)

    async def send_voice(self, data: bytes | None = None, **kwargs: Any) -> dict[str, Any]:
        return await self.fake.send_voice(self.user, data, **kwargs)

    async def send_video_note(self, data: bytes | None = None, **kwargs: Any) -> dict[str, Any]:
        return await self.fake.send_video_note(self.user, data, **kwargs)

    async def send_sticker(self, data: bytes | None = None, **kwargs: Any) -> dict[str, Any]:
        return await self.fake.send_sticker(self.user, data, **kwargs)

    async def send_animation(self, data: bytes | None = None, **kwargs: Any) -> dict[str, Any]:
        return await self.fake.send_animation(self.user, data, **kwargs)

    async def click(self, message: StoredMessage | int, callback_data: str, **kwargs: Any) -> str:
        return await self.fake.click(self.user, message, callback_data, **kwargs)

    async def click_button(self, text: str, **kwargs: Any) -> str:
        return await self.fake.click_button(self.user, self.user.id, text, **kwargs)

    async def pay(self, invoice: Call | StoredMessage, **kwargs: Any) -> Payment:
        return await self.fake.pay(self.user, invoice, **kwargs)

    def messages(self) -> list[StoredMessage]:
        return self.fake.messages(self.user.id)

    def last_message(self) -> StoredMessage | None:
        return self.fake.last_message(self.user.id)
