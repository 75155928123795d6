"""Video thumbnails as Telegram makes them: a JPEG of the first frame, at most 320 pixels on the
long side, the aspect kept. ``media`` announces one for each uploaded or fetched MP4; its bytes
are made here, with the FFmpeg of ``imageio-ffmpeg``, only when a test first asks for them.

The size in the answer is fixed when the video is sent (no FFmpeg then): ``size_budget``. The
JPEG made later is encoded to fit it and padded to exactly that size with comment segments, so
``file_size`` in the message, ``getFile`` and the downloaded bytes always agree. A video FFmpeg
cannot decode (the tests' ``ftyp`` + filler bytes) gets a solid grey picture of the same size.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import tempfile
from pathlib import Path

THUMBNAIL_SIDE = 320  # Telegram's thumbnails: at most this many pixels on the long side
# Sizes assumed when the video's are not known (sendVideo without width/height: the fake does
# not probe videos, as for the video's own width/height).
DEFAULT_SIZE = (320, 180)
# What a thumbnail the bot uploads must be for Telegram to use it (Bot API, sendVideo).
MAX_GIVEN_BYTES = 200 * 1024
_FFMPEG_TIMEOUT = 30.0
# JPEG qualities tried in turn (FFmpeg's -q:v, 2 best .. 31 worst) until the picture fits.
_QUALITIES = (4, 31)
_SOI, _COM = b"\xff\xd8", b"\xff\xfe"
_MAX_SEGMENT = 0xFFFF + 2  # a marker, then a length that counts itself (at most 65535)
# Start-of-frame markers (baseline, progressive, ...), which carry the picture's size.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def looks_like_mp4(head: bytes) -> bool:
    """An ISO-BMFF file (MP4, QuickTime): an ``ftyp`` box first."""
    return head[4:8] == b"ftyp"


def thumbnail_size(width: int, height: int) -> tuple[int, int]:
    """The thumbnail of a ``width`` x ``height`` video: the long side at most 320, aspect kept."""
    if width <= 0 or height <= 0:
        width, height = DEFAULT_SIZE
    longest = max(width, height)
    if longest <= THUMBNAIL_SIDE:
        return width, height
    scale = THUMBNAIL_SIDE / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def size_budget(width: int, height: int) -> int:
    """The thumbnail's ``file_size``: room for a good first frame (at worst quality any frame of
    320 x 320 fits in a few kB)."""
    return max(2048, width * height // 4)


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a JPEG (from its start-of-frame segment); None if it is not one."""
    if not data.startswith(_SOI):
        return None
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker, length = data[pos + 1], struct.unpack_from(">H", data, pos + 2)[0]
        if marker in _SOF and pos + 9 <= len(data):
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return (width, height) if width and height else None
        pos += 2 + length
    return None


def pad_jpeg(jpeg: bytes, size: int) -> bytes:
    """``jpeg`` grown to exactly ``size`` bytes by comment segments after its start marker (still a
    valid JPEG); ValueError if it is larger already."""
    missing = size - len(jpeg)
    if missing < 0:
        raise ValueError(f"a {len(jpeg)}-byte JPEG does not fit in {size} bytes")
    if 0 < missing < 4:  # no segment is this small: zero bytes after the end marker instead
        return jpeg + bytes(missing)
    segments = []
    while missing:
        take = min(missing, _MAX_SEGMENT)
        if 0 < missing - take < 4:  # leave the last segment its minimum of 4 bytes
            take -= 4
        segments.append(_COM + struct.pack(">H", take - 2) + bytes(take - 4))
        missing -= take
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


async def render_thumbnail(video: bytes | None, width: int, height: int, size: int) -> bytes:
    """A ``width`` x ``height`` JPEG of exactly ``size`` bytes: the first frame of ``video``, or
    solid grey when there is no video or FFmpeg cannot decode it."""
    if video is not None:
        with tempfile.TemporaryDirectory(prefix="fake-telegram-") as folder:
            path = Path(folder) / "video.mp4"
            path.write_bytes(video)
            frame = await _fitting_jpeg(["-i", str(path)], width, height, size)
        if frame is not None:
            return pad_jpeg(frame, size)
    grey = ["-f", "lavfi", "-i", f"color=c=gray:s={width}x{height}"]
    picture = await _fitting_jpeg(grey, width, height, size)
    if picture is None:
        raise RuntimeError("FFmpeg made no grey thumbnail; is imageio-ffmpeg installed?")
    return pad_jpeg(picture, size)


async def _fitting_jpeg(source: list[str], width: int, height: int, size: int) -> bytes | None:
    """The first frame of ``source`` as a JPEG of at most ``size`` bytes; None if FFmpeg fails."""
    for quality in _QUALITIES:
        jpeg = await _ffmpeg_jpeg(source, width, height, quality)
        if jpeg is None or len(jpeg) <= size:
            return jpeg
    return None


async def _ffmpeg_jpeg(source: list[str], width: int, height: int, quality: int) -> bytes | None:
    """One frame of ``source``, scaled to exactly ``width`` x ``height``, as JPEG bytes."""
    import imageio_ffmpeg  # imported on first use: most tests never make a thumbnail

    # In a thread: the first call runs ``ffmpeg -version`` to check the binary (then cached).
    executable = await asyncio.to_thread(imageio_ffmpeg.get_ffmpeg_exe)
    arguments = ["-nostdin", "-hide_banner", "-v", "error", *source, "-frames:v", "1"]
    arguments += ["-vf", f"scale={width}:{height}", "-q:v", str(quality)]
    process = await asyncio.create_subprocess_exec(
        executable,
        *arguments,
        "-f",
        "image2",
        "-c:v",
        "mjpeg",
        "pipe:1",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(_FFMPEG_TIMEOUT):
            out, _ = await process.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        return None
    if process.returncode != 0 or jpeg_size(out) is None:
        return None
    return out
