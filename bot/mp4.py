"""Just enough MP4 parsing to tell Telegram a video's width, height and duration.

Telegram shows the right frame shape before it has processed the upload only when the sender
passes these; we read them from the `moov` box rather than trusting the API's metadata.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}


@dataclass(frozen=True)
class VideoInfo:
    width: int | None = None
    height: int | None = None
    duration: int | None = None  # whole seconds, rounded up (Telegram wants an integer)


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload_start, box_end) for each box in data[start:end]."""
    position = start
    while position + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, position)
        header = 8
        if size == 1 and position + 16 <= end:
            size = struct.unpack_from(">Q", data, position + 8)[0]
            header = 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end:
            return
        yield kind, position + header, position + size
        position += size


def read_video_info(data: bytes) -> VideoInfo:
    """Best effort: an unreadable file gives VideoInfo() rather than an error."""
    width = height = duration = None
    stack = [(0, len(data))]
    try:
        while stack:
            start, end = stack.pop()
            for kind, payload, box_end in _boxes(data, start, end):
                if kind in _CONTAINERS:
                    stack.append((payload, box_end))
                elif kind == b"mvhd":
                    duration = _mvhd_seconds(data, payload)
                elif kind == b"tkhd" and width is None:
                    track_width, track_height = _tkhd_size(data, payload, box_end)
                    if track_width and track_height:
                        width, height = track_width, track_height
    except struct.error:
        return VideoInfo()
    return VideoInfo(width=width, height=height, duration=duration)


def _mvhd_seconds(data: bytes, payload: int) -> int | None:
    version = data[payload]
    if version == 1:
        timescale, length = struct.unpack_from(">IQ", data, payload + 20)
    else:
        timescale, length = struct.unpack_from(">II", data, payload + 12)
    if not timescale:
        return None
    return max(1, -(-length // timescale))


def _tkhd_size(data: bytes, payload: int, box_end: int) -> tuple[int, int]:
    # width and height are the last 8 bytes of tkhd, as 16.16 fixed point.
    track_width, track_height = struct.unpack_from(">II", data, box_end - 8)
    return track_width >> 16, track_height >> 16
