"""Just enough MP4 parsing to tell a video from anything else, and to tell Telegram its width,
height and duration.

Telegram shows the right frame shape before it has processed the upload only when the sender
passes these; we read them from the `moov` box rather than trusting the API's metadata. The
bytes come from outside, so every read is bounded by its box and the data: malformed input
gives missing fields, never an exception.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}
# Enough of the start of a file to see its `ftyp` box and major brand.
HEAD_BYTES = 12
# A `moov` box larger than this is not read (a 10-minute video's is well under 1 MB).
MAX_MOOV_BYTES = 16 * 1024 * 1024
# ISO-BMFF brands of still images (HEIF, AVIF): an `ftyp` box, yet not a video.
_IMAGE_BRANDS = {b"mif1", b"msf1", b"heic", b"heix", b"heim", b"heis", b"avif", b"avis"}


@dataclass(frozen=True)
class VideoInfo:
    width: int | None = None
    height: int | None = None
    duration: int | None = None  # whole seconds, rounded up (Telegram wants an integer)


def is_video(head: bytes) -> bool:
    """Whether a file starting with `head` is an MP4/QuickTime video: it opens with an `ftyp`
    box (ISO-BMFF, which MP4 and QuickTime files share) whose brand is not a still image's."""
    if len(head) < HEAD_BYTES or head[4:8] != b"ftyp":
        return False
    (size,) = struct.unpack_from(">I", head)
    return size >= HEAD_BYTES and head[8:12] not in _IMAGE_BRANDS


def _box_header(header: bytes) -> tuple[int, bytes, int]:
    """(size, type, header length) of the box that `header` (its first 8 to 16 bytes) opens.
    Size 0 means "to the end of the parent"; a 64-bit size needs all 16 bytes."""
    size, kind = struct.unpack_from(">I4s", header)
    if size == 1 and len(header) >= 16:
        return struct.unpack_from(">Q", header, 8)[0], kind, 16
    return size, kind, 8


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload_start, box_end) for each box in data[start:end]."""
    position = start
    while position + 8 <= end:
        size, kind, header = _box_header(data[position : min(position + 16, end)])
        if size == 0:
            size = end - position
        if size < header or position + size > end:
            return
        yield kind, position + header, position + size
        position += size


def read_video_info(data: bytes) -> VideoInfo:
    """Best effort: what cannot be read is left out (None), never an error."""
    width = height = duration = None
    stack = [(0, len(data))]
    while stack:
        start, end = stack.pop()
        for kind, payload, box_end in _boxes(data, start, end):
            if kind in _CONTAINERS:
                stack.append((payload, box_end))
            elif kind == b"mvhd":
                duration = _mvhd_seconds(data, payload, box_end)
            elif kind == b"tkhd" and width is None:
                track_width, track_height = _tkhd_size(data, payload, box_end)
                if track_width and track_height:
                    width, height = track_width, track_height
    return VideoInfo(width=width, height=height, duration=duration)


def read_file_video_info(file: IO[bytes]) -> VideoInfo:
    """`read_video_info` of a whole file without reading it whole: only its `moov` box, found
    by the top-level box headers (wherever it is: encoders without "faststart" put it last)."""
    file.seek(0)
    position = 0
    while len(header := file.read(16)) >= 8:
        size, kind, header_size = _box_header(header)
        if kind == b"moov":
            if size < header_size or size > MAX_MOOV_BYTES:
                break
            file.seek(position)
            return read_video_info(file.read(size))
        if size < header_size:  # 0 ("to the end of the file") or malformed: no moov after it
            break
        position += size
        file.seek(position)
    return VideoInfo()


def _mvhd_seconds(data: bytes, payload: int, box_end: int) -> int | None:
    # version (1 byte), flags (3), then creation and modification times, timescale, duration:
    # 32-bit times and duration in version 0, 64-bit in version 1.
    if payload >= box_end:
        return None
    if data[payload] == 1:
        layout, offset = ">IQ", 20
    else:
        layout, offset = ">II", 12
    if payload + offset + struct.calcsize(layout) > box_end:
        return None
    timescale, length = struct.unpack_from(layout, data, payload + offset)
    if not timescale:
        return None
    return max(1, -(-length // timescale))


def _tkhd_size(data: bytes, payload: int, box_end: int) -> tuple[int, int]:
    # width and height are the last 8 bytes of tkhd, as 16.16 fixed point.
    if box_end - 8 < payload:
        return 0, 0
    track_width, track_height = struct.unpack_from(">II", data, box_end - 8)
    return track_width >> 16, track_height >> 16
