"""Real-size videos (issue 18): a download is spooled to a file and uploaded from it, so memory
does not grow with the video; a video over the upload limit is cut off at the limit and sent as
a link; Telegram's 413 mid-upload gives the link too; a video Telegram can fetch itself goes as
its URL (DELIVER_BY_URL), with the upload as the fallback."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from bot.domain.model import JobState
from emulator.assets import VIDEO_FILE, sample_bytes
from tests.conftest import BOT_TOKEN
from tests.fakes.telegram_api import FakeTelegram
from tests.test_delivery import delivered, result_host, uploads

USER = 1001
MB = 1024 * 1024
SAMPLE = sample_bytes(VIDEO_FILE)


def video_of(size: int) -> bytes:
    """The sample video grown to `size` bytes by a trailing `free` box: still a valid MP4."""
    return SAMPLE + struct.pack(">I4s", size - len(SAMPLE), b"free") + bytes(size - len(SAMPLE) - 8)


async def test_a_large_video_arrives_byte_for_byte_with_its_metadata(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    video = video_of(12 * MB)

    async def serve(request: web.Request, hit: int) -> web.StreamResponse:
        return web.Response(body=video, content_type="video/mp4")

    async with result_host(serve) as (cdn, _):
        emulator.config.public_url = cdn
        bot = await start_bot()
        tg.user_sends("/video a long jellyfish", user_id=USER)
        sent = await tg.wait_for_video(timeout=20)
        await delivered(bot)
    assert sent.files["video"] == video
    assert (sent.params["width"], sent.params["height"], sent.params["duration"]) == (320, 180, 2)


async def streamed(request: web.Request, video_size: int, chunks: list[int]) -> web.StreamResponse:
    """`video_size` bytes of video without a Content-Length (chunked), as storage that does not
    say the size; `chunks` gets the size of every write that went through."""
    response = web.StreamResponse()
    response.content_type = "video/mp4"
    await response.prepare(request)
    padding = bytes(256 * 1024)
    written = 0
    try:
        await response.write(SAMPLE)
        written = len(SAMPLE)
        while written < video_size:
            await response.write(padding)
            written += len(padding)
            chunks.append(len(padding))
        await response.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass  # the bot stopped reading
    return response


async def test_a_video_that_grows_past_the_limit_is_cut_off_there_and_sent_as_a_link(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    chunks: list[int] = []

    async def serve(request: web.Request, hit: int) -> web.StreamResponse:
        return await streamed(request, 200 * MB, chunks)

    async with result_host(serve) as (cdn, asked):
        emulator.config.public_url = cdn
        bot = await start_bot(telegram_upload_limit=MB)
        tg.user_sends("/video an endless jellyfish", user_id=USER)
        job = await delivered(bot)
    assert uploads(tg) == [] and tg.videos() == []
    (link,) = tg.bot_messages(USER)[:1]
    assert link["message_id"] == job.video_message_id and "/files/" in link["caption"]
    assert len(asked) == 1  # one download, abandoned at the limit (not read on, not retried)
    # The host wrote what the socket buffers took before the bot hung up: nowhere near 200 MB.
    assert sum(chunks) < 40 * MB


@pytest.fixture
async def strict_tg() -> AsyncIterator[FakeTelegram]:
    """A Bot API server that takes smaller requests than the bot was told (413 mid-upload)."""
    async with FakeTelegram(token=BOT_TOKEN, bot_username="LumaTestBot", upload_limit=MB) as fake:
        yield fake


async def test_telegram_answering_413_during_the_upload_gets_the_link(
    strict_tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    video = video_of(30 * MB)  # past the fake's request limit (its upload limit + 8 MB)

    async def serve(request: web.Request, hit: int) -> web.StreamResponse:
        return web.Response(body=video, content_type="video/mp4")

    async with result_host(serve) as (cdn, _):
        emulator.config.public_url = cdn
        bot = await start_bot(telegram_api_url=strict_tg.root)
        strict_tg.user_sends("/video a heavy jellyfish", user_id=USER)
        job = await delivered(bot)
    assert job.state is JobState.DELIVERED
    assert strict_tg.videos() == []
    (link,) = strict_tg.bot_messages(USER)[:1]
    assert "too large" in link["caption"]
