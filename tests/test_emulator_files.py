"""The emulator's /files/ route with real sizes: padded videos that still probe, streaming,
Range requests, chunked answers, downloads cut off mid-way, and its byte accounting."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.worker.mp4 import VideoInfo, read_video_info
from emulator import EmulatorConfig, Fault
from emulator.__main__ import config_from_args, parse_args
from emulator.assets import (
    VIDEO_FILE,
    _free_box_header,
    check_video_size,
    mp4_dimensions,
    sample_bytes,
    sample_video_size,
    video_bytes,
)
from emulator.config import parse_byte_size, parse_video_sizes
from emulator.files import CHUNK, RangeNotSatisfiable, byte_range
from tests.test_emulator import create, serve

SAMPLE = sample_bytes(VIDEO_FILE)
MB = 10**6


@pytest.fixture
async def env() -> AsyncIterator[tuple[Any, aiohttp.ClientSession]]:
    async with serve(video_size=MB) as pair:
        yield pair


async def video_url(emu: Any, http: aiohttp.ClientSession, **body: Any) -> str:
    gen = await create(http, **body)
    emu.force_state(gen["id"], "completed")
    return f"{emu.url}/files/{gen['id']}.mp4"


def boxes(data: bytes) -> list[tuple[bytes, int]]:
    """Top-level (type, size) of an MP4."""
    out, pos = [], 0
    while pos < len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
        out.append((kind, size))
        pos += size
    return out


# -- padded videos ----------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("size", [len(SAMPLE) + 8, len(SAMPLE) + 1000, 10 * MB])
def test_a_padded_video_has_exactly_the_size_and_still_probes(size: int) -> None:
    data = video_bytes(size)
    assert len(data) == size
    assert data[: len(SAMPLE)] == SAMPLE
    # The sample's own boxes (faststart: moov before mdat), then the padding.
    assert [kind for kind, _ in boxes(data)] == [b"ftyp", b"moov", b"free", b"mdat", b"free"]
    assert boxes(data)[-1] == (b"free", size - len(SAMPLE))
    assert mp4_dimensions(data) == mp4_dimensions(SAMPLE) == (320, 180)
    assert read_video_info(data) == VideoInfo(width=320, height=180, duration=2)
    assert video_bytes(size) is data  # built once, shared


@pytest.mark.unit
def test_the_sample_size_and_none_are_the_sample_itself() -> None:
    assert video_bytes(None) is SAMPLE
    assert video_bytes(len(SAMPLE)) is SAMPLE
    assert sample_video_size() == len(SAMPLE)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("size", "message"),
    [
        (100, "at least the sample's"),
        (len(SAMPLE) - 1, "at least the sample's"),
        (len(SAMPLE) + 1, "room for a free box"),
        (len(SAMPLE) + 7, "room for a free box"),
        (1.5e7, "whole number"),
        (True, "whole number"),
    ],
)
def test_sizes_the_sample_cannot_be_padded_to_are_errors(size: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_video_size(size)
    with pytest.raises(ValueError, match=message):
        EmulatorConfig(video_size=size)
    with pytest.raises(ValueError, match=message):
        EmulatorConfig(video_sizes={"720p": size})


@pytest.mark.unit
def test_a_free_box_over_4_gib_uses_a_64_bit_size() -> None:
    assert _free_box_header(4096) == struct.pack(">I4s", 4096, b"free")
    assert _free_box_header(2**33) == struct.pack(">I4sQ", 1, b"free", 2**33)


@pytest.mark.unit
def test_video_sizes_are_checked_and_looked_up_by_resolution() -> None:
    with pytest.raises(ValueError, match="resolutions"):
        EmulatorConfig(video_sizes={"8k": MB})
    config = EmulatorConfig(video_size=2 * MB, video_sizes={"4k": 60 * MB})
    assert config.video_size_for("4k") == 60 * MB
    assert config.video_size_for("720p") == config.video_size_for(None) == 2 * MB
    assert EmulatorConfig(video_sizes={"4k": MB}).video_size_for("720p") is None


# -- sizes on the command line ----------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("10MB", 10_000_000),
        ("5MiB", 5 * 2**20),
        ("1.5MB", 1_500_000),
        ("1.1MB", 1_100_000),
        ("1.5MiB", 1_572_864),
        ("123456", 123_456),
        ("20kb", 20_000),
        ("2KiB", 2048),
        ("1GB", 10**9),
        (" 10 mb ", 10_000_000),
    ],
)
def test_byte_sizes_parse(text: str, size: int) -> None:
    assert parse_byte_size(text) == size


@pytest.mark.unit
@pytest.mark.parametrize("text", ["", "MB", "10XB", "1.5", "-5MB", "10 M B", "0x10"])
def test_bad_byte_sizes_are_errors(text: str) -> None:
    with pytest.raises(ValueError, match="not a"):
        parse_byte_size(text)


@pytest.mark.unit
def test_video_size_option() -> None:
    assert parse_video_sizes("10MB") == (10 * MB, {})
    assert parse_video_sizes("720p=5MB,4K=60MB") == (None, {"720p": 5 * MB, "4k": 60 * MB})
    config = config_from_args(
        parse_args(["--video-size", "10MB,4k=60MB", "--video-size", "720p=5MiB,2MB"])
    )
    assert config.video_size == 2 * MB
    assert config.video_sizes == {"4k": 60 * MB, "720p": 5 * 2**20}
    defaults = config_from_args(parse_args([]))
    assert (defaults.video_size, defaults.video_sizes) == (None, {})
    assert (defaults.download_ranges, defaults.download_length) == (True, True)
    switches = config_from_args(parse_args(["--no-download-ranges", "--no-download-length"]))
    assert (switches.download_ranges, switches.download_length) == (False, False)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10XB", "not a size"),
        ("100", "a video size must be at least the sample's"),
        ("8k=1MB", "unknown resolution"),
        ("720p=", "not a size"),
    ],
)
def test_bad_video_size_options_are_argparse_errors(capsys, value: str, message: str) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(["--video-size", value])
    assert exited.value.code == 2
    assert f"argument --video-size: {message}" in capsys.readouterr().err


# -- Range ------------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("header", "span"),
    [
        (None, None),
        ("bytes=0-99", (0, 100)),
        ("bytes=100-", (100, 1000)),
        ("bytes=-100", (900, 1000)),
        ("bytes=-5000", (0, 1000)),
        ("bytes=990-5000", (990, 1000)),
        ("bytes=999-999", (999, 1000)),
        ("Bytes = 1 - 2", (1, 3)),
        ("bytes=0-1,5-6", None),  # several ranges: ignored
        ("bytes=5-2", None),  # first > last: ignored
        ("bytes=-", None),
        ("bytes=a-b", None),
        ("items=0-1", None),
        ("", None),
    ],
)
def test_byte_range(header: str | None, span: tuple[int, int] | None) -> None:
    assert byte_range(header, 1000) == span


@pytest.mark.unit
@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=1000-2000", "bytes=5000-", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        byte_range(header, 1000)


async def test_a_real_size_video_is_streamed_whole(env) -> None:
    emu, http = env
    url = await video_url(emu, http)
    async with http.get(url) as resp:
        assert resp.status == 200
        assert resp.headers["Accept-Ranges"] == "bytes"
        assert resp.headers["Content-Length"] == str(MB)
        assert "Transfer-Encoding" not in resp.headers
        data = await resp.read()
    assert data == video_bytes(MB)
    assert (emu.downloads, emu.bytes_served) == (1, MB)


async def test_ranges_are_honoured(env) -> None:
    emu, http = env
    url = await video_url(emu, http)
    whole = video_bytes(MB)
    for header, start, end in (
        ("bytes=0-99", 0, 100),
        ("bytes=100-", 100, MB),
        ("bytes=-10", MB - 10, MB),
        (f"bytes={MB - 1}-", MB - 1, MB),  # the last byte
        (f"bytes={MB - 5}-{MB + 100}", MB - 5, MB),  # past the end: clipped
    ):
        async with http.get(url, headers={"Range": header}) as resp:
            assert resp.status == 206, header
            assert resp.headers["Content-Range"] == f"bytes {start}-{end - 1}/{MB}"
            assert resp.headers["Content-Length"] == str(end - start)
            assert await resp.read() == whole[start:end]
    assert emu.downloads == 5
    assert emu.bytes_served == 100 + (MB - 100) + 10 + 1 + 5


async def test_a_range_past_the_end_is_416(env) -> None:
    emu, http = env
    url = await video_url(emu, http)
    for header in (f"bytes={MB}-", f"bytes={MB + 10}-{MB + 20}", "bytes=-0"):
        async with http.get(url, headers={"Range": header}) as resp:
            assert resp.status == 416
            assert resp.headers["Content-Range"] == f"bytes */{MB}"
    assert (emu.downloads, emu.bytes_served) == (0, 0)


async def test_malformed_or_multi_ranges_get_the_whole_file(env) -> None:
    emu, http = env
    url = await video_url(emu, http)
    for header in ("bytes=0-1,5-6", "bytes=9-3", "lines=0-1", "bytes=x-"):
        async with http.get(url, headers={"Range": header}) as resp:
            assert resp.status == 200, header
            assert "Content-Range" not in resp.headers
            assert len(await resp.read()) == MB


async def test_ranges_can_be_switched_off() -> None:
    async with serve(video_size=MB, download_ranges=False) as (emu, http):
        url = await video_url(emu, http)
        async with http.get(url, headers={"Range": "bytes=0-99"}) as resp:
            assert resp.status == 200
            assert resp.headers["Accept-Ranges"] == "none"
            assert len(await resp.read()) == MB
        async with http.get(url, headers={"Range": f"bytes={2 * MB}-"}) as resp:
            assert resp.status == 200  # no 416 either


async def test_without_length_the_answer_is_chunked() -> None:
    async with serve(video_size=MB, download_length=False) as (emu, http):
        url = await video_url(emu, http)
        async with http.get(url) as resp:
            assert resp.status == 200
            assert "Content-Length" not in resp.headers
            assert resp.headers["Transfer-Encoding"] == "chunked"
            assert await resp.read() == video_bytes(MB)
        async with http.get(url, headers={"Range": "bytes=-10"}) as resp:
            assert resp.status == 206
            assert resp.headers["Content-Range"] == f"bytes {MB - 10}-{MB - 1}/{MB}"
            assert "Content-Length" not in resp.headers
            assert await resp.read() == video_bytes(MB)[-10:]


async def test_head_sends_the_headers_only(env) -> None:
    emu, http = env
    url = await video_url(emu, http)
    async with http.head(url) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Length"] == str(MB)
        assert await resp.read() == b""
    assert (emu.downloads, emu.bytes_served) == (0, 0)


async def test_the_thumbnail_is_served_the_same_way(env) -> None:
    emu, http = env
    url = (await video_url(emu, http)).replace(".mp4", ".jpg")
    async with http.get(url, headers={"Range": "bytes=0-1"}) as resp:
        assert resp.status == 206
        assert resp.content_type == "image/jpeg"
        assert await resp.read() == b"\xff\xd8"


# -- sizes per resolution ---------------------------------------------------------------------


async def test_each_requested_resolution_gets_its_size() -> None:
    sizes = {"720p": 2 * MB, "4k": 3 * MB}
    async with serve(video_size=MB, video_sizes=sizes) as (emu, http):
        expected = {"720p": 2 * MB, "4k": 3 * MB, "1080p": MB, None: MB}
        for resolution, size in expected.items():
            body = {"resolution": resolution} if resolution else {}
            url = await video_url(emu, http, **body)
            async with http.get(url) as resp:
                assert resp.headers["Content-Length"] == str(size), resolution
                assert mp4_dimensions(await resp.read()) == (320, 180)


async def test_universal_and_luma_requests_are_sized_by_their_resolution() -> None:
    async with serve(video_sizes={"1080p": MB, "540p": 2 * MB}) as (emu, http):
        async with http.post(
            "/v2/video/generations", json={"model": "luma/ray-2", "prompt": "Flying jellyfish"}
        ) as resp:
            universal = (await resp.json())["id"]  # resolution defaults to 1080p
        async with http.post(
            "/dream-machine/v1/generations",
            json={"prompt": "Flying jellyfish", "resolution": "540p"},
        ) as resp:
            luma = (await resp.json())["id"]
        for gen_id, size in ((universal, MB), (luma, 2 * MB)):
            emu.force_state(gen_id, "completed")
            stem = gen_id.partition(":")[0]
            async with http.get(f"/files/{stem}.mp4") as resp:
                assert resp.headers["Content-Length"] == str(size)


async def test_the_size_can_be_changed_at_run_time(env) -> None:
    emu, http = env
    url = await video_url(emu, http)
    async with http.patch("/_emulator/config", json={"video_size": 2 * MB}) as resp:
        assert resp.status == 200
        assert (await resp.json())["video_size"] == 2 * MB
    async with http.patch("/_emulator/config", json={"video_size": 10}) as resp:
        assert resp.status == 400
        assert "at least the sample's" in (await resp.json())["error"]
    async with http.get(url) as resp:
        assert len(await resp.read()) == 2 * MB


# -- a download cut off mid-way ---------------------------------------------------------------


async def test_a_truncated_download_is_an_error_for_the_client(env) -> None:
    emu, http = env
    url = await video_url(emu, http)
    emu.inject_fault(route="download", kind="truncate", after_bytes=300_000)
    async with http.get(url) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Length"] == str(MB)  # promised in full
        got = bytearray()
        with pytest.raises(aiohttp.ClientPayloadError):
            async for chunk in resp.content.iter_any():
                got += chunk
    assert bytes(got) == video_bytes(MB)[:300_000]
    assert (emu.downloads, emu.bytes_served) == (1, 300_000)
    async with http.get(url) as resp:  # one fault, one download
        assert len(await resp.read()) == MB
    assert (emu.downloads, emu.bytes_served) == (2, 300_000 + MB)


async def test_a_truncate_fault_through_the_admin_api(env) -> None:
    emu, http = env
    url = await video_url(emu, http)
    fault = {"route": "download", "kind": "truncate", "after_bytes": 0, "count": 2}
    async with http.post("/_emulator/faults", json=fault) as resp:
        assert resp.status == 201
        assert (await resp.json())["after_bytes"] == 0
    async with http.get("/_emulator/faults") as resp:
        assert [f["kind"] for f in await resp.json()] == ["truncate"]
    for _ in range(2):
        async with http.get(url) as resp:
            assert resp.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()
    assert emu.bytes_served == 0
    for bad in (
        {"route": "any", "kind": "truncate", "after_bytes": 5},
        {"route": "download", "kind": "truncate"},
        {"route": "download", "kind": "truncate", "after_bytes": -1},
    ):
        async with http.post("/_emulator/faults", json=bad) as resp:
            assert resp.status == 400
            assert "truncate" in (await resp.json())["error"]


async def test_a_truncated_range_or_chunked_answer_breaks_too() -> None:
    async with serve(video_size=MB, download_length=False) as (emu, http):
        url = await video_url(emu, http)
        emu.inject_fault(route="download", kind="truncate", after_bytes=CHUNK + 5)
        async with http.get(url) as resp:
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()
        emu.inject_fault(route="download", kind="truncate", after_bytes=10)
        async with http.get(url, headers={"Range": "bytes=100-"}) as resp:
            assert resp.status == 206
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()
        assert emu.bytes_served == CHUNK + 5 + 10


async def test_a_cut_past_the_end_sends_everything(env) -> None:
    emu, http = env
    url = await video_url(emu, http)
    emu.inject_fault(route="download", kind="truncate", after_bytes=2 * MB)
    async with http.get(url, headers={"Range": "bytes=-100"}) as resp:
        assert len(await resp.read()) == 100
    assert emu.faults.pending == []


@pytest.mark.unit
def test_truncate_fault_validation() -> None:
    assert Fault(route="download", kind="truncate", after_bytes=0).to_dict()["after_bytes"] == 0
    for kwargs in (
        {"route": "fetch", "after_bytes": 1},
        {"route": "download"},
        {"route": "download", "after_bytes": -1},
        {"route": "download", "after_bytes": 1.5},
    ):
        with pytest.raises(ValueError, match="truncate"):
            Fault(kind="truncate", **kwargs)


# -- accounting -------------------------------------------------------------------------------


async def test_a_client_that_stops_reading_counts_what_was_written(env) -> None:
    emu, http = env
    size = 30 * MB  # more than the socket buffers between the two ends hold
    async with http.patch("/_emulator/config", json={"video_size": size}) as resp:
        assert resp.status == 200
    url = await video_url(emu, http)
    async with http.get(url) as resp:
        assert len(await resp.content.readexactly(1000)) == 1000
        resp.close()  # hang up mid-way
    download = next(r for r in emu.requests if r.path.startswith("/files/"))
    for _ in range(500):  # the emulator notices when its next write fails
        if download.answered_at is not None:
            break
        await asyncio.sleep(0.01)
    assert download.answered_at is not None
    assert 1000 <= emu.bytes_served < size
    async with http.get(url, headers={"Range": "bytes=0-9"}) as resp:
        assert await resp.read() == video_bytes(size)[:10]
    assert emu.downloads == 2


async def test_reset_zeroes_the_counters(env) -> None:
    emu, http = env
    url = await video_url(emu, http)
    async with http.get(url) as resp:
        await resp.read()
    assert (emu.downloads, emu.bytes_served) == (1, MB)
    async with http.post("/_emulator/reset", json={}) as resp:
        assert resp.status == 200
    assert (emu.downloads, emu.bytes_served) == (0, 0)
