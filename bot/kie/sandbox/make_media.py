"""Make the simulator's tiny result videos with ffmpeg (run once; the outputs are committed).

    python -m bot.kie.sandbox.make_media

Each clip is 1 s of an ffmpeg test pattern at a low resolution and bitrate, so the files stay a few
KB and the repository stays small, yet they are real H.264/AAC MP4s that Telegram and ffprobe accept.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

MEDIA_DIR = Path(__file__).with_name("media")

# ratio name -> (width, height); the names are the file stems the simulator looks up.
CLIP_SIZES: dict[str, tuple[int, int]] = {
    "9x16": (180, 320),
    "16x9": (320, 180),
    "1x1": (240, 240),
}


def clip_path(ratio_name: str, with_audio: bool) -> Path:
    suffix = "audio" if with_audio else "silent"
    return MEDIA_DIR / f"{ratio_name}_{suffix}.mp4"


def make_clip(ratio_name: str, with_audio: bool, ffmpeg: str = "ffmpeg") -> Path:
    width, height = CLIP_SIZES[ratio_name]
    out = clip_path(ratio_name, with_audio)
    cmd = [
        ffmpeg, "-y", "-loglevel", "error",
        "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=12:duration=1",
    ]
    if with_audio:
        cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration=1"]
    cmd += ["-c:v", "libx264", "-preset", "veryslow", "-crf", "38", "-pix_fmt", "yuv420p"]
    if with_audio:
        cmd += ["-c:a", "aac", "-b:a", "24k", "-ac", "1"]
    # faststart puts the moov atom first, the way real providers serve streamable MP4s.
    cmd += ["-movflags", "+faststart", "-map_metadata", "-1", str(out)]
    subprocess.run(cmd, check=True)
    return out


def make_all() -> list[Path]:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SystemExit("ffmpeg is not on PATH (apt-get install -y ffmpeg)")
    MEDIA_DIR.mkdir(exist_ok=True)
    return [make_clip(name, audio, ffmpeg) for name in CLIP_SIZES for audio in (False, True)]


if __name__ == "__main__":
    for path in make_all():
        sys.stdout.write(f"{path.name}: {path.stat().st_size} bytes\n")
