"""Real, distinct clips (``EmulatorConfig.clips``): every generation's video is its own MP4.

With clips on, a completed generation's ``/files/<id>.mp4`` is not the shared sample but a
clip made for it with FFmpeg (the static binary of the ``imageio-ffmpeg`` package): H.264
(libx264, yuv420p, constrained baseline), ``+faststart``, no audio, one solid colour per
generation. The colours come from :data:`PALETTE`, indexed by a per-emulator counter of the
generations that make new footage (creates and extensions, in creation order; upscales and
soundtracks reuse their source's footage), so clip 1, 2, 3 are red, green, blue... Saturated,
far-apart colours survive lossy encoding: a decoded frame is nearest to its own colour by far.

What a generation's video shows is decided when it is created, as a :class:`ClipSpec` (its
``segments``: colour and seconds, in order), so a later config change or a deleted source does
not change a video already made:

- A create makes ``clip_seconds[duration]`` seconds of its colour ("5s" -> 2 s and "9s" -> 3 s
  by default, so tests stay fast; a request without a duration counts as "5s").
- An extension (a create whose keyframes reference a generation: frame0 = forward, frame1 =
  reverse; the legacy family's ``/extend``) with ``extend_includes_source`` (the default): the
  source's whole video, then the new part (forward), or the new part, then the source
  (reverse); both sources around the new part when both frames are generations. Without it:
  the new part alone. An extension keeps its source's frame size.
- An upscale (Luma's ``/upscale``): the source's segments, scaled by the resolution step
  (720p -> 1080p: x1.5; a source that named none counts as 720p).
- A soundtrack (Luma's ``/audio``): the source's segments with a sine tone as an AAC track.

Clips are made on first download, in a worker thread (``asyncio.to_thread``) so the server
loop never waits on FFmpeg, and cached by their spec (one clip costs a few hundredths of a
second; identical specs share one file).
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from emulator.assets import fits_padding, pad_video

if TYPE_CHECKING:  # state imports this module to plan each generation's clip
    from emulator.config import EmulatorConfig
    from emulator.state import Generation


@dataclass(frozen=True)
class Colour:
    """A palette colour: ``name`` for assertions, ``rgb`` as FFmpeg draws it."""

    name: str
    rgb: tuple[int, int, int]

    @property
    def ffmpeg(self) -> str:
        """FFmpeg's colour syntax, e.g. ``0xFF0000``."""
        red, green, blue = self.rgb
        return f"0x{red:02X}{green:02X}{blue:02X}"


# Clip n (0-based, in creation order) is PALETTE[n % len(PALETTE)]. Any two are at least 127
# apart on some channel; encoding moves a solid colour by a few units.
PALETTE: tuple[Colour, ...] = (
    Colour("red", (255, 0, 0)),
    Colour("green", (0, 255, 0)),
    Colour("blue", (0, 0, 255)),
    Colour("yellow", (255, 255, 0)),
    Colour("magenta", (255, 0, 255)),
    Colour("cyan", (0, 255, 255)),
    Colour("white", (255, 255, 255)),
    Colour("orange", (255, 128, 0)),
)
# Heights of the resolutions a request can name, for the upscale factor.
RESOLUTION_HEIGHTS = {"540p": 540, "720p": 720, "1080p": 1080, "4k": 2160}
# What an upscale counts a source that named no resolution as (Luma's default).
SOURCE_DEFAULT_RESOLUTION = "720p"
DEFAULT_DURATION = "5s"
DEFAULT_ASPECT_RATIO = "16:9"
# The soundtrack of an /audio result: a sine tone (Hz), AAC.
TONE_HZ = 440
# Clips kept at once (each is a few KB), and padded ones (each as big as its padding).
CACHE_SIZE = 256
PADDED_CACHE_SIZE = 4


@dataclass(frozen=True)
class Segment:
    """A stretch of one colour; ``generation_id`` says whose footage it is (not compared)."""

    colour: Colour
    seconds: float
    generation_id: str = field(default="", compare=False)


@dataclass(frozen=True)
class ClipSpec:
    """Everything a clip is made from; equal specs make the same bytes (the cache key)."""

    segments: tuple[Segment, ...]
    width: int
    height: int
    fps: int
    audio: bool = False

    @property
    def seconds(self) -> float:
        return sum(segment.seconds for segment in self.segments)

    @property
    def colours(self) -> list[str]:
        """The colours' names, in order: what a decoder sees from start to end."""
        return [segment.colour.name for segment in self.segments]


def palette_colour(index: int) -> Colour:
    return PALETTE[index % len(PALETTE)]


def _even(value: float) -> int:
    """H.264 4:2:0 wants even sides."""
    return max(2, 2 * round(value / 2))


def frame_size(aspect_ratio: str | None, long_side: int) -> tuple[int, int]:
    """(width, height) with the long side ``long_side``: "16:9" -> (320, 180) at 320."""
    across, _, down = (aspect_ratio or DEFAULT_ASPECT_RATIO).partition(":")
    try:
        ratio = int(across) / int(down)
    except (ValueError, ZeroDivisionError):
        ratio = 16 / 9
    if ratio >= 1:
        return _even(long_side), _even(long_side / ratio)
    return _even(long_side * ratio), _even(long_side)


def duration_key(value: object) -> str:
    """A request's duration as "5s"/"9s" (the universal family sends the integer 5 or 9)."""
    if isinstance(value, bool):
        return DEFAULT_DURATION
    if isinstance(value, int):
        return f"{value}s"
    return value if isinstance(value, str) else DEFAULT_DURATION


Edit = Literal["upscale", "audio"]
# Finds a generation by id (the sources of an extension, an upscale or a soundtrack).
Lookup = Callable[[str], "Generation | None"]


def plan(gen: Generation, lookup: Lookup, config: EmulatorConfig) -> ClipSpec:
    """What ``gen``'s video shows, from its request and its sources' own specs."""
    source = lookup(gen.parent_id) if gen.edit is not None and gen.parent_id else None
    if source is not None and source.clip is not None:
        if gen.edit == "audio":
            return replace(source.clip, audio=True)
        before = source.resolution or SOURCE_DEFAULT_RESOLUTION
        after = gen.resolution or before
        factor = RESOLUTION_HEIGHTS.get(after, 720) / RESOLUTION_HEIGHTS.get(before, 720)
        return replace(
            source.clip,
            width=_even(source.clip.width * factor),
            height=_even(source.clip.height * factor),
            audio=False,
        )
    seconds = config.clip_seconds.get(duration_key(gen.request.get("duration")))
    own = Segment(
        palette_colour(gen.clip_index or 0),
        seconds if seconds is not None else config.clip_seconds[DEFAULT_DURATION],
        gen.id,
    )
    sources = [lookup(gen_id) if gen_id else None for gen_id in (gen.continues, gen.precedes)]
    before_spec, after_spec = (s.clip if s is not None else None for s in sources)
    shaped = before_spec or after_spec
    if shaped is not None:
        width, height = shaped.width, shaped.height
    else:
        width, height = frame_size(gen.aspect_ratio, config.clip_size)
    segments: tuple[Segment, ...] = (own,)
    if config.extend_includes_source:
        segments = (
            *(before_spec.segments if before_spec else ()),
            own,
            *(after_spec.segments if after_spec else ()),
        )
    return ClipSpec(segments, width, height, config.clip_fps)


# -- making clips ---------------------------------------------------------------------------


@cache
def ffmpeg_exe() -> str:
    """The FFmpeg binary that ships with ``imageio-ffmpeg``."""
    import imageio_ffmpeg  # imported on first use: the sample path never needs it

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def _video_graph(spec: ClipSpec) -> str:
    """A lavfi graph: one ``color`` source per segment, concatenated."""
    size = f"{spec.width}x{spec.height}"
    sources = [
        f"color=c={s.colour.ffmpeg}:s={size}:r={spec.fps}:d={s.seconds:g}" for s in spec.segments
    ]
    if len(sources) == 1:
        return sources[0]
    labelled = ";".join(f"{source}[s{i}]" for i, source in enumerate(sources))
    inputs = "".join(f"[s{i}]" for i in range(len(sources)))
    return f"{labelled};{inputs}concat=n={len(sources)}:v=1:a=0[out0]"


def clip_command(spec: ClipSpec, output: str) -> list[str]:
    """The FFmpeg command line that writes ``spec``'s clip to ``output``."""
    command = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y"]
    command += ["-f", "lavfi", "-i", _video_graph(spec)]
    if spec.audio:
        tone = f"sine=frequency={TONE_HZ}:sample_rate=44100:duration={spec.seconds:g}"
        command += ["-f", "lavfi", "-i", tone]
    command += ["-map", "0:v"]
    command += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "30", "-pix_fmt", "yuv420p"]
    command += ["-profile:v", "baseline"]
    if spec.audio:
        command += ["-map", "1:a", "-c:a", "aac", "-b:a", "32k", "-shortest"]
    else:
        command += ["-an"]
    command += ["-movflags", "+faststart", "-map_metadata", "-1", "-f", "mp4", output]
    return command


def render_clip(spec: ClipSpec) -> bytes:
    """Make the clip (blocking: run it in a thread). Raises RuntimeError if FFmpeg fails."""
    with tempfile.TemporaryDirectory(prefix="emulator-clip-") as folder:
        output = Path(folder) / "clip.mp4"
        done = subprocess.run(clip_command(spec, str(output)), capture_output=True, check=False)
        if done.returncode != 0 or not output.exists():
            problem = done.stderr.decode(errors="replace").strip()[-500:]
            raise RuntimeError(f"ffmpeg could not make the clip ({done.returncode}): {problem}")
        return output.read_bytes()


class ClipMaker:
    """Makes clips off the event loop, once per spec, and keeps the last ``CACHE_SIZE``."""

    def __init__(self, limit: int = CACHE_SIZE) -> None:
        self._limit = limit
        self._cache: OrderedDict[ClipSpec, bytes] = OrderedDict()
        self._making: dict[ClipSpec, asyncio.Task[bytes]] = {}
        self._padded: OrderedDict[tuple[ClipSpec, int], bytes] = OrderedDict()
        # How many clips FFmpeg made (cache misses), for tests.
        self.made = 0

    async def clip(self, spec: ClipSpec) -> bytes:
        """The clip's bytes: from the cache, or made in a thread (callers share one run)."""
        cached = self._cache.get(spec)
        if cached is not None:
            self._cache.move_to_end(spec)
            return cached
        task = self._making.get(spec)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._make(spec))
            # Its failure is seen by whoever waits; this keeps one nobody waits for any more
            # from being logged as never retrieved.
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._making[spec] = task
        # A caller that goes away (a client hung up) does not cancel the others' clip.
        return await asyncio.shield(task)

    async def video(self, spec: ClipSpec, size: int | None = None) -> bytes:
        """The clip, padded to exactly ``size`` bytes with a trailing ``free`` box when it
        fits (``EmulatorConfig.video_size``); a clip already that big or bigger is served as
        it is."""
        data = await self.clip(spec)
        if size is None or not fits_padding(data, size):
            return data
        key = (spec, size)
        padded = self._padded.get(key)
        if padded is None:
            padded = self._padded[key] = pad_video(data, size)
            while len(self._padded) > PADDED_CACHE_SIZE:
                self._padded.popitem(last=False)
        return padded

    async def _make(self, spec: ClipSpec) -> bytes:
        try:
            data = await asyncio.to_thread(render_clip, spec)
        finally:
            self._making.pop(spec, None)
        self.made += 1
        self._cache[spec] = data
        while len(self._cache) > self._limit:
            self._cache.popitem(last=False)
        return data

    async def close(self) -> None:
        """Wait out clips being made (a thread cannot be stopped; each takes a moment)."""
        tasks = list(self._making.values())
        await asyncio.gather(*tasks, return_exceptions=True)
