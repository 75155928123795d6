"""Sample media served as generation results, and the ``/files/`` route.

``sample.mp4`` (H.264 baseline, faststart, no audio) and ``sample.jpg`` ship with the package,
made once with ffmpeg::

    ffmpeg -f lavfi -i testsrc=size=320x180:rate=12 -t 2 -c:v libx264 -crf 30 -pix_fmt yuv420p \
        -profile:v baseline -movflags +faststart -an -map_metadata -1 sample.mp4
    ffmpeg -f lavfi -i testsrc=size=320x180 -frames:v 1 -q:v 8 -map_metadata -1 sample.jpg

ffmpeg is not needed at run time: the video size is read from the MP4's own ``tkhd`` box.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from functools import cache
from importlib import resources

from aiohttp import web

from emulator.config import EmulatorConfig
from emulator.errors import ApiError
from emulator.state import GenerationStore, State

VIDEO_FILE = "sample.mp4"
IMAGE_FILE = "sample.jpg"
FILES_PREFIX = "/files"
_CONTAINERS = {b"moov", b"trak"}


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
def video_size() -> tuple[int, int]:
    return mp4_dimensions(sample_bytes(VIDEO_FILE))


def base_url(request: web.Request, config: EmulatorConfig) -> str:
    """Where clients should fetch assets: the configured public URL or this request's host."""
    if config.public_url:
        return config.public_url.rstrip("/")
    return f"{request.scheme}://{request.host}"


def video_url(base: str, stem: str) -> str:
    return f"{base}{FILES_PREFIX}/{stem}.mp4"


def image_url(base: str, stem: str) -> str:
    return f"{base}{FILES_PREFIX}/{stem}.jpg"


_MEDIA = {".mp4": (VIDEO_FILE, "video/mp4"), ".jpg": (IMAGE_FILE, "image/jpeg")}


def file_response(store: GenerationStore, name: str) -> web.Response:
    """Serve ``<stem>.mp4`` / ``<stem>.jpg`` for completed generations; anything else is 404.

    ``stem`` is ``Generation.file_stem`` (the id, minus a universal id's ":<model>").
    """
    stem, dot, ext = name.rpartition(".")
    media = _MEDIA.get(f"{dot}{ext}".lower())
    gen = store.by_file_stem(stem) if media else None
    if media is None or gen is None or gen.state is not State.COMPLETED:
        raise ApiError(404, "File not found")
    filename, content_type = media
    return web.Response(body=sample_bytes(filename), content_type=content_type)
