"""bot/worker/stitch: MP4 parts joined in order into one, by copying when their parameters are
the same and by re-encoding otherwise; bad parts, ffmpeg's failures, timeouts and cancellation
end in one StitchError, with no output (or partial output) left and no ffmpeg left running.

The parts are made by the same ffmpeg (lavfi colour sources, a sine tone for sound); the order
of the shots is checked by decoding one frame of each and telling its colour."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import subprocess
from pathlib import Path

import imageio_ffmpeg
import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.worker.mp4 import Movie, Track, read_file_movie
from bot.worker.stitch import (
    Method,
    StitchError,
    concat_entry,
    concat_list,
    partial_path,
    stitch,
)

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
COLOURS = {"red": RED, "green": GREEN, "blue": BLUE}
SECONDS = 1.0


def make_clip(
    path: Path,
    colour: str,
    *,
    size: str = "160x120",
    tone: int | None = None,
    profile: str = "high",
    seconds: float = SECONDS,
    faststart: bool = False,
) -> Path:
    red, green, blue = COLOURS[colour]
    source = f"color=c=0x{red:02x}{green:02x}{blue:02x}:s={size}:r=24:d={seconds}"
    command = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi"]
    command += ["-i", source]
    if tone is not None:
        command += ["-f", "lavfi", "-i", f"sine=f={tone}:d={seconds}", "-c:a", "aac", "-shortest"]
    command += ["-c:v", "libx264", "-profile:v", profile, "-pix_fmt", "yuv420p"]
    command += ["-movflags", "+faststart"] if faststart else []
    subprocess.run([*command, "-y", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {
        "red": make_clip(folder / "red.mp4", "red"),
        "green": make_clip(folder / "green.mp4", "green"),
        "blue": make_clip(folder / "blue.mp4", "blue"),
        "wide green": make_clip(folder / "wide-green.mp4", "green", size="320x120"),
        "long wide green": make_clip(
            folder / "long-wide-green.mp4", "green", size="320x120", seconds=30
        ),
        "baseline blue": make_clip(folder / "baseline-blue.mp4", "blue", profile="baseline"),
        "faststart blue": make_clip(folder / "faststart-blue.mp4", "blue", faststart=True),
        "red 440 Hz": make_clip(folder / "red-440.mp4", "red", tone=440),
        "green 440 Hz": make_clip(folder / "green-440.mp4", "green", tone=440),
        "blue 880 Hz": make_clip(folder / "blue-880.mp4", "blue", tone=880),
    }


def frame_colour(path: Path, at: float) -> tuple[int, int, int]:
    """The colour in the middle of the frame shown at `at` seconds."""
    command = [FFMPEG, "-nostdin", "-loglevel", "error", "-ss", f"{at}", "-i", str(path)]
    command += ["-frames:v", "1", "-vf", "crop=2:2", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    pixel = subprocess.run(command, check=True, capture_output=True).stdout[:3]
    return pixel[0], pixel[1], pixel[2]


def colour_name(rgb: tuple[int, int, int]) -> str:
    return min(
        COLOURS, key=lambda name: sum((a - b) ** 2 for a, b in zip(COLOURS[name], rgb, strict=True))
    )


def shot_colours(path: Path, shots: int) -> list[str]:
    return [colour_name(frame_colour(path, (shot + 0.5) * SECONDS)) for shot in range(shots)]


def loudness(path: Path, start: float, seconds: float) -> int:
    """The largest 16-bit sample of the sound from `start` for `seconds`."""
    command = [FFMPEG, "-nostdin", "-loglevel", "error", "-ss", f"{start}", "-t", f"{seconds}"]
    command += ["-i", str(path), "-vn", "-f", "s16le", "-ac", "1", "-"]
    samples = subprocess.run(command, check=True, capture_output=True).stdout
    values = struct.unpack(f"<{len(samples) // 2}h", samples[: len(samples) // 2 * 2])
    return max(map(abs, values))


def movie(path: Path) -> Movie:
    with path.open("rb") as file:
        return read_file_movie(file)


def track(path: Path, kind: bytes) -> Track:
    return next(track for track in movie(path).tracks if track.kind == kind)


def ffmpegs_running() -> list[psutil.Process]:
    """This process's ffmpeg children, running or not yet reaped."""
    running = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if "ffmpeg" in child.name():
                running.append(child)
    return running


# --- copying ---------------------------------------------------------------------------------


async def test_parts_alike_are_joined_by_copy_in_order(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "story.mp4"
    result = await stitch([clips["red"], clips["green"], clips["blue"], clips["red"]], out)
    assert result.method is Method.COPY
    assert result.size == out.stat().st_size
    assert (result.info.width, result.info.height, result.info.duration) == (160, 120, 4)
    assert track(out, b"vide").seconds == pytest.approx(4 * SECONDS, abs=0.01)
    assert shot_colours(out, 4) == ["red", "green", "blue", "red"]
    assert not partial_path(out).exists()


async def test_parts_alike_with_sound_are_copied_sound_and_all(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "story.mp4"
    parts = [clips["red 440 Hz"], clips["green 440 Hz"], clips["blue 880 Hz"]]
    result = await stitch(parts, out)
    assert result.method is Method.COPY
    assert track(out, b"soun").seconds == pytest.approx(3 * SECONDS, abs=0.1)
    assert shot_colours(out, 3) == ["red", "green", "blue"]
    assert loudness(out, 2.2, 0.6) > 5000


async def test_one_part_is_the_output_as_it_is(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "story.mp4"
    result = await stitch([clips["green"]], out)
    assert result.method is Method.COPY
    assert out.read_bytes() == clips["green"].read_bytes()
    assert result.info.duration == 1


async def test_hostile_file_names_are_joined(clips: dict[str, Path], tmp_path: Path) -> None:
    """Quotes, a newline, spaces, a leading dash, a protocol-like prefix: each is a plain file
    to ffmpeg, through the concat list (copy) and on the command line (re-encode)."""
    names = ['it\'s a "shot".mp4', "line\nbreak 'x'.mp4", "-y.mp4", "pipe:1.mp4"]
    parts = []
    for name, colour in zip(names, ["red", "green", "blue", "red"], strict=True):
        (tmp_path / name).write_bytes(clips[colour].read_bytes())
        parts.append(tmp_path / name)
    out = tmp_path / "out 'final'.mp4"
    assert (await stitch(parts, out)).method is Method.COPY
    assert shot_colours(out, 4) == ["red", "green", "blue", "red"]
    (tmp_path / "wide\n'green'.mp4").write_bytes(clips["wide green"].read_bytes())
    parts[1] = tmp_path / "wide\n'green'.mp4"
    assert (await stitch(parts, out)).method is Method.REENCODE
    assert shot_colours(out, 4) == ["red", "green", "blue", "red"]


async def test_a_stale_partial_output_is_replaced(clips: dict[str, Path], tmp_path: Path) -> None:
    """A kill during an earlier stitch left its partial file (never the output itself)."""
    out = tmp_path / "story.mp4"
    partial_path(out).write_bytes(b"half a video")
    await stitch([clips["red"], clips["blue"]], out)
    assert shot_colours(out, 2) == ["red", "blue"]
    assert not partial_path(out).exists()


# --- re-encoding -----------------------------------------------------------------------------


async def test_parts_of_different_sizes_are_reencoded_to_the_first_size(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "story.mp4"
    result = await stitch([clips["red"], clips["wide green"], clips["blue"]], out)
    assert result.method is Method.REENCODE
    assert (result.info.width, result.info.height) == (160, 120)
    assert track(out, b"vide").seconds == pytest.approx(3 * SECONDS, abs=0.05)
    assert not any(t.kind == b"soun" for t in movie(out).tracks)  # no part had sound
    # The wide part is letterboxed, not stretched: black above and below, green in the middle.
    assert shot_colours(out, 3) == ["red", "green", "blue"]
    assert frame_colour(out, 1.5) != (0, 0, 0)


async def test_another_codec_profile_is_reencoded(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "story.mp4"
    result = await stitch([clips["red"], clips["baseline blue"]], out)
    assert result.method is Method.REENCODE
    assert shot_colours(out, 2) == ["red", "blue"]


async def test_parts_with_and_without_sound_join_with_silence(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "story.mp4"
    result = await stitch([clips["red"], clips["green 440 Hz"], clips["blue"]], out)
    assert result.method is Method.REENCODE
    assert track(out, b"vide").seconds == pytest.approx(3 * SECONDS, abs=0.05)
    assert track(out, b"soun").seconds == pytest.approx(3 * SECONDS, abs=0.1)
    assert shot_colours(out, 3) == ["red", "green", "blue"]
    # The tone plays during the second shot only: the sound stays in step with the pictures.
    assert loudness(out, 0.1, 0.7) < 100
    assert loudness(out, 1.2, 0.6) > 1000
    assert loudness(out, 2.2, 0.7) < 100


# --- failures --------------------------------------------------------------------------------


def assert_nothing_left(out: Path) -> None:
    assert not out.exists()
    assert not partial_path(out).exists()


async def test_a_part_that_is_not_a_video_is_refused(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "story.mp4"
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"<html><body>Service busy</body></html>")
    with pytest.raises(StitchError, match="part 2 is not an MP4 video"):
        await stitch([clips["red"], garbage], out)
    assert_nothing_left(out)


async def test_a_cut_or_missing_part_is_refused(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "story.mp4"
    data = clips["faststart blue"].read_bytes()  # the movie header first: it survives the cut
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) - 100])
    with pytest.raises(StitchError, match="part 3 is cut short"):
        await stitch([clips["red"], clips["green"], cut], out)
    header_only = tmp_path / "header-only.mp4"  # the movie header last, and cut off
    header_only.write_bytes(clips["blue"].read_bytes()[:-100])
    with pytest.raises(StitchError, match="part 1 has no readable movie header"):
        await stitch([header_only, clips["green"]], out)
    with pytest.raises(StitchError, match="part 2 cannot be read"):
        await stitch([clips["red"], tmp_path / "missing.mp4"], out)
    with pytest.raises(StitchError, match="no parts"):
        await stitch([], out)
    assert_nothing_left(out)


async def test_a_part_without_pictures_is_refused(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "story.mp4"
    sound = tmp_path / "sound.mp4"
    command = [FFMPEG, "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "sine=d=1"]
    await asyncio.to_thread(subprocess.run, [*command, "-c:a", "aac", str(sound)], check=True)
    with pytest.raises(StitchError, match="part 2 has no readable video track"):
        await stitch([clips["red"], sound], out)
    assert_nothing_left(out)


async def test_an_ffmpeg_that_cannot_start_is_a_stitch_error(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator's IMAGEIO_FFMPEG_EXE names a binary that is not there."""
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(tmp_path / "no-ffmpeg"))
    out = tmp_path / "story.mp4"
    with pytest.raises(StitchError, match="ffmpeg could not start"):
        await stitch([clips["red"], clips["green"]], out)
    assert_nothing_left(out)


async def test_ffmpeg_failing_is_a_stitch_error_with_its_reason(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "no such folder" / "story.mp4"
    with pytest.raises(StitchError, match=r"ffmpeg failed \(exit status \d+\)") as raised:
        await stitch([clips["red"], clips["green"]], out)
    assert "No such file or directory" in raised.value.stderr
    assert_nothing_left(out)


async def test_a_timeout_ends_ffmpeg(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "story.mp4"
    with pytest.raises(StitchError, match=r"ffmpeg took longer than 0\.01 s"):
        await stitch([clips["red"], clips["wide green"]], out, timeout=0.01)
    assert ffmpegs_running() == []
    assert_nothing_left(out)


async def test_cancelling_ends_ffmpeg(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "story.mp4"
    task = asyncio.create_task(stitch([clips["red"], clips["long wide green"]], out))
    async with asyncio.timeout(30):
        while not (running := ffmpegs_running()):  # noqa: ASYNC110 - another process's state
            await asyncio.sleep(0.002)
        # It runs below the bot's priority (set just after it starts).
        while running[0].nice() != min(19, psutil.Process().nice() + 10):  # noqa: ASYNC110
            await asyncio.sleep(0.002)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ffmpegs_running() == []
    assert_nothing_left(out)


# --- the codec parameters, read from real files ----------------------------------------------


def test_the_codec_parameters_are_read_from_real_files(clips: dict[str, Path]) -> None:
    red, green = movie(clips["red"]), movie(clips["green"])
    assert red.whole and red.info.width == 160
    (video,) = red.tracks
    assert (video.kind, video.codec, video.width, video.height) == (b"vide", b"avc1", 160, 120)
    assert video.seconds == pytest.approx(SECONDS) and video.timescale > 0
    assert b"avcC" in video.config
    # Two clips of the same parameters and different pictures: the same description.
    assert [t.parameters for t in green.tracks] == [t.parameters for t in red.tracks]
    for other in ("wide green", "baseline blue"):
        (different,) = movie(clips[other]).tracks
        assert different.parameters != video.parameters
    # Sound: AAC with its AudioSpecificConfig; a different tone (and so bitrate) is alike.
    tone = movie(clips["red 440 Hz"]).tracks
    assert [t.kind for t in tone] == [b"vide", b"soun"]
    audio = tone[1]
    assert (audio.codec, audio.channels, audio.sample_rate) == (b"mp4a", 1, 44100)
    assert audio.config.startswith(b"esds")
    assert [t.parameters for t in movie(clips["blue 880 Hz"]).tracks] == [
        t.parameters for t in tone
    ]


# --- the concat list -------------------------------------------------------------------------


def parse_token(line: str) -> str:
    """ffmpeg's av_get_token, as its concat demuxer reads a `file` line's path: a backslash
    escapes the next character, and between single quotes everything is literal."""
    assert line.startswith("file ")
    text, out, position = line[len("file ") :], [], 0
    while position < len(text) and text[position] not in " \t":
        char = text[position]
        position += 1
        if char == "\\" and position < len(text):
            out.append(text[position])
            position += 1
        elif char == "'":
            end = text.index("'", position)
            out.append(text[position:end])
            position = end + 1
        else:
            out.append(char)
    assert position == len(text), "one token per line"
    return "".join(out)


@pytest.mark.unit
def test_concat_entries_quote_hostile_names() -> None:
    assert concat_entry("/tmp/a b.mp4") == "'/tmp/a b.mp4'"
    assert concat_entry("/tmp/it's.mp4") == "'/tmp/it'\\''s.mp4'"
    for name in ("/tmp/it's", "/a b/c\td", "/x/'", "/x/''", "/back\\slash", '/"q"', "/#c"):
        assert parse_token(f"file {concat_entry(name)}") == name
    for broken in ("/tmp/line\nbreak.mp4", "/tmp/carriage\rreturn.mp4"):
        with pytest.raises(ValueError, match="line break"):
            concat_entry(broken)


@pytest.mark.unit
@given(st.text(alphabet=st.characters(exclude_characters="\n\r\x00"), max_size=40))
def test_any_name_without_line_breaks_survives_quoting(name: str) -> None:
    assert parse_token(f"file {concat_entry('/' + name)}") == "/" + name


@pytest.mark.unit
def test_a_name_with_a_line_break_is_listed_by_a_link(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    parts = [tmp_path / "plain.mp4", tmp_path / "two\nlines.mp4", tmp_path / "it's.mp4"]
    listing = concat_list(parts, work)
    lines = listing.splitlines()
    assert lines[0] == "ffconcat version 1.0" and len(lines) == 4
    named = [Path(parse_token(line)) for line in lines[1:]]
    assert named[0] == parts[0] and named[2] == parts[2]
    assert named[1].parent == work and named[1].readlink() == parts[1]
