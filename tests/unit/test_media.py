"""Probing videos: the Python MP4 header reader agrees with ffprobe on the simulator's clips."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.services import media

CLIPS = Path(media.__file__).resolve().parents[1] / "kie" / "sandbox" / "media"


@pytest.mark.parametrize("clip", sorted(p.name for p in CLIPS.glob("*.mp4")))
def test_header_probe_reads_size_duration_and_audio(clip: str) -> None:
    info = media.probe_mp4(CLIPS / clip)
    assert info is not None
    ratio = clip.split("_")[0]
    if ratio == "9x16":
        assert info.height > info.width
    elif ratio == "16x9":
        assert info.width > info.height
    else:
        assert info.width == info.height
    assert info.duration >= 1
    assert info.has_audio == clip.endswith("_audio.mp4")


@pytest.mark.skipif(
    shutil.which("ffprobe") is None, reason="ffprobe is not installed (apt-get install ffmpeg)"
)
@pytest.mark.parametrize("clip", sorted(p.name for p in CLIPS.glob("*.mp4")))
async def test_header_probe_agrees_with_ffprobe(clip: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ours = media.probe_mp4(CLIPS / clip)
    monkeypatch.setattr(media, "probe_mp4", lambda path: None)  # force the ffprobe path
    theirs = await media.probe_video(CLIPS / clip)
    assert ours == theirs


def test_garbage_is_not_a_video(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x10ftypisom" + b"not really a video" * 10)
    assert media.probe_mp4(junk) is None
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes((CLIPS / "9x16_audio.mp4").read_bytes()[:300])
    assert media.probe_mp4(truncated) is None
