"""Control: /cancel and the Cancel button, the per-user cap on jobs in flight, and
de-duplication of updates Telegram delivers twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bot.domain.model import JobState
from playground.fake_telegram import FakeTelegram
from tests.quota import quota_used
from tests.test_webhook import start_webhook_bot

USER = 1001


def creates(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.method == "POST"]


async def used(bot: Any, user_id: int = USER) -> int:
    return await quota_used(bot.runtime.repository, user_id)


async def test_cancel_before_submission_refunds_and_never_calls_the_api(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # The API is busy (429 for a while), so the job waits in the local queue.
    emulator.inject_fault(route="create", status=429, retry_after=10, count=1)
    bot = await start_bot()
    tg.user_sends("/video a queued jellyfish", user_id=USER)
    await tg.wait_until(lambda: len(creates(emulator)) == 1)
    status = tg.calls_of("sendMessage")[0]
    cancel, improve = status.params["reply_markup"]["inline_keyboard"][0]
    assert (cancel["text"], improve["text"]) == ("✖ Cancel", "✨ Improve")
    tg.press_button(status.result, cancel["callback_data"], user_id=USER)
    notice = await tg.wait_for_call("editMessageText", lambda c: "Cancelled" in c.params["text"])
    assert "refunded" in notice.params["text"]
    answer = await tg.wait_for_call("answerCallbackQuery")
    assert "refunded" in answer.params["text"]
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.state is JobState.FAILED and job.failure_code == "cancelled"
    assert await used(bot) == 0
    assert len(creates(emulator)) == 1  # only the refused attempt


async def test_cancel_after_submission_says_the_video_will_still_come(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.dream_seconds = 1.0
    bot = await start_bot()
    tg.user_sends("/video an unstoppable jellyfish", user_id=USER)
    await tg.wait_until(lambda: len(creates(emulator)) == 1)
    await asyncio.sleep(0.2)
    tg.user_sends("/cancel", user_id=USER)
    notice = await tg.wait_for_call("sendMessage", lambda c: "can't be stopped" in c.result["text"])
    assert notice.ok
    await tg.wait_for_video(timeout=15)
    assert await used(bot) == 1
    # The Cancel button disappeared once the job was submitted.
    edits = [c for c in tg.calls_of("editMessageText") if c.ok]
    assert edits and "reply_markup" not in edits[0].params


async def test_cancel_with_nothing_in_progress(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    tg.user_sends("/cancel", user_id=USER)
    await tg.wait_for_call("sendMessage", lambda c: "no video in progress" in c.result["text"])


async def test_only_the_requester_can_cancel(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.inject_fault(route="create", status=429, retry_after=10, count=1)
    bot = await start_bot()
    where = {"chat_id": -100200, "chat_type": "group"}
    tg.user_sends("/video@LumaTestBot a group video", user_id=USER, **where)
    await tg.wait_until(lambda: len(creates(emulator)) == 1)
    status = tg.calls_of("sendMessage")[0]
    data = status.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    tg.press_button(status.result, data, user_id=2002)
    answer = await tg.wait_for_call("answerCallbackQuery")
    assert "Only the person who asked" in answer.params["text"]
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.state is JobState.QUEUED


async def test_jobs_in_flight_are_capped_per_user(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.dream_seconds = 1.0
    bot = await start_bot(max_active_per_user=2, daily_quota=10)
    for index in range(3):
        tg.user_sends(f"/video busy jellyfish {index}", user_id=USER)
    refusal = await tg.wait_for_call("sendMessage", lambda c: "in progress" in c.result["text"])
    assert "the limit is 2" in refusal.result["text"]
    await tg.wait_until(lambda: len(tg.videos()) == 2, timeout=15)
    assert len(creates(emulator)) == 2 and await used(bot) == 2
    tg.user_sends("/video a later jellyfish", user_id=USER)  # room again once they arrived
    await tg.wait_until(lambda: len(tg.videos()) == 3, timeout=15)


def help_answers(tg: FakeTelegram) -> list[Any]:
    return [c for c in tg.calls_of("sendMessage") if c.ok and "/video" in c.result["text"]]


async def test_a_webhook_delivery_telegram_retries_is_handled_once(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    """Telegram re-sends an update whose answer it did not get in time, while the bot is still
    handling the first copy, and again after that one is done: /help is answered once.
    (The polling re-send after a crash is in tests/test_crash.py.)"""
    tg.webhook_timeout = 0.5  # Telegram gives up on the first delivery...
    tg.delay_next("sendMessage", 2.0)  # ...because /help's answer takes longer than that
    bot = await start_webhook_bot(start_bot)
    tg.user_sends("/help", user_id=USER)
    await tg.wait_until(lambda: len(tg.webhook_deliveries) >= 2)  # a retry while in hand
    first, retry = tg.webhook_deliveries[:2]
    assert not first.ok  # Telegram never saw the first copy answered
    # The first copy's answer is recorded once its (held) sendMessage completes.
    await tg.wait_until(lambda: any(c.at < retry.at for c in help_answers(tg)), timeout=10)
    await tg.wait_for_webhook_idle(timeout=10)
    assert set(tg.delivered_update_ids()) == {1}
    assert retry.status == 503  # "busy here": Telegram tries again later
    assert len(help_answers(tg)) == 1
    assert await bot.runtime.repository.update_handled(1)


async def test_the_status_shows_the_place_in_the_queue(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.dream_seconds = 1.0
    await start_bot(max_concurrent_generations=1)
    for user in (3001, 3002, 3003):
        tg.user_sends(f"/video queue position for {user}", user_id=user)
    await tg.wait_until(lambda: len(tg.calls_of("sendMessage")) == 3)
    last = tg.calls_of("sendMessage")[-1].result["text"]
    assert "ahead of yours" in last
    await tg.wait_until(lambda: len(tg.videos()) == 3, timeout=20)


async def test_a_busy_api_is_explained_while_the_job_waits(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.inject_fault(route="create", status=429, retry_after=1, count=1)
    await start_bot()
    tg.user_sends("/video a patient jellyfish", user_id=USER)
    busy = await tg.wait_for_call("editMessageText", lambda c: "busy" in c.params["text"])
    assert busy.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "✖ Cancel"
    await tg.wait_for_video(timeout=15)


# --- /cancel typed, and as a reply (issue 15, item 4) ------------------------------------------


async def queue_three(bot: Any, tg: FakeTelegram, emulator: Any) -> list[Any]:
    """Three jobs of USER held in the bot's queue (the API answers each create 429 for a while);
    returns them, oldest first, each with its status message."""
    emulator.inject_fault(route="create", status=429, retry_after=10, count=3)
    for index in range(3):
        tg.user_sends(f"/video queued jellyfish {index}", user_id=USER)
    await tg.wait_until(lambda: len(creates(emulator)) == 3)
    repository = bot.runtime.repository
    for _ in range(200):  # the refused creates are put back in the queue
        jobs = [await repository.get_job(job_id) for job_id in (1, 2, 3)]
        if all(j and j.state is JobState.QUEUED and j.status_message_id for j in jobs):
            return jobs
        await asyncio.sleep(0.02)
    raise AssertionError(f"not all queued: {jobs}")


async def states(bot: Any) -> list[str]:
    jobs = [await bot.runtime.repository.get_job(job_id) for job_id in (1, 2, 3)]
    return [j.failure_code or j.state.value for j in jobs if j is not None]


async def test_typed_cancel_stops_the_latest_job_and_turns_its_status_into_the_notice(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(max_active_per_user=3, daily_quota=3)
    jobs = await queue_three(bot, tg, emulator)
    assert await used(bot) == 3
    tg.user_sends("/cancel", user_id=USER)
    notice = await tg.wait_for_call("editMessageText", lambda c: "Cancelled" in c.params["text"])
    assert notice.ok and str(notice.params["message_id"]) == str(jobs[2].status_message_id)
    assert "refunded" in notice.params["text"] and "reply_markup" not in notice.params
    assert await states(bot) == ["queued", "queued", "cancelled"]
    assert await used(bot) == 2
    # The status message says it; no second message repeats it.
    assert not [c for c in tg.calls_of("sendMessage") if "Cancelled" in c.result["text"]]


async def test_cancel_sent_as_a_reply_stops_the_job_of_that_status_message(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(max_active_per_user=3, daily_quota=3)
    jobs = await queue_three(bot, tg, emulator)
    tg.user_sends("/cancel", user_id=USER, reply_to_message_id=jobs[0].status_message_id)
    notice = await tg.wait_for_call("editMessageText", lambda c: "Cancelled" in c.params["text"])
    assert str(notice.params["message_id"]) == str(jobs[0].status_message_id)
    assert await states(bot) == ["cancelled", "queued", "queued"]
    assert await used(bot) == 2
    # A reply to a status whose job is over: nothing to cancel, and nothing else is touched.
    tg.user_sends("/cancel", user_id=USER, reply_to_message_id=jobs[0].status_message_id)
    await tg.wait_for_call("sendMessage", lambda c: "no video in progress" in c.result["text"])
    assert await states(bot) == ["cancelled", "queued", "queued"]


async def test_a_cancel_whose_status_message_is_gone_is_answered_by_a_new_message(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(max_active_per_user=3, daily_quota=3)
    jobs = await queue_three(bot, tg, emulator)
    tg.user_deletes(USER, jobs[2].status_message_id)  # the user deleted the status message
    asked = tg.user_sends("/cancel", user_id=USER)
    notice = await tg.wait_for_call("sendMessage", lambda c: "Cancelled" in c.result["text"])
    assert str(notice.params["reply_parameters"]["message_id"]) == str(asked["message_id"])
    assert await states(bot) == ["queued", "queued", "cancelled"]
    assert len([c for c in tg.calls_of("sendMessage") if "Cancelled" in c.result["text"]]) == 1


async def test_a_stale_cancel_button_after_submission_is_answered_too_late(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # aiml-v2 cannot delete a generation: once submitted, the video will come.
    bot = await start_bot()
    tg.user_sends("/video an unstoppable jellyfish [stuck]", user_id=USER)
    status = await tg.wait_for_call("sendMessage", lambda c: "Queued" in c.result["text"])
    cancel = status.params["reply_markup"]["inline_keyboard"][0][0]
    await tg.wait_until(lambda: len(creates(emulator)) == 1)
    await tg.wait_for_call("editMessageText", lambda c: "reply_markup" not in c.params)
    # The user's app still showed the button when it was pressed.
    tg.press_button(status.result, cancel["callback_data"], user_id=USER, crafted=True)
    answer = await tg.wait_for_call("answerCallbackQuery")
    assert answer.params["text"] == "Too late to cancel: it is already being made."
    assert str(answer.params.get("show_alert")).lower() == "true"
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and not job.state.is_final
    assert await used(bot) == 1
    assert not [r for r in emulator.requests if r.method == "DELETE"]


async def test_a_job_whose_status_message_never_arrived_is_cancelled_by_a_new_message(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # Telegram failed the status message: the job runs without one (nothing to turn into the
    # notice), so the cancellation is said in a new message, once.
    emulator.inject_fault(route="create", status=429, retry_after=10, count=1)
    bot = await start_bot()
    tg.fail_next("sendMessage", 500, "Internal Server Error")
    tg.user_sends("/video a jellyfish nobody sees queued", user_id=USER)
    await tg.wait_until(lambda: len(creates(emulator)) == 1)
    for _ in range(200):  # the refused create is put back in the queue
        job = await bot.runtime.repository.get_job(1)
        if job is not None and job.state is JobState.QUEUED:
            break
        await asyncio.sleep(0.02)
    assert job is not None and job.state is JobState.QUEUED and job.status_message_id is None
    asked = tg.user_sends("/cancel", user_id=USER)
    notice = await tg.wait_for_call("sendMessage", lambda c: "Cancelled" in c.params["text"])
    assert str(notice.params["reply_parameters"]["message_id"]) == str(asked["message_id"])
    assert "refunded" in notice.params["text"]
    assert await states(bot) == ["cancelled"]
    assert await used(bot) == 0
    await asyncio.sleep(0.2)
    assert len([c for c in tg.calls_of("sendMessage") if "Cancelled" in c.params["text"]]) == 1
    assert tg.calls_of("editMessageText") == []  # no status message to edit
