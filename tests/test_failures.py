"""Failures people understand: each cause its own message, quota refunded, and operator
problems (bad key, no credits) alerted to the admins once per incident."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.domain.model import JobState, Refund
from emulator import EmulatorConfig, run_emulator
from playground.fake_telegram import FakeTelegram
from tests.conftest import API_KEY, FAST_EMULATOR, free_port
from tests.quota import quota_usage, quota_used

USER = 1001
ADMIN = 5005


async def used(bot: Any, user_id: int = USER) -> int:
    return await quota_used(bot.runtime.repository, user_id)


def said_to(tg: FakeTelegram, chat_id: int) -> list[str]:
    return [
        c.result["text"]
        for c in tg.calls
        if c.method in ("sendMessage", "editMessageText")
        and c.ok
        and str(c.params.get("chat_id")) == str(chat_id)
    ]


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ("[fail]", "declined this request (Advanced prompt moderation failed)"),
        ("[fail:image]", "couldn't use your picture (400: failed to moderate image)"),
        ("[fail:frames]", "couldn't use your picture (Failed to read user input frames)"),
        ("[fail:other]", "could not be made (Job failed)"),
    ],
)
async def test_each_failure_reason_gets_its_own_message(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], marker: str, expected: str
) -> None:
    bot = await start_bot()
    tg.user_sends(f"/video a jellyfish {marker}", user_id=USER)
    notice = await tg.wait_for_call(
        "editMessageText", lambda c: "refunded" in c.params["text"], timeout=15
    )
    assert expected in notice.result["text"]
    assert await used(bot) == 0


async def test_a_job_past_its_deadline_is_refunded_with_a_message(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(generation_timeout=1.5, media_link_ttl=60)
    tg.user_sends("/video a jellyfish that never comes [stuck]", user_id=USER)
    notice = await tg.wait_for_call(
        "editMessageText", lambda c: "took too long" in c.params["text"], timeout=15
    )
    assert "refunded" in notice.result["text"]
    assert await used(bot) == 0


async def test_out_of_credits_alerts_admins_once_per_incident(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(admin_user_ids=str(ADMIN), daily_quota=10)
    tg.user_sends("/help", user_id=ADMIN)  # the admin has a chat with the bot
    await tg.wait_for_call("sendMessage")
    emulator.config.no_credits_keys = frozenset({API_KEY})

    for index in range(2):
        tg.user_sends(f"/video broke jellyfish {index}", user_id=USER)
    await tg.wait_until(
        lambda: sum("budget is used up" in t for t in said_to(tg, USER)) == 2, timeout=15
    )
    assert await used(bot) == 0
    alerts = [t for t in said_to(tg, ADMIN) if "out of credits" in t]
    assert len(alerts) == 1, said_to(tg, ADMIN)

    emulator.config.no_credits_keys = frozenset()  # the operator topped up
    tg.user_sends("/video solvent jellyfish", user_id=USER)
    await tg.wait_for_video(timeout=15)
    await tg.wait_until(lambda: any("accepts requests again" in t for t in said_to(tg, ADMIN)))

    emulator.config.no_credits_keys = frozenset({API_KEY})  # a new incident
    tg.user_sends("/video broke again", user_id=USER)
    await tg.wait_until(
        lambda: sum("out of credits" in t for t in said_to(tg, ADMIN)) == 2, timeout=15
    )


async def test_a_rejected_key_alerts_admins_and_users_are_told(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(admin_user_ids=str(ADMIN))
    tg.user_sends("/help", user_id=ADMIN)
    await tg.wait_for_call("sendMessage")
    emulator.config.api_keys = frozenset({"the-new-key"})
    tg.user_sends("/video a jellyfish", user_id=USER)
    await tg.wait_until(lambda: any("unavailable" in t for t in said_to(tg, USER)), timeout=15)
    await tg.wait_until(lambda: any("LUMA_API_KEY" in t for t in said_to(tg, ADMIN)))
    assert API_KEY not in " ".join(said_to(tg, ADMIN))


# LUMA_API_URL of each family on the emulator.
FAMILY_PATHS = {"aiml-v2": "", "aiml-v1": "", "aiml-universal": "", "luma": "/dream-machine/v1"}


@pytest.mark.parametrize("family", list(FAMILY_PATHS))
async def test_a_timeout_is_told_at_the_deadline_not_a_long_poll_later(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], family: str
) -> None:
    # Each wait for the API outlasts what is left of the job's time: the server holds the
    # aiml-v2 long-poll 10 s, the other families pause 10 s between polls.
    emulator.config.long_poll_seconds = 10
    bot = await start_bot(
        luma_api_family=family,
        luma_api_url=emulator.url + FAMILY_PATHS[family],
        generation_timeout=2,
        media_link_ttl=60,
        luma_long_poll_seconds=10,
        luma_poll_interval=10,
    )
    tg.user_sends("/video a jellyfish that never comes [stuck]", user_id=USER)
    await tg.wait_for_call(
        "editMessageText", lambda c: "took too long" in c.params["text"], timeout=30
    )
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.failure_code == "timeout" and job.finished_at is not None
    # The bot's own record: failed when the deadline came, not when the wait would have ended.
    assert job.deadline_at <= job.finished_at < job.deadline_at + 1.5


# --- money and quota while a video is being made (issue 15, item 2) ---------------------------


async def job_when(bot: Any, predicate: Callable[[Any], bool], what: str, job_id: int = 1) -> Any:
    """The job once `predicate` holds for it (read from the database)."""
    job = None
    for _ in range(300):
        job = await bot.runtime.repository.get_job(job_id)
        if job is not None and predicate(job):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never {what}: {job}")


def requeued_once(job: Any) -> bool:
    # The claim counts the attempt as it marks the job submitting: back in the queue is later.
    return job.attempts == 1 and job.state is JobState.QUEUED


def creates(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.route.startswith("create.")]


def looks(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.route.startswith("fetch.")]


async def usage(bot: Any) -> tuple[int, int]:
    """(the user's daily allowance used, the day's total under GLOBAL_DAILY_QUOTA)."""
    used = await quota_usage(bot.runtime.repository, USER, USER)
    return used.payer_daily, used.everyone


async def admin_has_a_chat(tg: FakeTelegram) -> None:
    tg.user_sends("/help", user_id=ADMIN)
    await tg.wait_for_call("sendMessage", lambda c: str(c.params["chat_id"]) == str(ADMIN))


def alerts(tg: FakeTelegram) -> list[str]:
    return [t for t in said_to(tg, ADMIN) if t.startswith("⚠️")]


# Where each family lives on the emulator, and how it is asked for a generation.
FAMILIES = {"aiml-v2": "", "aiml-v1": "", "aiml-universal": "", "luma": "/dream-machine/v1"}


@pytest.mark.parametrize(
    ("family", "status"),
    [*((family, 403) for family in FAMILIES), ("aiml-v2", 401), ("aiml-v2", 402)],
)
async def test_the_key_or_credits_lost_mid_generation_keep_the_paid_video(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], family: str, status: int
) -> None:
    # The provider has the job (and will bill it); then every look at it is refused for a while
    # (a revoked key, or an account out of credits, worded as the family words it). The video
    # is kept: the job is parked and looked at again, and arrives once the operator fixed it.
    bot = await start_bot(
        public=True,
        luma_api_family=family,
        luma_api_url=emulator.url + FAMILIES[family],
        admin_user_ids=str(ADMIN),
    )
    await admin_has_a_chat(tg)
    tg.user_sends("/video a jellyfish [stuck]", user_id=USER)
    await job_when(bot, lambda j: j.remote_id is not None, "submitted")
    # Refused until the alert came and two more looks were refused after it. (Counting faults
    # would not do: aiml-v1's batch poller absorbs refused batches, and only the waiter's own
    # look, after a stall, reaches the worker; which of them takes a fault is timing.)
    emulator.inject_fault(route="fetch", status=status, count=10_000)
    await tg.wait_until(lambda: alerts(tg), timeout=15)
    looks_at_alert = len(looks(emulator))
    await tg.wait_until(lambda: len(looks(emulator)) >= looks_at_alert + 2, timeout=15)
    emulator.faults.clear()
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.state is JobState.WAITING and job.failure_code is None

    (generation_id,) = emulator.generations
    emulator.force_state(generation_id, "completed")  # made (and billed) meanwhile
    await tg.wait_for_video(timeout=15)
    job = await job_when(bot, lambda j: j.state is JobState.DELIVERED, "delivered")
    assert len(creates(emulator)) == 1
    assert len(alerts(tg)) == 1, alerts(tg)  # once for the incident, not once per look
    expected = "LUMA_API_KEY" if status == 401 else "out of credits"
    assert expected in alerts(tg)[0]
    assert not any("refunded" in t for t in said_to(tg, USER))
    assert await usage(bot) == (1, 1)


async def test_the_key_refused_until_the_deadline_fails_as_unavailable_refunded_to_the_payer(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(
        admin_user_ids=str(ADMIN), generation_timeout=3, media_link_ttl=60, global_daily_quota=1
    )
    await admin_has_a_chat(tg)
    tg.user_sends("/video a jellyfish [stuck]", user_id=USER)
    await job_when(bot, lambda j: j.remote_id is not None, "submitted")
    emulator.config.api_keys = frozenset({"the-new-key"})  # revoked; nobody fixes it in time
    since = len(emulator.requests)
    notice = await tg.wait_for_call(
        "editMessageText", lambda c: "unavailable" in c.params["text"], timeout=15
    )
    assert "refunded" in notice.params["text"]
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.failure_code == "service_unavailable"
    assert len([r for r in looks(emulator) if emulator.requests.index(r) >= since]) >= 2
    # REFUNDS: the payer gets the unit back; the provider had the job, so the bill cap keeps it.
    assert job.refunded and job.billable
    assert await usage(bot) == (0, 1)
    assert len(alerts(tg)) == 1 and "LUMA_API_KEY" in alerts(tg)[0]
    assert len(creates(emulator)) == 1


@pytest.mark.parametrize("status", [503, 429])
async def test_a_create_refused_for_now_goes_back_to_the_queue_and_is_made_once(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], status: int
) -> None:
    emulator.inject_fault(route="create", status=status, count=1)
    bot = await start_bot()
    tg.user_sends("/video a patient jellyfish", user_id=USER)
    await tg.wait_for_video(timeout=15)
    job = await job_when(bot, lambda j: j.state is JobState.DELIVERED, "delivered")
    assert job.attempts >= 1  # it went back to the queue once
    assert len(creates(emulator)) == 2 and len(emulator.generations) == 1  # one accepted
    assert await usage(bot) == (1, 1)


async def test_a_create_that_honours_retry_after(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # The API says when to come back: the job waits that long, not the bot's own backoff
    # (1 to 2 s for a first refusal).
    emulator.inject_fault(route="create", status=429, retry_after=3, count=1)
    bot = await start_bot()
    tg.user_sends("/video a patient jellyfish", user_id=USER)
    queued = await job_when(bot, requeued_once, "requeued")
    assert queued.state is JobState.QUEUED and queued.next_attempt_at is not None
    assert queued.next_attempt_at - queued.updated_at >= 2.9
    await tg.wait_for_video(timeout=15)
    assert len(creates(emulator)) == 2 and len(emulator.generations) == 1


async def test_a_create_that_could_not_connect_goes_back_to_the_queue(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # Nothing listens at the API's address yet: the request never left, so it is safe to send
    # again once the API is up.
    port = free_port()
    bot = await start_bot(luma_api_url=f"http://127.0.0.1:{port}")
    tg.user_sends("/video an early jellyfish", user_id=USER)
    queued = await job_when(bot, requeued_once, "requeued")
    assert queued.state is JobState.QUEUED and queued.failure_code is None
    async with run_emulator(EmulatorConfig(**FAST_EMULATOR), port=port) as late:
        await tg.wait_for_video(timeout=15)
        assert len(creates(late)) == 1 and len(late.generations) == 1
    job = await job_when(bot, lambda j: j.state is JobState.DELIVERED, "delivered")
    assert job.remote_id in late.generations
    assert await usage(bot) == (1, 1)


@pytest.mark.parametrize(
    ("status", "message"),
    [(400, "aspect_ratio must be one of 16:9, 9:16"), (422, "prompt: too long for this model")],
)
async def test_a_create_rejected_as_invalid_is_told_and_refunded(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    status: int,
    message: str,
) -> None:
    emulator.inject_fault(route="create", status=status, message=message, count=1)
    bot = await start_bot(global_daily_quota=1)
    tg.user_sends("/video a jellyfish", user_id=USER)
    notice = await tg.wait_for_call(
        "editMessageText", lambda c: "rejected this request" in c.params["text"], timeout=15
    )
    assert message in notice.params["text"] and "refunded" in notice.params["text"]
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.state is JobState.FAILED and job.failure_code == "rejected"
    assert job.refunded and not job.billable
    assert await usage(bot) == (0, 0)
    assert len(creates(emulator)) == 1  # never sent again


@pytest.mark.parametrize(
    "message",
    [
        "prompt not allowed because advanced moderation failed",
        "Contains blacklisted words",
    ],
)
async def test_a_create_refused_by_moderation_is_told_as_moderation(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], message: str
) -> None:
    """Some services moderate at the create itself (a 400): the user is told to reword the
    prompt, as for a generation moderation failed, not that the request was invalid."""
    emulator.inject_fault(route="create", status=400, message=message, count=1)
    bot = await start_bot()
    tg.user_sends("/video a jellyfish", user_id=USER)
    notice = await tg.wait_for_call(
        "editMessageText", lambda c: "declined this request" in c.params["text"], timeout=15
    )
    assert message in notice.params["text"] and "rewording" in notice.params["text"]
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.failure_code == "moderation" and job.refunded
    assert await usage(bot) == (0, 0)


async def test_a_create_refused_until_the_deadline_times_out_refunded_in_full(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.inject_fault(route="create", status=429, retry_after=0.3, count=1000)
    bot = await start_bot(generation_timeout=2, media_link_ttl=60, global_daily_quota=1)
    tg.user_sends("/video a jellyfish nobody takes", user_id=USER)
    notice = await tg.wait_for_call(
        "editMessageText", lambda c: "took too long" in c.params["text"], timeout=15
    )
    assert "refunded" in notice.params["text"]
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.failure_code == "timeout" and job.remote_id is None
    assert len(creates(emulator)) >= 2  # it did keep trying
    # The provider never had it: the payer and the bill cap both get it back.
    assert job.refunded and not job.billable
    assert await usage(bot) == (0, 0)


async def test_a_retry_after_past_the_deadline_ends_the_job_at_once(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # Waiting an hour for a 20-minute deadline helps nobody: the user hears it now.
    emulator.inject_fault(route="create", status=429, retry_after=3600, count=1)
    bot = await start_bot()
    tg.user_sends("/video a jellyfish", user_id=USER)
    await tg.wait_for_call(
        "editMessageText", lambda c: "took too long" in c.params["text"], timeout=15
    )
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.failure_code == "timeout" and job.refunded
    assert job.finished_at is not None and job.finished_at < job.deadline_at
    assert len(creates(emulator)) == 1


async def test_a_job_still_in_the_bots_queue_at_its_deadline_is_never_sent(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(generation_timeout=1, media_link_ttl=60, global_daily_quota=1)
    await bot.runtime.worker.stop()  # every worker busy elsewhere, or the bot was down
    tg.user_sends("/video a jellyfish kept waiting", user_id=USER)
    # Queued and announced: a notice the worker sends before the handler has recorded the
    # status message is a reply, not the edit this test waits for.
    queued = await job_when(
        bot, lambda j: j.state is JobState.QUEUED and j.status_message_id is not None, "queued"
    )
    await asyncio.sleep(max(queued.deadline_at - time.time(), 0))  # the bot's deadline, 1 s
    await bot.runtime.worker.start()
    notice = await tg.wait_for_call(
        "editMessageText", lambda c: "took too long" in c.params["text"], timeout=15
    )
    assert "refunded" in notice.params["text"]
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.failure_code == "timeout"
    assert job.refunded and not job.billable
    assert creates(emulator) == []
    assert await usage(bot) == (0, 0)


# --- what the worker says, and when it cannot say it (issue 15) -------------------------------


async def test_a_video_the_service_calls_done_without_a_link_is_told_as_not_made(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(global_daily_quota=1)
    tg.user_sends("/video a jellyfish [stuck]", user_id=USER)
    job = await job_when(bot, lambda j: j.remote_id is not None, "submitted")
    # The service says it is done, but its answer has no link to any video.
    done = json.dumps({"id": job.remote_id, "status": "completed"})
    emulator.inject_fault(route="fetch", kind="body", body=done, content_type="application/json")
    notice = await tg.wait_for_call(
        "editMessageText", lambda c: "could not be made" in c.params["text"], timeout=15
    )
    assert "no video in the result" in notice.params["text"]
    assert "refunded" in notice.params["text"]
    job = await job_when(bot, lambda j: j.state is JobState.FAILED, "failed")
    assert job.failure_code == "generation_failed" and job.video_url is None
    assert job.refunded and not job.billable  # as REFUNDS says for generation_failed
    assert await usage(bot) == (0, 0)
    assert tg.videos() == [] and not [r for r in emulator.requests if "/files/" in r.path]


@pytest.mark.parametrize(
    ("code", "told"),
    [
        # A newer version's reason: this one has no words for it, so the generic ones.
        ("a_reason_from_a_newer_version", "could not be made (from a newer version)"),
        # A reason with nobody to tell (CHAT_UNREACHABLE) left due by another writer.
        ("chat_unreachable", None),
    ],
)
async def test_a_failure_notice_left_due_by_another_version_is_told_as_this_one_can(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    code: str,
    told: str | None,
) -> None:
    bot = await start_bot()
    repository = bot.runtime.repository
    await bot.runtime.worker.stop()  # the job waits in the bot's queue meanwhile
    tg.user_sends("/video a jellyfish", user_id=USER)
    job = await job_when(bot, lambda j: j.status_message_id is not None, "accepted")
    # Another replica (running another version) failed it, and died before telling.
    now = time.time()
    assert await repository.fail(
        job.id,
        code=code,
        reason="from a newer version",
        refund=Refund.FULL,
        now=now,
        notice_due_at=now,
    )
    await bot.runtime.worker.start()
    job = await job_when(bot, lambda j: not j.notice_pending, "told")
    assert job.state is JobState.FAILED and job.failure_code == code
    notices = [t for t in said_to(tg, USER) if "refunded" in t]
    if told is None:
        assert notices == [] and tg.calls_of("editMessageText") == []
    else:
        assert len(notices) == 1 and told in notices[0]


async def failed_and_told(bot: Any) -> Any:
    return await job_when(
        bot, lambda j: j.state is JobState.FAILED and not j.notice_pending, "failed and told"
    )


async def test_a_failure_of_a_job_whose_status_message_never_went_out_is_told_as_a_reply(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.inject_fault(route="create", status=400, message="prompt: not allowed here")
    tg.fail_next("sendMessage", 502)  # the status message is lost
    bot = await start_bot()
    await bot.runtime.worker.stop()  # until the status message has been tried
    request = tg.user_sends("/video a jellyfish", user_id=USER)
    await tg.wait_for_call("sendMessage")  # the lost status message
    await bot.runtime.worker.start()
    notice = await tg.wait_for_call(
        "sendMessage", lambda c: c.ok and "rejected this request" in c.result["text"], timeout=15
    )
    assert notice.params["reply_parameters"]["message_id"] == request["message_id"]
    assert tg.calls_of("editMessageText") == []  # no status message to turn into the notice
    job = await failed_and_told(bot)
    assert job.status_message_id is None and job.refunded


async def test_a_failure_notice_to_a_user_who_blocked_the_bot_is_not_retried(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator.inject_fault(route="create", status=400, message="prompt: not allowed here")
    bot = await start_bot()
    await bot.runtime.worker.stop()
    tg.user_sends("/video a jellyfish", user_id=USER)
    await job_when(bot, lambda j: j.status_message_id is not None, "accepted")
    tg.fail_next("editMessageText", 403)  # blocked meanwhile: no reply would reach them either
    await bot.runtime.worker.start()
    job = await failed_and_told(bot)
    assert job.failure_code == "rejected" and job.refunded
    (attempt,) = tg.calls_of("editMessageText")
    assert not attempt.ok and attempt.response is not None
    assert attempt.response["error_code"] == 403
    assert not [c for c in tg.calls_of("sendMessage") if "rejected" in c.params["text"]]
    (warning,) = [r for r in caplog.records if "could not tell the user" in r.getMessage()]
    assert "blocked" in warning.getMessage()
    assert not [r for r in caplog.records if "unexpected error" in r.getMessage()]
    assert await usage(bot) == (0, 0)


async def test_a_failure_notice_telegram_fails_for_a_moment_is_told_on_a_later_try(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A 502 says nothing about the chat: the user is still to be told, so the job is tried
    # again later (here at its deadline) instead of the notice being dropped.
    emulator.inject_fault(route="create", status=400, message="prompt: not allowed here")
    bot = await start_bot(generation_timeout=2, delivery_grace_seconds=0, job_lease_seconds=1)
    await bot.runtime.worker.stop()
    tg.user_sends("/video a jellyfish", user_id=USER)
    await job_when(bot, lambda j: j.status_message_id is not None, "accepted")
    tg.fail_next("editMessageText", 502, "Bad Gateway")
    await bot.runtime.worker.start()
    job = await failed_and_told(bot)
    assert job.failure_code == "rejected" and job.refunded
    first, second = tg.calls_of("editMessageText")
    assert not first.ok and second.ok
    assert "rejected this request" in second.params["text"]
    assert [r for r in caplog.records if "could not tell the user yet" in r.getMessage()]
    # An expected fault: one warning, not an "unexpected error" with its traceback.
    assert not [r for r in caplog.records if "unexpected error" in r.getMessage()]
    assert await usage(bot) == (0, 0)


async def test_a_failure_notice_whose_answer_was_lost_is_not_told_twice(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    """The notice's edit went through but its answer never came back: the next try finds the
    status message already saying so ("message is not modified") and sends nothing more."""
    emulator.inject_fault(route="create", status=400, message="prompt: not allowed here")
    bot = await start_bot(generation_timeout=2, delivery_grace_seconds=0, job_lease_seconds=1)
    await bot.runtime.worker.stop()
    tg.user_sends("/video a jellyfish", user_id=USER)
    await job_when(bot, lambda j: j.status_message_id is not None, "accepted")
    tg.lose_response_next("editMessageText", hold=0.2)  # closed without an answer
    await bot.runtime.worker.start()
    job = await failed_and_told(bot)
    assert job.failure_code == "rejected" and job.refunded
    edits = tg.calls_of("editMessageText")
    assert len(edits) == 2 and "rejected this request" in edits[0].params["text"]
    await asyncio.sleep(0.3)
    told = [m for m in tg.bot_messages(USER) if "rejected this request" in m.get("text", "")]
    assert len(told) == 1  # the status message, turned into the notice; no second message
