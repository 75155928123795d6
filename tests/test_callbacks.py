"""Provider callbacks and deletes on Luma's own API (LUMA_API_FAMILY=luma), end to end.

The emulator posts the Generation object to the job's signed callback URL on every change of
state, as Luma does; polling is slowed to a fallback meanwhile. These tests show a callback ends
the wait at once (one look at the API per callback, no fallback poll needed), a lost one is
covered by polling, a repeated one is harmless, a forged one is refused, and what a callback
carries is never believed: the state and the video come from the bot's own GET. Also: /cancel
deletes the generation at Luma."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from bot.domain.model import JobState
from playground.fake_telegram import FakeTelegram
from tests.conftest import assert_token_never_sent, free_port
from tests.quota import quota_used

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
    return await quota_used(bot.runtime.repository, USER)


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
    # Each callback was one look at the API (fewer if one look already saw the end).
    assert 1 <= len(polls(emulator)) <= len(emulator.callbacks)
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
    assert 1 <= len(polls(emulator)) <= len(emulator.callbacks)
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


async def test_when_luma_refuses_the_delete_the_job_goes_on_and_the_user_is_told(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.dream_seconds = 2
    bot = await start_luma(start_bot, emulator)
    tg.user_sends("/video a jellyfish Luma will not let go", user_id=USER)
    await tg.wait_until(
        lambda: any(g.state.value == "dreaming" for g in emulator.generations.values())
    )
    edit = await tg.wait_for_call("editMessageText", lambda c: "reply_markup" in c.params)
    (cancel,) = edit.params["reply_markup"]["inline_keyboard"][0]
    status = tg.calls_of("sendMessage")[0].result
    emulator.inject_fault("delete", 500, message="Could not delete generation", count=2)

    tg.press_button(status, cancel["callback_data"], user_id=USER)
    answer = await tg.wait_for_call("answerCallbackQuery")
    assert answer.params["text"] == "Too late to cancel: it is already being made."
    tg.user_sends("/cancel", user_id=USER)
    await tg.wait_for_call("sendMessage", lambda c: "can't be stopped there" in c.result["text"])

    (generation,) = emulator.generations.values()
    deletes = [r for r in emulator.requests if r.method == "DELETE"]
    assert [r.path for r in deletes] == [f"{LUMA_PATH}/generations/{generation.id}"] * 2
    await tg.wait_for_video(timeout=15)
    await tg.wait_until(lambda: bot.runtime.worker.in_flight == 0)
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.state is JobState.DELIVERED
    assert await used(bot) == 1  # made and delivered: it counts
    assert not generation.deleted


async def test_a_cancel_pressed_once_the_video_is_made_is_too_late_and_deletes_nothing(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.inject_fault(route="download", kind="delay", seconds=3)  # a slow download
    bot = await start_luma(start_bot, emulator)
    tg.user_sends("/video a jellyfish nearly there", user_id=USER)
    status = await tg.wait_for_call("sendMessage")
    (cancel,) = status.params["reply_markup"]["inline_keyboard"][0]
    # The video is made and on its way; the user's app still showed the Cancel button.
    await job_when(bot, 1, lambda j: j.state is JobState.DELIVERING)
    tg.press_button(status.result, cancel["callback_data"], user_id=USER, crafted=True)
    answer = await tg.wait_for_call("answerCallbackQuery")
    assert answer.params["text"] == "Too late to cancel: it is already being made."
    await tg.wait_for_video(timeout=15)
    job = await job_when(bot, 1, lambda j: j.state is JobState.DELIVERED)
    assert job.failure_code is None
    # Luma was not asked to delete a video already made (and paid for).
    assert not [r for r in emulator.requests if r.method == "DELETE"]
    assert not any(g.deleted for g in emulator.generations.values())
    assert await used(bot) == 1


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
    # The signed link outlived the process that made it: no fallback poll was needed.
    assert len(polls(emulator)) <= len([a for a in emulator.callbacks if a.ok])
    job = await second.runtime.repository.get_job(1)
    assert job is not None and job.state is JobState.DELIVERED


# --- a callback is a hint, never a result (issue 14, item 4) ----------------------------------

OTHER_USER = 1002
# What a forger would like delivered: a URL of their choice (served by nobody here).
FORGED_VIDEO = "/files/chosen-by-the-forger.mp4"


async def job_when(bot: Any, job_id: int, predicate: Callable[[Any], bool]) -> Any:
    """The job once `predicate(job)` holds (polling the database briefly)."""
    job = None
    for _ in range(200):
        job = await bot.runtime.repository.get_job(job_id)
        if job is not None and predicate(job):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never got there: {job}")


def callback_links(emulator: Any) -> list[str]:
    """The callback URL of each create the bot sent (refused ones too), in order."""
    return [r.json["callback_url"] for r in emulator.requests if r.method == "POST"]


async def post(url: str, payload: Any) -> int:
    async with aiohttp.ClientSession() as http, http.post(url, json=payload) as response:
        return response.status


def forged_result(emulator: Any, generation_id: str) -> dict[str, Any]:
    return {
        "id": generation_id,
        "state": "completed",
        "assets": {"video": emulator.url + FORGED_VIDEO, "image": emulator.url + FORGED_VIDEO},
    }


async def test_a_callback_for_a_job_without_a_generation_is_refused_and_completes_nothing(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # A victim's video is being made; the forger's own job is pushed back by the API (429), so
    # it has a signed callback link but no generation yet.
    emulator.config.dream_seconds = 30
    bot = await start_luma(start_bot, emulator, luma_poll_interval=10, generation_timeout=120)
    tg.user_sends("/video the victim's jellyfish", user_id=USER)
    await tg.wait_until(lambda: any(a.state == "dreaming" and a.ok for a in emulator.callbacks))
    (victim_generation,) = emulator.generations
    emulator.inject_fault(route="create", status=429, retry_after=60)
    tg.user_sends("/video the forger's jellyfish", user_id=OTHER_USER)
    queued = await job_when(bot, 2, lambda job: job.state is JobState.QUEUED and job.attempts)
    assert queued.remote_id is None
    forger_link = callback_links(emulator)[1]

    assert await post(forger_link, forged_result(emulator, victim_generation)) == 404
    assert await post(forger_link, forged_result(emulator, "any-other-id")) == 404

    # The victim's video comes when the API says so, from the API's own URL.
    emulator.force_state(victim_generation, "completed")
    sent = await tg.wait_for_video(timeout=15)
    assert str(sent.params["chat_id"]) == str(USER)
    victim = await job_when(bot, 1, lambda job: job.state is JobState.DELIVERED)
    assert victim.video_url == f"{emulator.url}/files/{victim_generation}.mp4"
    assert not any(r.path == FORGED_VIDEO for r in emulator.requests)
    forger = await bot.runtime.repository.get_job(2)
    assert forger is not None and forger.state is JobState.QUEUED and forger.remote_id is None


@pytest.mark.parametrize("upload_limit", [50 * 1024 * 1024, 1000], ids=["video", "link"])
async def test_a_callback_cannot_choose_the_state_or_the_video(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], upload_limit: int
) -> None:
    emulator.config.dream_seconds = 30
    bot = await start_luma(
        start_bot, emulator, luma_poll_interval=10, telegram_upload_limit=upload_limit
    )
    tg.user_sends("/video a jellyfish", user_id=USER)
    await job_when(bot, 1, lambda job: job.remote_state == "dreaming")
    (generation_id,) = emulator.generations
    (link,) = callback_links(emulator)
    looks = len(polls(emulator))

    # Signed and for the right generation, but the content is made up: the bot asks the API,
    # which says the video is still being made.
    assert await post(link, forged_result(emulator, generation_id)) == 200
    await tg.wait_until(
        lambda: (
            len(polls(emulator)) > looks or any(r.path == FORGED_VIDEO for r in emulator.requests)
        )
    )
    assert not any(r.path == FORGED_VIDEO for r in emulator.requests)
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.state is JobState.WAITING

    emulator.force_state(generation_id, "completed")
    job = await job_when(bot, 1, lambda job: job.state is JobState.DELIVERED)
    api_url = f"{emulator.url}/files/{generation_id}.mp4"
    assert job.video_url == api_url
    assert not any(r.path == FORGED_VIDEO for r in emulator.requests)
    if upload_limit == 1000:  # too large: the link shown is the API's, never the forger's
        (shown,) = tg.bot_messages(USER)[:1]
        assert api_url in shown["caption"] and FORGED_VIDEO not in shown["caption"]
    else:
        (sent,) = tg.videos()
        assert sent.files["video"][4:8] == b"ftyp"


async def test_big_callback_bodies_are_not_kept(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.dream_seconds = 30
    bot = await start_luma(start_bot, emulator, luma_poll_interval=10, generation_timeout=120)
    tg.user_sends("/video a jellyfish", user_id=USER)
    await job_when(bot, 1, lambda job: job.remote_state == "dreaming")
    (generation_id,) = emulator.generations
    emulator.inject_fault(route="create", status=429, retry_after=60)
    tg.user_sends("/video a queued jellyfish", user_id=OTHER_USER)
    await job_when(bot, 2, lambda job: job.state is JobState.QUEUED and job.attempts)
    waiting_link, queued_link = callback_links(emulator)
    padding = "x" * 1_000_000  # each body just under aiohttp's 1 MiB default

    async def send(http: aiohttp.ClientSession, link: str, body: dict[str, Any]) -> None:
        # Refused (404, or 413 where the web edge limits bodies) or taken: either way.
        with contextlib.suppress(aiohttp.ClientError):
            async with http.post(link, json=body):
                pass

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        async with aiohttp.ClientSession() as http:
            for n in range(30):
                forged = {"id": f"made-up-{n}", "state": "completed", "assets": {"video": padding}}
                await send(http, queued_link, forged)
            for _ in range(30):
                hint = {"id": generation_id, "state": "dreaming", "failure_reason": padding}
                await send(http, waiting_link, hint)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 5_000_000, f"{held} bytes still held after 60 callbacks of 1 MB"


async def test_callbacks_arriving_together_cause_one_look(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.dream_seconds = 30
    emulator.config.drop_callbacks = True  # only the callbacks this test posts arrive
    bot = await start_luma(start_bot, emulator, luma_poll_interval=10)
    tg.user_sends("/video a jellyfish", user_id=USER)
    await job_when(bot, 1, lambda job: job.state is JobState.WAITING)
    (generation_id,) = emulator.generations
    (link,) = callback_links(emulator)
    hint = {"id": generation_id, "state": "dreaming"}

    # The first callback's look is held by the API; five more arrive meanwhile.
    emulator.inject_fault(route="fetch", kind="delay", seconds=2)
    assert await post(link, hint) == 200
    await tg.wait_until(lambda: len(polls(emulator)) == 1)
    for _ in range(5):
        assert await post(link, hint) == 200
    assert len(polls(emulator)) == 1, "the held look was still under way"
    # The five together are one more look, not five.
    await tg.wait_until(lambda: len(polls(emulator)) == 2)

    emulator.force_state(generation_id, "completed")
    assert await post(link, {**hint, "state": "completed"}) == 200
    await job_when(bot, 1, lambda job: job.state is JobState.DELIVERED)
    assert len(polls(emulator)) == 3
