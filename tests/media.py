"""Decoding videos in tests, with the FFmpeg of ``imageio-ffmpeg`` (the emulator's and the
bot's own; there is no ffprobe, so facts come from ``ffmpeg -i``'s report and from decoding).

With ``EmulatorConfig(clips=True)`` every generation's video is one solid colour of
``emulator.clips.PALETTE`` (clip 1 red, 2 green, 3 blue, ...), so a stitched video's order and
length can be read back::

    assert colour_runs(video) == [("red", 2.0), ("green", 3.0)]
    assert [nearest_colour(rgb).name for rgb in frame_colours(video, [0.5, 3])] == ["red", "green"]
    assert duration_of(video) == pytest.approx(5.0, abs=0.05)
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from emulator.clips import PALETTE, Colour, ffmpeg_exe

Video = bytes | str | Path
RGB = tuple[int, int, int]

_DURATION_RE = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_VIDEO_RE = re.compile(r"Stream #\S+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})")
_FPS_RE = re.compile(r"([\d.]+) fps")
_AUDIO_RE = re.compile(r"Stream #\S+.*?: Audio: (\w+)")
# Every decoded frame as raw RGB on stdout.
_RAW_RGB = ("-f", "rawvideo", "-pix_fmt", "rgb24", "-")
# Frames are shrunk to this many pixels a side before averaging (the colour is uniform anyway).
_THUMB = 8


@contextmanager
def _as_file(video: Video) -> Iterator[str]:
    """A path FFmpeg can seek in: the path given, or the bytes written to a temporary file."""
    if not isinstance(video, bytes):
        yield str(video)
        return
    with tempfile.TemporaryDirectory(prefix="test-media-") as folder:
        path = Path(folder) / "video.mp4"
        path.write_bytes(video)
        yield str(path)


def _run(args: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-hide_banner", *args], capture_output=True, check=False
    )


def _average(raw: bytes) -> RGB:
    pixels = len(raw) // 3
    if pixels == 0:
        raise ValueError("no frame decoded")
    return (
        round(sum(raw[0::3]) / pixels),
        round(sum(raw[1::3]) / pixels),
        round(sum(raw[2::3]) / pixels),
    )


def frame_colours(video: Video, times: Iterable[float]) -> list[RGB]:
    """The average RGB of the frame shown at each time (seconds); a time at or past the end is
    a ValueError."""
    colours: list[RGB] = []
    with _as_file(video) as path:
        for at in times:
            done = _run(["-v", "error", "-ss", f"{at:g}", "-i", path, "-frames:v", "1", *_RAW_RGB])
            if done.returncode != 0 or not done.stdout:
                problem = done.stderr.decode(errors="replace").strip()
                raise ValueError(f"no frame at {at:g} s: {problem or 'past the end'}")
            colours.append(_average(done.stdout))
    return colours


def nearest_colour(rgb: RGB, palette: Sequence[Colour] = PALETTE) -> Colour:
    """The palette colour closest to ``rgb`` (squared distance), e.g. a decoded frame's."""
    return min(palette, key=lambda c: sum((a - b) ** 2 for a, b in zip(c.rgb, rgb, strict=True)))


def colours_at(video: Video, times: Iterable[float]) -> list[str]:
    """The palette names of the frames at ``times``."""
    return [nearest_colour(rgb).name for rgb in frame_colours(video, times)]


def colour_runs(
    video: Video, rate: float = 4, palette: Sequence[Colour] = PALETTE
) -> list[tuple[str, float]]:
    """The video as (colour name, seconds) runs, sampled ``rate`` times a second in one
    decode: a stitched story of a 2 s red shot and a 3 s green one is
    ``[("red", 2.0), ("green", 3.0)]`` (to 1/rate s)."""
    with _as_file(video) as path:
        shrink = f"fps={rate:g},scale={_THUMB}:{_THUMB}"
        done = _run(["-v", "error", "-i", path, "-an", "-vf", shrink, *_RAW_RGB])
    if done.returncode != 0:
        raise ValueError(done.stderr.decode(errors="replace").strip())
    frame = _THUMB * _THUMB * 3
    runs: list[tuple[str, float]] = []
    for start in range(0, len(done.stdout) - frame + 1, frame):
        name = nearest_colour(_average(done.stdout[start : start + frame]), palette).name
        if runs and runs[-1][0] == name:
            runs[-1] = (name, runs[-1][1] + 1 / rate)
        else:
            runs.append((name, 1 / rate))
    return [(name, round(seconds, 6)) for name, seconds in runs]


@dataclass(frozen=True)
class Probe:
    """What ``ffmpeg -i`` reports of a video."""

    duration: float
    codec: str
    width: int
    height: int
    fps: float | None
    audio: str | None  # the audio codec, None without an audio track


def probe(video: Video) -> Probe:
    """Duration, video codec and size, frame rate and audio codec, from ``ffmpeg -i``'s report
    (it exits 1 for want of an output; the report is all we ask of it)."""
    with _as_file(video) as path:
        report = _run(["-i", path]).stderr.decode(errors="replace")
    duration = _DURATION_RE.search(report)
    stream = _VIDEO_RE.search(report)
    if duration is None or stream is None:
        raise ValueError(f"not a video FFmpeg can read: {report.strip()[-300:]}")
    hours, minutes, seconds = duration.groups()
    line = report[stream.start() :].splitlines()[0]
    fps = _FPS_RE.search(line)
    audio = _AUDIO_RE.search(report)
    return Probe(
        duration=int(hours) * 3600 + int(minutes) * 60 + float(seconds),
        codec=stream.group(1),
        width=int(stream.group(2)),
        height=int(stream.group(3)),
        fps=float(fps.group(1)) if fps else None,
        audio=audio.group(1) if audio else None,
    )


def duration_of(video: Video) -> float:
    """Seconds, as the container says (``Duration: 00:00:04.00``)."""
    return probe(video).duration
