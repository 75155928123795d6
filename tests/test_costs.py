"""What a video costs in credits (COST_RESOLUTION, COST_DURATION, COST_MODEL): free daily credits
first, then the payer's own; refused before anything is charged when they do not cover it; given
back, each part where it came from, when the video fails."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.config import ConfigError, load_settings
from bot.domain.model import JobState
from bot.domain.pricing import Prices
from bot.domain.specs import GenerationSpec
from playground.fake_telegram import FakeTelegram
from tests.conftest import API_KEY, BOT_TOKEN
from tests.quota import quota_usage

USER = 1001


async def usage(bot: Any) -> tuple[int, int, int]:
    """(free credits used today, the day's total under GLOBAL_DAILY_QUOTA, the balance)."""
    used = await quota_usage(bot.runtime.repository, USER, USER)
    return used.payer_daily, used.everyone, used.credits


async def job_in(bot: Any, state: JobState, job_id: int = 1) -> Any:
    for _ in range(300):
        job = await bot.runtime.repository.get_job(job_id)
        if job is not None and job.state is state:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never {state}")


@pytest.mark.unit
def test_a_video_costs_the_product_of_its_options_prices() -> None:
    prices = Prices(resolution={"1080p": 2, "4k": 4}, duration={"9s": 2}, model={"ray-flash-2": 1})
    assert prices.cost(GenerationSpec(prompt="plain")) == 1
    assert prices.cost(GenerationSpec(prompt="x", resolution="4k")) == 4
    assert prices.cost(GenerationSpec(prompt="x", resolution="4k", duration_seconds=9)) == 8
    assert prices.cost(GenerationSpec(prompt="x", resolution="720p", duration_seconds=5)) == 1
    assert prices.listed() == [("1080p", 2), ("4k", 4), ("9s", 2)]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("cost_resolution", "8k:2"),
        ("cost_resolution", "4k:0"),
        ("cost_duration", "5:1"),
        ("cost_model", "ray-2=1"),
        ("cost_model", "ray-2:-1"),
    ],
)
def test_a_bad_price_stops_the_bot_with_one_line_naming_the_variable(
    variable: str, value: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            _env_file=None,
            telegram_bot_token=BOT_TOKEN,
            luma_api_key=API_KEY,
            **{variable: value},
        )
    assert str(caught.value).startswith(f"{variable.upper()} is invalid")
    assert "\n" not in str(caught.value)


@pytest.mark.unit
def test_prices_are_read_from_the_environment_format() -> None:
    settings = load_settings(
        _env_file=None,
        telegram_bot_token=BOT_TOKEN,
        luma_api_key=API_KEY,
        cost_resolution="4K:8, 1080p:3",
    )
    assert settings.cost_resolution == {"4k": 8, "1080p": 3}
    assert settings.cost_duration == {"5s": 1, "9s": 2}  # the default


async def test_a_4k_video_costs_4_credits_and_all_come_back_when_it_fails(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=5, global_daily_quota=10)
    tg.user_sends("/video a jellyfish --res 4k [fail]", user_id=USER)
    job = await job_in(bot, JobState.WAITING)
    assert (job.cost, job.paid_daily, job.paid_credits) == (4, 4, 0)
    assert await usage(bot) == (4, 4, 0)
    job = await job_in(bot, JobState.FAILED)
    assert job.failure_code == "moderation" and job.refunded
    assert await usage(bot) == (0, 0, 0)  # the provider made nothing: no place under the cap


async def test_free_credits_are_spent_first_then_the_balance_and_each_part_comes_back(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=3)
    await bot.runtime.repository.grant_credits(USER, 2, time.time())
    tg.user_sends("/video a jellyfish --res 4k [fail]", user_id=USER)
    job = await job_in(bot, JobState.WAITING)
    assert (job.cost, job.paid_daily, job.paid_credits, job.paid_with) == (4, 3, 1, "credit")
    assert await usage(bot) == (3, 4, 1)
    await job_in(bot, JobState.FAILED)
    assert await usage(bot) == (0, 0, 2)


async def test_a_request_the_payer_cannot_cover_is_refused_before_anything_is_charged(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=3)
    tg.user_sends("/video a jellyfish --res 4k --dur 9s", user_id=USER)
    refusal = await tg.wait_for_call(
        "sendMessage", lambda c: "costs <b>8</b> credits" in c.params["text"]
    )
    assert "you have 3 free today and 0 of your own" in refusal.params["text"]
    assert await bot.runtime.repository.get_job(1) is None
    assert await usage(bot) == (0, 0, 0)
    assert not [r for r in emulator.requests if r.method == "POST"]
    # A video the free credits do cover still goes ahead.
    tg.user_sends("/video a jellyfish --res 1080p", user_id=USER)
    await tg.wait_for_video(timeout=15)
    assert await usage(bot) == (2, 2, 0)


async def test_quota_shows_free_credits_the_balance_and_the_prices(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=3)
    await bot.runtime.repository.grant_credits(USER, 5, time.time())
    tg.user_sends("/quota", user_id=USER)
    reply = await tg.wait_for_call("sendMessage", lambda c: "Free credits" in c.params["text"])
    body = reply.params["text"]
    assert "Free credits left today: <b>3</b>" in body
    assert "Your credits: <b>5</b>" in body
    assert "1080p ×2, 4k ×4, 9s ×2" in body


async def test_a_refusal_credits_would_lift_offers_to_buy_them_while_packs_are_for_sale(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=3, credit_packs="10:100", support_contact="@help")
    tg.user_sends("/video a jellyfish --res 4k --dur 9s", user_id=USER)
    refusal = await tg.wait_for_call(
        "sendMessage", lambda c: c.ok and "costs <b>8</b> credits" in c.params["text"]
    )
    (button,) = [b for row in refusal.result["reply_markup"]["inline_keyboard"] for b in row]
    assert button["callback_data"] == "buy"
    tg.press_button(refusal.result, "buy", user_id=USER)
    packs = await tg.wait_for_call(
        "sendMessage", lambda c: c.ok and "Pick a pack" in c.result["text"]
    )
    assert [
        b["callback_data"] for row in packs.result["reply_markup"]["inline_keyboard"] for b in row
    ] == ["buy:10"]
    assert await bot.runtime.repository.get_job(1) is None
    # In a group the offer is a link into the private chat.
    tg.user_sends(
        "/video a jellyfish --res 4k --dur 9s",
        user_id=USER,
        chat_id=-100555,
        chat_type="supergroup",
    )
    in_group = await tg.wait_for_call(
        "sendMessage",
        lambda c: c.ok and str(c.params["chat_id"]) == "-100555" and "costs" in c.params["text"],
    )
    (link,) = in_group.result["reply_markup"]["inline_keyboard"][0]
    assert link["url"].endswith("?start=buy")


async def test_without_packs_for_sale_a_refusal_offers_nothing_to_buy(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(daily_quota=3)
    tg.user_sends("/video a jellyfish --res 4k --dur 9s", user_id=USER)
    refusal = await tg.wait_for_call(
        "sendMessage", lambda c: c.ok and "costs <b>8</b> credits" in c.params["text"]
    )
    assert "reply_markup" not in refusal.params
