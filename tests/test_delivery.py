"""Delivery policy: upload with a chat action, fresh URLs for expired ones, a link with the
thumbnail when too large, deleted requests, blocked bots, flaky Telegram; only a video is ever
uploaded, redirects are capped, malformed videos and steps that keep failing end the job."""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from bot.domain.model import JobState
from bot.worker.delivery import MAX_REDIRECTS
from emulator.assets import VIDEO_FILE, sample_bytes
from playground.fake_telegram import Call, FakeTelegram
from tests.quota import quota_usage

USER = 1001


async def delivered(bot: Any, job_id: int = 1) -> Any:
    """The job once the database says it was delivered (just after Telegram answered)."""
    for _ in range(100):
        job = await bot.runtime.repository.get_job(job_id)
        if job is not None and job.state is JobState.DELIVERED:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} not delivered: {job}")


async def test_a_slow_upload_shows_a_chat_action_meanwhile(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    tg.delay_next("editMessageMedia", 1.5)  # the upload takes a while
    await start_bot()
    tg.user_sends("/video a jellyfish", user_id=USER)
    await tg.wait_for_video(timeout=15)
    actions = tg.calls_of("sendChatAction")  # made during the upload, which the fake held
    assert actions and actions[0].params["action"] == "upload_video"


async def test_an_expired_result_url_is_fetched_again(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.inject_fault(route="download", status=404, count=1)
    await start_bot()
    tg.user_sends("/video a jellyfish", user_id=USER)
    await tg.wait_for_video(timeout=15)
    downloads = [r for r in emulator.requests if r.path.startswith("/files/")]
    assert len(downloads) == 2
    gets = [r for r in emulator.requests if r.method == "GET" and "generation" in r.path]
    assert any("state" not in r.query for r in gets), "the result was fetched again"


async def test_too_large_for_telegram_sends_the_link_with_the_thumbnail(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(telegram_upload_limit=1000)
    tg.user_sends("/video a huge jellyfish", user_id=USER)
    job = await delivered(bot)
    (generation_id,) = emulator.generations
    # The status message became the thumbnail, captioned with the link.
    (link,) = tg.bot_messages(USER)[:1]
    assert link["message_id"] == job.video_message_id
    assert link["photo"] and f"/files/{generation_id}.mp4" in link["caption"]
    (edit,) = [c for c in tg.calls_of("editMessageMedia") if c.ok]
    assert edit.params["media"]["media"].endswith(f"/files/{generation_id}.jpg")
    assert tg.videos() == []


async def test_telegram_refusing_the_size_gets_the_link_instead(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    tg.upload_limit = 1000  # a Bot API server with a lower limit than the bot was told
    bot = await start_bot()
    tg.user_sends("/video a huge jellyfish", user_id=USER)
    job = await delivered(bot)
    (generation_id,) = emulator.generations
    refused = [c for c in tg.calls_of("editMessageMedia") if not c.ok]
    assert [c.response["error_code"] for c in refused] == [413]  # tried once, not again
    (link,) = tg.bot_messages(USER)[:1]
    assert link["message_id"] == job.video_message_id
    assert f"/files/{generation_id}.mp4" in link["caption"]
    assert tg.videos() == []


async def test_a_deleted_request_still_gets_its_video(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.dream_seconds = 0.6
    await start_bot()
    request = tg.user_sends("/video a shy jellyfish", user_id=USER)
    await tg.wait_until(lambda: len(emulator.generations) == 1)
    tg.user_deletes(USER, request["message_id"])
    sent = await tg.wait_for_video(timeout=15)
    assert sent.ok and len(tg.messages_with_video(USER)) == 1


async def test_the_video_takes_the_place_of_the_status_message(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    request = tg.user_sends("/video a jellyfish", user_id=USER)
    status = await tg.wait_for_call("sendMessage", timeout=15)
    sent = await tg.wait_for_video(timeout=15)
    assert sent.method == "editMessageMedia"
    assert sent.result["message_id"] == status.result["message_id"]
    assert sent.result["reply_to_message"]["message_id"] == request["message_id"]
    job = await delivered(bot)
    assert job.video_message_id == status.result["message_id"]
    # An edit makes no sound: one short notice, replying to the video, tells the user.
    notice = await tg.wait_for_call("sendMessage", lambda c: "ready" in c.params["text"])
    assert notice.params["reply_parameters"]["message_id"] == job.video_message_id
    assert [m["message_id"] for m in tg.messages_with_video(USER)] == [job.video_message_id]


async def test_a_lost_upload_answer_is_retried_without_a_second_video(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # Telegram stored the video but the answer never came: the retry edits the same message.
    tg.lose_response_next("editMessageMedia", hold=0.5)
    bot = await start_bot()
    tg.user_sends("/video a jellyfish", user_id=USER)
    job = await delivered(bot)
    assert len(tg.calls_of("editMessageMedia")) == 2
    assert [m["message_id"] for m in tg.messages_with_video(USER)] == [job.video_message_id]


async def test_a_deleted_status_message_gets_the_video_as_a_new_reply(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.dream_seconds = 0.6
    bot = await start_bot()
    request = tg.user_sends("/video a jellyfish", user_id=USER)
    status = await tg.wait_for_call("sendMessage", timeout=15)
    tg.user_deletes(USER, status.result["message_id"])
    sent = await tg.wait_for_video(timeout=15)
    assert sent.method == "sendVideo"
    assert sent.params["reply_parameters"]["message_id"] == request["message_id"]
    await delivered(bot)
    assert not any("ready" in c.params.get("text", "") for c in tg.calls_of("sendMessage"))


async def test_a_blocked_bot_stops_and_records_it(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    tg.fail_next("editMessageMedia", 403, count=5)
    bot = await start_bot()
    tg.user_sends("/video a jellyfish for nobody", user_id=USER)
    await tg.wait_for_call("editMessageMedia", timeout=15)
    await asyncio.sleep(0.5)
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.state is JobState.FAILED
    assert job.failure_code == "chat_unreachable"
    assert len(tg.calls_of("editMessageMedia")) == 1  # no retries into a wall


async def test_telegram_errors_on_upload_are_retried(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    tg.fail_next("editMessageMedia", 502, count=1)
    bot = await start_bot()
    tg.user_sends("/video a persistent jellyfish", user_id=USER)
    await tg.wait_until(lambda: len(tg.messages_with_video(USER)) == 1, timeout=20)
    await delivered(bot)


async def test_flood_control_on_upload_is_waited_out(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    tg.fail_next("editMessageMedia", 429, retry_after=1, count=1)
    await start_bot()
    tg.user_sends("/video a patient jellyfish", user_id=USER)
    await tg.wait_until(lambda: len(tg.messages_with_video(USER)) == 1, timeout=20)
    assert len(tg.messages_with_video(USER)) == 1


async def test_a_failed_status_message_does_not_stop_the_job(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    tg.fail_next("sendMessage", 502, count=1)  # the status message is lost
    await start_bot()
    tg.user_sends("/video a quiet jellyfish", user_id=USER)
    sent = await tg.wait_for_video(timeout=15)
    assert sent.ok
    texts = [c.result["text"] for c in tg.calls_of("sendMessage") if c.ok]
    assert not any("went wrong" in t for t in texts)


# --- only a video goes to Telegram (issue 14, item 5) -----------------------------------------


def uploads(tg: FakeTelegram) -> list[bytes]:
    """Every file the bot uploaded to Telegram, whatever the method."""
    return [data for call in tg.calls for data in call.files.values()]


def upload_or_notice(tg: FakeTelegram, words: str) -> bool:
    def notice(call: Call) -> bool:
        return call.method == "editMessageText" and words in call.params.get("text", "")

    return bool(uploads(tg)) or any(notice(call) for call in tg.calls)


def downloads(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.path.startswith("/files/")]


async def test_a_result_that_redirects_to_a_text_page_is_never_uploaded(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # The result URL, and the fresh one the bot asks for after it, lead to an internal page.
    internal_page = f"{emulator.url}/_emulator/config"
    emulator.inject_fault(route="download", kind="redirect", location=internal_page, count=2)
    bot = await start_bot()
    tg.user_sends("/video a jellyfish", user_id=USER)
    await tg.wait_until(lambda: upload_or_notice(tg, "not a video"), timeout=15)
    assert uploads(tg) == []
    notice = tg.calls_of("editMessageText")[-1]
    assert "not a video" in notice.params["text"]
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.state is JobState.FAILED
    assert job.failure_code == "not_a_video"
    assert len(downloads(emulator)) == 2  # the result URL, then the fresh one: not forever


async def test_a_result_that_is_not_a_video_once_is_fetched_again(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # A page that even calls itself a video: the bytes decide.
    page = "<html>Service busy</html>"
    emulator.inject_fault(route="download", kind="body", body=page, content_type="video/mp4")
    bot = await start_bot()
    tg.user_sends("/video a jellyfish", user_id=USER)
    await tg.wait_until(lambda: uploads(tg), timeout=15)
    assert [data[4:8] for data in uploads(tg)] == [b"ftyp"]
    await delivered(bot)
    assert len(downloads(emulator)) == 2


async def test_a_download_follows_at_most_a_few_redirects(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.dream_seconds = 0.6
    await start_bot()
    tg.user_sends("/video a jellyfish", user_id=USER)
    await tg.wait_until(lambda: len(emulator.generations) == 1)
    (generation_id,) = emulator.generations
    same_file = f"{emulator.url}/files/{generation_id}.mp4"
    emulator.inject_fault(route="download", kind="redirect", location=same_file, count=6)
    await tg.wait_for_video(timeout=15)
    # One download is a run of /files/ requests: the first and the redirects it followed.
    runs, run = [], 0
    for request in emulator.requests:
        run = run + 1 if request.path.startswith("/files/") else 0
        runs.append(run)
    assert max(runs) <= 1 + MAX_REDIRECTS
    # The API key goes only to the API, never to a result URL or wherever it redirects.
    assert all(r.header("Authorization") is None for r in downloads(emulator))


# --- malformed videos and steps that keep failing (issue 14, item 6) --------------------------


def video_with_a_truncated_mvhd() -> bytes:
    """An MP4 whose movie header is cut off right after its box header."""
    ftyp = struct.pack(">I4s4sI4s4s", 24, b"ftyp", b"isom", 512, b"isom", b"mp41")
    moov = struct.pack(">I4sI4s", 16, b"moov", 8, b"mvhd")
    return ftyp + moov


async def test_a_video_whose_metadata_cannot_be_read_is_sent_without_it(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    malformed = video_with_a_truncated_mvhd()
    emulator.inject_fault(route="download", kind="body", body=malformed, content_type="video/mp4")
    bot = await start_bot()
    tg.user_sends("/video a jellyfish", user_id=USER)
    sent = await tg.wait_for_video(timeout=15)
    assert sent.files["video"] == malformed
    assert not {"width", "height", "duration"} & sent.params.keys()
    await delivered(bot)


async def test_a_step_that_keeps_failing_ends_the_job_after_the_deadline_and_grace(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # A result URL the HTTP client cannot even parse (a host name label over 63 characters).
    emulator.config.public_url = "http://" + "a" * 70 + ".example"
    bot = await start_bot(generation_timeout=3, delivery_grace_seconds=1)
    tg.user_sends("/video a jellyfish", user_id=USER)
    notice = await tg.wait_for_call(
        "editMessageText", lambda c: "went wrong" in c.params["text"], timeout=20
    )
    assert "refunded" in notice.params["text"]
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.state is JobState.FAILED
    assert job.failure_code == "internal_error"
    assert job.finished_at is not None and job.finished_at >= job.deadline_at + 1
    assert uploads(tg) == []


# --- delivery fallbacks (issue 15, item 3) ----------------------------------------------------

REQUEST = "/video a jellyfish"


async def job_when(bot: Any, predicate: Callable[[Any], bool], what: str) -> Any:
    job = None
    for _ in range(200):
        job = await bot.runtime.repository.get_job(1)
        if job is not None and predicate(job):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"the job never {what}: {job}")


async def usage(bot: Any) -> tuple[int, int]:
    """(the user's daily allowance used, the day's total under GLOBAL_DAILY_QUOTA)."""
    used = await quota_usage(bot.runtime.repository, USER, USER)
    return used.payer_daily, used.everyone


@asynccontextmanager
async def result_host(
    answer: Callable[[web.Request, int], Awaitable[web.StreamResponse]],
) -> AsyncIterator[tuple[str, list[str]]]:
    """A host apart from the API that keeps the finished videos (a provider's CDN): each
    download gets `answer(request, n)` for the n-th request. Yields its root URL and the paths
    asked."""
    asked: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        asked.append(request.path)
        return await answer(request, len(asked))

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", asked
    finally:
        await runner.cleanup()


def the_video() -> web.Response:
    return web.Response(body=sample_bytes(VIDEO_FILE), content_type="video/mp4")


async def test_a_status_message_telegram_will_not_edit_gives_way_to_a_new_reply(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    tg.fail_next("editMessageMedia", 400, "Bad Request: message can't be edited")
    bot = await start_bot()
    request = tg.user_sends(REQUEST, user_id=USER)
    status = await tg.wait_for_call("sendMessage", timeout=15)
    status_id = status.result["message_id"]
    sent = await tg.wait_for_video(timeout=15)
    assert sent.method == "sendVideo"
    assert sent.params["reply_parameters"]["message_id"] == request["message_id"]
    # The stale status ("Dreaming…") is removed, and the job no longer points at it.
    job = await job_when(bot, lambda j: j.status_message_id is None, "forgot its status")
    assert job.state is JobState.DELIVERED and job.video_message_id == sent.result["message_id"]
    (delete,) = tg.calls_of("deleteMessage")
    assert delete.ok and int(delete.params["message_id"]) == status_id
    assert status_id not in [m["message_id"] for m in tg.messages(USER)]
    assert [m["message_id"] for m in tg.messages_with_video(USER)] == [job.video_message_id]
    assert not any("ready" in c.params.get("text", "") for c in tg.calls_of("sendMessage"))


async def test_a_failure_is_told_as_a_reply_when_the_status_message_is_gone(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.inject_fault(route="create", status=400, message="prompt: not allowed here")
    bot = await start_bot()
    await bot.runtime.worker.stop()  # the job waits in the bot's queue meanwhile
    request = tg.user_sends(REQUEST, user_id=USER)
    status = await tg.wait_for_call("sendMessage", timeout=15)
    await job_when(bot, lambda j: j.status_message_id is not None, "got its status message")
    tg.user_deletes(USER, status.result["message_id"])
    await bot.runtime.worker.start()
    notice = await tg.wait_for_call(
        "sendMessage", lambda c: "rejected this request" in c.params["text"], timeout=15
    )
    (edit,) = tg.calls_of("editMessageText")  # tried in place first: gone
    assert not edit.ok and int(edit.params["message_id"]) == status.result["message_id"]
    assert notice.ok and "refunded" in notice.params["text"]
    assert notice.params["reply_parameters"]["message_id"] == request["message_id"]
    job = await job_when(bot, lambda j: not j.notice_pending, "told")
    assert job.state is JobState.FAILED and job.failure_code == "rejected" and job.refunded
    assert await usage(bot) == (0, 0)


async def test_an_expired_result_url_is_replaced_by_the_fresh_one_the_api_gives(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    async def expired(_: web.Request, __: int) -> web.Response:
        emulator.config.public_url = None  # from now on the API hands out fresh links
        return web.Response(status=403, text="Request has expired")

    async with result_host(expired) as (cdn, asked):
        emulator.config.public_url = cdn
        bot = await start_bot()
        tg.user_sends(REQUEST, user_id=USER)
        sent = await tg.wait_for_video(timeout=15)
        job = await delivered(bot)
    (generation_id,) = emulator.generations
    assert asked == [f"/files/{generation_id}.mp4"]  # the stale link, once
    # The fresh link is stored (a retry or a restart uses it) and is the one downloaded.
    assert job.video_url == f"{emulator.url}/files/{generation_id}.mp4"
    assert [r.path for r in downloads(emulator)] == [f"/files/{generation_id}.mp4"]
    assert sent.files["video"] == sample_bytes(VIDEO_FILE)


async def test_a_download_cut_off_midway_is_fetched_again(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    video = sample_bytes(VIDEO_FILE)

    async def cut_off(request: web.Request, hit: int) -> web.StreamResponse:
        if hit > 1:
            return the_video()
        response = web.StreamResponse(headers={"Content-Length": str(len(video))})
        response.content_type = "video/mp4"
        await response.prepare(request)
        await response.write(video[: len(video) // 2])
        assert request.transport is not None
        request.transport.close()  # the connection drops halfway through the body
        return response

    async with result_host(cut_off) as (cdn, asked):
        emulator.config.public_url = cdn
        bot = await start_bot()
        tg.user_sends(REQUEST, user_id=USER)
        sent = await tg.wait_for_video(timeout=15)
        job = await delivered(bot)
    # Within the same attempt (`attempts` counts the create, then each delivery retry).
    assert len(asked) == 2 and job.attempts == 1
    assert sent.files["video"] == video


async def test_downloads_that_keep_failing_are_tried_again_later(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # The result URL and the fresh one both fail now; the storage recovers a moment later.
    emulator.inject_fault(route="download", status=500, count=2)
    bot = await start_bot()
    tg.user_sends(REQUEST, user_id=USER)
    await tg.wait_for_video(timeout=15)
    job = await delivered(bot)
    assert len(downloads(emulator)) == 3 and job.attempts == 2  # the create, one retry
    assert len(tg.messages_with_video(USER)) == 1


async def test_a_failed_download_whose_fresh_url_cannot_be_asked_for_is_tried_again_later(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    async def flaky(_: web.Request, hit: int) -> web.Response:
        if hit == 1:  # the storage hiccups, and so does the API when asked for a fresh link
            emulator.inject_fault(route="fetch", status=500, count=1)
            return web.Response(status=503)
        return the_video()

    async with result_host(flaky) as (cdn, asked):
        emulator.config.public_url = cdn
        bot = await start_bot()
        tg.user_sends(REQUEST, user_id=USER)
        await tg.wait_for_video(timeout=15)
        job = await delivered(bot)
    assert len(asked) == 2 and job.attempts == 2  # the create, one retry
    assert job.video_url is not None and job.video_url.startswith(cdn)
    assert not emulator.faults.pending  # the fresh link was asked for, and refused


async def test_delivery_that_keeps_failing_ends_as_delivery_failed_and_stays_spent(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    tg.fail_next("editMessageMedia", 502, count=100)
    bot = await start_bot(
        generation_timeout=2, media_link_ttl=60, delivery_grace_seconds=3, global_daily_quota=1
    )
    tg.user_sends(REQUEST, user_id=USER)
    notice = await tg.wait_for_call(
        "editMessageText", lambda c: "could not send it" in c.params["text"], timeout=20
    )
    assert "counts toward your daily limit" in notice.params["text"]
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.state is JobState.FAILED
    assert job.failure_code == "delivery_failed"
    assert len(tg.calls_of("editMessageMedia")) >= 2  # retried before giving up
    assert job.finished_at is not None and job.finished_at >= job.deadline_at
    # Made and billed: neither the payer nor the bill cap gets it back (docs "Refunds").
    assert not job.refunded and job.billable
    assert await usage(bot) == (1, 1)
    assert tg.videos() == []


async def test_too_large_with_no_status_message_sends_the_thumbnail_and_link_as_a_reply(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    tg.upload_limit = 1000  # Telegram answers the upload 413
    emulator.config.dream_seconds = 0.6
    bot = await start_bot()
    request = tg.user_sends(REQUEST, user_id=USER)
    status = await tg.wait_for_call("sendMessage", timeout=15)
    tg.user_deletes(USER, status.result["message_id"])
    job = await delivered(bot)
    (generation_id,) = emulator.generations
    (photo,) = [c for c in tg.calls_of("sendPhoto") if c.ok]
    assert photo.params["reply_parameters"]["message_id"] == request["message_id"]
    assert photo.params["photo"].endswith(f"/files/{generation_id}.jpg")
    assert f"/files/{generation_id}.mp4" in photo.params["caption"]
    assert job.video_message_id == photo.result["message_id"]
    assert [c.response["error_code"] for c in tg.calls_of("sendVideo")] == [413]
    assert tg.videos() == []


async def test_too_large_with_an_unusable_thumbnail_sends_the_link_alone(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    tg.upload_limit = 1000
    tg.fail_next("sendPhoto", 400, "Bad Request: wrong file identifier/HTTP URL specified")
    emulator.config.dream_seconds = 0.6
    bot = await start_bot()
    request = tg.user_sends(REQUEST, user_id=USER)
    status = await tg.wait_for_call("sendMessage", timeout=15)
    tg.user_deletes(USER, status.result["message_id"])
    job = await delivered(bot)
    (generation_id,) = emulator.generations
    link = await tg.wait_for_call(
        "sendMessage", lambda c: f"/files/{generation_id}.mp4" in c.params["text"]
    )
    assert link.ok and link.params["reply_parameters"]["message_id"] == request["message_id"]
    assert job.video_message_id == link.result["message_id"]
    assert tg.videos() == []


# --- after the delivery: the ready notice is best effort (issue 15) ---------------------------


async def logged(caplog: pytest.LogCaptureFixture, words: str) -> logging.LogRecord:
    """The first log record saying `words`, once there is one."""
    for _ in range(200):
        for record in caplog.records:
            if words in record.getMessage():
                return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"never logged: {words!r}")


def ready_notices(tg: FakeTelegram) -> list[Call]:
    return [c for c in tg.calls_of("sendMessage") if "is ready" in c.params["text"]]


async def test_a_ready_notice_telegram_refuses_is_let_go_and_the_video_stays_delivered(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.worker")
    bot = await start_bot()
    tg.user_sends(REQUEST, user_id=USER)
    await tg.wait_for_call("sendMessage")  # the status message
    tg.fail_next("sendMessage", 502)  # Telegram fails the notice that follows the video
    sent = await tg.wait_for_video(timeout=15)
    job = await delivered(bot)
    record = await logged(caplog, "job 1: after delivery")
    assert "Bad Gateway" in record.getMessage()
    (notice,) = ready_notices(tg)  # tried once, not again
    assert not notice.ok
    assert job.video_message_id == sent.result["message_id"]
    assert not [r for r in caplog.records if "unexpected error" in r.getMessage()]
    assert await usage(bot) == (1, 1)
