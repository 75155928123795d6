"""Sample media served as generation results, and the ``/files/`` route.

``sample.mp4`` (H.264 baseline, faststart, no audio) and ``sample.jpg`` ship with the package,
made once with ffmpeg::

    ffmpeg -f lavfi -i testsrc=size=320x180:rate=12 -t 2 -c:v libx264 -crf 30 -pix_fmt yuv420p \
        -profile:v baseline -movflags +faststart -an -map_metadata -1 sample.mp4
    ffmpeg -f lavfi -i testsrc=size=320x180 -frames:v 1 -q:v 8 -map_metadata -1 sample.jpg

ffmpeg is not needed at run time: the video size is read from the MP4's own ``tkhd`` box.

Real-size videos (``EmulatorConfig.video_size`` / ``video_sizes``) are the sample padded to the
exact size with a trailing ISO-BMFF ``free`` box. The sample is faststart (``ftyp``, ``moov``,
``mdat``), so a box after ``mdat`` moves no offset: width, height and duration still probe, and
the video still plays. Each size is built once and shared by every download of it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from functools import cache, lru_cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # config imports this module (to check sizes); only the type is needed here
    from aiohttp import web

    from emulator.config import EmulatorConfig

VIDEO_FILE = "sample.mp4"
IMAGE_FILE = "sample.jpg"
FILES_PREFIX = "/files"
_CONTAINERS = {b"moov", b"trak"}
# The smallest ISO-BMFF box: a 32-bit size and the type.
_BOX_HEADER = 8
# Padded videos kept at once (a run uses a few sizes; a config PATCH may bring new ones).
_PADDED_CACHE = 8


@cache
def sample_bytes(name: str) -> bytes:
    return resources.files(__package__).joinpath(name).read_bytes()


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """Yield (type, payload_start, box_end) for the ISO-BMFF boxes in data[start:end]."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:  # 64-bit "largesize"
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:  # box runs to the end of its parent
            size = end - pos
        if size < header:
            return
        yield kind, pos + header, pos + size
        pos += size


def mp4_dimensions(data: bytes) -> tuple[int, int]:
    """Width and height of the first visual track (from tkhd, 16.16 fixed point)."""

    def walk(start: int, end: int) -> tuple[int, int] | None:
        for kind, payload, box_end in _boxes(data, start, end):
            if kind in _CONTAINERS:
                found = walk(payload, box_end)
                if found:
                    return found
            elif kind == b"tkhd":
                width, height = struct.unpack_from(">II", data, box_end - 8)
                if width and height:
                    return width >> 16, height >> 16
        return None

    found = walk(0, len(data))
    if found is None:
        raise ValueError("no video track with a size in the MP4")
    return found


@cache
def video_dimensions() -> tuple[int, int]:
    """Width and height of every served video (the sample's; padding does not change them)."""
    return mp4_dimensions(sample_bytes(VIDEO_FILE))


def sample_video_size() -> int:
    """Bytes of the sample video as shipped: the smallest ``video_size`` there is."""
    return len(sample_bytes(VIDEO_FILE))


def check_video_size(size: int) -> None:
    """Raise ValueError unless the sample can be padded to exactly ``size`` bytes."""
    sample = sample_video_size()
    if isinstance(size, bool) or not isinstance(size, int):
        raise ValueError(f"a video size must be a whole number of bytes, got {size!r}")
    if size < sample:
        raise ValueError(f"a video size must be at least the sample's {sample} bytes, got {size}")
    if 0 < size - sample < _BOX_HEADER:
        raise ValueError(
            f"a video size must be the sample's {sample} bytes or at least {sample + _BOX_HEADER} "
            f"(room for a free box), got {size}"
        )


def _free_box_header(size: int) -> bytes:
    """The header of an ISO-BMFF ``free`` box of ``size`` bytes, header included."""
    if size <= 0xFFFF_FFFF:
        return struct.pack(">I4s", size, b"free")
    return struct.pack(">I4sQ", 1, b"free", size)  # "largesize": size 1, then 64 bits


def pad_video(video: bytes, size: int) -> bytes:
    """``video`` (a faststart MP4) with a trailing ``free`` box that makes it ``size`` bytes
    (at least 8 more than the video's own)."""
    header = _free_box_header(size - len(video))
    body = bytearray(size)  # zeros: the free box's content
    body[: len(video)] = video
    body[len(video) : len(video) + len(header)] = header
    return bytes(body)


def fits_padding(video: bytes, size: int | None) -> bool:
    """True when ``video`` can be padded to exactly ``size`` bytes (room for a free box)."""
    return size is not None and size - len(video) >= _BOX_HEADER


@lru_cache(maxsize=_PADDED_CACHE)
def _padded_video(size: int) -> bytes:
    return pad_video(sample_bytes(VIDEO_FILE), size)


def video_bytes(size: int | None = None) -> bytes:
    """The served video: the sample, or the sample padded to exactly ``size`` bytes (cached).

    Raises ValueError for a size the sample cannot be padded to (see ``check_video_size``).
    """
    sample = sample_bytes(VIDEO_FILE)
    if size is None or size == len(sample):
        return sample
    check_video_size(size)
    return _padded_video(size)


def base_url(request: web.Request, config: EmulatorConfig) -> str:
    """Where clients should fetch assets: the configured public URL or this request's host."""
    if config.public_url:
        return config.public_url.rstrip("/")
    return f"{request.scheme}://{request.host}"


def video_url(base: str, stem: str) -> str:
    return f"{base}{FILES_PREFIX}/{stem}.mp4"


def image_url(base: str, stem: str) -> str:
    return f"{base}{FILES_PREFIX}/{stem}.jpg"
