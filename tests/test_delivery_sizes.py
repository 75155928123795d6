"""Real-size videos (issue 18): a download is spooled to a file and uploaded from it, so memory
does not grow with the video; a video over the upload limit is cut off at the limit and sent as
a link; Telegram's 413 mid-upload gives the link too; a video Telegram can fetch itself goes as
its URL (DELIVER_BY_URL), with the upload as the fallback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from bot.domain.model import JobState
from bot.worker.delivery import PROBE_BYTES, TELEGRAM_URL_LIMIT
from emulator.assets import IMAGE_FILE, VIDEO_FILE, sample_bytes, video_bytes
from playground.fake_telegram import FakeTelegram
from tests.conftest import BOT_TOKEN
from tests.test_delivery import delivered, downloads, result_host, upload_or_notice, uploads

USER = 1001
MB = 1024 * 1024
SAMPLE = sample_bytes(VIDEO_FILE)


async def test_a_large_video_arrives_byte_for_byte_with_its_metadata(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    video = video_bytes(12 * MB)

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


def thumbnail() -> web.Response:
    return web.Response(body=sample_bytes(IMAGE_FILE), content_type="image/jpeg")


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
        if request.path.endswith(".jpg"):
            return thumbnail()
        return await streamed(request, 200 * MB, chunks)

    async with result_host(serve) as (cdn, asked):
        emulator.config.public_url = cdn
        bot = await start_bot(telegram_upload_limit=MB)
        tg.user_sends("/video an endless jellyfish", user_id=USER)
        job = await delivered(bot)
    assert uploads(tg) == [] and tg.videos() == []
    (link,) = tg.bot_messages(USER)[:1]
    assert link["message_id"] == job.video_message_id and "/files/" in link["caption"]
    # One download, abandoned at the limit (not read on, not retried).
    assert len([path for path in asked if path.endswith(".mp4")]) == 1
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
    video = video_bytes(30 * MB)  # past the fake's request limit (its upload limit + 8 MB)

    async def serve(request: web.Request, hit: int) -> web.StreamResponse:
        if request.path.endswith(".jpg"):
            return thumbnail()
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


# --- by URL (DELIVER_BY_URL): Telegram fetches the video, the upload is the fallback ----------


def bot_read(emulator: Any, tg: FakeTelegram) -> int:
    """Bytes of results the bot itself read (the emulator's, less what the fake Telegram
    fetched from it)."""
    return emulator.bytes_served - tg.bytes_fetched


async def test_by_url_telegram_fetches_the_video_and_the_bot_reads_only_its_first_bytes(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.video_size = 3 * MB
    bot = await start_bot(deliver_by_url=True)
    tg.user_sends("/video a jellyfish by wire", user_id=USER)
    sent = await tg.wait_for_video(timeout=15)
    await delivered(bot)
    (generation_id,) = emulator.generations
    assert sent.params["video"].endswith(f"/files/{generation_id}.mp4") and not sent.files
    assert (sent.params["width"], sent.params["height"], sent.params["duration"]) == (320, 180, 2)
    assert bot_read(emulator, tg) <= PROBE_BYTES
    probe = downloads(emulator)[0]
    assert probe.header("Range") == f"bytes=0-{PROBE_BYTES - 1}"
    assert tg.bytes_fetched == 3 * MB  # Telegram got the whole video itself


async def test_a_url_telegram_cannot_fetch_is_uploaded_instead(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    video = video_bytes(2 * MB)

    async def serve(request: web.Request, hit: int) -> web.StreamResponse:
        if hit == 2:  # Telegram's own fetch (after the bot's probe) fails
            return web.Response(status=404, text="Not Found")
        return web.Response(body=video, content_type="video/mp4")

    async with result_host(serve) as (cdn, asked):
        emulator.config.public_url = cdn
        bot = await start_bot(deliver_by_url=True)
        tg.user_sends("/video a shy jellyfish", user_id=USER)
        sent = await tg.wait_for_video(timeout=15)
        job = await delivered(bot)
    refused = [c for c in tg.calls if c.method == "editMessageMedia" and not c.ok]
    assert len(refused) == 1 and "failed to get HTTP URL content" in str(refused[0].response)
    assert sent.files["video"] == video  # uploaded into the same status message
    assert sent.result["message_id"] == job.video_message_id == job.status_message_id
    assert len(asked) == 3  # the probe, Telegram's fetch, the bot's download
    assert len(tg.videos()) == 1


async def test_a_result_that_is_not_a_video_is_never_given_to_telegram_by_url(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    page = "<html>Service busy</html>" * 100
    emulator.inject_fault(route="download", kind="body", body=page, count=3)
    bot = await start_bot(deliver_by_url=True)
    tg.user_sends("/video a jellyfish", user_id=USER)
    await tg.wait_until(lambda: upload_or_notice(tg, "not a video"), timeout=15)
    assert tg.videos() == [] and tg.url_fetches == []
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.failure_code == "not_a_video"


async def test_by_url_a_video_over_20_mb_is_uploaded(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.video_size = TELEGRAM_URL_LIMIT + 1
    bot = await start_bot(deliver_by_url=True)
    tg.user_sends("/video a big jellyfish", user_id=USER)
    sent = await tg.wait_for_video(timeout=20)
    await delivered(bot)
    assert len(sent.files["video"]) == TELEGRAM_URL_LIMIT + 1
    assert tg.url_fetches == []


async def test_by_url_storage_that_ignores_ranges_is_read_no_further_than_needed(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.video_size = 15 * MB
    emulator.config.download_ranges = False  # 200 and the whole file to a range request
    bot = await start_bot(deliver_by_url=True)
    tg.user_sends("/video a jellyfish", user_id=USER)
    sent = await tg.wait_for_video(timeout=15)
    await delivered(bot)
    assert sent.params["video"].startswith("http") and not sent.files
    # The bot hung up after its 64 KB; what the sockets had buffered by then is all it cost.
    assert bot_read(emulator, tg) < 10 * MB


async def test_by_url_storage_that_does_not_say_the_size_gets_an_upload(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.video_size = 2 * MB
    emulator.config.download_length = False
    emulator.config.download_ranges = False
    bot = await start_bot(deliver_by_url=True)
    tg.user_sends("/video a jellyfish", user_id=USER)
    sent = await tg.wait_for_video(timeout=15)
    await delivered(bot)
    assert len(sent.files["video"]) == 2 * MB and tg.url_fetches == []


async def test_by_url_a_lost_answer_is_retried_without_a_second_video(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.video_size = MB
    tg.lose_response_next("editMessageMedia", hold=0.2)  # Telegram showed it; the bot can't know
    bot = await start_bot(deliver_by_url=True)
    tg.user_sends("/video a jellyfish", user_id=USER)
    job = await delivered(bot)
    assert len(tg.messages_with_video(USER)) == 1
    assert job.video_message_id == job.status_message_id


async def test_by_url_a_message_already_showing_the_url_gets_the_upload_in_its_place(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.video_size = MB
    not_modified = "Bad Request: message is not modified: specified new message content and "
    tg.fail_next("editMessageMedia", 400, description=not_modified + "reply markup are the same")
    bot = await start_bot(deliver_by_url=True)
    tg.user_sends("/video a jellyfish", user_id=USER)
    job = await delivered(bot)
    (sent,) = tg.videos()
    assert len(sent.files["video"]) == MB  # uploaded, into the status message: no second message
    assert job.video_message_id == job.status_message_id
    assert len(tg.messages_with_video(USER)) == 1


async def test_a_large_download_that_breaks_midway_is_fetched_again_whole(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.video_size = 3 * MB  # past what stays in memory: a temporary file
    emulator.inject_fault(route="download", kind="truncate", after_bytes=MB)
    bot = await start_bot()
    tg.user_sends("/video an interrupted jellyfish", user_id=USER)
    sent = await tg.wait_for_video(timeout=15)
    job = await delivered(bot)
    assert sent.files["video"] == video_bytes(3 * MB)  # the second download, nothing of the first
    assert len(downloads(emulator)) == 2 and job.attempts == 1
