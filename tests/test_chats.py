"""Where the bot lives: groups (with and without @mention), forum topics and channels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playground.fake_telegram import FakeTelegram
from tests.quota import quota_used

USER = 1001
GROUP = -100123
CHANNEL = -100777
TOPIC = 42


async def used(bot: Any, payer: int) -> int:
    return await quota_used(bot.runtime.repository, payer)


async def test_group_commands_with_and_without_mention_and_for_other_bots(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    where = {"chat_id": GROUP, "chat_type": "supergroup"}
    tg.user_sends("/video@OtherBot not for me", **where)
    tg.user_sends("/video@LumaTestBot a jellyfish", **where)
    tg.user_sends("/video a plain jellyfish", **where)
    await tg.wait_until(lambda: len(tg.videos(GROUP)) == 2, timeout=20)
    prompts = sorted(
        job.prompt for job in [await bot.runtime.repository.get_job(i) for i in (1, 2)] if job
    )
    assert prompts == ["a jellyfish", "a plain jellyfish"]
    assert await bot.runtime.repository.get_job(3) is None  # the other bot's command: silence
    assert await used(bot, USER) == 2


async def test_a_forum_topic_gets_its_answers_in_the_same_topic(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    request = tg.user_sends(
        "/video a jellyfish in a topic",
        chat_id=GROUP,
        chat_type="supergroup",
        message_thread_id=TOPIC,
    )
    await tg.wait_for_video(timeout=15)
    sent = [c for c in tg.calls if c.ok and c.method in ("sendMessage", "sendVideo")]
    assert sent and all(str(c.params.get("message_thread_id")) == str(TOPIC) for c in sent)
    status = sent[0].result
    assert status["reply_to_message"]["message_id"] == request["message_id"]
    assert status["message_thread_id"] == TOPIC


async def test_a_channel_post_makes_a_video_in_the_channel_charged_to_the_channel(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    tg.channel_posts("/video a jellyfish for subscribers", chat_id=CHANNEL)
    video = await tg.wait_for_video(timeout=15)
    assert video.result["chat"]["id"] == CHANNEL and "sender_chat" in video.result
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.user_id is None and job.payer_id == CHANNEL
    assert await used(bot, CHANNEL) == 1
    # Nobody to notify in a channel: no "ready" post under the video.
    assert not any("ready" in c.params.get("text", "") for c in tg.calls_of("sendMessage"))


async def test_extend_as_a_reply_to_the_bots_video_post(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    tg.channel_posts("/video a jellyfish for subscribers", chat_id=CHANNEL)
    first = await tg.wait_for_video(timeout=15)
    await bot.delivered(first.result)
    tg.channel_posts(
        "/extend it swims away", chat_id=CHANNEL, reply_to_message_id=first.result["message_id"]
    )
    await tg.wait_for_video(count=2, timeout=15)
    creates = [r for r in emulator.requests if r.method == "POST"]
    assert creates[1].json["keyframes"]["frame0"]["type"] == "generation"


async def test_a_channel_photo_post_becomes_the_first_frame(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(public=True)
    tg.channel_posts(
        "/video the picture comes alive",
        chat_id=CHANNEL,
        photo_bytes=b"\xff\xd8\xff\xe0" + bytes(900) + b"\xff\xd9",
    )
    await tg.wait_for_video(timeout=15)
    creates = [r for r in emulator.requests if r.method == "POST"]
    assert creates[0].json["keyframes"]["frame0"]["type"] == "image"


async def test_the_channel_quota_is_the_channels_own(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(daily_quota=1)
    tg.channel_posts("/video one", chat_id=CHANNEL)
    await tg.wait_for_video(timeout=15)
    tg.channel_posts("/video two", chat_id=CHANNEL)
    refusal = await tg.wait_for_call(
        "sendMessage", lambda c: "used all 1 free credits" in c.params["text"], timeout=15
    )
    assert str(refusal.params["chat_id"]) == str(CHANNEL)


async def test_the_extend_button_in_a_channel_says_how_to_extend_there(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    tg.set_chat_member(CHANNEL, USER, "administrator")  # anyone else: tests/test_channel_buttons.py
    tg.channel_posts("/video a jellyfish for subscribers", chat_id=CHANNEL)
    video = await tg.wait_for_video(timeout=15)
    await bot.delivered(video.result)
    tg.press_button(video.result, "x:1", user_id=USER)
    alert = await tg.wait_for_call("answerCallbackQuery", timeout=15)
    assert "reply to the video post with /extend" in alert.params["text"]
    assert not any(
        "ForceReply" in str(c.params) or "force_reply" in str(c.params) for c in tg.calls
    )
