"""Delivery policy: upload with a chat action, fresh URLs for expired ones, a link with the
thumbnail when too large, deleted requests, blocked bots, flaky Telegram; only a video is ever
uploaded, redirects are capped, malformed videos and steps that keep failing end the job."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any

from bot.delivery import MAX_REDIRECTS
from storage.base import JobState
from tests.fakes.telegram_api import Call, FakeTelegram

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
