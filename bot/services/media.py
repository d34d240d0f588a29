"""ffprobe/ffmpeg helpers. Optional: without them the bot still sends videos, with less polish."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

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


async def _run(*args: str, timeout: float = PROBE_TIMEOUT_S) -> tuple[int, bytes]:
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


async def probe_video(path: Path) -> VideoInfo | None:
    """Width, height, duration and audio presence; None when ffprobe is missing or fails."""
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
    for side in stream.get("side_data_list", []) or []:  # type: ignore[union-attr]
        if isinstance(side, dict) and "rotation" in side:
            try:
                return abs(int(side["rotation"])) % 360
            except (TypeError, ValueError):
                return 0
    return 0


async def make_thumbnail(video: Path, out: Path) -> Path | None:
    """A JPEG no larger than 320 px per side (Telegram's thumbnail rule), or None."""
    if not ffmpeg_available():
        return None
    code, _ = await _run(
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-i",
        str(video),
        "-frames:v",
        "1",
        "-vf",
        "scale='min(320,iw)':'min(320,ih)':force_original_aspect_ratio=decrease",
        "-q:v",
        "5",
        str(out),
    )
    if code != 0 or not out.exists() or out.stat().st_size == 0 or out.stat().st_size > 200_000:
        return None
    return out


async def add_silent_audio(video: Path, out: Path) -> Path | None:
    """Re-mux with a silent AAC track: Telegram plays soundless MP4s like GIFs (no seek bar)."""
    if not ffmpeg_available():
        return None
    code, _ = await _run(
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-i",
        str(video),
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=44100:cl=stereo",
        "-shortest",
        "-c:v",
        "copy",
        "-c:a",
        "aac",
        "-movflags",
        "+faststart",
        str(out),
        timeout=120.0,
    )
    return out if code == 0 and out.exists() and out.stat().st_size > 0 else None
