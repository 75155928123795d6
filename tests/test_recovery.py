"""A restarted bot carries every job to its end, and never re-sends an uncertain create."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bot.domain.model import JobState
from tests.fakes.telegram_api import FakeTelegram


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
    await tg.wait_for_call("sendMessage")
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
