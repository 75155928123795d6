"""Just enough MP4 parsing to tell a video from anything else, to tell Telegram its width,
height and duration, and to tell whether several videos can be joined without re-encoding.

Telegram shows the right frame shape before it has processed the upload only when the sender
passes these; we read them from the `moov` box rather than trusting the API's metadata. The
bytes come from outside, so every read is bounded by its box and the data: malformed input
gives missing fields, never an exception.

Joining (`bot/worker/stitch.py`) copies the parts' streams as they are only when every part
describes its streams the same way: per track, its kind, timescale and sample description (the
first `stsd` entry: codec, size or audio format, and the codec configuration the decoder is
set up with). ffmpeg's concat demuxer configures the output's decoder from the first part, so a
part whose configuration differs would play wrong; those are re-encoded instead.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import IO, Any

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}
_TRACK_CONTAINERS = _CONTAINERS - {b"moov", b"trak"}
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


@dataclass(frozen=True)
class Track:
    """One track of a movie, as far as joining it to another file's track goes. Missing or
    malformed fields stay at their defaults (which then only compare equal to equally broken
    tracks, and stitching refuses a part without a readable video track anyway)."""

    kind: bytes = b""  # the handler: b"vide", b"soun", ...
    timescale: int = 0  # ticks per second of the track's timestamps (`mdhd`)
    seconds: float | None = None  # the media's own length (`mdhd`), exact where mvhd rounds
    codec: bytes = b""  # the sample entry's type: b"avc1", b"hvc1", b"mp4a", ...
    width: int = 0  # video: the coded size in the sample entry
    height: int = 0
    channels: int = 0  # audio
    sample_rate: int = 0
    # The sample entry's child boxes (avcC, hvcC, esds, pasp, colr...), each as type, length and
    # payload; `btrt` (bitrates, which differ between any two encodings) left out and `esds`
    # cut to its decoder configuration for the same reason. For a track that is neither video
    # nor audio, the whole sample entry.
    config: bytes = b""

    @property
    def parameters(self) -> tuple[object, ...]:
        """What must be equal in two files' tracks for their samples to be joined as they are
        (everything but the length)."""
        return (
            self.kind,
            self.timescale,
            self.codec,
            self.width,
            self.height,
            self.channels,
            self.sample_rate,
            self.config,
        )


@dataclass(frozen=True)
class Movie:
    """A file's `moov` box read: its Telegram metadata and its tracks in file order; `whole`
    when the file's top-level boxes end exactly at its end (not cut short)."""

    info: VideoInfo = VideoInfo()
    tracks: tuple[Track, ...] = ()
    whole: bool = False


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
    return read_file_movie(file).info


def read_file_movie(file: IO[bytes]) -> Movie:
    """What a file's `moov` box says (read alone, as `read_file_video_info` does), and whether
    its top-level boxes end exactly where the file does: a download or copy cut short ends
    inside a box (usually the `mdat`), which the `moov` box alone would not show."""
    file.seek(0, 2)
    file_size = file.tell()
    file.seek(0)
    position = 0
    moov: bytes | None = None
    while len(header := file.read(16)) >= 8:
        size, kind, header_size = _box_header(header)
        if size == 0:  # "to the end of the file"
            size = file_size - position
        if size < header_size:
            break
        if kind == b"moov" and moov is None:
            if size > MAX_MOOV_BYTES:
                break
            file.seek(position)
            moov = file.read(size)
        position += size
        file.seek(position)
    if moov is None:
        return Movie()
    return Movie(info=read_video_info(moov), tracks=read_tracks(moov), whole=position == file_size)


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


# --- tracks: what joining needs (bot/worker/stitch.py) -----------------------------------------

# Bytes of a sample entry's fixed fields before its child boxes (ISO 14496-12 VisualSampleEntry
# and AudioSampleEntry; QuickTime's sound description versions 1 and 2 are longer).
_VISUAL_ENTRY = 78
_AUDIO_ENTRY = {0: 28, 1: 44, 2: 64}
# Sample-entry children that differ between two encodings of the same parameters.
_VOLATILE = {b"btrt"}


def read_tracks(data: bytes) -> tuple[Track, ...]:
    """Every `trak` in data (a `moov` box, or a whole file), in order. Never raises."""
    tracks: list[Track] = []
    stack = [(0, len(data))]
    while stack:
        start, end = stack.pop()
        for kind, payload, box_end in _boxes(data, start, end):
            if kind == b"moov":
                stack.append((payload, box_end))
            elif kind == b"trak":
                tracks.append(_read_track(data, payload, box_end))
    return tuple(tracks)


def _read_track(data: bytes, start: int, end: int) -> Track:
    track = Track()
    entry: tuple[bytes, int, int] | None = None  # the first sample entry: type, payload, end
    stack = [(start, end)]
    while stack:
        box_start, box_stop = stack.pop()
        for kind, payload, box_end in _boxes(data, box_start, box_stop):
            if kind in _TRACK_CONTAINERS:
                stack.append((payload, box_end))
            elif kind == b"mdhd":
                track = replace(track, **_mdhd(data, payload, box_end))
            elif kind == b"hdlr" and payload + 12 <= box_end:
                # version and flags (4 bytes), pre_defined (4), then the handler type.
                track = replace(track, kind=data[payload + 8 : payload + 12])
            elif kind == b"stsd" and entry is None:
                # version and flags, entry count, then the entries as boxes.
                entry = next(iter(_boxes(data, payload + 8, box_end)), None)
    if entry is None:
        return track
    codec, payload, entry_end = entry
    track = replace(track, codec=codec)
    if track.kind == b"vide" and payload + _VISUAL_ENTRY <= entry_end:
        width, height = struct.unpack_from(">HH", data, payload + 24)
        config = _entry_config(data, payload + _VISUAL_ENTRY, entry_end)
        return replace(track, width=width, height=height, config=config)
    if track.kind == b"soun" and payload + _AUDIO_ENTRY[0] <= entry_end:
        (version,) = struct.unpack_from(">H", data, payload + 8)
        channels, _sample_size = struct.unpack_from(">HH", data, payload + 16)
        (rate,) = struct.unpack_from(">I", data, payload + 24)
        children = payload + _AUDIO_ENTRY.get(version, _AUDIO_ENTRY[0])
        config = _entry_config(data, children, entry_end)
        return replace(track, channels=channels, sample_rate=rate >> 16, config=config)
    return replace(track, config=data[payload:entry_end])


def _mdhd(data: bytes, payload: int, box_end: int) -> dict[str, Any]:
    # version (1 byte), flags (3), creation and modification times, timescale, duration:
    # 32-bit times and duration in version 0, 64-bit in version 1.
    if payload >= box_end:
        return {}
    if data[payload] == 1:
        layout, offset = ">IQ", 20
    else:
        layout, offset = ">II", 12
    if payload + offset + struct.calcsize(layout) > box_end:
        return {}
    timescale, length = struct.unpack_from(layout, data, payload + offset)
    return {"timescale": timescale, "seconds": length / timescale if timescale else None}


def _entry_config(data: bytes, start: int, end: int) -> bytes:
    """A sample entry's child boxes as type + length + payload, less what differs between
    encodings of the same parameters."""
    parts = []
    for kind, payload, box_end in _boxes(data, start, end):
        if kind in _VOLATILE:
            continue
        body = data[payload:box_end]
        if kind == b"esds":
            body = _esds_decoder_config(body)
        parts.append(kind + struct.pack(">I", len(body)) + body)
    return b"".join(parts)


def _esds_decoder_config(body: bytes) -> bytes:
    """From an `esds` payload (MPEG-4 audio), what the decoder is set up with: the object type,
    stream type and DecoderSpecificInfo (for AAC, its AudioSpecificConfig), without the
    bitrates and buffer size beside them. The whole payload if it cannot be read."""
    position = 4  # version and flags
    try:
        tag, length, position = _descriptor(body, position)
        if tag != 0x03:  # ES_Descriptor
            return body
        flags = body[position + 2]  # after ES_ID
        position += 3
        if flags & 0x80:  # streamDependenceFlag: dependsOn_ES_ID
            position += 2
        if flags & 0x40:  # URL_Flag: URLlength, URLstring
            position += 1 + body[position]
        if flags & 0x20:  # OCRstreamFlag: OCR_ES_Id
            position += 2
        tag, length, position = _descriptor(body, position)
        if tag != 0x04:  # DecoderConfigDescriptor
            return body
        kinds = body[position : position + 2]  # objectTypeIndication, streamType
        end = position + length
        position += 13  # then bufferSizeDB (3 bytes), maxBitrate (4), avgBitrate (4)
        specific = b""
        if position < end:
            tag, length, position = _descriptor(body, position)
            if tag == 0x05:  # DecoderSpecificInfo
                specific = body[position : position + length]
        return kinds + specific
    except IndexError:
        return body


def _descriptor(body: bytes, position: int) -> tuple[int, int, int]:
    """(tag, length, payload position) of the MPEG-4 descriptor at position: its length is up
    to four bytes of 7 bits each, the high bit saying another follows. IndexError past the
    end."""
    tag = body[position]
    length = 0
    for index in range(1, 5):
        byte = body[position + index]
        length = length << 7 | byte & 0x7F
        if not byte & 0x80:
            return tag, length, position + index + 1
    return tag, length, position + 5
