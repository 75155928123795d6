"""bot/worker/mp4 on bytes from outside: a video is told from anything else, and no input, however
malformed, makes reading its metadata raise (hypothesis over random, cut and altered files)."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.worker.mp4 import (
    HEAD_BYTES,
    MAX_MOOV_BYTES,
    Movie,
    Track,
    VideoInfo,
    is_video,
    read_file_movie,
    read_file_video_info,
    read_tracks,
    read_video_info,
)
from emulator.assets import VIDEO_FILE, sample_bytes

pytestmark = pytest.mark.unit

SAMPLE = sample_bytes(VIDEO_FILE)


def box(kind: bytes, payload: bytes = b"", size: int | None = None) -> bytes:
    return struct.pack(">I4s", len(payload) + 8 if size is None else size, kind) + payload


FTYP = box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isommp41")


def test_the_sample_is_a_video_and_its_metadata_is_read() -> None:
    assert is_video(SAMPLE[:HEAD_BYTES])
    assert read_video_info(SAMPLE) == VideoInfo(width=320, height=180, duration=2)


def test_text_images_and_short_heads_are_not_videos() -> None:
    assert not is_video(b'{"api_keys": null, "queue_seconds": 0.05}')
    assert not is_video(b"<html><body>Service busy</body></html>")
    assert not is_video(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert not is_video(box(b"ftyp", b"avif\x00\x00\x00\x00mif1"))  # an AVIF still image
    assert not is_video(box(b"ftyp", b"heic\x00\x00\x00\x00mif1"))
    assert not is_video(FTYP[:8])
    assert not is_video(b"")


def test_a_truncated_movie_header_leaves_the_duration_out() -> None:
    assert read_video_info(FTYP + box(b"moov", box(b"mvhd"))) == VideoInfo()
    assert read_video_info(FTYP + box(b"moov", box(b"mvhd", b"\x01"))) == VideoInfo()
    # A track header too short for its size fields: no size, no error.
    assert read_video_info(FTYP + box(b"moov", box(b"trak", box(b"tkhd", b"\x00" * 4)))) == (
        VideoInfo()
    )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
@example(FTYP + box(b"moov", box(b"mvhd")))
@example(box(b"moov", box(b"mvhd", size=1)))
@example(box(b"moov", box(b"trak", size=0)))
def test_random_bytes_never_raise(data: bytes) -> None:
    assert isinstance(read_video_info(data), VideoInfo)
    assert isinstance(is_video(data[:HEAD_BYTES]), bool)


@settings(max_examples=300, deadline=None)
@given(
    cut=st.integers(min_value=0, max_value=len(SAMPLE)),
    changes=st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(SAMPLE) - 1), st.integers(0, 255)),
        max_size=8,
    ),
)
def test_cut_or_altered_videos_never_raise(cut: int, changes: list[tuple[int, int]]) -> None:
    data = bytearray(SAMPLE)
    for position, value in changes:
        data[position] = value
    info = read_video_info(bytes(data[:cut]))
    assert isinstance(info, VideoInfo)


# --- from a file, reading only the moov box (issue 18) ----------------------------------------


def top_level_boxes(data: bytes) -> list[bytes]:
    boxes, position = [], 0
    while position < len(data):
        (size,) = struct.unpack_from(">I", data, position)
        boxes.append(data[position : position + size])
        position += size
    return boxes


def test_a_file_is_read_for_its_moov_box_wherever_it_is() -> None:
    ftyp, moov, _free, mdat = top_level_boxes(SAMPLE)
    assert moov[4:8] == b"moov" and mdat[4:8] == b"mdat"
    padding = box(b"free", b"\x00" * 100_000)
    expected = VideoInfo(width=320, height=180, duration=2)
    for layout in (SAMPLE + padding, ftyp + mdat + padding + moov):  # faststart, and moov last
        assert read_file_video_info(io.BytesIO(layout)) == expected


def test_a_file_with_a_64_bit_box_before_its_moov_is_read() -> None:
    ftyp, moov, _free, mdat = top_level_boxes(SAMPLE)
    large_mdat = struct.pack(">I4sQ", 1, b"mdat", len(mdat) + 8) + mdat[8:]
    assert read_file_video_info(io.BytesIO(ftyp + large_mdat + moov)).width == 320


def test_a_file_without_a_readable_moov_box_gives_no_metadata() -> None:
    ftyp, moov, _free, mdat = top_level_boxes(SAMPLE)
    huge_moov = struct.pack(">I4s", MAX_MOOV_BYTES + 1, b"moov") + moov[8:]
    for data in (
        ftyp + mdat,  # none at all
        ftyp + box(b"mdat", size=0) + moov,  # a box "to the end of the file" hides the rest
        ftyp + box(b"free", size=3) + moov,  # a box shorter than its header
        ftyp + huge_moov,  # more than the bot reads
        ftyp[:5],
        b"",
    ):
        assert read_file_video_info(io.BytesIO(data)) == VideoInfo()


@settings(max_examples=200, deadline=None)
@given(cut=st.integers(min_value=0, max_value=len(SAMPLE)), data=st.binary(max_size=64))
def test_cut_files_never_raise(cut: int, data: bytes) -> None:
    info = read_file_video_info(io.BytesIO(SAMPLE[:cut] + data))
    assert isinstance(info, VideoInfo)


# --- tracks: what decides whether videos can be joined without re-encoding (issue 20) ---------


def test_the_samples_track_is_read() -> None:
    (track,) = read_tracks(SAMPLE)
    assert (track.kind, track.codec, track.width, track.height) == (b"vide", b"avc1", 320, 180)
    assert track.timescale > 0 and track.seconds == pytest.approx(2, abs=0.1)
    assert track.config.startswith(b"avcC")
    movie = read_file_movie(io.BytesIO(SAMPLE))
    assert movie.whole and movie.tracks == (track,)
    assert movie.info == VideoInfo(width=320, height=180, duration=2)


def test_a_file_cut_short_or_with_more_after_it_is_not_whole() -> None:
    ftyp, moov, _free, mdat = top_level_boxes(SAMPLE)
    assert not read_file_movie(io.BytesIO(ftyp + moov + mdat[:-1])).whole
    assert read_file_movie(io.BytesIO(ftyp + moov + mdat + b"\x00\x00")).whole is False
    assert read_file_movie(io.BytesIO(ftyp + mdat + moov[:-1])) == Movie()  # no moov to read
    # An mdat "to the end of the file" (size 0) is whole, however long.
    endless = struct.pack(">I4s", 0, b"mdat") + mdat[8:]
    assert read_file_movie(io.BytesIO(ftyp + moov + endless)).whole


def sample_entry(kind: bytes, fields: bytes, *children: bytes) -> bytes:
    return box(kind, fields + b"".join(children))


def trak(handler: bytes, entry: bytes, timescale: int = 1000, length: int = 2500) -> bytes:
    mdhd = box(b"mdhd", b"\x00" * 12 + struct.pack(">II", timescale, length) + b"\x00" * 4)
    hdlr = box(b"hdlr", b"\x00" * 8 + handler + b"\x00" * 12)
    stsd = box(b"stsd", b"\x00" * 4 + struct.pack(">I", 1) + entry)
    stbl = box(b"stbl", stsd)
    return box(b"trak", box(b"mdia", mdhd + hdlr + box(b"minf", stbl)))


def visual(width: int, height: int, *children: bytes) -> bytes:
    fields = b"\x00" * 24 + struct.pack(">HH", width, height) + b"\x00" * 50
    return sample_entry(b"avc1", fields, *children)


def esds(bitrate: int, specific: bytes) -> bytes:
    """An esds box: ES_Descriptor > DecoderConfigDescriptor (AAC, bitrates) > DecSpecificInfo,
    with the lengths in the four-byte form some muxers write."""

    def descriptor(tag: int, body: bytes) -> bytes:
        n = len(body)
        size = bytes([0x80 | n >> 21 & 0x7F, 0x80 | n >> 14 & 0x7F, 0x80 | n >> 7 & 0x7F, n & 0x7F])
        return bytes([tag]) + size + body

    config = b"\x40\x15" + b"\x00" * 3 + struct.pack(">II", bitrate, bitrate)
    decoder = descriptor(0x04, config + descriptor(0x05, specific))
    return box(b"esds", b"\x00" * 4 + descriptor(0x03, b"\x00\x01\x00" + decoder))


def audio(channels: int, rate: int, *children: bytes) -> bytes:
    fields = b"\x00" * 16 + struct.pack(">HHHHI", channels, 16, 0, 0, rate << 16)
    return sample_entry(b"mp4a", fields, *children)


def test_tracks_of_handmade_boxes() -> None:
    avcc = box(b"avcC", b"\x01\x64\x00\x1f")
    video = trak(b"vide", visual(1280, 720, avcc, box(b"btrt", b"\x00" * 12)))
    sound = trak(b"soun", audio(2, 48000, esds(128_000, b"\x11\x90")), timescale=48000)
    tracks = read_tracks(box(b"moov", video + sound))
    assert tracks[0] == Track(
        kind=b"vide",
        timescale=1000,
        seconds=2.5,
        codec=b"avc1",
        width=1280,
        height=720,
        config=b"avcC\x00\x00\x00\x04\x01\x64\x00\x1f",  # btrt (bitrates) left out
    )
    assert (tracks[1].channels, tracks[1].sample_rate) == (2, 48000)
    assert tracks[1].config == b"esds\x00\x00\x00\x04\x40\x15\x11\x90"
    # Another bitrate is the same parameters; another AudioSpecificConfig is not.
    other_rate = trak(b"soun", audio(2, 48000, esds(96_000, b"\x11\x90")), timescale=48000)
    other_config = trak(b"soun", audio(2, 48000, esds(96_000, b"\x12\x10")), timescale=48000)
    assert read_tracks(other_rate)[0].parameters == tracks[1].parameters
    assert read_tracks(other_config)[0].parameters != tracks[1].parameters


def test_malformed_tracks_give_defaults() -> None:
    assert read_tracks(box(b"moov", box(b"trak"))) == (Track(),)
    # A video sample entry too short for its size: no size, the entry's bytes as they are.
    assert read_tracks(trak(b"vide", box(b"avc1", b"\x00" * 10))) == (
        Track(kind=b"vide", timescale=1000, seconds=2.5, codec=b"avc1", config=b"\x00" * 10),
    )
    # A timescale of 0: no length; an esds that cannot be read: kept whole.
    (track,) = read_tracks(trak(b"soun", audio(1, 8000, box(b"esds", b"\x00" * 4 + b"\x03")), 0))
    assert track.seconds is None and track.config == b"esds\x00\x00\x00\x05" + b"\x00" * 4 + b"\x03"
    # Neither video nor sound (a timecode track): the whole sample entry is its description.
    (timecode,) = read_tracks(trak(b"tmcd", box(b"tmcd", b"\x01\x02")))
    assert (timecode.codec, timecode.config) == (b"tmcd", b"\x01\x02")


@settings(max_examples=300, deadline=None)
@given(
    cut=st.integers(min_value=0, max_value=len(SAMPLE)),
    changes=st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(SAMPLE) - 1), st.integers(0, 255)),
        max_size=8,
    ),
)
def test_tracks_of_cut_or_altered_files_never_raise(
    cut: int, changes: list[tuple[int, int]]
) -> None:
    data = bytearray(SAMPLE)
    for position, value in changes:
        data[position] = value
    assert isinstance(read_tracks(bytes(data[:cut])), tuple)
    assert isinstance(read_file_movie(io.BytesIO(bytes(data[:cut]))), Movie)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512), st.sampled_from([b"vide", b"soun", b"text"]))
def test_random_sample_entries_never_raise(entry: bytes, handler: bytes) -> None:
    for candidate in (entry, box(b"mp4a", entry), audio(2, 44100, box(b"esds", entry))):
        assert isinstance(read_tracks(trak(handler, candidate)), tuple)
