"""Failures people understand: each cause its own message, quota refunded, and operator
problems (bad key, no credits) alerted to the admins once per incident."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.generations import utc_day
from tests.conftest import API_KEY
from tests.fakes.telegram_api import FakeTelegram

USER = 1001
ADMIN = 5005


async def used(bot: Any, user_id: int = USER) -> int:
    return await bot.runtime.repository.quota_used(user_id, utc_day(time.time()))


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
