"""Flood control: a sender sending faster than FLOOD_BURST at once (then FLOOD_PER_MINUTE) has
the rest dropped at the door and is told once; everyone else, admins, payments and inline
queries go on as before. Polling and webhook alike."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from bot.__main__ import set_webhook
from playground.fake_telegram import Call, FakeTelegram

USER = 1001
OTHER = 2002
ADMIN = 5005
GROUP = -100777
SECRET = "webhook-secret_42"
SLOW_DOWN = "That is a lot of messages at once"


@pytest.fixture(params=["polling", "webhook"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def start(start_bot: Callable[..., Any], mode: str, **overrides: Any) -> Any:
    values = {"flood_burst": 3, "flood_per_minute": 1, "admin_user_ids": str(ADMIN), **overrides}
    if mode == "polling":
        return await start_bot(**values)
    bot = await start_bot(public=True, telegram_webhook=True, webhook_secret=SECRET, **values)
    assert await set_webhook(bot.runtime.settings) == 0
    return bot


async def settled(tg: FakeTelegram, bot: Any) -> None:
    """Every update delivered (and confirmed), and the last replies sent."""
    if bot.runtime.settings.telegram_webhook:
        await tg.wait_for_webhook_idle(timeout=15)
    else:
        await tg.wait_until(lambda: tg.pending_updates() == 0, timeout=15)
    await asyncio.sleep(0.3)


def replies_to(tg: FakeTelegram, requests: list[dict]) -> list[Call]:
    ids = {(str(r["chat"]["id"]), str(r["message_id"])) for r in requests}
    return [
        call
        for call in tg.calls_of("sendMessage")
        if call.ok
        and (
            str(call.params["chat_id"]),
            str((call.params.get("reply_parameters") or {}).get("message_id")),
        )
        in ids
    ]


def notices(tg: FakeTelegram, chat_id: int) -> list[Call]:
    return [
        c
        for c in tg.calls_of("sendMessage")
        if c.ok and str(c.params["chat_id"]) == str(chat_id) and SLOW_DOWN in c.params["text"]
    ]


async def test_a_flood_is_cut_at_the_burst_and_told_once_while_others_are_answered(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], mode: str
) -> None:
    bot = await start(start_bot, mode)
    flood = [tg.user_sends("/help", user_id=USER) for _ in range(8)]
    other = tg.user_sends("/help", user_id=OTHER)
    admin = [tg.user_sends("/help", user_id=ADMIN) for _ in range(5)]
    await settled(tg, bot)
    answered = [c for c in replies_to(tg, flood) if SLOW_DOWN not in c.params["text"]]
    assert len(answered) == 3  # the burst; the rest dropped before any handler
    assert len(notices(tg, USER)) == 1  # told once for the whole streak
    assert len(replies_to(tg, [other])) == 1
    assert len(replies_to(tg, admin)) == 5  # admins are never limited
    metrics = bot.application.bot_data.metrics.render().decode()
    assert 'luma_bot_updates_total{outcome="flooded"} 5.0' in metrics
    # Nothing dropped reached the database's log of handled updates either: only what was
    # handled is recorded (a dropped update is simply gone).
    handled = [u for u in range(1, 20) if await bot.runtime.repository.update_handled(u)]
    assert len(handled) == 3 + 1 + 5


async def test_a_flood_of_video_requests_charges_only_what_was_let_in(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start(start_bot, "polling", daily_quota=10, max_active_per_user=10)
    for n in range(6):
        tg.user_sends(f"/video a jellyfish number {n}", user_id=USER)
    await tg.wait_until(lambda: len(tg.videos()) == 3, timeout=20)
    await settled(tg, bot)
    assert len([r for r in emulator.requests if r.method == "POST"]) == 3
    assert len(notices(tg, USER)) == 1


async def test_an_album_counts_once_and_is_never_let_in_in_part(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    """Two messages, then an album of two photos: the album takes the last of the burst and
    is let in whole (one video from both frames). A second album finds none left: dropped
    whole, not a photo of it, and told once."""
    bot = await start(start_bot, "polling", public=True)
    for _ in range(2):
        tg.user_sends("/help", user_id=USER)
    tg.user_sends_photo(caption="/video dawn to dusk", media_group_id="a1")
    tg.user_sends_photo(media_group_id="a1")
    tg.user_sends_photo(caption="/video dusk to dawn", media_group_id="a2")
    tg.user_sends_photo(media_group_id="a2")
    await tg.wait_for_video(timeout=15)
    await settled(tg, bot)
    await asyncio.sleep(0.5)  # the album collector's wait: a second album would be taken now
    (create,) = [r for r in emulator.requests if r.method == "POST"]
    assert create.json["prompt"] == "dawn to dusk"
    assert set(create.json["keyframes"]) == {"frame0", "frame1"}
    assert len(notices(tg, USER)) == 1


async def test_button_presses_count_and_the_alert_is_shown_once(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start(start_bot, "polling")
    request = tg.user_sends("/history", user_id=USER)
    await settled(tg, bot)
    (listing,) = replies_to(tg, [request])
    queries = [
        tg.press_button(listing.result, "h:1001:0", user_id=USER, crafted=True) for _ in range(6)
    ]
    await settled(tg, bot)
    answers = {c.params["callback_query_id"]: c for c in tg.calls_of("answerCallbackQuery")}
    alerts = [a for a in answers.values() if SLOW_DOWN in str(a.params.get("text"))]
    assert len(alerts) == 1 and str(alerts[0].params.get("show_alert")).lower() == "true"
    # The burst was pressed (the first /history used one): two presses handled, one told.
    assert len([q for q in queries if q["id"] in answers]) == 3


async def test_an_anonymous_admin_flooding_a_group_counts_as_the_group_and_is_told_there(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start(start_bot, "polling")
    sent = [
        tg.chat_sends("/help@LumaTestBot", chat_id=GROUP, sender_chat_id=GROUP) for _ in range(5)
    ]
    await settled(tg, bot)
    answered = [c for c in replies_to(tg, sent) if SLOW_DOWN not in c.params["text"]]
    assert len(answered) == 3 and len(notices(tg, GROUP)) == 1


async def test_a_payment_is_never_dropped_however_fast_its_buyer_was(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start(start_bot, "polling", credit_packs="10:100", support_contact="@help")
    buy = tg.user_sends("/buy", user_id=USER)
    await settled(tg, bot)
    (packs,) = replies_to(tg, [buy])
    tg.press_button(packs.result, "buy:10", user_id=USER)
    await tg.wait_until(lambda: tg.invoices, timeout=15)
    for _ in range(5):  # the allowance is gone
        tg.user_sends("/help", user_id=USER)
    await settled(tg, bot)
    attempt = await tg.user_pays(tg.invoices[0].message, user_id=USER)
    assert attempt.paid, attempt.error
    await tg.wait_until(
        lambda: any("Payment received" in c.params["text"] for c in tg.calls_of("sendMessage")),
        timeout=15,
    )
    assert await bot.runtime.repository.balance(USER) == 10
