"""Flood limits of the fake Bot API (playground/fake_telegram.py, ``flood_limits=True``).

Driven over real HTTP (aiohttp, and PTB's Bot without a rate limiter). Most tests use a fake
clock for the buckets, so they wait for nothing; one waits the advertised second for real.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import Bot
from telegram.error import RetryAfter

from playground.fake_telegram import FLOOD_COUNTED, FakeTelegram, FloodRefusal

TOKEN = "123456:TEST-fake-token-for-tests-0000000000"
ANN = 1001
GROUP = -100123


class Clock:
    """A fake ``flood_clock``: time moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    # Reading RetryAfter.retry_after warns otherwise (an error under pyproject's filterwarnings).
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession, tg: FakeTelegram, method: str, **params: Any
) -> tuple[int, dict]:
    data = {k: str(v) for k, v in params.items()}
    async with http.post(f"{tg.root}/bot{tg.token}/{method}", data=data) as resp:
        return resp.status, await resp.json()


async def send(
    http: aiohttp.ClientSession, tg: FakeTelegram, chat_id: int | str, text: str = "hi"
) -> tuple[int, dict]:
    return await call(http, tg, "sendMessage", chat_id=chat_id, text=text)


def too_many(retry_after: int) -> dict:
    return {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }


async def test_off_by_default(http: aiohttp.ClientSession) -> None:
    async with FakeTelegram(token=TOKEN) as tg:
        assert tg.flood_limits is False
        tg.add_chat(ANN)
        tg.add_chat(GROUP, "supergroup")
        for i in range(40):
            assert (await send(http, tg, ANN, f"m{i}"))[0] == 200
            assert (await send(http, tg, GROUP, f"g{i}"))[0] == 200
        assert tg.flood_refusals == [] and tg.flood_refusal_count == 0


async def test_private_chat_burst_then_429_then_ok_after_retry_after(
    http: aiohttp.ClientSession,
) -> None:
    """Real clock: a burst of 3, the 4th gets Telegram's exact 429 answer; after waiting the
    advertised second one more goes through (the refused call used up nothing), then 429 again."""
    async with FakeTelegram(token=TOKEN, flood_limits=True) as tg:
        tg.add_chat(ANN)
        for i in range(3):
            assert (await send(http, tg, ANN, f"m{i}"))[0] == 200
        status, body = await send(http, tg, ANN, "m3")
        assert (status, body) == (429, too_many(1))
        assert tg.calls[-1].response == too_many(1) and not tg.calls[-1].ok
        (refusal,) = tg.flood_refusals
        assert isinstance(refusal, FloodRefusal)
        assert refusal[:3] == ("sendMessage", ANN, 1) and refusal.at > 0
        assert tg.flood_refusal_count == 1
        await asyncio.sleep(body["parameters"]["retry_after"])
        assert (await send(http, tg, ANN, "m3 again"))[0] == 200
        assert (await send(http, tg, ANN, "m4"))[0] == 429
        assert tg.flood_refusal_count == 2
        assert [m["text"] for m in tg.bot_messages(ANN)] == ["m0", "m1", "m2", "m3 again"]


async def test_ptb_bot_without_rate_limiter_gets_retry_after() -> None:
    async with FakeTelegram(token=TOKEN, flood_limits=True, flood_clock=Clock()) as tg:
        tg.add_chat(ANN)
        async with Bot(TOKEN, base_url=f"{tg.root}/bot") as bot:
            for _ in range(3):
                await bot.send_message(ANN, "hi")
            with pytest.raises(RetryAfter) as err:
                await bot.send_message(ANN, "hi")
            assert err.value.retry_after == dtm.timedelta(seconds=1)


async def test_retry_after_is_the_whole_seconds_until_a_token(http: aiohttp.ClientSession) -> None:
    clock = Clock()
    async with FakeTelegram(
        token=TOKEN,
        flood_limits=True,
        flood_clock=clock,
        flood_per_chat_per_second=0.25,
        flood_per_chat_burst=1,
        flood_slack=0,
    ) as tg:
        tg.add_chat(ANN)
        assert (await send(http, tg, ANN))[0] == 200
        assert await send(http, tg, ANN) == (429, too_many(4))
        clock.advance(1.2)
        assert await send(http, tg, ANN) == (429, too_many(3))  # 2.8 s left: rounded up
        clock.advance(2.7)
        assert await send(http, tg, ANN) == (429, too_many(1))  # 0.1 s left: at least 1
        clock.advance(0.1)
        assert (await send(http, tg, ANN))[0] == 200
        assert [r.retry_after for r in tg.flood_refusals] == [4, 3, 1]
        assert [r.at for r in tg.flood_refusals] == pytest.approx([1000.0, 1001.2, 1003.9])


async def test_edits_count_in_the_same_chat_bucket(http: aiohttp.ClientSession) -> None:
    clock = Clock()
    async with FakeTelegram(token=TOKEN, flood_limits=True, flood_clock=clock) as tg:
        tg.add_chat(ANN)
        status, body = await send(http, tg, ANN, "0%")
        message_id = body["result"]["message_id"]
        assert status == 200
        for text in ("10%", "20%"):
            status, _ = await call(
                http, tg, "editMessageText", chat_id=ANN, message_id=message_id, text=text
            )
            assert status == 200
        status, body = await call(
            http, tg, "editMessageText", chat_id=ANN, message_id=message_id, text="30%"
        )
        assert (status, body) == (429, too_many(1))
        assert tg.flood_refusals[0][:3] == ("editMessageText", ANN, 1)
        assert tg.bot_messages(ANN)[0]["text"] == "20%"
        clock.advance(1)
        status, _ = await call(
            http, tg, "editMessageText", chat_id=ANN, message_id=message_id, text="30%"
        )
        assert status == 200


async def test_failed_calls_use_no_budget(http: aiohttp.ClientSession) -> None:
    async with FakeTelegram(
        token=TOKEN, flood_limits=True, flood_clock=Clock(), flood_per_chat_burst=2
    ) as tg:
        tg.add_chat(ANN)
        status, body = await send(http, tg, ANN, "same")
        assert status == 200
        mid = body["result"]["message_id"]
        for _ in range(3):  # 400 "message is not modified": refunded
            status, body = await call(
                http, tg, "editMessageText", chat_id=ANN, message_id=mid, text="same"
            )
            assert status == 400 and "not modified" in body["description"]
        status, _ = await call(http, tg, "editMessageText", chat_id=ANN, message_id=mid, text="new")
        assert status == 200
        assert (await send(http, tg, ANN))[0] == 429
        assert tg.flood_refusal_count == 1


async def test_overall_limit_across_many_chats(http: aiohttp.ClientSession) -> None:
    clock = Clock()
    async with FakeTelegram(
        token=TOKEN, flood_limits=True, flood_clock=clock, flood_overall_per_second=5
    ) as tg:
        chats = [ANN + i for i in range(7)]
        for chat in chats:
            tg.add_chat(chat)
        tg.add_chat(GROUP, "supergroup")
        for chat in chats[:4]:
            assert (await send(http, tg, chat))[0] == 200
        assert (await send(http, tg, GROUP))[0] == 200  # groups count toward it too
        assert await send(http, tg, chats[4]) == (429, too_many(1))
        assert await send(http, tg, GROUP) == (429, too_many(1))
        assert [(r.chat_id, r.retry_after) for r in tg.flood_refusals] == [
            (chats[4], 1),
            (GROUP, 1),
        ]
        clock.advance(0.2)  # 5/s: one more token
        assert (await send(http, tg, chats[4]))[0] == 200
        assert (await send(http, tg, chats[5]))[0] == 429
        # A paid broadcast skips the overall limit (not the per-chat one).
        status, _ = await call(
            http, tg, "sendMessage", chat_id=chats[6], text="paid", allow_paid_broadcast="true"
        )
        assert status == 200


async def test_group_limit_per_minute(http: aiohttp.ClientSession) -> None:
    clock = Clock()
    async with FakeTelegram(token=TOKEN, flood_limits=True, flood_clock=clock) as tg:
        tg.add_chat(GROUP, "supergroup")
        tg.add_chat(-100456, "group")
        tg.add_chat(-100789, "channel", username="news")
        tg.add_chat(ANN)
        for i in range(20):  # a burst of 20 in one group (as PTB's AIORateLimiter allows)
            assert (await send(http, tg, GROUP, f"g{i}"))[0] == 200
        assert await send(http, tg, GROUP) == (429, too_many(3))  # 20/min: one every 3 s
        assert (await send(http, tg, -100456))[0] == 200  # other groups have their own budget
        assert (await send(http, tg, ANN))[0] == 200
        clock.advance(2)
        assert await send(http, tg, GROUP) == (429, too_many(1))
        clock.advance(1)
        assert (await send(http, tg, GROUP))[0] == 200
        assert (await send(http, tg, GROUP))[0] == 429
        # A channel by @username is a group too, and shares its bucket with the numeric id.
        for _ in range(19):
            assert (await send(http, tg, "@news"))[0] == 200
        assert (await send(http, tg, -100789))[0] == 200
        assert await send(http, tg, "@news") == (429, too_many(3))
        assert tg.flood_refusals[-1][:3] == ("sendMessage", "@news", 3)


async def test_uncounted_methods_are_never_refused(http: aiohttp.ClientSession) -> None:
    async with FakeTelegram(
        token=TOKEN,
        flood_limits=True,
        flood_clock=Clock(),
        flood_overall_per_second=1,
        flood_per_chat_burst=1,
    ) as tg:
        tg.add_chat(ANN)
        status, body = await send(http, tg, ANN, "only one")
        assert status == 200
        mid = body["result"]["message_id"]
        assert (await send(http, tg, ANN))[0] == 429  # the budget is gone ...
        photo_id = tg.add_file(b"\xff\xd8jpeg", "photos/p.jpg")
        query = tg.press_button({"chat": {"id": ANN}, "message_id": mid}, "x", crafted=True)
        for _ in range(10):  # ... but these never count
            assert (await call(http, tg, "getMe"))[0] == 200
            assert (await call(http, tg, "sendChatAction", chat_id=ANN, action="typing"))[0] == 200
            assert (await call(http, tg, "getFile", file_id=photo_id))[0] == 200
            assert (await call(http, tg, "getChat", chat_id=ANN))[0] == 200
            assert (await call(http, tg, "getUpdates", timeout=0))[0] == 200
            assert (await call(http, tg, "getWebhookInfo"))[0] == 200
        assert (await call(http, tg, "answerCallbackQuery", callback_query_id=query["id"]))[
            0
        ] == 200
        assert (await call(http, tg, "deleteMessage", chat_id=ANN, message_id=mid))[0] == 200
        assert tg.flood_refusal_count == 1
        assert {"getMe", "getUpdates", "getFile", "answerCallbackQuery"}.isdisjoint(FLOOD_COUNTED)
