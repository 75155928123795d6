"""The crash matrix: `python -m bot` is SIGKILLed at each point of a job's life and restarted.

Every job must end exactly once: one video in the chat, or one explained failure with the quota
refunded; nothing submitted twice once the API gave an id, nothing delivered twice once Telegram
confirmed it. The fakes run in this process, so faults hold the bot exactly where we want it.
On SQLite and on PostgreSQL (conftest's `database`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.domain.model import Job, JobState
from playground.fake_telegram import FakeTelegram
from storage.repository import Repository
from tests.conftest import BotDatabase
from tests.processes import BotProcess, bot_environment, bot_processes
from tests.quota import quota_used

USER = 1001


@pytest.fixture
async def crashable(
    tg: FakeTelegram, emulator: Any, database: BotDatabase, tmp_path: Path
) -> AsyncIterator[tuple[Callable[[], Awaitable[BotProcess]], Repository]]:
    environment = bot_environment(
        tg.root,
        emulator.url,
        database.url,
        JOB_LEASE_SECONDS="2",
        GENERATION_TIMEOUT="60",
        MEDIA_LINK_TTL="120",
    )
    async with bot_processes(environment, database.url, tmp_path) as pair:
        yield pair


async def job_when(repository: Repository, check: Callable[[Job], bool], what: str) -> Job:
    for _ in range(400):
        job = await repository.get_job(1)
        if job is not None and check(job):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job never reached: {what}; last seen {job}")


def creates(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.method == "POST"]


async def settle(tg: FakeTelegram, repository: Repository) -> Job:
    """Wait for the job to end, then let any stray duplicate show up before asserting."""
    job = await job_when(repository, lambda j: j.state.is_final, "a final state")
    await asyncio.sleep(1.0)
    return job


async def assert_delivered_once(
    tg: FakeTelegram, emulator: Any, repository: Repository, *, creates_sent: int = 1
) -> None:
    """One video in the chat, the job delivered and charged once, `creates_sent` creates made."""
    job = await settle(tg, repository)
    assert job.state is JobState.DELIVERED
    assert len(tg.messages_with_video(USER)) == 1
    assert len(creates(emulator)) == creates_sent
    assert await quota_used(repository, USER) == 1


async def test_killed_while_queued_locally_resumes_and_delivers_once(
    tg: FakeTelegram, emulator: Any, crashable: Any
) -> None:
    start, repository = crashable
    emulator.inject_fault(route="create", status=429, retry_after=3, count=1)
    first = await start()
    tg.user_sends("/video queued then killed", user_id=USER)
    await job_when(repository, lambda j: j.state is JobState.QUEUED and j.attempts == 1, "queued")
    await first.kill()
    await start()
    # The refused attempt and one accepted create.
    await assert_delivered_once(tg, emulator, repository, creates_sent=2)


async def test_killed_during_submit_is_refunded_and_never_resent(
    tg: FakeTelegram, emulator: Any, crashable: Any
) -> None:
    # The one ambiguous case: the create may have been charged, and nothing can tell.
    start, repository = crashable
    emulator.inject_fault(route="create", kind="delay", seconds=5, count=1)
    first = await start()
    tg.user_sends("/video killed mid-submit", user_id=USER)
    await tg.wait_until(lambda: len(creates(emulator)) == 1, timeout=15)
    await job_when(repository, lambda j: j.state is JobState.SUBMITTING, "submitting")
    await first.kill()
    await start()
    job = await settle(tg, repository)
    assert job.state is JobState.FAILED and job.failure_code == "submit_uncertain"
    assert job.refunded and await quota_used(repository, USER) == 0
    assert len(creates(emulator)) == 1
    notices = [c for c in tg.calls if c.ok and "did not confirm" in str(c.result)]
    assert len(notices) == 1
    assert tg.messages_with_video(USER) == []


async def test_killed_while_waiting_delivers_once(
    tg: FakeTelegram, emulator: Any, crashable: Any
) -> None:
    start, repository = crashable
    emulator.config.dream_seconds = 3.0
    first = await start()
    tg.user_sends("/video waiting then killed", user_id=USER)
    await job_when(repository, lambda j: j.state is JobState.WAITING, "waiting")
    await first.kill()
    await start()
    await assert_delivered_once(tg, emulator, repository)


async def test_killed_after_completion_before_delivery_delivers_once(
    tg: FakeTelegram, emulator: Any, crashable: Any
) -> None:
    start, repository = crashable
    emulator.inject_fault(route="download", kind="delay", seconds=6, count=1)
    first = await start()
    tg.user_sends("/video done then killed", user_id=USER)
    await job_when(repository, lambda j: j.state is JobState.DELIVERING, "delivering")
    await first.kill()
    await start()
    await assert_delivered_once(tg, emulator, repository)


async def test_killed_during_the_upload_delivers_once(
    tg: FakeTelegram, emulator: Any, crashable: Any
) -> None:
    # The worst moment: Telegram has stored the video, the bot never heard so. The video went
    # into the status message, so the restarted bot's retry replaces it rather than adding one.
    start, repository = crashable
    tg.lose_response_next("editMessageMedia", hold=30)
    first = await start()
    tg.user_sends("/video uploading then killed", user_id=USER)
    await tg.wait_until(lambda: any(c.lost for c in tg.calls_of("editMessageMedia")), timeout=15)
    assert len(tg.messages_with_video(USER)) == 1  # Telegram has it; the bot does not know
    await first.kill()
    await start()
    await assert_delivered_once(tg, emulator, repository)
    assert len(tg.calls_of("editMessageMedia")) == 2


async def test_killed_before_telling_a_failure_tells_it_after_restart(
    tg: FakeTelegram, emulator: Any, crashable: Any
) -> None:
    start, repository = crashable
    emulator.inject_fault(route="create", status=500, count=1)
    tg.delay_next("editMessageText", 30)  # the notice is on its way when the process dies
    first = await start()
    tg.user_sends("/video failed then killed", user_id=USER)
    await job_when(repository, lambda j: j.state is JobState.FAILED, "failed")
    # Killed once the notice has reached Telegram and is held there (before, the restarted
    # process's own notice could meet the delay instead).
    await tg.wait_until(lambda: tg.faults_left("editMessageText") == 0, timeout=15)
    await first.kill()
    assert not any(c.ok for c in tg.calls_of("editMessageText"))  # the notice never arrived
    await start()
    job = await job_when(repository, lambda j: not j.notice_pending, "the user told")
    assert job.refunded and await quota_used(repository, USER) == 0
    await asyncio.sleep(1.0)
    notices = [c for c in tg.calls if c.ok and "did not confirm" in str(c.result)]
    assert len(notices) == 1


async def test_a_hundred_jobs_with_api_errors_and_two_kills_end_exactly_once(
    tg: FakeTelegram, emulator: Any, crashable: Any
) -> None:
    import random

    start, repository = crashable
    emulator.config.error_rates = {500: 0.2, 429: 0.05}
    emulator.random = random.Random(20261121)
    users = list(range(3000, 3100))
    bot = await start()
    for index, user in enumerate(users):
        tg.user_sends(f"/video chaos jellyfish {index}", user_id=user)
        if index % 10 == 9:
            await asyncio.sleep(0.2)
        if index in (30, 65):  # two kills mid-run, wherever the jobs happen to be
            await bot.kill()
            bot = await start()

    async def all_final() -> bool:
        jobs = [await repository.get_job(job_id) for job_id in range(1, 101)]
        return all(job and job.state.is_final and not job.notice_pending for job in jobs)

    for _ in range(1200):
        if await all_final():
            break
        await asyncio.sleep(0.1)
    if not await all_final():
        jobs = [await repository.get_job(job_id) for job_id in range(1, 101)]
        missing = [i + 1 for i, job in enumerate(jobs) if job is None]
        stuck = [(j.id, j.state.value, j.lease_owner) for j in jobs if j and not j.state.is_final]
        raise AssertionError(f"not every job ended: missing {missing}, stuck {stuck}")
    await asyncio.sleep(1.0)

    jobs = [await repository.get_job(job_id) for job_id in range(1, 101)]
    assert await repository.get_job(101) is None  # no request made a second job
    delivered = [job for job in jobs if job and job.state is JobState.DELIVERED]
    failed = [job for job in jobs if job and job.state is JobState.FAILED]
    assert len(delivered) + len(failed) == 100
    assert all(job.refunded for job in failed)
    remote_ids = [job.remote_id for job in delivered]
    assert len(set(remote_ids)) == len(remote_ids)
    for user in users:
        videos = tg.messages_with_video(user)
        notices = [m for m in tg.bot_messages(user) if "refunded" in m.get("text", "")]
        assert len(videos) + len(notices) == 1, (user, videos, notices)
    charged = sum([await quota_used(repository, user) for user in users])
    assert charged == len(delivered)
    assert len(delivered) >= 50  # most get through 20% errors


def help_answers(tg: FakeTelegram) -> list[Any]:
    return [c for c in tg.calls_of("sendMessage") if c.ok and "/video" in c.result["text"]]


async def test_an_update_handled_before_a_crash_is_not_handled_again(
    tg: FakeTelegram, emulator: Any, crashable: Any
) -> None:
    """Polling confirms an update only once it and every update before it were handled.
    Killed with /help answered but an older update still in hand, the bot never confirmed
    either, so Telegram re-sends both to the next process: /help must not be answered twice."""
    start, repository = crashable
    tg.delay_next("answerCallbackQuery", 30)  # holds update 1
    tg.press_inline_button("inline-1", "anything", user_id=USER)  # update 1
    tg.user_sends("/help", user_id=USER)  # update 2
    first = await start()
    await tg.wait_until(lambda: help_answers(tg) and tg.faults_left("answerCallbackQuery") == 0)
    for _ in range(200):  # /help's handling ends by recording it as handled
        if await repository.update_handled(2):
            break
        await asyncio.sleep(0.05)
    await first.kill()
    assert tg.pending_updates() == 2  # neither confirmed: Telegram re-sends both
    await start()
    await tg.wait_until(lambda: any(c.ok for c in tg.calls_of("answerCallbackQuery")))
    await tg.wait_until(lambda: tg.pending_updates() == 0)  # the new process confirmed them
    assert len(help_answers(tg)) == 1


async def test_a_request_resent_after_a_crash_makes_one_job(
    tg: FakeTelegram, emulator: Any, crashable: Any
) -> None:
    """Killed after /video was accepted (the job is stored, the status message on its way),
    before the update counted as handled: the re-sent update reaches the handler again, and the
    job's request key keeps it to one job, one create, one charge."""
    start, repository = crashable
    tg.delay_next("sendMessage", 30)  # the status message is held
    first = await start()
    tg.user_sends("/video a jellyfish sent once", user_id=USER)
    await job_when(repository, lambda j: True, "accepted")
    await tg.wait_until(lambda: tg.faults_left("sendMessage") == 0)
    await first.kill()
    assert tg.pending_updates() == 1
    await start()
    await tg.wait_until(lambda: tg.pending_updates() == 0, timeout=15)
    await assert_delivered_once(tg, emulator, repository)
    assert await repository.get_job(2) is None
    # Recognised as the same request, not stopped by an error (the key's unique index is only
    # the backstop): the user hears nothing but the video and its notice.
    assert not [m for m in tg.bot_messages(USER) if "went wrong" in m.get("text", "")]


# --- stories: a kill mid-story resumes at the shot in progress; one during stitching still
# ends in one video -------------------------------------------------------------------------


async def story_settled(tg: FakeTelegram, repository: Repository) -> Job:
    story = await settle(tg, repository)
    shots = await repository.story_shots(story.id)
    assert (
        story.state is JobState.DELIVERED and [s.state for s in shots] == [JobState.DELIVERED] * 2
    )
    assert len(tg.messages_with_video(USER)) == 1
    assert await quota_used(repository, USER) == 2
    return story


async def test_killed_mid_story_resumes_at_the_shot_in_progress(
    tg: FakeTelegram, emulator: Any, crashable: Any
) -> None:
    start, repository = crashable
    emulator.config.dream_seconds = 2.0
    first = await start()
    tg.user_sends("/story\na kite rises\nit loops in the wind", user_id=USER)

    async def second_shot_waiting() -> bool:
        shots = await repository.story_shots(1)
        return len(shots) == 2 and shots[1].state is JobState.WAITING

    for _ in range(400):
        if await second_shot_waiting():
            break
        await asyncio.sleep(0.05)
    await first.kill()
    await start()
    await story_settled(tg, repository)
    assert len(creates(emulator)) == 2  # no shot asked for twice


async def test_killed_while_stitching_delivers_one_video(
    tg: FakeTelegram, emulator: Any, crashable: Any
) -> None:
    start, repository = crashable
    # The story's first part download (the shots are not downloaded before) hangs.
    emulator.inject_fault(route="download", kind="delay", seconds=6, count=1)
    first = await start()
    tg.user_sends("/story\na kite rises\nit loops in the wind", user_id=USER)
    await job_when(repository, lambda j: j.state is JobState.DELIVERING, "stitching")
    await first.kill()
    await start()
    await story_settled(tg, repository)
