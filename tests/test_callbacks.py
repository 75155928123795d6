"""Provider callbacks and deletes on Luma's own API (LUMA_API_FAMILY=luma), end to end.

The emulator posts the Generation object to the job's signed callback URL on every change of
state, as Luma does; polling is slowed to a fallback meanwhile. These tests show a callback ends
the wait at once (no poll needed), a lost one is covered by polling, a repeated one is harmless,
and a forged one is refused. Also: /cancel deletes the generation at Luma."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import aiohttp

from bot.generations import utc_day
from storage.base import JobState
from tests.conftest import assert_token_never_sent, free_port
from tests.fakes.telegram_api import FakeTelegram

USER = 1001
LUMA_PATH = "/dream-machine/v1"


async def start_luma(start_bot: Callable[..., Any], emulator: Any, **overrides: Any) -> Any:
    return await start_bot(
        public=True,
        luma_api_family="luma",
        luma_api_url=emulator.url + LUMA_PATH,
        **overrides,
    )


def polls(emulator: Any) -> list[Any]:
    """GETs of one generation: the bot's status checks."""
    return [
        r for r in emulator.requests if r.method == "GET" and r.path.startswith(f"{LUMA_PATH}/gen")
    ]


def create_body(emulator: Any) -> dict[str, Any]:
    (create,) = [r for r in emulator.requests if r.method == "POST"]
    return create.json


async def used(bot: Any) -> int:
    return await bot.runtime.repository.quota_used(USER, utc_day(time.time()))


async def test_a_callback_delivers_the_video_without_waiting_for_a_poll(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # Polls would come every 10 s x 6: the video can only arrive this soon through a callback.
    bot = await start_luma(start_bot, emulator, luma_poll_interval=10)
    tg.user_sends("/video a jellyfish in space", user_id=USER)
    await tg.wait_for_video(timeout=15)
    body = create_body(emulator)
    assert body["callback_url"].startswith(f"{bot.runtime.settings.public_url}/callbacks/")
    assert body["model"] == "ray-2"
    assert polls(emulator) == []
    states = [attempt.state for attempt in emulator.callbacks]
    assert states == ["dreaming", "completed"]
    assert all(attempt.status == 200 for attempt in emulator.callbacks)
    assert_token_never_sent(emulator)


async def test_lost_callbacks_are_covered_by_polling(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.drop_callbacks = True
    await start_luma(start_bot, emulator)
    tg.user_sends("/video a jellyfish nobody calls back about", user_id=USER)
    await tg.wait_for_video(timeout=15)
    assert polls(emulator), "the video came by polling"
    assert emulator.callbacks and all(attempt.dropped for attempt in emulator.callbacks)


async def test_repeated_callbacks_deliver_one_video(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.callback_repeats = 3
    await start_luma(start_bot, emulator, luma_poll_interval=10)
    tg.user_sends("/video a jellyfish, thrice announced", user_id=USER)
    await tg.wait_for_video(timeout=15)
    await tg.wait_until(lambda: len(emulator.callbacks) == 6)
    await tg.wait_for_call("sendMessage", lambda c: "ready" in c.result["text"])
    assert len(tg.videos()) == 1
    assert len([c for c in tg.calls_of("sendMessage") if "ready" in c.result["text"]]) == 1


async def test_a_failure_by_callback_is_told_and_refunded(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_luma(start_bot, emulator, luma_poll_interval=10)
    tg.user_sends("/video a forbidden scene [fail]", user_id=USER)
    notice = await tg.wait_for_call(
        "editMessageText", lambda c: "refunded" in c.params["text"], timeout=15
    )
    assert "moderation failed" in notice.params["text"]
    assert polls(emulator) == []
    assert await used(bot) == 0


async def test_forged_unknown_and_mismatched_callbacks_are_refused(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_luma(start_bot, emulator, luma_poll_interval=10)
    tg.user_sends("/video a lighthouse", user_id=USER)
    await tg.wait_for_video(timeout=15)
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.remote_id is not None
    signer = bot.runtime.signer
    real_link = create_body(emulator)["callback_url"]
    later = time.time() + 3600
    completed = {"id": job.remote_id, "state": "completed", "assets": {"video": "http://x/v.mp4"}}
    cases = [
        (real_link + "x", completed, 404),  # a tampered signature
        (signer.callback_link(999, expires=later), completed, 404),  # no such job
        (signer.callback_link(1, expires=time.time() - 1), completed, 404),  # expired
        (real_link, {**completed, "id": "00000000-0000-4000-8000-000000000000"}, 404),
        (real_link, {"unexpected": True}, 400),
        (real_link, completed, 200),  # a late repeat for a delivered job: acknowledged
    ]
    async with aiohttp.ClientSession() as http:
        for url, payload, status in cases:
            async with http.post(url, json=payload) as response:
                assert response.status == status, (url, payload)
    assert len(tg.videos()) == 1


async def test_cancel_deletes_the_generation_at_luma_and_refunds(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.dream_seconds = 30
    bot = await start_luma(start_bot, emulator)
    tg.user_sends("/video a very long jellyfish", user_id=USER)
    repository = bot.runtime.repository

    await tg.wait_until(
        lambda: any(g.state.value == "dreaming" for g in emulator.generations.values())
    )
    # The status keeps its Cancel button while the video is being made.
    edit = await tg.wait_for_call("editMessageText", lambda c: "reply_markup" in c.params)
    (cancel,) = edit.params["reply_markup"]["inline_keyboard"][0]
    status = tg.calls_of("sendMessage")[0].result
    tg.press_button(status, cancel["callback_data"], user_id=USER)
    await tg.wait_for_call("editMessageText", lambda c: "service stopped" in c.params["text"])
    (generation,) = emulator.generations.values()
    deletes = [r for r in emulator.requests if r.method == "DELETE"]
    assert [r.path for r in deletes] == [f"{LUMA_PATH}/generations/{generation.id}"]
    job = await repository.get_job(1)
    assert job is not None and job.state is JobState.FAILED and job.failure_code == "cancelled"
    assert await used(bot) == 0
    await tg.wait_until(lambda: bot.runtime.worker.in_flight == 0)
    assert tg.videos() == []
    # Nothing overwrote the cancellation notice.
    last_edit = tg.calls_of("editMessageText")[-1]
    assert "service stopped" in last_edit.params["text"]


async def test_after_a_restart_the_callback_still_reaches_the_job(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.dream_seconds = 1.5
    port = free_port()
    where = {"port": port, "public_url": f"http://127.0.0.1:{port}", "luma_poll_interval": 10}
    first = await start_luma(start_bot, emulator, **where)
    tg.user_sends("/video a jellyfish that outlives the bot", user_id=USER)
    await tg.wait_until(lambda: any(a.state == "dreaming" for a in emulator.callbacks))
    await first.stop()
    second = await start_luma(start_bot, emulator, **where)
    await tg.wait_for_video(timeout=15)
    await tg.wait_for_call("sendMessage", lambda c: "ready" in c.result["text"])  # recorded
    assert polls(emulator) == []  # the signed link outlived the process that made it
    job = await second.runtime.repository.get_job(1)
    assert job is not None and job.state is JobState.DELIVERED
