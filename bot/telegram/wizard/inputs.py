"""Reading a user's photo / audio / video message against the model's input rule."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.catalog.model import TELEGRAM_DOWNLOAD_LIMIT_BYTES, InputRule
from bot.services.generation import InputFileRef

MB = 1024 * 1024

# Telegram compresses photos to JPEG; voice notes are OGG/Opus.
_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/ogg": "ogg",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/aac": "aac",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "audio/x-ms-wma": "wma",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/x-msvideo": "avi",
    "video/avi": "avi",
}


# Spellings Telegram clients use for the same formats.
_MIME_ALIASES = {
    "audio/mp3": "audio/mpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/x-flac": "audio/flac",
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
}


def normalize_mime(mime: str) -> str:
    mime = mime.lower().split(";")[0].strip()
    return _MIME_ALIASES.get(mime, mime)


class InputProblem(Exception):
    """The message does not fit the rule; `key` is a locale key, `params` fill it in."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def text(self) -> str:
        """In the user's language (within an update's i18n context)."""
        return _(self.key).format(**self.params)


class WrongFile(InputProblem):
    """Not what the step takes: the message names what arrived and what the step needs."""

    def __init__(self, arrived: Arrived, rule: InputRule) -> None:
        super().__init__("input-wrong-file")
        self.arrived = arrived
        self.rule = rule

    def text(self) -> str:
        return _("input-wrong-file").format(arrived=self.arrived.text(), needed=needed_text(self.rule))


@dataclass(frozen=True)
class Arrived:
    """What a message carries, as the user would name it: `key` (input-arrived-*), and the file
    type ("PDF") for a document or a file of a format the step does not take."""

    key: str
    file_type: str | None = None

    def text(self) -> str:
        return _(self.key).format(type=self.file_type or "")


# Message fields in the order they are told apart (an animation also carries a document).
ARRIVED_FIELDS = (
    ("sticker", "input-arrived-sticker"),
    ("animation", "input-arrived-animation"),
    ("photo", "input-arrived-photo"),
    ("video_note", "input-arrived-video-note"),
    ("voice", "input-arrived-voice"),
    ("video", "input-arrived-video"),
    ("audio", "input-arrived-audio"),
    ("text", "input-arrived-text"),
)
ARRIVED_KEYS = (
    *(key for _field, key in ARRIVED_FIELDS),
    "input-arrived-document",
    "input-arrived-file",
    "input-arrived-format",
    "input-arrived-other",
)


def _file_type(file_name: str | None, mime: str | None) -> str | None:
    """The file's type as users know it: PDF for brief.pdf or application/pdf; None if unknown."""
    if file_name and "." in file_name:
        suffix = file_name.rsplit(".", 1)[1]
        if suffix.isalnum() and len(suffix) <= 5:
            return suffix.upper()
    if mime:
        normalized = normalize_mime(mime)
        subtype = _EXTENSIONS.get(normalized) or normalized.split("/")[-1].removeprefix("x-")
        if subtype.isalnum() and len(subtype) <= 5:
            return subtype.upper()
    return None


def arrived_of(message: Message) -> Arrived:
    """What `message` is, for telling the user what they sent."""
    for field_name, key in ARRIVED_FIELDS:
        if getattr(message, field_name):
            return Arrived(key)
    if message.document is not None:
        file_type = _file_type(message.document.file_name, message.document.mime_type)
        return Arrived("input-arrived-document" if file_type else "input-arrived-file", file_type)
    return Arrived("input-arrived-other")


@dataclass(frozen=True)
class ReceivedFile:
    ref: InputFileRef
    caption: str | None


def _file_name(kind: str, mime: str, given: str | None) -> str:
    """A fresh name for the upload to KIE. KIE's upload API overwrites a file of the same name in
    the same folder, so the user's own name ("photo.jpg") or a fixed one would let one order's
    input replace another's before KIE fetched it. Only the extension is kept."""
    extension = _EXTENSIONS.get(mime)
    if given and "." in given:
        suffix = given.rsplit(".", 1)[1].lower()
        if suffix.isalnum() and len(suffix) <= 5:
            extension = suffix
    return f"{kind}-{secrets.token_hex(8)}.{extension or 'bin'}"


def _type_names(rule: InputRule) -> list[str]:
    return sorted({_EXTENSIONS.get(m, m.split("/")[-1]).upper() for m in rule.mime_types})


def _types_text(rule: InputRule) -> str:
    return ", ".join(_type_names(rule))


def needed_text(rule: InputRule) -> str:
    """What the step needs, in the user's language: "a photo: JPG or PNG, up to 10 MB"."""
    names = _type_names(rule)
    types = _("list-or").format(items=", ".join(names[:-1]), last=names[-1]) if len(names) > 1 else names[0]
    params = {**rule_hint_params(rule), "types": types}
    limits = _("input-limits-duration" if rule.max_duration_s else "input-limits").format(**params)
    if rule.kind.value == "image":
        what = _("input-need-image")
    elif rule.kind.value == "video":
        what = _("input-need-video")
    elif "audio/ogg" in rule.mime_types:
        what = _("input-need-audio-or-voice")
    else:
        what = _("input-need-audio")
    return _("input-needs").format(what=what, limits=limits)


def rule_hint_params(rule: InputRule) -> dict[str, Any]:
    limit = min(rule.max_bytes, TELEGRAM_DOWNLOAD_LIMIT_BYTES)
    return {
        "types": _types_text(rule),
        "max_mb": round(limit / MB),
        "max_s": rule.max_duration_s or 0,
    }


def rule_limits_text(rule: InputRule) -> str:
    """What the step accepts, in the user's language: types, size and, if limited, length."""
    params = rule_hint_params(rule)
    if rule.max_duration_s:
        return _("input-limits-duration").format(**params)
    return _("input-limits").format(**params)


# Per input kind: the message fields that carry it and the MIME type Telegram implies for each.
# A document whose MIME type is of that kind is accepted too.
_SOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "image": (("photo", "image/jpeg"),),
    "audio": (("audio", "audio/mpeg"), ("voice", "audio/ogg")),
    "video": (("video", "video/mp4"),),
}


def _attachment(
    message: Message, kind: str
) -> tuple[str, str | None, int | None, int | None, str | None] | None:
    """(file_id, mime, size, duration, file name) of the message's file of `kind`, if any."""
    for field_name, implied_mime in _SOURCES.get(kind, ()):
        media = getattr(message, field_name)
        if not media:
            continue
        if isinstance(media, list):  # photo sizes: take the largest
            media = media[-1]
        mime = getattr(media, "mime_type", None) or implied_mime
        return (
            media.file_id,
            mime,
            media.file_size,
            getattr(media, "duration", None),
            getattr(media, "file_name", None),
        )
    document = message.document
    if document is not None and (document.mime_type or "").startswith(f"{kind}/"):
        return document.file_id, document.mime_type, document.file_size, None, document.file_name
    return None


def read_input(message: Message, rule: InputRule) -> ReceivedFile:
    """The file in `message` for `rule`, or InputProblem saying what is wrong."""
    kind = rule.kind.value
    caption = message.caption
    # Stickers and GIFs arrive with image/video-like documents; they are never model inputs.
    is_sticker_or_gif = message.sticker is not None or message.animation is not None
    attachment = None if is_sticker_or_gif else _attachment(message, kind)
    if attachment is None or attachment[1] is None:
        raise WrongFile(arrived_of(message), rule)
    file_id, raw_mime, size, duration, given_name = attachment
    mime = normalize_mime(raw_mime or "")
    if mime not in {normalize_mime(m) for m in rule.mime_types}:
        # A file of the right kind in another format: name the format ("a file in WEBP format").
        file_type = _file_type(given_name, raw_mime)
        named = file_type is not None and not (message.voice or message.photo)
        raise WrongFile(Arrived("input-arrived-format", file_type) if named else arrived_of(message), rule)
    if size is not None and size > TELEGRAM_DOWNLOAD_LIMIT_BYTES:
        raise InputProblem("input-too-big-telegram", size_mb=round(size / MB, 1))
    if size is not None and size > rule.max_bytes:
        raise InputProblem("input-too-big", size_mb=round(size / MB, 1), **rule_hint_params(rule))
    if rule.max_duration_s is not None and duration is not None and duration > rule.max_duration_s:
        raise InputProblem("input-too-long", seconds=duration, **rule_hint_params(rule))
    ref = InputFileRef(
        kind=kind,
        file_id=file_id,
        file_name=_file_name(kind, mime, given_name),
        mime_type=mime,
        size=size,
        duration=duration,
    )
    return ReceivedFile(ref=ref, caption=caption)
