"""ffprobe/ffmpeg helpers. Optional: without them the bot still sends videos, with less polish."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import shutil
import struct
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bot.services.silent_track import add_silent_track

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    duration: int  # whole seconds, rounded up (Telegram wants an int)
    has_audio: bool


def ffprobe_available() -> bool:
    return shutil.which("ffprobe") is not None


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


# One pool of ffprobe/ffmpeg processes for the whole bot, as many as there are cores: a burst of
# finished jobs queues here in arrival order (asyncio.Semaphore is FIFO), so each job waits its turn
# and the event loop, and every job that needs no process, keeps moving.
# (One per event loop: a semaphore belongs to the loop it first waited on.)
_process_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _slots() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slots = _process_slots.get(loop)
    if slots is None:
        slots = _process_slots[loop] = asyncio.Semaphore(max(1, os.cpu_count() or 1))
    return slots


async def _run(*args: str, timeout: float = PROBE_TIMEOUT_S) -> tuple[int, bytes]:
    async with _slots():
        return await _run_now(*args, timeout=timeout)


async def _run_now(*args: str, timeout: float) -> tuple[int, bytes]:
    if shutil.which("nice"):
        # Lower priority than the bot itself: video chores must not slow down answering users.
        args = ("nice", "-n", "10", *args)
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        stdout, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        return -1, b""
    return process.returncode or 0, stdout


_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"udta"}


def _boxes(f: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the boxes between `start` and `end`."""
    offset = start
    while offset + 8 <= end:
        f.seek(offset)
        header = f.read(8)
        if len(header) < 8:
            return
        size, kind = struct.unpack(">I4s", header)
        payload = offset + 8
        if size == 1:
            large = f.read(8)
            if len(large) < 8:
                return
            size = struct.unpack(">Q", large)[0]
            payload += 8
        elif size == 0:
            size = end - offset
        if size < payload - offset or offset + size > end:
            return
        yield kind, payload, offset + size
        offset += size


def probe_mp4(path: Path) -> VideoInfo | None:
    """Read width, height, duration and audio presence from an MP4/MOV header, in Python.

    No process per video: cheap under a burst of deliveries, and it works without ffmpeg.
    None for anything it does not understand (then ffprobe gets a try).
    """
    try:
        with path.open("rb") as f:
            end = f.seek(0, 2)
            moov = next(((s, e) for kind, s, e in _boxes(f, 0, end) if kind == b"moov"), None)
            if moov is None:
                return None
            duration = 0.0
            width = height = 0
            has_audio = False
            for kind, start, stop in _boxes(f, *moov):
                if kind == b"mvhd":
                    f.seek(start)
                    version = f.read(1)[0]
                    f.seek(start + (20 if version == 1 else 12))
                    if version == 1:
                        timescale, length = struct.unpack(">IQ", f.read(12))
                    else:
                        timescale, length = struct.unpack(">II", f.read(8))
                    duration = length / timescale if timescale else 0.0
                elif kind == b"trak":
                    handler, dims = _read_track(f, start, stop)
                    if handler == b"soun":
                        has_audio = True
                    elif handler == b"vide" and dims is not None and not width:
                        width, height = dims
    except (OSError, struct.error, IndexError):
        return None
    if width <= 0 or height <= 0:
        return None
    return VideoInfo(width=width, height=height, duration=max(1, math.ceil(duration)), has_audio=has_audio)


def _read_track(f: BinaryIO, start: int, stop: int) -> tuple[bytes | None, tuple[int, int] | None]:
    handler: bytes | None = None
    dims: tuple[int, int] | None = None
    for kind, s, e in _boxes(f, start, stop):
        if kind == b"tkhd":
            f.seek(s)
            version = f.read(1)[0]
            # version/flags, times, track id, reserved, duration, reserved(8), layer, group, volume,
            # reserved, then a 3x3 matrix of 32-bit values and 16.16 fixed-point width and height.
            f.seek(s + (4 + 8 + 8 + 4 + 4 + 8 if version == 1 else 4 + 4 + 4 + 4 + 4 + 4) + 8 + 8)
            matrix = struct.unpack(">9i", f.read(36))
            w, h = struct.unpack(">II", f.read(8))
            w, h = w >> 16, h >> 16
            # A 90/270 degree rotation matrix (a = d = 0) swaps what the viewer sees.
            if matrix[0] == 0 and matrix[4] == 0 and matrix[1] != 0:
                w, h = h, w
            dims = (w, h)
        elif kind == b"mdia":
            for sub, ss, _se in _boxes(f, s, e):
                if sub == b"hdlr":
                    f.seek(ss + 8)
                    handler = f.read(4)
    return handler, dims


async def probe_video(path: Path) -> VideoInfo | None:
    """Width, height, duration and audio presence: from the MP4 header, else ffprobe, else None."""
    info = await asyncio.to_thread(probe_mp4, path)
    if info is not None:
        return info
    if not ffprobe_available():
        return None
    code, out = await _run(
        "ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", str(path)
    )
    if code != 0:
        log.warning("ffprobe could not read %s", path.name)
        return None
    try:
        data = json.loads(out)
        streams = data.get("streams", [])
        video = next(s for s in streams if s.get("codec_type") == "video")
        width, height = int(video["width"]), int(video["height"])
        rotation = _rotation(video)
        if rotation in (90, 270):
            width, height = height, width
        duration = float(video.get("duration") or data.get("format", {}).get("duration") or 0)
        has_audio = any(s.get("codec_type") == "audio" for s in streams)
    except (ValueError, KeyError, StopIteration, TypeError):
        return None
    return VideoInfo(width=width, height=height, duration=max(1, int(-(-duration // 1))), has_audio=has_audio)


def _rotation(stream: dict[str, object]) -> int:
    tags = stream.get("tags")
    if isinstance(tags, dict) and "rotate" in tags:
        try:
            return abs(int(str(tags["rotate"]))) % 360
        except ValueError:
            return 0
    side_data = stream.get("side_data_list")
    for side in side_data if isinstance(side_data, list) else []:
        if isinstance(side, dict) and "rotation" in side:
            try:
                return abs(int(side["rotation"])) % 360
            except (TypeError, ValueError):
                return 0
    return 0


# Telegram draws its own preview for a video it receives; the reports of uploads shown as 320x320
# tiles without a thumbnail are all about files over about 10 MB (bot-lessons.md §2), so only those
# pay for an ffmpeg run to make one.
OWN_THUMBNAIL_ABOVE_BYTES = 10 * 1024 * 1024


def wants_thumbnail(size_bytes: int) -> bool:
    """Whether a video this large gets a thumbnail of ours (else Telegram's own is good enough)."""
    return size_bytes > OWN_THUMBNAIL_ABOVE_BYTES


@dataclass(frozen=True)
class Polished:
    video: Path
    thumbnail: Path | None


async def polish_video(video: Path, workdir: Path, *, add_audio: bool, thumbnail: bool) -> Polished:
    """A silent audio track for a soundless clip and, when asked, a thumbnail.

    The audio track is written in Python (bot/services/silent_track.py): no process at all for the
    usual case. ffmpeg runs only for what changes what the user sees and Python cannot do: the
    silent track of an MP4 our writer does not handle (else it plays like a GIF), and a thumbnail
    for a large file (see wants_thumbnail). Without ffmpeg those two are skipped.
    """
    result = video
    if add_audio:
        remuxed = workdir / "video-audio.mp4"
        if await asyncio.to_thread(add_silent_track, video, remuxed) or await _ffmpeg_silent_track(
            video, remuxed
        ):
            result = remuxed
    thumb = await _thumbnail(video, workdir / "thumb.jpg") if thumbnail else None
    return Polished(result, thumb)


async def _ffmpeg_silent_track(video: Path, remuxed: Path) -> bool:
    """The fallback for a soundless MP4 the Python writer refused: video copied, silence encoded."""
    if not ffmpeg_available():
        return False
    args = ["ffmpeg", "-v", "error", "-y", "-i", str(video)]
    args += ["-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo"]
    args += ["-map", "0:v:0", "-map", "1:a", "-shortest", "-c:v", "copy", "-c:a", "aac"]
    args += ["-movflags", "+faststart", str(remuxed)]
    code, _ = await _run(*args, timeout=120.0)
    return code == 0 and remuxed.exists() and remuxed.stat().st_size > 0


async def _thumbnail(video: Path, thumb: Path) -> Path | None:
    """A JPEG of at most 320 px a side from the first key frame: only key frames are decoded."""
    if not ffmpeg_available():
        return None
    args = ["ffmpeg", "-v", "error", "-y", "-skip_frame", "nokey", "-i", str(video)]
    args += ["-map", "0:v:0", "-frames:v", "1"]
    args += ["-vf", "scale='min(320,iw)':'min(320,ih)':force_original_aspect_ratio=decrease"]
    args += ["-q:v", "5", str(thumb)]
    code, _ = await _run(*args, timeout=120.0)
    ok = code == 0 and thumb.exists() and 0 < thumb.stat().st_size <= 200_000
    return thumb if ok else None


@dataclass(frozen=True)
class Prepared:
    """A downloaded video made ready to send: what to upload, its size, what Telegram is told."""

    video: Path
    size_bytes: int
    info: VideoInfo | None
    thumbnail: Path | None


def _prepare_in_python(video: Path, remuxed: Path) -> tuple[VideoInfo | None, bool, int, Path, int]:
    """Everything that needs no process, in one worker-thread hop: header probe, the silent track
    when the clip has none, and the file sizes. Returns (info, audio still missing, downloaded
    size, file to send, its size)."""
    size = video.stat().st_size
    info = probe_mp4(video)
    if info is None or info.has_audio:
        return info, False, size, video, size
    if add_silent_track(video, remuxed):
        return info, False, size, remuxed, remuxed.stat().st_size
    return info, True, size, video, size


async def prepare_video(video: Path, workdir: Path) -> Prepared:
    """`probe_video` and `polish_video` for one delivery, with one thread hop in the usual case.

    Under a burst of finished jobs every hop to a worker thread and every blocking file call on the
    event loop delays all the other deliveries, so the Python steps run together; a process runs
    only for what `polish_video` says needs one (an MP4 the Python probe or writer does not read,
    a thumbnail for a large file), each in the shared process pool.
    """
    remuxed = workdir / "video-audio.mp4"
    steps = await asyncio.to_thread(_prepare_in_python, video, remuxed)
    info, audio_missing, size, result, result_size = steps
    made_track = False
    if info is None and (info := await probe_video(video)) is not None and not info.has_audio:
        # Probed by ffprobe only: polish_video tries the Python writer, then ffmpeg.
        made_track = (await polish_video(video, workdir, add_audio=True, thumbnail=False)).video == remuxed
    elif audio_missing:
        # The Python writer refused this MP4: ffmpeg's silent track.
        made_track = await _ffmpeg_silent_track(video, remuxed)
    if made_track:
        result, result_size = remuxed, await asyncio.to_thread(lambda: remuxed.stat().st_size)
    thumb = await _thumbnail(video, workdir / "thumb.jpg") if wants_thumbnail(size) else None
    return Prepared(result, result_size, info, thumb)
