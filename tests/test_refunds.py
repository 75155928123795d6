"""Who gets a failed video back (docs/reliability.md, "Refunds"): the payer's allowance, and its
place under GLOBAL_DAILY_QUOTA, which stands for the provider's bill. A video the provider made
and billed stays spent for both, even if it could not be delivered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from bot.domain.model import FailureCode, JobState
from playground.fake_telegram import FakeTelegram
from tests.quota import quota_usage

USER = 1001
OTHER = 2002


async def used(bot: Any, payer: int = USER) -> tuple[int, int]:
    """(the payer's daily allowance used, the day's total under GLOBAL_DAILY_QUOTA)."""
    usage = await quota_usage(bot.runtime.repository, payer, payer)
    return usage.payer_daily, usage.everyone


async def failed(bot: Any, job_id: int = 1) -> str:
    for _ in range(150):
        job = await bot.runtime.repository.get_job(job_id)
        if job is not None and job.state is JobState.FAILED:
            return job.failure_code or ""
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not fail")


async def global_cap_refuses(tg: FakeTelegram) -> None:
    tg.user_sends("/video may I?", user_id=OTHER)
    await tg.wait_for_call(
        "sendMessage", lambda c: "I've spent all 1 credits I can today" in c.params["text"]
    )


@pytest.mark.unit
def test_every_failure_reason_has_a_refund_decision() -> None:
    from bot.domain.model import REFUNDS, Refund, refund_for

    assert set(REFUNDS) == set(FailureCode)
    assert refund_for(FailureCode.CHAT_UNREACHABLE, submitted=True) is Refund.NONE
    assert refund_for(FailureCode.TIMEOUT, submitted=False) is Refund.FULL
    assert refund_for(FailureCode.TIMEOUT, submitted=True) is Refund.PAYER


async def test_a_video_made_for_someone_who_blocked_the_bot_stays_spent(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # The user blocks the bot while the video is being made: the provider made and billed it.
    tg.fail_next("editMessageMedia", 403, count=5)
    bot = await start_bot(daily_quota=1, global_daily_quota=1)
    tg.user_sends("/video a jellyfish for nobody", user_id=USER)
    assert await failed(bot) == FailureCode.CHAT_UNREACHABLE
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and not job.refunded
    assert await used(bot) == (1, 1)
    await global_cap_refuses(tg)


async def test_a_moderation_failure_is_refunded_to_the_payer_and_the_bill(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=1, global_daily_quota=1)
    tg.user_sends("/video a jellyfish [fail]", user_id=USER)
    assert await failed(bot) == FailureCode.MODERATION
    assert await used(bot) == (0, 0)
    tg.user_sends("/video a fine one", user_id=OTHER)
    await tg.wait_for_video(timeout=15)


async def test_an_unconfirmed_create_is_refunded_but_stays_on_the_bill(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # Nobody can know whether the provider made (and billed) it: the user is not made to pay
    # for our uncertainty, but the operator's cap counts it.
    emulator.inject_fault(route="create", kind="drop", count=1)
    bot = await start_bot(daily_quota=1, global_daily_quota=1)
    tg.user_sends("/video an expensive jellyfish", user_id=USER)
    assert await failed(bot) == FailureCode.SUBMIT_UNCERTAIN
    assert await used(bot) == (0, 1)
    await global_cap_refuses(tg)


async def test_a_timeout_at_the_provider_is_refunded_but_stays_on_the_bill(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # The provider has the job and may still make (and bill) it after we stopped waiting.
    bot = await start_bot(generation_timeout=1.5, media_link_ttl=60, global_daily_quota=1)
    tg.user_sends("/video a jellyfish that never comes [stuck]", user_id=USER)
    assert await failed(bot) == FailureCode.TIMEOUT
    assert await used(bot) == (0, 1)
    await global_cap_refuses(tg)
