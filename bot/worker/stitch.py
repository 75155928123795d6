"""Joining several MP4 videos, in order, into one (a storyboard's shots, issue 20).

FFmpeg comes from the `imageio-ffmpeg` package (a static binary in its wheel; an operator may
point `IMAGEIO_FFMPEG_EXE` at another), so `pip install` sets it up on a fresh machine. It runs
as a subprocess: its memory and CPU are its own, not the bot's event loop's, it is given a
lower CPU priority than the bot (deliveries and progress edits come first), and it is killed
when it exceeds its timeout or the caller is cancelled.

How: parts whose streams are described identically (bot/worker/mp4.py: per track its kind,
timescale and sample description) are joined as they are, by ffmpeg's concat demuxer with
`-c copy`: no quality lost, and it takes a fraction of a second. Otherwise (different sizes,
codecs or profiles, some parts with sound and some without) everything is re-encoded to H.264
and AAC at the first part's size, the others scaled and padded to it, silence for the parts
without sound. Luma's clips of one story share their parameters, so copying is the rule and
re-encoding the fallback.

Why the concat demuxer and not the concat protocol: the protocol joins bytes, which only works
for formats made of independent packets (MPEG-TS); an MP4 has one index (`moov`) per file. The
demuxer reads a list file, which we write: each path absolute and single-quoted for its syntax
(`concat_entry`); a path with a line break, which no list line can carry, is named through a
symbolic link in our private folder instead. Paths on ffmpeg's command line are absolute, so
none can be read as an option (`-x`) or a protocol (`pipe:`).

Crash safety: ffmpeg writes `partial_path(out)`, which is renamed to `out` only once it is
complete, checked and flushed to disk, so a kill at any moment leaves either no `out` or a
finished one; a new run starts by removing a stale partial file (an orphaned ffmpeg from a
killed bot then writes into a file no name leads to).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import imageio_ffmpeg

from bot.worker.mp4 import HEAD_BYTES, Movie, Track, VideoInfo, is_video, read_file_movie

# Room to re-encode the longest story (six 9-second parts): about 25 s at 720p and 50 s at
# 1080p on two busy cores (docs/benchmarks.md, "Stitching"); copying takes under a second.
DEFAULT_TIMEOUT = 300.0
# ffmpeg's own messages kept for the error (the end, where the reason is).
STDERR_LIMIT = 4096
# Added to the bot's own niceness for ffmpeg (the maximum is 19).
NICENESS = 10
# Re-encoding: H.264 quality close to the source's at moderate CPU, the AAC audio Telegram plays.
VIDEO_CODEC = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"]
AUDIO_CODEC = ["-c:a", "aac", "-b:a", "128k"]
AUDIO_FORMAT = "sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo"
# Moves the `moov` box first, so Telegram (and players) can start before the whole file is in.
MP4_OUTPUT = ["-movflags", "+faststart", "-f", "mp4"]


class StitchError(Exception):
    """The parts could not be joined; the message is a short reason (which part, or ffmpeg's
    last words). Nothing is left at the output path."""

    def __init__(self, reason: str, stderr: str = "") -> None:
        super().__init__(reason)
        self.stderr = stderr  # ffmpeg's messages (their last STDERR_LIMIT bytes), for the log


class Method(StrEnum):
    COPY = "copy"  # the parts' streams as they are (one part: the file itself)
    REENCODE = "reencode"


@dataclass(frozen=True)
class StitchResult:
    method: Method
    info: VideoInfo  # of the output, read from its `moov` box
    size: int  # bytes


@dataclass(frozen=True)
class _Part:
    path: Path  # absolute
    movie: Movie
    video: Track
    audio: Track | None


def partial_path(out: Path) -> Path:
    """Where `stitch` writes before the output is complete."""
    return out.with_suffix(".part")


async def stitch(
    parts: Sequence[Path],
    out: Path,
    *,
    # A parameter rather than the caller's asyncio.timeout: running out of time is a
    # StitchError like any other failure, and ffmpeg's own CPU limit derives from it.
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
) -> StitchResult:
    """`parts` joined in order into the MP4 file `out` (replaced if it exists), by copying
    their streams when they allow it, else by re-encoding. StitchError if a part is not a
    complete MP4 video with a video track, or ffmpeg fails or runs longer than `timeout`
    seconds; the output path is then left as it was, with no partial file beside it."""
    if not parts:
        raise StitchError("no parts to stitch")
    partial = partial_path(out).absolute()
    try:
        inspected = await asyncio.to_thread(_prepare, parts, partial)
        if len(inspected) == 1:
            method = Method.COPY
            await asyncio.to_thread(shutil.copyfile, inspected[0].path, partial)
        elif _same_parameters(inspected):
            method = Method.COPY
            with tempfile.TemporaryDirectory(prefix="luma-stitch-") as work:
                listing = _write_list(Path(work), [part.path for part in inspected])
                await _run_ffmpeg(copy_arguments(listing, partial), timeout)
        else:
            method = Method.REENCODE
            await _run_ffmpeg(reencode_arguments(inspected, partial), timeout)
        info, size = await asyncio.to_thread(_finish, partial, out)
    except BaseException as error:
        with contextlib.suppress(OSError):
            partial.unlink()
        if isinstance(error, OSError):
            raise StitchError(f"cannot write the output ({error.strerror or error})") from error
        raise
    return StitchResult(method=method, info=info, size=size)


def _prepare(parts: Sequence[Path], partial: Path) -> list[_Part]:
    """Each part read and checked; a stale partial output removed."""
    inspected = [_inspect(number, Path(path)) for number, path in enumerate(parts, 1)]
    partial.unlink(missing_ok=True)
    return inspected


def _inspect(number: int, path: Path) -> _Part:
    """The part's tracks, or StitchError saying what is wrong with it."""
    try:
        with path.open("rb") as file:
            if not is_video(file.read(HEAD_BYTES)):
                raise StitchError(f"part {number} is not an MP4 video")
            movie = read_file_movie(file)
    except OSError as error:
        raise StitchError(f"part {number} cannot be read ({error.strerror or error})") from None
    if not movie.tracks:
        raise StitchError(f"part {number} has no readable movie header")
    if not movie.whole:
        raise StitchError(f"part {number} is cut short")
    video = next((track for track in movie.tracks if track.kind == b"vide"), None)
    if video is None or not (video.width and video.height and video.seconds):
        raise StitchError(f"part {number} has no readable video track")
    audio = next((track for track in movie.tracks if track.kind == b"soun"), None)
    return _Part(path=path.absolute(), movie=movie, video=video, audio=audio)


def _same_parameters(parts: Sequence[_Part]) -> bool:
    """Whether every part's tracks are described as the first part's are (so the concat
    demuxer, which sets the output up from the first part, can copy them all)."""
    first = [track.parameters for track in parts[0].movie.tracks]
    return all([track.parameters for track in part.movie.tracks] == first for part in parts)


def concat_entry(path: str) -> str:
    """`path` as one token of ffmpeg's concat list syntax: in single quotes, in which
    everything is literal up to the next quote; a quote itself closes the string, is written
    escaped, and opens a new one (`'it'\\''s'`). ValueError for a line break, which ends the
    list's line whatever the quoting."""
    if "\n" in path or "\r" in path:
        raise ValueError("a concat list cannot name a path with a line break")
    return "'" + path.replace("'", "'\\''") + "'"


def concat_list(paths: Sequence[Path], work: Path) -> str:
    """The concat demuxer's list of `paths` (absolute); one with a line break is named by a
    symbolic link made for it in the private folder `work`."""
    lines = ["ffconcat version 1.0"]
    for index, path in enumerate(paths):
        name = str(path)
        if "\n" in name or "\r" in name:
            link = work / f"part-{index}.mp4"
            link.symlink_to(path)
            name = str(link)
        lines.append(f"file {concat_entry(name)}")
    return "\n".join(lines) + "\n"


def _write_list(work: Path, paths: Sequence[Path]) -> Path:
    listing = work / "parts.txt"
    # The bytes of the names as the file system has them (os.fsencode), whatever they are.
    listing.write_bytes(os.fsencode(concat_list(paths, work)))
    return listing


def copy_arguments(listing: Path, output: Path) -> list[str]:
    """ffmpeg's arguments to join the parts in `listing` without re-encoding. `-safe 0`: the
    list names absolute paths, which the demuxer's default refuses."""
    return [
        *("-f", "concat", "-safe", "0", "-i", str(listing)),
        *("-map", "0:v", "-map", "0:a?", "-c", "copy"),
        *MP4_OUTPUT,
        *("-y", str(output)),
    ]


def reencode_arguments(parts: Sequence[_Part], output: Path) -> list[str]:
    """ffmpeg's arguments to re-encode the parts into one video at the first part's size
    (rounded down to even, as yuv420p needs), each part scaled to fit and padded (black bars)
    rather than stretched. Each part's sound lasts as long as its picture (cut or padded with
    silence), and a part without sound gets silence, so the shots stay in sync; no sound at
    all when no part has any."""
    width = parts[0].video.width // 2 * 2 or 2
    height = parts[0].video.height // 2 * 2 or 2
    with_audio = any(part.audio is not None for part in parts)
    inputs: list[str] = []
    chains: list[str] = []
    segments = ""
    for index, part in enumerate(parts):
        inputs += ["-i", str(part.path)]
        chains.append(
            f"[{index}:v:0]scale={width}:{height}:force_original_aspect_ratio=decrease,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p[v{index}]"
        )
        segments += f"[v{index}]"
        if with_audio:
            seconds = f"{part.video.seconds:.6f}"
            if part.audio is not None:
                source = f"[{index}:a:0]aresample=48000,aformat={AUDIO_FORMAT},apad"
            else:
                source = f"anullsrc=channel_layout=stereo:sample_rate=48000,aformat={AUDIO_FORMAT}"
            chains.append(f"{source},atrim=duration={seconds}[a{index}]")
            segments += f"[a{index}]"
    chains.append(
        f"{segments}concat=n={len(parts)}:v=1:a={int(with_audio)}[v]" + "[a]" * with_audio
    )
    maps = ["-map", "[v]", *VIDEO_CODEC]
    if with_audio:
        maps += ["-map", "[a]", *AUDIO_CODEC]
    return [*inputs, "-filter_complex", ";".join(chains), *maps, *MP4_OUTPUT, "-y", str(output)]


async def _run_ffmpeg(arguments: list[str], timeout: float) -> None:  # noqa: ASYNC109
    """ffmpeg with `arguments`, no shell and no standard input; StitchError unless it exits 0
    within `timeout` seconds. It is killed (and reaped) on timeout and on cancellation."""
    try:
        # In a thread: the first call runs `ffmpeg -version` to check the binary (then cached).
        executable = await asyncio.to_thread(imageio_ffmpeg.get_ffmpeg_exe)
    except RuntimeError as error:
        raise StitchError(f"ffmpeg is not available ({error})") from None
    command = [executable, "-nostdin", "-hide_banner", "-loglevel", "error"]
    if math.isfinite(timeout):
        # A backstop that outlives us: ffmpeg ends itself after this much CPU time (all
        # threads together, so never before the timeout would end it), should a killed bot
        # leave it orphaned.
        command += ["-timelimit", str(math.ceil(timeout * (os.cpu_count() or 1)) + 1)]
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            *arguments,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as error:
        raise StitchError(f"ffmpeg could not start ({error.strerror or error})") from None
    _lower_priority(process.pid)
    stderr = bytearray()
    try:
        async with asyncio.timeout(timeout):
            await _read_bounded(process, stderr)
    except TimeoutError:
        raise StitchError(f"ffmpeg took longer than {timeout:g} s", _text(stderr)) from None
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    if process.returncode != 0:
        lines = _text(stderr).strip().splitlines() or ["no message"]
        reason = f"ffmpeg failed (exit status {process.returncode}): {lines[-1][:200]}"
        raise StitchError(reason, _text(stderr))


async def _read_bounded(process: asyncio.subprocess.Process, tail: bytearray) -> None:
    """Reads ffmpeg's standard error until it exits, keeping its last STDERR_LIMIT bytes."""
    assert process.stderr is not None
    while chunk := await process.stderr.read(STDERR_LIMIT):
        tail += chunk
        del tail[:-STDERR_LIMIT]
    await process.wait()


def _text(stderr: bytearray) -> str:
    return stderr.decode("utf-8", "replace")


def _lower_priority(pid: int) -> None:
    """ffmpeg (mostly when re-encoding) would take every core it finds: below the bot's
    priority, the bot's deliveries and replies go first."""
    if not hasattr(os, "setpriority"):
        return
    with contextlib.suppress(OSError):  # the process is gone, or the system says no
        niceness = os.getpriority(os.PRIO_PROCESS, 0) + NICENESS
        os.setpriority(os.PRIO_PROCESS, pid, min(niceness, 19))


def _finish(partial: Path, out: Path) -> tuple[VideoInfo, int]:
    """The partial output checked (a whole MP4 with a video track), flushed to disk, and
    renamed to `out`: only then does `out` exist."""
    with partial.open("rb+") as file:
        if not is_video(file.read(HEAD_BYTES)):
            raise StitchError("ffmpeg wrote no MP4 video")
        movie = read_file_movie(file)
        if not movie.whole or not any(track.kind == b"vide" for track in movie.tracks):
            raise StitchError("ffmpeg wrote an incomplete video")
        size = file.seek(0, os.SEEK_END)
        os.fsync(file.fileno())
    os.replace(partial, out)
    with contextlib.suppress(OSError):  # the rename itself, durable (not on every system)
        directory = os.open(out.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    return movie.info, size
