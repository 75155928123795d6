"""The fake Bot API's inline mode: ``user_sends_inline_query`` queues what Telegram sends, and
``answerInlineQuery`` is checked as Telegram checks it, through PTB's own client and raw HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import (
    Bot,
    InlineQueryResultArticle,
    InlineQueryResultCachedVideo,
    InputTextMessageContent,
)
from telegram.error import BadRequest

from bot.telegram.transport import AiohttpRequest
from playground.fake_telegram import FakeTelegram

TOKEN = "123456:TEST-fake-token-for-tests-0000000000"
ANN = 1001
OPTIONS = ("cache_time", "is_personal", "next_offset", "button")


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN, bot_username="LumaTestBot") as fake:
        yield fake


@pytest.fixture(params=["httpx", "aiohttp"])
async def bot(tg: FakeTelegram, request: pytest.FixtureRequest) -> AsyncIterator[Bot]:
    transport = {"request": AiohttpRequest()} if request.param == "aiohttp" else {}
    async with Bot(
        TOKEN, base_url=f"{tg.root}/bot", base_file_url=f"{tg.root}/file/bot", **transport
    ) as b:
        yield b


async def api(tg: FakeTelegram, method: str, **params: Any) -> tuple[int, dict]:
    """A raw Bot API call (JSON body): the HTTP status and the whole answer."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{tg.root}/bot{tg.token}/{method}", json=params) as resp,
    ):
        return resp.status, await resp.json()


def cached(result_id: str, file_id: str, **extra: Any) -> dict:
    return {"type": "video", "id": result_id, "video_file_id": file_id, "title": "t", **extra}


async def test_an_inline_query_arrives_as_telegram_sends_it(tg: FakeTelegram, bot: Bot) -> None:
    sent = tg.user_sends_inline_query("glass whale", user_id=ANN, offset="50")
    assert sent["query"] == "glass whale" and sent["offset"] == "50"
    assert sent["chat_type"] == "sender" and sent["from"]["id"] == ANN
    tg.user_sends_inline_query("", user_id=2002, chat_type=None, language_code="ru")
    updates = await bot.get_updates(timeout=0)
    first, second = (u.inline_query for u in updates)
    assert first is not None and second is not None
    assert first.id == sent["id"] and first.query == "glass whale" and first.offset == "50"
    assert first.from_user.id == ANN and first.chat_type == "sender"
    assert second.query == "" and second.chat_type is None
    assert second.from_user.language_code == "ru"
    with pytest.raises(ValueError, match="256"):
        tg.user_sends_inline_query("x" * 257)
    with pytest.raises(ValueError, match="chat_type"):
        tg.user_sends_inline_query("x", chat_type="secret")


async def test_inline_queries_follow_allowed_updates(tg: FakeTelegram, bot: Bot) -> None:
    tg.user_sends_inline_query("cats")
    assert await bot.get_updates(timeout=0, allowed_updates=["message"]) == ()
    tg.user_sends_inline_query("dogs")
    updates = await bot.get_updates(timeout=0, allowed_updates=["inline_query"])
    assert [u.inline_query.query for u in updates if u.inline_query] == ["dogs"]


async def test_answer_inline_query_with_cached_videos_is_recorded(
    tg: FakeTelegram, bot: Bot
) -> None:
    video = tg.add_file(b"\x00\x00\x00\x18ftypmp42" + bytes(100), "videos/a.mp4")
    query = tg.user_sends_inline_query("whale", user_id=ANN)
    results = [
        InlineQueryResultCachedVideo(
            id="7",
            video_file_id=video,
            title="a glass whale",
            description="2025-01-01 · 16:9",
            caption="🎬 <b>a glass whale</b>",
            parse_mode="HTML",
        )
    ]
    assert await bot.answer_inline_query(
        query["id"], results, cache_time=30, is_personal=True, next_offset="50"
    )
    (answer,) = tg.inline_answers
    assert answer.inline_query_id == query["id"] and answer.user_id == ANN
    assert answer.query == "whale" and answer.offset == ""
    assert answer.ids == ["7"] and answer.file_ids == [video]
    assert answer.results[0]["title"] == "a glass whale"
    assert answer.cache_time == 30 and answer.is_personal is True and answer.next_offset == "50"
    assert tg.calls_of("answerInlineQuery")[0].ok

    # Answered once: a second answer, or one to a query never sent, is "too old".
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_inline_query(query["id"], [])
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_inline_query("123", [])

    # An empty answer, with Telegram's defaults.
    empty = tg.user_sends_inline_query("nothing")
    assert await bot.answer_inline_query(empty["id"], [])
    last = tg.inline_answers[-1]
    assert last.results == [] and last.cache_time is None
    assert last.is_personal is False and last.next_offset == ""


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"results": "many"}, "51 results"),
        ({"results": "duplicate"}, "RESULT_ID_DUPLICATE"),
        ({"id": "x" * 65}, "RESULT_ID_INVALID"),
        ({"id": ""}, "RESULT_ID_INVALID"),
        ({"id": 7}, "RESULT_ID_INVALID"),
        ({"title": None}, "RESULT_TITLE_EMPTY"),
        ({"title": "  "}, "RESULT_TITLE_EMPTY"),
        ({"video_file_id": "fake-video-999-AgADBAAD"}, "wrong file identifier"),
        ({"video_file_id": "photo"}, "can't use file of type Photo as Video"),
        ({"thumb_url": "http://x"}, "unknown field thumb_url"),
        ({"caption": "<b>open", "parse_mode": "HTML"}, "can't parse entities"),
        ({"caption": "x" * 1025}, "message caption is too long"),
        ({"cache_time": -1}, "CACHE_TIME_INVALID"),
        ({"cache_time": "soon"}, "invalid cache_time"),
        ({"is_personal": "maybe"}, "is_personal"),
        ({"next_offset": "9" * 65}, "NEXT_OFFSET_INVALID"),
        ({"button": {"text": "Open"}}, "button"),
        ({"type": "article"}, "not emulated"),
        ({"type": None}, 'field "type"'),
    ],
)
async def test_answer_inline_query_is_checked_like_telegram(
    tg: FakeTelegram, change: dict[str, Any], error: str
) -> None:
    video = tg.add_file(b"video-bytes", "videos/a.mp4")
    photo = tg.add_file(b"\xff\xd8photo", "photos/a.jpg")
    query = tg.user_sends_inline_query("x")
    change = dict(change)
    options = {k: change.pop(k) for k in OPTIONS if k in change}
    result = cached("1", video)
    shape = change.pop("results", None)
    for key, value in change.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = photo if value == "photo" else value
    results = [result]
    if shape == "many":
        results = [cached(str(n), video) for n in range(51)]
        error = "RESULTS_TOO_MUCH"
    elif shape == "duplicate":
        results = [cached("1", video), cached("1", video)]
    status, body = await api(
        tg, "answerInlineQuery", inline_query_id=query["id"], results=results, **options
    )
    assert status == 400 and not body["ok"], body
    assert error in body["description"], body
    assert tg.inline_answers == []
    # A refused answer leaves the query open: a correct one is still taken.
    status, body = await api(tg, "answerInlineQuery", inline_query_id=query["id"], results=[])
    assert status == 200 and body["ok"]


async def test_results_limit_and_ptb_article_results(tg: FakeTelegram, bot: Bot) -> None:
    video = tg.add_file(b"video-bytes", "videos/a.mp4")
    query = tg.user_sends_inline_query("x")
    fifty = [cached(str(n), video) for n in range(50)]
    status, body = await api(
        tg, "answerInlineQuery", inline_query_id=query["id"], results=fifty, cache_time=0
    )
    assert status == 200 and body["ok"] and len(tg.inline_answers[0].results) == 50
    # Kinds of result the bot never sends are refused, not passed unchecked.
    other = tg.user_sends_inline_query("y")
    article = InlineQueryResultArticle("a", "title", InputTextMessageContent("hi"))
    with pytest.raises(BadRequest, match="not emulated"):
        await bot.answer_inline_query(other["id"], [article])
