"""A silent AAC track for a soundless MP4, written in Python: no ffmpeg process per video.

Why a silent track at all: Telegram plays an MP4 without an audio track like a GIF (autoplay, loop,
no seek bar; /work/shared/bot-lessons.md §2). Why not ffmpeg: starting ffmpeg costs about 0.1 s of
CPU per video even for a pure stream copy, so 100 results finishing together would queue for
seconds on a 2-core machine. The video samples are copied byte for byte (their chunk offsets are
moved by the size the header grows); the audio is one pre-encoded AAC-LC frame of silence repeated
for the clip's length, in one chunk at the end of the file. Anything unusual (fragmented MP4, a
box running to the end of the file, offsets past 4 GB) gives None and the caller falls back to
ffmpeg.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import BinaryIO

SAMPLE_RATE = 44100
FRAME_SAMPLES = 1024  # samples per AAC frame
# One AAC-LC stereo 44.1 kHz frame of digital silence, exactly as ffmpeg's AAC encoder writes it
# for `anullsrc` (every frame after the first, which only adds an encoder-name fill element).
SILENT_FRAME = bytes.fromhex("211004608c1c")
# AudioSpecificConfig: object type 2 (AAC-LC), sampling index 4 (44100 Hz), 2 channels.
AUDIO_SPECIFIC_CONFIG = bytes.fromhex("1210")

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}
_IDENTITY_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_U32 = 0xFFFFFFFF


class _Unsupported(Exception):
    """The file has a shape this writer does not handle; ffmpeg gets it instead."""


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


def _top_level(f: BinaryIO, end: int) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of every top-level box; raises _Unsupported on what it cannot copy."""
    boxes: list[tuple[bytes, int, int]] = []
    offset = 0
    while offset < end:
        f.seek(offset)
        header = f.read(16)
        if len(header) < 8:
            raise _Unsupported("truncated box header")
        size, kind = struct.unpack(">I4s", header[:8])
        if size == 1:
            if len(header) < 16:
                raise _Unsupported("truncated large size")
            size = struct.unpack(">Q", header[8:16])[0]
        elif size == 0:
            raise _Unsupported("a box runs to the end of the file")  # the appended audio would join it
        if size < 8 or offset + size > end:
            raise _Unsupported("box outside the file")
        boxes.append((kind, offset, size))
        offset += size
    return boxes


def _children(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of the boxes in `data` (a container's payload, in memory)."""
    out: list[tuple[bytes, bytes]] = []
    offset = 0
    while offset < len(data):
        if offset + 8 > len(data):
            raise _Unsupported("truncated child box")
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
            header = 16
        elif size == 0:
            size = len(data) - offset
        if size < header or offset + size > len(data):
            raise _Unsupported("child box outside its parent")
        out.append((kind, data[offset + header : offset + size]))
        offset += size
    return out


def _moved_offsets(kind: bytes, payload: bytes, after: int, delta: int) -> bytes:
    """stco/co64 with every chunk offset past `after` moved by `delta`."""
    wide = kind == b"co64"
    fmt = ">Q" if wide else ">I"
    width = 8 if wide else 4
    (count,) = struct.unpack(">I", payload[4:8])
    if len(payload) < 8 + count * width:
        raise _Unsupported("short chunk offset table")
    parts = [payload[:8]]
    for i in range(count):
        (value,) = struct.unpack(fmt, payload[8 + i * width : 8 + (i + 1) * width])
        if value > after:
            value += delta
        if not wide and value > _U32:
            raise _Unsupported("chunk offset past 4 GB")
        parts.append(struct.pack(fmt, value))
    return b"".join(parts)


def _handler(trak: bytes) -> bytes | None:
    for kind, payload in _children(trak):
        if kind == b"mdia":
            for sub, body in _children(payload):
                if sub == b"hdlr" and len(body) >= 12:
                    return body[8:12]
    return None


def _rebuilt(kind: bytes, payload: bytes, after: int, delta: int) -> bytes:
    """A box of the moov tree with its chunk offsets moved (everything else copied as it is)."""
    if kind in _CONTAINERS:
        return _box(kind, *(_rebuilt(k, p, after, delta) for k, p in _children(payload)))
    if kind in (b"stco", b"co64"):
        return _box(kind, _moved_offsets(kind, payload, after, delta))
    return _box(kind, payload)


def _audio_trak(track_id: int, movie_duration: int, frames: int, chunk_offset: int) -> bytes:
    media_duration = frames * FRAME_SAMPLES
    if movie_duration > _U32 or media_duration > _U32 or chunk_offset > _U32:
        raise _Unsupported("durations or offsets past 32 bits")
    tkhd = _full_box(
        b"tkhd",
        0,
        0x3,  # enabled, in the movie
        struct.pack(">IIIII", 0, 0, track_id, 0, movie_duration),
        bytes(8),
        struct.pack(">hhhH", 0, 1, 0x0100, 0),  # layer, alternate group, volume 1.0, reserved
        _IDENTITY_MATRIX,
        struct.pack(">II", 0, 0),
    )
    mdhd = _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, SAMPLE_RATE, media_duration, 0x55C4, 0))
    hdlr = _full_box(b"hdlr", 0, 0, struct.pack(">I4s", 0, b"soun"), bytes(12), b"SoundHandler\0")
    smhd = _full_box(b"smhd", 0, 0, bytes(4))
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)))
    bitrate = len(SILENT_FRAME) * 8 * SAMPLE_RATE // FRAME_SAMPLES
    decoder_info = bytes([0x05, len(AUDIO_SPECIFIC_CONFIG)]) + AUDIO_SPECIFIC_CONFIG
    decoder_config_body = (
        bytes([0x40, 0x15])  # MPEG-4 audio; audio stream
        + len(SILENT_FRAME).to_bytes(3, "big")  # buffer size
        + struct.pack(">II", bitrate, bitrate)
        + decoder_info
    )
    decoder_config = bytes([0x04, len(decoder_config_body)]) + decoder_config_body
    sl_config = bytes([0x06, 0x01, 0x02])
    es_body = struct.pack(">HB", 0, 0) + decoder_config + sl_config
    esds = _full_box(b"esds", 0, 0, bytes([0x03, len(es_body)]), es_body)
    mp4a = _box(
        b"mp4a",
        bytes(6),
        struct.pack(">H", 1),  # data reference index
        bytes(8),
        struct.pack(">HHHHI", 2, 16, 0, 0, SAMPLE_RATE << 16),
        esds,
    )
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, struct.pack(">I", 1), mp4a),
        _full_box(b"stts", 0, 0, struct.pack(">III", 1, frames, FRAME_SAMPLES)),
        _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, frames, 1)),
        _full_box(b"stsz", 0, 0, struct.pack(">II", len(SILENT_FRAME), frames)),
        _full_box(b"stco", 0, 0, struct.pack(">II", 1, chunk_offset)),
    )
    minf = _box(b"minf", smhd, dinf, stbl)
    return _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf))


def _movie_header(payload: bytes) -> tuple[int, int]:
    """(timescale, duration) from an mvhd payload."""
    if payload[0] == 1:
        timescale, duration = struct.unpack(">IQ", payload[20:32])
    else:
        timescale, duration = struct.unpack(">II", payload[12:20])
    return timescale, duration


def add_silent_track(src: Path, dest: Path) -> bool:
    """Write `src` plus a silent audio track to `dest`. False (dest not written) if unsupported."""
    try:
        with src.open("rb") as f:
            end = f.seek(0, 2)
            boxes = _top_level(f, end)
            if any(kind == b"moof" for kind, _, _ in boxes):
                raise _Unsupported("fragmented MP4")
            moovs = [(offset, size) for kind, offset, size in boxes if kind == b"moov"]
            if len(moovs) != 1:
                raise _Unsupported("not exactly one moov")
            moov_at, moov_size = moovs[0]
            f.seek(moov_at)
            raw = f.read(moov_size)
            header = 16 if struct.unpack(">I", raw[:4])[0] == 1 else 8
            children = _children(raw[header:])
            mvhd = next((p for k, p in children if k == b"mvhd"), None)
            traks = [p for k, p in children if k == b"trak"]
            if mvhd is None or not traks:
                raise _Unsupported("no movie header or no tracks")
            if any(_handler(t) == b"soun" for t in traks):
                raise _Unsupported("it already has audio")
            timescale, duration = _movie_header(mvhd)
            if timescale <= 0 or duration <= 0:
                raise _Unsupported("no duration")
            frames = max(1, math.ceil(duration / timescale * SAMPLE_RATE / FRAME_SAMPLES))
            track_id = struct.unpack(">I", mvhd[-4:])[0]
            if track_id in (0, _U32):
                track_id = len(traks) + 1

            def new_moov(delta: int, audio_offset: int) -> bytes:
                parts = []
                for kind, payload in children:
                    if kind == b"mvhd":
                        payload = payload[:-4] + struct.pack(">I", track_id + 1)
                    parts.append(_rebuilt(kind, payload, moov_at, delta))
                parts.append(_audio_trak(track_id, duration, frames, audio_offset))
                return _box(b"moov", *parts)

            # The sizes do not depend on the offsets' values: a first pass measures, the second writes.
            grown = len(new_moov(0, 0)) - moov_size
            audio_offset = end + grown + 8  # the silent samples' mdat goes after everything else
            moov = new_moov(grown, audio_offset)
            with dest.open("wb") as out:
                for kind, offset, size in boxes:
                    if kind == b"moov":
                        out.write(moov)
                        continue
                    f.seek(offset)
                    _copy(f, out, size)
                out.write(_box(b"mdat", SILENT_FRAME * frames))
        return True
    except (_Unsupported, OSError, struct.error, IndexError, ValueError):
        dest.unlink(missing_ok=True)
        return False


def _copy(src: BinaryIO, dest: BinaryIO, length: int) -> None:
    remaining = length
    while remaining > 0:
        chunk = src.read(min(remaining, 1 << 20))
        if not chunk:
            raise _Unsupported("file shorter than its boxes")
        dest.write(chunk)
        remaining -= len(chunk)

