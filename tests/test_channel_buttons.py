"""The buttons under the bot's posts in a channel, which every subscriber sees and can press.

Buttons that would make the bot post into the channel ("Again", "Extend", a /history list's) work
only for the channel's creator and administrators, as getChatMember says at the moment of the
press; anyone else, or anyone at all when Telegram cannot say, gets an alert and nothing is
charged or posted. An admin's "Again" is paid by the admin, as any press is. "Cancel" stays with
whoever pays for the job. (Groups are unchanged: tests/test_extend.py.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.domain.model import JobState
from playground.fake_telegram import Call, FakeTelegram
from tests.quota import quota_used

CHANNEL = -100777
ADMIN = 2002
SUBSCRIBER = 3003
ADMINS_ONLY = "Only the channel's admins can use these buttons."


async def used(bot: Any, payer: int) -> int:
    return await quota_used(bot.runtime.repository, payer)


async def channel_video(tg: FakeTelegram, bot: Any) -> dict:
    """A video the bot posted in the channel for the channel's own /video post, once recorded
    as delivered (its buttons answer from then on)."""
    tg.set_chat_member(CHANNEL, ADMIN, "administrator")
    tg.set_chat_member(CHANNEL, SUBSCRIBER, "member")
    tg.channel_posts("/video a jellyfish for subscribers", chat_id=CHANNEL)
    video = (await tg.wait_for_video(timeout=15)).result
    await bot.delivered(video)
    return video


async def alert_for(tg: FakeTelegram, query: dict) -> Call:
    answer = await tg.wait_for_call(
        "answerCallbackQuery", lambda c: c.params["callback_query_id"] == query["id"], timeout=15
    )
    assert str(answer.params.get("show_alert")).lower() == "true"
    return answer


async def assert_refused(tg: FakeTelegram, bot: Any, query: dict, posts: int) -> None:
    """The press got the admins-only alert; no job, no charge, no post in the channel."""
    assert (await alert_for(tg, query)).params["text"] == ADMINS_ONLY
    assert await bot.runtime.repository.get_job(2) is None
    assert await used(bot, SUBSCRIBER) == await used(bot, ADMIN) == 0
    assert len(tg.bot_messages(CHANNEL)) == posts


@pytest.mark.parametrize("data", ["a:1", "x:1"])
async def test_a_subscriber_cannot_make_the_bot_post_in_the_channel(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], data: str
) -> None:
    bot = await start_bot()
    video = await channel_video(tg, bot)
    posts = len(tg.bot_messages(CHANNEL))
    query = tg.press_button(video, data, user_id=SUBSCRIBER)
    await assert_refused(tg, bot, query, posts)
    assert [r for r in emulator.requests if r.method == "POST"][1:] == []


async def test_the_channels_admin_presses_again_and_pays_for_it(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    video = await channel_video(tg, bot)
    query = tg.press_button(video, "a:1", user_id=ADMIN)
    again = await tg.wait_for_video(count=2, timeout=15)
    assert again.result["chat"]["id"] == CHANNEL
    job = await bot.runtime.repository.get_job(2)
    assert job is not None and job.user_id == ADMIN and job.payer_id == ADMIN
    assert (await used(bot, ADMIN), await used(bot, CHANNEL)) == (1, 1)
    answer = await tg.wait_for_call(
        "answerCallbackQuery", lambda c: c.params["callback_query_id"] == query["id"]
    )
    assert answer.params["text"] == "Making it again…"


async def test_the_channels_creator_presses_extend_and_is_told_how(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # A ForceReply prompt cannot be answered in a channel: its admins reply to the post instead.
    bot = await start_bot()
    video = await channel_video(tg, bot)
    tg.set_chat_member(CHANNEL, ADMIN, "creator")
    query = tg.press_button(video, "x:1", user_id=ADMIN)
    assert "reply to the video post with /extend" in (await alert_for(tg, query)).params["text"]


async def test_a_demoted_admin_is_refused_at_once(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # Admin status is asked at every press, never remembered; this holds for a /history "send
    # again" too, which needs no quota: crafted data naming the video the admin once made.
    bot = await start_bot()
    video = await channel_video(tg, bot)
    tg.press_button(video, "a:1", user_id=ADMIN)
    second = (await tg.wait_for_video(count=2, timeout=15)).result
    await bot.delivered(second)
    await tg.wait_for_call("sendMessage", lambda c: "ready" in c.params["text"])  # the admin's
    tg.set_chat_member(CHANNEL, ADMIN, "member")
    posts = len(tg.bot_messages(CHANNEL))
    for data in ("a:2", "hr:2"):
        query = tg.press_button(second, data, user_id=ADMIN, crafted=data == "hr:2")
        assert (await alert_for(tg, query)).params["text"] == ADMINS_ONLY
    assert await bot.runtime.repository.get_job(3) is None
    assert await used(bot, ADMIN) == 1
    assert len(tg.bot_messages(CHANNEL)) == posts


@pytest.mark.parametrize(
    ("code", "description"),
    [(400, "Bad Request: user not found"), (400, "Bad Request: chat not found"), (502, None)],
)
async def test_when_telegram_cannot_say_who_administers_the_channel_the_press_is_refused(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    code: int,
    description: str | None,
) -> None:
    bot = await start_bot()
    video = await channel_video(tg, bot)
    posts = len(tg.bot_messages(CHANNEL))
    tg.fail_next("getChatMember", code, description)
    query = tg.press_button(video, "a:1", user_id=ADMIN)
    await assert_refused(tg, bot, query, posts)
    assert not tg.calls_of("getChatMember")[-1].ok


async def test_a_subscriber_cannot_cancel_the_channels_video(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # Cancel posts nothing new: it stays with the payer (here the channel), checked as before.
    emulator.config.dream_seconds = 30
    bot = await start_bot()
    tg.set_chat_member(CHANNEL, SUBSCRIBER, "member")
    tg.channel_posts("/video a very long jellyfish", chat_id=CHANNEL)
    status = (await tg.wait_for_call("sendMessage", lambda c: "reply_markup" in c.params)).result
    query = tg.press_button(status, "c:1", user_id=SUBSCRIBER, crafted=True)
    answer = await alert_for(tg, query)
    assert answer.params["text"] == "Only the person who asked for this video can cancel it."
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.state is not JobState.FAILED
    assert tg.calls_of("getChatMember") == []
