"""A restarted bot carries every job to its end, and never re-sends an uncertain create.

And a worker's own error paths, on a running bot: a lease renewal the database refuses, a job
another bot took over, a step that raised what nobody expected (the database failing for a
moment, an answer PTB cannot read), a configuration that changed under a queued job."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from bot.domain.model import Job, JobState
from emulator.assets import VIDEO_FILE, sample_bytes
from playground.fake_telegram import FakeTelegram
from tests.conftest import BotDatabase
from tests.quota import quota_usage
from tests.test_delivery import result_host, the_video


async def test_a_job_waiting_at_shutdown_is_delivered_after_restart(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    emulator.config.dream_seconds = 1.5
    first = await start_bot()
    tg.user_sends("/video a jellyfish across a restart", user_id=1001)

    async def submitted() -> bool:
        job = await first.runtime.repository.get_job(1)
        return job is not None and job.state is JobState.WAITING

    deadline = time.monotonic() + 10
    while not await submitted():
        assert time.monotonic() < deadline, "the job was never submitted"
        await asyncio.sleep(0.05)
    # Stop the first bot mid-generation (its lease is released), then start a fresh one.
    await first.stop()
    second = await start_bot()
    sent = await tg.wait_for_video(timeout=20)
    assert "across a restart" in sent.result["caption"]
    await asyncio.sleep(0.3)
    assert len(tg.videos()) == 1
    assert len([r for r in emulator.requests if r.method == "POST"]) == 1
    job = await second.runtime.repository.get_job(1)
    assert job is not None and job.state is JobState.DELIVERED


async def test_a_job_caught_mid_submit_is_refunded_not_resent(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    repository = bot.runtime.repository
    await bot.runtime.worker.stop()  # only this test's hand moves the job
    tg.user_sends("/video an uncertain jellyfish", user_id=1001)
    # The handler is done with the row once it has recorded the status message; not when
    # Telegram has seen that message. Before then, its write may hold the row locked, and a
    # claim (FOR UPDATE SKIP LOCKED on PostgreSQL) passes over it; or the notice below may
    # find no status message to edit yet, and reply instead.
    await job_when(repository, lambda j: j.status_message_id is not None, "was announced")
    # A process that died while its create request was in flight left this behind:
    now = time.time()
    (job,) = await repository.claim_due("dead-worker", limit=1, lease_seconds=0.01, now=now)
    assert await repository.mark_submitting(job.id, "dead-worker", now)
    await asyncio.sleep(0.05)

    await bot.runtime.worker.start()
    notice = await tg.wait_for_call(
        "editMessageText", lambda c: "did not confirm" in c.params["text"], timeout=10
    )
    assert "refunded" in notice.params["text"]
    assert [r for r in emulator.requests if r.method == "POST"] == []
    final = await repository.get_job(job.id)
    assert final is not None and final.state is JobState.FAILED and final.refunded


async def test_a_graceful_stop_lets_a_started_upload_finish(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    tg.delay_next("editMessageMedia", 1.0)  # the upload takes a while
    first = await start_bot()
    tg.user_sends("/video a jellyfish uploading at shutdown", user_id=1001)
    await tg.wait_until(lambda: bool(tg.calls_of("sendChatAction")), timeout=15)
    await first.stop()  # SIGTERM during the upload
    assert len(tg.messages_with_video(1001)) == 1
    second = await start_bot()
    await asyncio.sleep(1.5)  # a restart must not send it again
    assert len(tg.messages_with_video(1001)) == 1
    job = await second.runtime.repository.get_job(1)
    assert job is not None and job.state is JobState.DELIVERED


# --- a worker's error paths: leases, unexpected errors, a changed configuration (issue 15) ----

USER = 1001
# What the database says when `database_refusing` refuses a write.
REFUSED = "the database failed for a moment"
# A lease renewal: the same owner, a later expiry, nothing else (a claim also sets updated_at).
RENEWAL = (
    "NEW.lease_owner = OLD.lease_owner AND NEW.lease_until > OLD.lease_until"
    " AND NEW.updated_at = OLD.updated_at"
)


def leases_of(owner: str) -> str:
    """Every claim or renewal of a lease by `owner`."""
    return (
        f"NEW.lease_owner = '{owner}' AND NEW.lease_until IS NOT NULL"
        " AND (OLD.lease_until IS NULL OR NEW.lease_until <> OLD.lease_until)"
    )


async def run_sql(database: BotDatabase, sql: str, *values: Any) -> None:
    """One statement beside the bot, as another replica's would be (SQLite in a thread: the
    bot's own connection needs the event loop to finish a write)."""
    if database.path is not None:
        path = database.path

        def run() -> None:
            with contextlib.closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as db:
                db.execute(sql.replace("$1", "?1").replace("$2", "?2"), values)

        await asyncio.to_thread(run)
        return
    connection = await asyncpg.connect(database.url)
    try:
        await connection.execute(sql, *values)
    finally:
        await connection.close()


@asynccontextmanager
async def database_refusing(database: BotDatabase, when: str) -> AsyncIterator[None]:
    """While inside, every UPDATE of a job for which `when` holds (SQL over OLD and NEW, the
    same in both dialects) fails, as a database failing for a moment does: the bot gets its
    driver's own error (sqlite3.IntegrityError, asyncpg's RaiseError) saying REFUSED."""
    if database.path is not None:
        await run_sql(
            database,
            f"CREATE TRIGGER refuse_writes BEFORE UPDATE ON generations FOR EACH ROW WHEN {when}"
            f" BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END",
        )
        drop = "DROP TRIGGER refuse_writes"
    else:
        await run_sql(
            database,
            "CREATE OR REPLACE FUNCTION refuse_writes() RETURNS trigger LANGUAGE plpgsql"
            f" AS $$ BEGIN RAISE EXCEPTION '{REFUSED}'; END $$",
        )
        await run_sql(
            database,
            "CREATE TRIGGER refuse_writes BEFORE UPDATE ON generations FOR EACH ROW"
            f" WHEN ({when}) EXECUTE FUNCTION refuse_writes()",
        )
        drop = "DROP TRIGGER refuse_writes ON generations"
    try:
        yield
    finally:
        await run_sql(database, drop)


async def job_when(repository: Any, check: Callable[[Job], bool], what: str) -> Job:
    job = None
    for _ in range(400):
        job = await repository.get_job(1)
        if job is not None and check(job):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"the job never {what}: {job}")


async def logged(caplog: pytest.LogCaptureFixture, words: str) -> logging.LogRecord:
    """The first log record saying `words`, once there is one."""
    for _ in range(400):
        for record in caplog.records:
            if words in record.getMessage():
                return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"never logged: {words!r}")


def told(job: Job) -> bool:
    """Failed, and its user told (or given up on)."""
    return job.state is JobState.FAILED and not job.notice_pending


def creates(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.method == "POST"]


async def usage(bot: Any) -> tuple[int, int]:
    """(the user's daily allowance used, the day's total under GLOBAL_DAILY_QUOTA)."""
    used = await quota_usage(bot.runtime.repository, USER, USER)
    return used.payer_daily, used.everyone


async def test_a_lease_renewal_the_database_refuses_is_logged_and_the_lease_kept(
    tg: FakeTelegram,
    emulator: Any,
    database: BotDatabase,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = await start_bot(job_lease_seconds=3)  # renewed every second
    repository = bot.runtime.repository
    tg.user_sends("/video a jellyfish in no hurry [stuck]", user_id=USER)
    await job_when(repository, lambda j: j.state is JobState.WAITING, "was submitted")
    async with database_refusing(database, RENEWAL):
        failure = await logged(caplog, "job 1: lease renewal failed")
        refused = await repository.get_job(1)
    assert failure.exc_info is not None and REFUSED in str(failure.exc_info[1])
    assert refused is not None and refused.lease_until is not None
    # The database is back: the same worker renews the lease at its next turn (a renewal leaves
    # updated_at alone, a new claim would not), and carries the job to its end.
    renewed = await job_when(
        repository, lambda j: (j.lease_until or 0) > (refused.lease_until or 0), "was renewed"
    )
    assert renewed.lease_owner == refused.lease_owner == bot.runtime.worker.owner
    assert renewed.updated_at == refused.updated_at
    (generation_id,) = emulator.generations
    emulator.force_state(generation_id, "completed")
    video = await tg.wait_for_video(timeout=15)
    await bot.delivered(video.result)
    assert len(tg.messages_with_video(USER)) == 1
    assert len(creates(emulator)) == 1 and await usage(bot) == (1, 1)


async def test_a_job_whose_lease_lapsed_while_its_worker_carries_it_is_carried_once(
    tg: FakeTelegram,
    emulator: Any,
    database: BotDatabase,
    start_bot: Callable[..., Any],
) -> None:
    """Renewals refused for longer than the lease: the worker's own next claim takes the job
    again (the lease is its own once more), but the worker does not start carrying it a second
    time beside the carrier it already has."""
    bot = await start_bot(job_lease_seconds=2)
    repository = bot.runtime.repository
    tg.user_sends("/video a jellyfish carried once [stuck]", user_id=USER)
    waiting = await job_when(repository, lambda j: j.state is JobState.WAITING, "was submitted")
    async with database_refusing(database, RENEWAL):
        # Only a claim can move the lease now: the lease lapsed and the same worker claimed it.
        claimed = await job_when(
            repository,
            lambda j: (j.lease_until or 0) > (waiting.lease_until or 0),
            "was claimed again",
        )
    assert claimed.lease_owner == bot.runtime.worker.owner
    await asyncio.sleep(0.3)  # a second carrier would be started by now
    carriers = [t for t in asyncio.all_tasks() if t.get_name() == f"job-{claimed.id}"]
    assert len(carriers) == 1
    (generation_id,) = emulator.generations
    emulator.force_state(generation_id, "completed")
    video = await tg.wait_for_video(timeout=15)
    await bot.delivered(video.result)
    await asyncio.sleep(0.5)  # a second carrier would deliver or edit again by now
    assert len(tg.calls_of("editMessageMedia")) == 1
    assert len(tg.messages_with_video(USER)) == 1
    assert len(creates(emulator)) == 1 and await usage(bot) == (1, 1)


async def test_a_worker_whose_job_was_taken_over_stops_carrying_it_and_the_job_ends_once(
    tg: FakeTelegram,
    emulator: Any,
    database: BotDatabase,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = await start_bot(job_lease_seconds=1)
    tg.user_sends("/video a jellyfish in two hands [stuck]", user_id=USER)
    job = await job_when(
        first.runtime.repository, lambda j: j.state is JobState.WAITING, "was submitted"
    )
    assert job.lease_owner == first.runtime.worker.owner
    # The first bot cannot renew its lease (its writes fail: a connection that hangs, say) for
    # longer than the lease lasts, and a second bot on the same database takes the job over.
    async with database_refusing(database, leases_of(first.runtime.worker.owner)):
        second = await start_bot(job_lease_seconds=1)
        await job_when(
            second.runtime.repository,
            lambda j: j.lease_owner == second.runtime.worker.owner,
            "was taken over",
        )
    # At its next renewal the first worker finds the job is another's, and stops carrying it.
    await logged(caplog, "job 1: lease lost; another worker owns it now")
    await tg.wait_until(lambda: first.runtime.worker.in_flight == 0)
    assert second.runtime.worker.in_flight == 1
    (generation_id,) = emulator.generations
    emulator.force_state(generation_id, "completed")
    video = await tg.wait_for_video(timeout=15)
    delivered = await second.delivered(video.result)
    assert delivered.lease_owner is None
    await asyncio.sleep(0.5)  # a stray second upload would show up by now
    assert len(tg.messages_with_video(USER)) == 1 and len(tg.videos()) == 1
    assert len(creates(emulator)) == 1 and await usage(second) == (1, 1)


async def test_a_delivery_the_database_fails_to_record_is_tried_again_and_shown_once(
    tg: FakeTelegram,
    emulator: Any,
    database: BotDatabase,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = await start_bot(generation_timeout=3, media_link_ttl=60, delivery_grace_seconds=1)
    repository = bot.runtime.repository
    async with database_refusing(database, "NEW.state = 'delivered'"):
        tg.user_sends("/video a jellyfish", user_id=USER)
        failure = await logged(caplog, "job 1: unexpected error")
        await logged(caplog, "job 1: will try again")
    assert failure.exc_info is not None and REFUSED in str(failure.exc_info[1])
    # The video is in the chat but not in the database: the job is left for another try at
    # the end of the grace (an unexpected error is tried again at the latest then).
    waiting = await repository.get_job(1)
    assert waiting is not None and waiting.state is JobState.DELIVERING
    assert waiting.lease_owner is None
    assert waiting.next_attempt_at == pytest.approx(waiting.deadline_at + 1)
    assert len(tg.messages_with_video(USER)) == 1
    job = await job_when(repository, lambda j: j.state is JobState.DELIVERED, "was delivered")
    assert job.finished_at is not None and job.finished_at >= job.deadline_at + 1
    # The second try replaced the same status message again: still one video.
    uploads = [c for c in tg.calls_of("editMessageMedia") if c.ok]
    assert [int(c.params["message_id"]) for c in uploads] == [job.video_message_id] * 2
    assert [m["message_id"] for m in tg.messages_with_video(USER)] == [job.video_message_id]
    assert len(creates(emulator)) == 1 and await usage(bot) == (1, 1)


async def test_an_upload_answered_oddly_past_the_grace_ends_as_an_internal_error(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The Bot API (or a proxy in between) answers each upload with a success PTB cannot read:
    # no TelegramError, a step that failed unexpectedly. It is tried again once the deadline
    # and the grace are over, then the job ends, told, with the policy's refund.
    tg.answer_oddly_next("editMessageMedia", count=2)
    bot = await start_bot(
        generation_timeout=2, media_link_ttl=60, delivery_grace_seconds=1, global_daily_quota=1
    )
    repository = bot.runtime.repository
    tg.user_sends("/video a jellyfish", user_id=USER)
    notice = await tg.wait_for_call(
        "editMessageText", lambda c: "went wrong" in c.params["text"], timeout=20
    )
    assert "refunded" in notice.params["text"]
    job = await job_when(repository, told, "was told")
    assert job.state is JobState.FAILED and job.failure_code == "internal_error"
    assert job.failure_reason == "unexpected error (KeyError)"
    assert job.finished_at is not None and job.finished_at >= job.deadline_at + 1
    assert len(tg.calls_of("editMessageMedia")) == 2  # the first try and one more
    assert len([r for r in caplog.records if "will try again" in r.getMessage()]) == 1
    # REFUNDS: the payer gets the unit back; the provider made it, so the bill cap keeps it.
    assert job.refunded and job.billable
    assert await usage(bot) == (0, 1)
    assert tg.messages_with_video(USER) == []


async def test_a_failure_notice_that_cannot_be_sent_is_given_up_after_the_grace(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator.inject_fault(route="create", status=400, message="prompt: not allowed here")
    tg.answer_oddly_next("editMessageText", count=10)  # every try to tell it
    # A failed job's notice is due again a lease after the failure (JOB_LEASE_SECONDS).
    bot = await start_bot(
        generation_timeout=2, media_link_ttl=60, delivery_grace_seconds=0, job_lease_seconds=1
    )
    tg.user_sends("/video a jellyfish", user_id=USER)
    job = await job_when(bot.runtime.repository, told, "was let go")
    assert job.state is JobState.FAILED and job.failure_code == "rejected" and job.refunded
    record = await logged(caplog, "job 1: the failure notice could not be sent; given up")
    assert record.levelno == logging.ERROR
    # Tried in place, again later, until the deadline had passed; then left alone: no fallback
    # reply (the edit raised no BadRequest), and nothing due any more.
    tries = tg.calls_of("editMessageText")
    assert len(tries) >= 2 and all(c.result == {} for c in tries)
    assert all("rejected this request" in c.params["text"] for c in tries)
    assert not [c for c in tg.calls_of("sendMessage") if "rejected" in c.params["text"]]
    assert job.lease_owner is None and job.next_attempt_at is None
    assert await usage(bot) == (0, 0)


async def test_a_database_that_refuses_even_the_giving_up_leaves_the_job_for_later(
    tg: FakeTelegram,
    emulator: Any,
    database: BotDatabase,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator.inject_fault(route="create", status=400, message="prompt: not allowed here")
    bot = await start_bot(
        generation_timeout=2, media_link_ttl=60, delivery_grace_seconds=0, job_lease_seconds=1
    )
    # The user is told, but the database will not record it, nor the giving up at the end.
    async with database_refusing(database, "OLD.notice_pending AND NOT NEW.notice_pending"):
        tg.user_sends("/video a jellyfish", user_id=USER)
        record = await logged(caplog, "job 1: could not end it after the unexpected error")
        assert record.exc_info is not None and REFUSED in str(record.exc_info[1])
        await logged(caplog, "job 1: will try again")
        job = await job_when(bot.runtime.repository, lambda j: j.lease_owner is None, "was let go")
    # Neither lost nor held: released, still to be told, for a later attempt.
    assert job.state is JobState.FAILED and job.notice_pending
    assert job.next_attempt_at is not None and job.next_attempt_at > job.deadline_at
    assert job.refunded and await usage(bot) == (0, 0)


async def test_a_photo_job_queued_when_public_url_is_removed_is_refunded_as_unsupported(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    first = await start_bot(public=True)
    await first.runtime.worker.stop()  # the job waits in the bot's queue meanwhile
    tg.user_sends_photo(caption="/video the sea comes alive", user_id=USER)
    await job_when(
        first.runtime.repository, lambda j: j.status_message_id is not None, "was accepted"
    )
    await first.stop()
    second = await start_bot()  # restarted without PUBLIC_URL: photos cannot be handed over
    notice = await tg.wait_for_call(
        "editMessageText", lambda c: "does not support" in c.params["text"], timeout=15
    )
    assert "PUBLIC_URL" in notice.params["text"] and "refunded" in notice.params["text"]
    job = await job_when(second.runtime.repository, told, "was told")
    assert job.state is JobState.FAILED and job.failure_code == "unsupported"
    assert job.refunded and not job.billable
    assert creates(emulator) == [] and await usage(second) == (0, 0)


async def test_a_job_queued_with_an_option_the_new_family_lacks_is_refunded_as_unsupported(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    first = await start_bot()
    await first.runtime.worker.stop()
    tg.user_sends("/video a jellyfish --loop", user_id=USER)
    await job_when(
        first.runtime.repository, lambda j: j.status_message_id is not None, "was accepted"
    )
    await first.stop()
    second = await start_bot(luma_api_family="aiml-v1")  # the operator switched families
    notice = await tg.wait_for_call(
        "editMessageText", lambda c: "does not support" in c.params["text"], timeout=15
    )
    assert "no loop option" in notice.params["text"] and "refunded" in notice.params["text"]
    job = await job_when(second.runtime.repository, told, "was told")
    assert job.state is JobState.FAILED and job.failure_code == "unsupported"
    assert job.refunded and not job.billable
    assert creates(emulator) == [] and await usage(second) == (0, 0)


async def test_a_worker_that_lost_its_job_mid_download_stops_downloading(
    tg: FakeTelegram,
    emulator: Any,
    database: BotDatabase,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    video = sample_bytes(VIDEO_FILE)
    first_abandoned, second_may_go = asyncio.Event(), asyncio.Event()

    async def storage(request: web.Request, hit: int) -> web.StreamResponse:
        if hit > 1:  # the second bot's download
            await second_may_go.wait()
            return the_video()
        # The first bot's download trickles, and its "Uploading…" status is slow to go out.
        tg.delay_next("editMessageText", 30)
        response = web.StreamResponse(headers={"Content-Length": str(len(video))})
        response.content_type = "video/mp4"
        await response.prepare(request)
        await response.write(video[:64])
        for _ in range(400):  # 20 s, unless the bot hangs up first
            if request.transport is None or request.transport.is_closing():
                first_abandoned.set()
                break
            await asyncio.sleep(0.05)
        return response

    async with result_host(storage) as (cdn, asked):
        emulator.config.public_url = cdn
        first = await start_bot(job_lease_seconds=1)
        tg.user_sends("/video a jellyfish", user_id=USER)
        await tg.wait_until(lambda: len(asked) == 1, timeout=15)
        async with database_refusing(database, leases_of(first.runtime.worker.owner)):
            second = await start_bot(job_lease_seconds=1)
            await tg.wait_until(lambda: len(asked) == 2, timeout=15)  # taken over
        await logged(caplog, "job 1: lease lost; another worker owns it now")
        # The first worker stopped, and hung up its download rather than leave it running.
        await tg.wait_until(lambda: first.runtime.worker.in_flight == 0)
        async with asyncio.timeout(10):
            await first_abandoned.wait()
        second_may_go.set()
        sent = await tg.wait_for_video(timeout=15)
        await second.delivered(sent.result)
    assert len(asked) == 2 and len(tg.messages_with_video(USER)) == 1
    assert len(creates(emulator)) == 1 and await usage(second) == (1, 1)


async def test_an_upload_that_ends_after_another_worker_delivered_the_job_tells_nobody_twice(
    tg: FakeTelegram,
    emulator: Any,
    database: BotDatabase,
    start_bot: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # This worker's upload is slow; meanwhile another worker (its lease having lapsed) took the
    # job over, delivered it into the same message and told the user. When the slow upload ends,
    # the job is no longer this worker's to record: no second "ready" notice.
    tg.delay_next("editMessageMedia", 2.0)
    bot = await start_bot()
    tg.user_sends("/video a jellyfish", user_id=USER)
    await job_when(bot.runtime.repository, lambda j: j.state is JobState.DELIVERING, "delivering")
    await tg.wait_until(lambda: tg.faults_left("editMessageMedia") == 0)  # the upload is held
    await run_sql(
        database,
        "UPDATE generations SET state = 'delivered', lease_owner = NULL, lease_until = NULL,"
        " video_message_id = $1 WHERE id = $2",
        2,
        1,
    )
    await logged(caplog, "job 1: delivered meanwhile by another worker; nothing more")
    await asyncio.sleep(0.3)
    assert not [c for c in tg.calls_of("sendMessage") if "ready" in c.params["text"]]
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.state is JobState.DELIVERED
