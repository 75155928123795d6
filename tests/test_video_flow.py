"""`/video` end to end through the real Application, the fake Bot API and the emulator."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.domain.model import JobState
from playground.fake_telegram import FakeTelegram
from tests.conftest import API_KEY, BOT_TOKEN
from tests.quota import quota_used

SAMPLE_MP4 = (Path(__file__).parent.parent / "emulator" / "sample.mp4").read_bytes()
USER = 1001


def creates(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.method == "POST"]


def texts_to(tg: FakeTelegram, chat_id: int = USER) -> list[str]:
    return [
        call.params["text"]
        for call in tg.calls
        if call.method in ("sendMessage", "editMessageText")
        and str(call.params.get("chat_id")) == str(chat_id)
    ]


async def used_today(bot: Any, user_id: int = USER) -> int:

    return await quota_used(bot.runtime.repository, user_id)


@pytest.mark.parametrize(
    ("family", "expected_body"),
    [
        ("aiml-v2", {"prompt": "a jellyfish in space", "aspect_ratio": "9:16"}),
        ("aiml-v1", {"user_prompt": "a jellyfish in space", "aspect_ratio": "9:16"}),
    ],
)
async def test_video_is_delivered_as_a_reply_with_caption(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], family: str, expected_body: dict
) -> None:
    bot = await start_bot(luma_api_family=family)
    request = tg.user_sends("/video a jellyfish in space --ar 9:16", user_id=USER)

    status = await tg.wait_for_call("sendMessage")
    assert "Queued" in status.params["text"], status.params
    assert status.params["reply_parameters"]["message_id"] == request["message_id"]

    sent = await tg.wait_for_video(timeout=15)
    assert sent.ok
    assert sent.result["reply_to_message"]["message_id"] == request["message_id"]
    assert sent.files["video"] == SAMPLE_MP4
    assert str(sent.params["supports_streaming"]).lower() == "true"
    assert (str(sent.params["width"]), str(sent.params["height"])) == ("320", "180")

    (generation_id,) = emulator.generations
    caption = sent.result["caption"]
    assert "a jellyfish in space" in caption
    assert "9:16" in caption
    assert generation_id in caption

    (create,) = creates(emulator)
    assert create.json == expected_body

    # The status message became the video; the notice is sent once that is recorded.
    assert sent.result["message_id"] == status.result["message_id"]
    await tg.wait_for_call("sendMessage", lambda c: "ready" in c.params["text"])
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.state is JobState.DELIVERED
    assert job.remote_id == generation_id
    assert job.video_message_id == sent.result["message_id"]
    assert job.video_file_id == sent.result["video"]["file_id"]
    assert await used_today(bot) == 1


async def test_progress_shows_the_state_while_waiting(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.dream_seconds = 0.8
    await start_bot(progress_interval=0.1)
    tg.user_sends("/video a slow sunrise over the sea", user_id=USER)
    await tg.wait_for_video(timeout=15)
    edits = [c.params["text"] for c in tg.calls_of("editMessageText")]
    assert any("Dreaming" in text for text in edits)
    refused = [(c.params["text"], c.response) for c in tg.calls_of("editMessageText") if not c.ok]
    assert refused == [], "no edit may be refused"


async def test_a_slow_download_shows_uploading_meanwhile(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.inject_fault(route="download", kind="delay", seconds=1.5)
    await start_bot()
    tg.user_sends("/video a slow sunrise over the sea", user_id=USER)
    sent = await tg.wait_for_video(timeout=15)
    (uploading,) = [c for c in tg.calls_of("editMessageText") if "Uploading" in c.params["text"]]
    assert uploading.ok and uploading.at < sent.at
    assert int(uploading.params["message_id"]) == sent.result["message_id"]
    assert "reply_markup" not in uploading.params  # too late to cancel: no button


async def test_progress_shows_the_services_wait_estimate_when_it_gives_one(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # The legacy DTO's estimate_wait_seconds (usually null upstream; the emulator can fill it).
    emulator.config.report_wait_estimate = True
    emulator.config.queue_seconds, emulator.config.dream_seconds = 0.6, 1.2
    await start_bot(luma_api_family="aiml-v1", progress_interval=0.1)
    tg.user_sends("/video a slow sunrise over the sea", user_id=USER)
    await tg.wait_for_video(timeout=15)
    edits = [c.params["text"] for c in tg.calls_of("editMessageText") if c.ok]
    assert any("to wait" in text or "to go" in text for text in edits), edits


async def test_failed_generation_says_why_and_refunds(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    tg.user_sends("/video [fail] a jellyfish", user_id=USER)
    failure = await tg.wait_for_call(
        "editMessageText", lambda c: "refunded" in c.params["text"], timeout=15
    )
    assert "moderation" in failure.params["text"].lower()
    assert not tg.videos()
    assert await used_today(bot) == 0
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.state is JobState.FAILED and job.refunded
    assert job.failure_code == "moderation"


async def test_quota_exhausted_says_when_it_resets(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(daily_quota=1)
    tg.user_sends("/video first video of the day", user_id=USER)
    await tg.wait_for_video(timeout=15)
    tg.user_sends("/video second video of the day", user_id=USER)
    refusal = await tg.wait_for_call("sendMessage", lambda c: "used all" in c.params["text"])
    assert "00:00 UTC" in refusal.params["text"]
    await asyncio.sleep(0.3)
    assert len(creates(emulator)) == 1


async def test_admins_are_exempt_from_quota(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(daily_quota=1, admin_user_ids=str(USER))
    for index in range(2):
        tg.user_sends(f"/video admin video number {index}", user_id=USER)
    await tg.wait_until(lambda: len(tg.videos()) == 2, timeout=15)


async def test_twenty_concurrent_requests_with_quota_three_start_three_jobs(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=3, max_active_per_user=20)
    for index in range(20):
        tg.user_sends(f"/video burst number {index}", user_id=USER)
    await tg.wait_until(lambda: len(tg.videos()) == 3, timeout=20)
    await tg.wait_until(lambda: sum("used all" in t for t in texts_to(tg)) == 17, timeout=10)
    await asyncio.sleep(0.3)
    assert len(creates(emulator)) == 3
    assert len(tg.videos()) == 3
    assert await used_today(bot) == 3


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/video", "Tell me what the video should show"),
        ("/video    ", "Tell me what the video should show"),
        ("/video --fps 30 a dog", "I don't know the option --fps"),
        ("/video --ar 19:9 a dog", "19:9 is not an aspect ratio"),
        ("/video a dog --ar", "--ar needs a value"),
        ("/video " + "x" * 2049, "2049 characters long; the limit is 2048"),
        ("/video hi", "too short"),
        # Nothing visible: zero-width spaces, then joiners, bidi controls, word joiner, BOM.
        ("/video \u200b\u200b\u200b", "too short"),
        ("/video \u202e\u2066\u2069\u200d\u2060\ufeff\u202a", "too short"),
        ("/video a\u200b\u200c\u200b", "too short"),
        ("/video \u3164\u3164\u3164 \u2800\u2800", "too short"),  # Hangul fillers, braille blanks
        # The API counts UTF-16 code units: an emoji is two of its 2048.
        ("/video " + "\U0001f3ac" * 1025, "2050 characters long; the limit is 2048"),
    ],
)
async def test_bad_input_gets_a_clear_reply_and_costs_nothing(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    command: str,
    expected: str,
) -> None:
    bot = await start_bot()
    request = tg.user_sends(command, user_id=USER)
    reply = await tg.wait_for_call("sendMessage")
    assert expected in reply.result["text"]
    assert reply.params["reply_parameters"]["message_id"] == request["message_id"]
    await asyncio.sleep(0.2)
    assert creates(emulator) == []
    assert await used_today(bot) == 0


async def test_commands_for_other_bots_and_edits_are_ignored(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    tg.user_sends("/video@OtherBot a jellyfish", user_id=USER)
    earlier = tg.user_sends("/help", user_id=USER)
    await tg.wait_for_call("sendMessage")
    tg.user_edits(earlier, "/video an edited request")
    tg.user_sends("/video@LumaTestBot a group style command", user_id=USER)
    await tg.wait_for_video(timeout=15)
    await asyncio.sleep(0.2)
    bodies = [r.json for r in creates(emulator)]
    assert bodies == [{"prompt": "a group style command", "aspect_ratio": "16:9"}]


async def test_help_explains_usage_and_quota_left(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(daily_quota=3)
    tg.user_sends("/video a quick one", user_id=USER)
    await tg.wait_for_video(timeout=15)
    tg.user_sends("/start", user_id=USER)
    reply = await tg.wait_for_call("sendMessage", lambda c: "/video" in c.result["text"])
    assert "--ar" in reply.result["text"] and "--loop" in reply.result["text"]
    assert "2 of 3 videos today" in reply.result["text"]


async def test_command_menu_is_registered_at_start(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    await tg.wait_until(lambda: len(tg.calls_of("setMyCommands")) == 2)
    english, russian = tg.calls_of("setMyCommands")
    names = ["video", "story", "extend", "cancel", "quota", "history", "help"]
    assert [c["command"] for c in english.params["commands"]] == names
    assert "language_code" not in english.params
    assert russian.params["language_code"] == "ru"
    assert russian.params["commands"][0]["description"].startswith("Создать")


async def test_rate_limited_create_stays_queued_and_succeeds(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.inject_fault(route="create", status=429, retry_after=0.2, count=1)
    await start_bot()
    tg.user_sends("/video patient jellyfish", user_id=USER)
    await tg.wait_for_video(timeout=15)
    assert len(creates(emulator)) == 2  # refused once, then accepted


async def test_create_without_an_answer_is_never_resent(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.inject_fault(route="create", kind="drop", count=1)
    bot = await start_bot()
    tg.user_sends("/video an expensive jellyfish", user_id=USER)
    notice = await tg.wait_for_call(
        "editMessageText", lambda c: "did not confirm" in c.params["text"], timeout=15
    )
    assert "refunded" in notice.params["text"]
    await asyncio.sleep(0.5)
    assert len(creates(emulator)) == 1
    assert await used_today(bot) == 0


async def test_read_errors_are_retried_until_the_video_arrives(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.inject_fault(route="fetch", status=503, count=2)
    await start_bot()
    tg.user_sends("/video resilient jellyfish", user_id=USER)
    await tg.wait_for_video(timeout=20)


async def test_rejected_api_key_is_explained_and_refunded(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.api_keys = frozenset({"some-other-key"})
    bot = await start_bot()
    tg.user_sends("/video a jellyfish", user_id=USER)
    notice = await tg.wait_for_call(
        "editMessageText", lambda c: "unavailable" in c.params["text"], timeout=15
    )
    assert "refunded" in notice.params["text"]
    assert await used_today(bot) == 0


async def test_secrets_never_reach_the_video_api_or_the_logs(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await start_bot(luma_api_family="aiml-v2")
    tg.user_sends("/video a jellyfish [fail]", user_id=USER)
    tg.user_sends("/video a jellyfish in space", user_id=USER)
    await tg.wait_for_video(timeout=15)
    outgoing = json.dumps(
        [[r.method, r.path, str(r.query), dict(r.headers), r.body] for r in emulator.requests]
    )
    assert BOT_TOKEN not in outgoing
    assert BOT_TOKEN.split(":")[1] not in outgoing
    assert "/file/bot" not in outgoing
    assert "httpx" in caplog.text or "telegram" in caplog.text  # the logs did capture traffic
    assert BOT_TOKEN not in caplog.text
    assert API_KEY not in caplog.text
    # The video API did receive its own key, as a bearer token only.
    api_calls = [r for r in emulator.requests if not r.path.startswith("/files/")]
    assert all(r.headers.get("Authorization") == f"Bearer {API_KEY}" for r in api_calls)


async def test_prompts_with_markup_characters_are_shown_verbatim(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    tg.user_sends('/video a <b>bold</b> cat & a dog\'s "tale"', user_id=USER)
    sent = await tg.wait_for_video(timeout=15)
    assert 'a <b>bold</b> cat & a dog\'s "tale"' in sent.result["caption"]
    status = tg.calls_of("sendMessage")[0]
    assert status.ok and "<b>bold</b> cat &" in status.result["text"]
    (create,) = creates(emulator)
    assert create.json["prompt"] == 'a <b>bold</b> cat & a dog\'s "tale"'
