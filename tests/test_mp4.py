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
    VideoInfo,
    is_video,
    read_file_video_info,
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
