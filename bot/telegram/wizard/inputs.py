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


def _types_text(rule: InputRule) -> str:
    names = sorted({_EXTENSIONS.get(m, m.split("/")[-1]).upper() for m in rule.mime_types})
    return ", ".join(names)


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


def read_input(message: Message, rule: InputRule) -> ReceivedFile:
    """The file in `message` for `rule`, or InputProblem saying what is wrong."""
    kind = rule.kind.value
    caption = message.caption
    file_id: str | None = None
    mime: str | None = None
    size: int | None = None
    duration: int | None = None
    given_name: str | None = None

    if message.sticker is not None or message.animation is not None:
        raise InputProblem("input-wrong-type", **rule_hint_params(rule))
    if kind == "image":
        if message.photo:
            photo = message.photo[-1]  # the largest size
            file_id, mime, size = photo.file_id, "image/jpeg", photo.file_size
        elif message.document is not None and (message.document.mime_type or "").startswith("image/"):
            doc = message.document
            file_id, mime, size, given_name = doc.file_id, doc.mime_type, doc.file_size, doc.file_name
    elif kind == "audio":
        if message.audio is not None:
            audio = message.audio
            file_id, mime, size, duration = (
                audio.file_id,
                audio.mime_type or "audio/mpeg",
                audio.file_size,
                audio.duration,
            )
            given_name = audio.file_name
        elif message.voice is not None:
            voice = message.voice
            file_id, mime, size, duration = (
                voice.file_id,
                voice.mime_type or "audio/ogg",
                voice.file_size,
                voice.duration,
            )
        elif message.document is not None and (message.document.mime_type or "").startswith("audio/"):
            doc = message.document
            file_id, mime, size, given_name = doc.file_id, doc.mime_type, doc.file_size, doc.file_name
    elif kind == "video":
        if message.video is not None:
            video = message.video
            file_id, mime, size, duration = (
                video.file_id,
                video.mime_type or "video/mp4",
                video.file_size,
                video.duration,
            )
            given_name = video.file_name
        elif message.document is not None and (message.document.mime_type or "").startswith("video/"):
            doc = message.document
            file_id, mime, size, given_name = doc.file_id, doc.mime_type, doc.file_size, doc.file_name

    if file_id is None or mime is None:
        raise InputProblem("input-wrong-type", **rule_hint_params(rule))
    mime = normalize_mime(mime)
    if mime not in {normalize_mime(m) for m in rule.mime_types}:
        raise InputProblem("input-wrong-format", **rule_hint_params(rule))
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
