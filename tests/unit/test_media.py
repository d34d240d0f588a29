"""Probing videos: the Python MP4 header reader agrees with ffprobe on the simulator's clips."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bot.services import media
from bot.services.silent_track import add_silent_track

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


SILENT_CLIPS = sorted(p.name for p in CLIPS.glob("*_silent.mp4"))


@pytest.mark.parametrize("clip", SILENT_CLIPS)
def test_silent_track_is_added_in_python(clip: str, tmp_path: Path) -> None:
    before = media.probe_mp4(CLIPS / clip)
    out = tmp_path / "out.mp4"
    assert add_silent_track(CLIPS / clip, out)
    after = media.probe_mp4(out)
    assert before is not None and after is not None
    assert not before.has_audio and after.has_audio
    assert (after.width, after.height, after.duration) == (before.width, before.height, before.duration)


def _ffmpeg_out(*args: str) -> str:
    done = subprocess.run(["ffmpeg", "-v", "error", *args], capture_output=True, check=True)
    assert done.stderr == b"", done.stderr
    return done.stdout.decode()


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (apt-get install ffmpeg)")
@pytest.mark.parametrize("faststart", [True, False])
def test_silent_track_keeps_every_video_frame_and_decodes_cleanly(faststart: bool, tmp_path: Path) -> None:
    # A longer clip with many chunks, with the header before (faststart) and after the samples: the
    # video's chunk offsets must move exactly by what the header grew.
    clip = tmp_path / "clip.mp4"
    flags = ["-movflags", "+faststart"] if faststart else []
    _ffmpeg_out(
        "-f", "lavfi", "-i", "testsrc=size=180x320:rate=24", "-t", "3",
        "-c:v", "libx264", "-preset", "ultrafast", *flags, str(clip),
    )  # fmt: skip
    out = tmp_path / "out.mp4"
    assert add_silent_track(clip, out)
    frames = ["-map", "0:v", "-f", "md5", "-"]
    assert _ffmpeg_out("-i", str(out), *frames) == _ffmpeg_out("-i", str(clip), *frames)
    _ffmpeg_out("-i", str(out), "-f", "null", "-")  # audio too: no decoder complaint on stderr
    info = media.probe_mp4(out)
    assert info is not None and info.has_audio and info.duration == 3


def test_silent_track_refuses_what_it_cannot_write(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    assert not add_silent_track(CLIPS / "9x16_audio.mp4", out)  # it has sound already
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x10ftypisom" + b"not really a video" * 10)
    assert not add_silent_track(junk, out)
    assert not out.exists()


def test_only_large_files_get_a_thumbnail_of_ours() -> None:
    assert not media.wants_thumbnail(8 * 1024 * 1024)
    assert not media.wants_thumbnail(media.OWN_THUMBNAIL_ABOVE_BYTES)
    assert media.wants_thumbnail(media.OWN_THUMBNAIL_ABOVE_BYTES + 1)


async def test_polish_adds_the_track_without_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media, "ffmpeg_available", lambda: False)
    polished = await media.polish_video(CLIPS / "9x16_silent.mp4", tmp_path, add_audio=True, thumbnail=True)
    info = media.probe_mp4(polished.video)
    assert info is not None and info.has_audio
    assert polished.thumbnail is None


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (apt-get install ffmpeg)")
async def test_polish_makes_a_small_thumbnail_when_asked(tmp_path: Path) -> None:
    polished = await media.polish_video(CLIPS / "9x16_audio.mp4", tmp_path, add_audio=False, thumbnail=True)
    assert polished.video == CLIPS / "9x16_audio.mp4"
    assert polished.thumbnail is not None
    width, height = _image_size(polished.thumbnail)
    assert max(width, height) <= 320 and height > width


def _image_size(image: Path) -> tuple[int, int]:
    _ffmpeg_out("-i", str(image), "-f", "null", "-")  # it decodes cleanly
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0", str(image)],
        capture_output=True, check=True, text=True,
    )  # fmt: skip
    width, height = map(int, probe.stdout.strip().split(","))
    return width, height
