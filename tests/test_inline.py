"""Inline sharing: `@LumaTestBot <words>` in any chat lists the user's own delivered videos whose
prompt holds every word (the newest when empty), as cached videos by file_id, personal and
cached briefly, fifty a page; through the fake Bot API, which checks `answerInlineQuery` as
Telegram does. Each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.domain.model import Job
from playground.fake_telegram import FakeTelegram, InlineAnswer
from tests.test_history import GROUP, IN_GROUP, OTHER_USER, USER, creates, make_videos, used
from tests.test_story import story_job


async def inline(
    tg: FakeTelegram, query: str, user_id: int = USER, offset: str = "", **more: Any
) -> InlineAnswer:
    """Type `@LumaTestBot <query>` as `user_id`; the bot's accepted answer."""
    sent = tg.user_sends_inline_query(query, user_id=user_id, offset=offset, **more)
    answer: InlineAnswer = await tg.wait_until(
        lambda: next((a for a in tg.inline_answers if a.inline_query_id == sent["id"]), None)
    )
    return answer


def titles(answer: InlineAnswer) -> list[str]:
    return [result["title"] for result in answer.results]


async def job(bot: Any, job_id: int) -> Job:
    found = await bot.runtime.repository.get_job(job_id)
    assert found is not None
    return found


async def test_words_match_anywhere_in_any_case_and_all_must_appear(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=0, max_active_per_user=10)
    await make_videos(
        bot,
        tg,
        "a Glass whale at dawn",
        "a wooden whale",
        "glass bridges",
        "Рыжий КОТ на крыше",
        user_id=USER,
    )
    posts, quota = len(creates(emulator)), await used(bot)

    answer = await inline(tg, "WHALE glass")
    assert titles(answer) == ["a Glass whale at dawn"]
    (result,) = answer.results
    first = await job(bot, 1)
    assert result["type"] == "video" and result["id"] == "1"
    assert result["video_file_id"] == first.video_file_id
    assert "a Glass whale at dawn" in result["caption"] and first.remote_id in result["caption"]
    assert result["description"].endswith("16:9") and " UTC · " in result["description"]
    assert answer.is_personal is True and answer.cache_time == 30 and answer.next_offset == ""

    assert titles(await inline(tg, "whale")) == ["a wooden whale", "a Glass whale at dawn"]
    assert titles(await inline(tg, "  glass   ")) == ["glass bridges", "a Glass whale at dawn"]
    assert titles(await inline(tg, "кот рыжий")) == ["Рыжий КОТ на крыше"]  # not only ASCII
    assert titles(await inline(tg, "whale submarine")) == []
    assert all(call.ok for call in tg.calls_of("answerInlineQuery"))
    # Posting by file_id costs nothing: no new request to the video API, no quota.
    assert len(creates(emulator)) == posts and await used(bot) == quota


async def test_an_empty_query_lists_the_recent_videos_newest_first(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=0, max_active_per_user=10)
    await make_videos(bot, tg, "first", "second", "third", user_id=USER)
    answer = await inline(tg, "", language_code="ru")
    assert titles(answer) == ["third", "second", "first"]
    assert answer.ids == ["3", "2", "1"]
    assert answer.file_ids == [(await job(bot, n)).video_file_id for n in (3, 2, 1)]
    assert answer.is_personal is True and answer.cache_time == 30


async def test_nobody_sees_anyone_elses_videos_not_even_in_a_shared_group(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=0, max_active_per_user=10)
    await make_videos(bot, tg, "my private fox", user_id=USER)
    await make_videos(bot, tg, "my fox in the group", user_id=USER, **IN_GROUP)
    await make_videos(bot, tg, "their fox in the group", user_id=OTHER_USER, **IN_GROUP)
    await make_videos(bot, tg, "their private fox", user_id=OTHER_USER)

    # The user's own videos from every chat they made them in; none of the other's, though
    # both are in the group the other's video was made in.
    mine = await inline(tg, "fox", chat_type="group")
    assert titles(mine) == ["my fox in the group", "my private fox"]
    assert titles(await inline(tg, "")) == ["my fox in the group", "my private fox"]
    assert titles(await inline(tg, "their")) == []
    theirs = await inline(tg, "fox", user_id=OTHER_USER)
    assert titles(theirs) == ["their private fox", "their fox in the group"]
    assert not set(mine.file_ids) & set(theirs.file_ids)
    # Someone who never made a video gets an empty list, not an error.
    assert (await inline(tg, "fox", user_id=3003)).results == []
    group_video = await job(bot, 3)
    assert group_video.chat_id == GROUP and group_video.user_id == OTHER_USER


async def test_fifty_a_page_then_the_rest_through_next_offset(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=0, max_active_per_user=60)
    await make_videos(bot, tg, *(f"clip {n}" for n in range(52)), user_id=USER)

    first = await inline(tg, "clip")
    assert len(first.results) == 50 and first.next_offset == "50"
    assert first.ids == [str(n) for n in range(52, 2, -1)]
    rest = await inline(tg, "clip", offset=first.next_offset)
    assert rest.ids == ["2", "1"] and rest.next_offset == ""
    assert titles(rest) == ["clip 1", "clip 0"]
    # Exactly one page: no offset to an empty one.
    assert (await inline(tg, "clip", offset="2")).next_offset == ""
    # Offsets the bot never gave list nothing.
    for bogus in ("-1", "abc", "1e3", "٣", "99999999999"):
        answer = await inline(tg, "clip", offset=bogus)
        assert answer.results == [] and answer.next_offset == ""


async def test_like_wildcards_in_a_query_match_literally(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=0, max_active_per_user=10)
    prompts = ("100% wool", "1000 wolves", "snake_case sign", "snakescase sign", "a back\\slash")
    await make_videos(bot, tg, *prompts, user_id=USER)
    assert titles(await inline(tg, "100%")) == ["100% wool"]
    assert titles(await inline(tg, "%")) == ["100% wool"]
    assert titles(await inline(tg, "snake_case")) == ["snake_case sign"]
    assert titles(await inline(tg, "_")) == ["snake_case sign"]
    assert titles(await inline(tg, "\\")) == ["a back\\slash"]
    assert titles(await inline(tg, "k\\s")) == ["a back\\slash"]
    assert titles(await inline(tg, "1%0")) == []


async def test_a_banned_user_gets_an_empty_answer(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=0, max_active_per_user=10)
    await make_videos(bot, tg, "a red kite", user_id=USER)
    assert titles(await inline(tg, "kite")) == ["a red kite"]
    await bot.runtime.repository.set_banned(USER, True, by=None, now=time.time())
    banned = await inline(tg, "kite")
    assert banned.results == [] and banned.next_offset == "" and banned.is_personal is True
    assert (await inline(tg, "")).results == []
    await bot.runtime.repository.set_banned(USER, False, by=None, now=time.time())
    assert titles(await inline(tg, "")) == ["a red kite"]


@pytest.mark.parametrize(
    "query",
    [
        "' OR 1=1 --",
        '"; DROP TABLE generations; --',
        "x') UNION SELECT * FROM users --",
        "$1 $2 ?1 :name %s {}",
        "🐳" * 256,
        "\u202e\u200b\t<b>&amp;</b>",
        " ".join(f"w{n}" for n in range(60)),
    ],
)
async def test_hostile_queries_are_answered_without_error(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], query: str
) -> None:
    bot = await start_bot()
    await make_videos(bot, tg, "a calm lake", user_id=USER)
    answer = await inline(tg, query)
    assert answer.results == [] and answer.is_personal is True
    assert all(call.ok for call in tg.calls_of("answerInlineQuery"))
    # Still there, and still found.
    assert titles(await inline(tg, "calm")) == ["a calm lake"]
    await asyncio.sleep(0)


async def test_a_story_is_one_video_and_its_shots_are_never_listed(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=5)
    tg.user_sends("/story\na paper boat on a puddle\nthe boat drifts into a river", user_id=USER)
    video = await tg.wait_for_video(timeout=30)
    story = await story_job(bot)
    shots = await bot.runtime.repository.story_shots(story.id)
    assert len(shots) == 2
    for query in ("", "boat", "river"):
        answer = await inline(tg, query)
        assert answer.ids == [str(story.id)], query
        assert answer.file_ids == [story.video_file_id]
    assert story.video_file_id == video.result["video"]["file_id"]
    assert answer.results[0]["caption"].startswith("🎞 2 shots")


async def test_help_tells_of_sharing_once_inline_mode_is_on(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    first_bot = await start_bot()
    tg.user_sends("/help", user_id=USER)
    first = await tg.wait_for_call("sendMessage", lambda c: "/video" in c.params["text"])
    assert "Share a video" not in first.params["text"]
    await first_bot.stop()
    tg.supports_inline_queries = True  # /setinline in BotFather; the next start reads getMe
    await start_bot()
    tg.user_sends("/help", user_id=USER)
    await tg.wait_until(lambda: len(tg.calls_of("sendMessage")) == 2)
    second = tg.calls_of("sendMessage")[1]
    assert "type <code>@LumaTestBot </code>" in second.params["text"]
