"""Quotas per user, chat and day, credits, allowlists, bans, /quota and the admin commands,
through the real application and the fake Bot API; and a Russian-speaking user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playground.fake_telegram import Call, FakeTelegram
from tests.quota import quota_usage, quota_used

USER = 1001
OTHER = 2002
ADMIN = 9009
GROUP = -100123


def creates(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.method == "POST"]


async def reply_containing(tg: FakeTelegram, fragment: str, chat_id: int | None = None) -> Call:
    return await tg.wait_for_call(
        "sendMessage",
        lambda c: (
            fragment in c.params["text"]
            and (chat_id is None or str(c.params["chat_id"]) == str(chat_id))
        ),
        timeout=15,
    )


async def test_the_users_daily_quota_says_when_it_resets(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(daily_quota=1)
    tg.user_sends("/video one")
    await tg.wait_for_video(timeout=15)
    tg.user_sends("/video two")
    refusal = await reply_containing(tg, "used all 1 free credits for today")
    assert "resets at 00:00 UTC, in" in refusal.params["text"]
    assert len(creates(emulator)) == 1


async def test_the_chats_quota_applies_to_everyone_in_it(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(daily_quota=5, chat_daily_quota=1)
    group = {"chat_id": GROUP, "chat_type": "supergroup"}
    tg.user_sends("/video first in the group", user_id=USER, **group)
    await tg.wait_for_video(timeout=15)
    tg.user_sends("/video second in the group", user_id=OTHER, **group)
    refusal = await reply_containing(tg, "This chat has used all 1 credits", GROUP)
    assert "00:00 UTC" in refusal.params["text"]
    tg.user_sends("/video but privately is fine", user_id=OTHER, chat_id=OTHER)
    await tg.wait_for_video(lambda c: str(c.params["chat_id"]) == str(OTHER), timeout=15)


async def test_the_global_cap_protects_the_bill_but_not_admins(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(global_daily_quota=1, admin_user_ids=frozenset({ADMIN}))
    tg.user_sends("/video the only one today", user_id=USER)
    await tg.wait_for_video(timeout=15)
    tg.user_sends("/video one more", user_id=OTHER)
    await reply_containing(tg, "I've spent all 1 credits I can today", OTHER)
    tg.user_sends("/video the admin may", user_id=ADMIN)
    await tg.wait_for_video(lambda c: str(c.params["chat_id"]) == str(ADMIN), timeout=15)


async def test_granted_credits_go_beyond_the_daily_allowance(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=1, admin_user_ids=frozenset({ADMIN}))
    tg.user_sends("/video the daily one", user_id=USER, username="ann")
    await tg.wait_for_video(timeout=15)
    tg.user_sends("/grant @ann 2", user_id=ADMIN)
    await reply_containing(tg, "@ann now has <b>2</b> extra credits", ADMIN)
    tg.user_sends("/quota", user_id=USER)
    quota = await reply_containing(tg, "Your credits", USER)
    assert "Free credits left today: <b>2</b>" not in quota.params["text"]  # 0 free, 2 own
    assert "<b>2</b>" in quota.params["text"]
    tg.user_sends("/video paid with a credit", user_id=USER)
    await tg.wait_for_video(count=2, timeout=15)
    job = await bot.runtime.repository.get_job(2)
    assert job is not None and job.paid_with == "credit"
    assert await quota_used(bot.runtime.repository, USER) == 1


async def test_quota_command_in_a_group_shows_the_chat_too(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(daily_quota=3, chat_daily_quota=10)
    tg.user_sends("/quota@LumaTestBot", chat_id=GROUP, chat_type="supergroup")
    reply = await reply_containing(tg, "Free credits left today", GROUP)
    assert "today: <b>3</b> (0 of 3 used)" in reply.params["text"]
    assert "This chat: <b>10</b> of 10" in reply.params["text"]
    assert "reset at 00:00 UTC" in reply.params["text"]


async def test_quota_for_an_admin_says_there_is_no_daily_limit(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(daily_quota=3, admin_user_ids=frozenset({ADMIN}))
    tg.user_sends("/quota", user_id=ADMIN)
    reply = await reply_containing(tg, "Daily limits reset", ADMIN)
    assert "You have no daily limit." in reply.params["text"]
    assert "Free credits left today" not in reply.params["text"]
    tg.user_sends("/quota", user_id=USER)  # everyone else has one
    reply = await reply_containing(tg, "Daily limits reset", USER)
    assert "today: <b>3</b> (0 of 3 used)" in reply.params["text"]


async def test_allowlists_admit_listed_users_and_chats_only(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(allowed_user_ids=frozenset({USER}), allowed_chat_ids=frozenset({GROUP}))
    tg.user_sends("/video a stranger asks", user_id=OTHER)
    await reply_containing(tg, "this bot is private", OTHER)
    tg.user_sends(
        "/video anyone in the allowed group", user_id=OTHER, chat_id=GROUP, chat_type="supergroup"
    )
    tg.user_sends("/video the allowed user", user_id=USER)
    await tg.wait_until(lambda: len(tg.videos()) == 2, timeout=15)
    refusals = [c for c in tg.calls_of("sendMessage") if "private" in c.params["text"]]
    assert len(refusals) == 1  # once per command, never a loop


async def test_a_banned_user_is_refused_politely_until_unbanned(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(admin_user_ids=frozenset({ADMIN}))
    tg.user_sends(f"/ban {OTHER}", user_id=ADMIN)
    await reply_containing(tg, "is banned", ADMIN)
    tg.user_sends("/video let me", user_id=OTHER)
    await reply_containing(tg, "can't make videos with this bot", OTHER)
    assert creates(emulator) == []
    tg.user_sends(f"/unban {OTHER}", user_id=ADMIN)
    await reply_containing(tg, "no longer banned", ADMIN)
    tg.user_sends("/video let me now", user_id=OTHER)
    await tg.wait_for_video(timeout=15)


async def test_a_banned_users_again_button_is_refused_too(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(admin_user_ids=frozenset({ADMIN}))
    tg.user_sends("/video before the ban", user_id=OTHER)
    video = await tg.wait_for_video(timeout=15)
    await bot.delivered(video.result)
    tg.user_sends(f"/ban {OTHER}", user_id=ADMIN)
    await reply_containing(tg, "is banned", ADMIN)
    tg.press_button(video.result, f"a:{1}", user_id=OTHER)
    answer = await tg.wait_for_call("answerCallbackQuery", timeout=15)
    assert answer.params["show_alert"] and "can't make videos" in answer.params["text"]
    assert len(creates(emulator)) == 1


async def test_admin_commands_are_refused_for_everyone_else(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(admin_user_ids=frozenset({ADMIN}))
    for command in ("/stats", "/grant 1001 5", "/ban 2002", "/unban 2002"):
        tg.user_sends(command, user_id=USER)
    await tg.wait_until(
        lambda: (
            len(
                [
                    c
                    for c in tg.calls_of("sendMessage")
                    if "for the bot's admins" in c.params["text"]
                ]
            )
            == 4
        ),
        timeout=15,
    )
    usage = await quota_usage(bot.runtime.repository, USER, USER)
    assert usage.credits == 0 and not await bot.runtime.repository.is_banned(2002)


async def test_admin_usage_errors_and_stats(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(admin_user_ids=frozenset({ADMIN}))
    tg.user_sends("/video [fail] a jellyfish", user_id=USER, username="ann")
    await tg.wait_for_call("editMessageText", lambda c: "refunded" in c.params["text"], timeout=15)
    tg.user_sends("/video a fine jellyfish", user_id=USER, username="ann")
    await tg.wait_for_video(timeout=15)
    tg.user_sends("/grant @ann lots", user_id=ADMIN)
    await reply_containing(tg, "Usage: <code>/grant", ADMIN)
    tg.user_sends("/ban @nobody_here", user_id=ADMIN)
    await reply_containing(tg, "I don't know @nobody_here", ADMIN)
    tg.user_sends("/ban", user_id=ADMIN)  # whom?
    await reply_containing(tg, "Usage: <code>/ban &lt;user id", ADMIN)
    tg.user_sends("/unban @ann @bob", user_id=ADMIN)  # one at a time
    await reply_containing(tg, "Usage: <code>/unban &lt;user id", ADMIN)
    tg.user_sends("/stats", user_id=ADMIN)
    stats = (await reply_containing(tg, "Last 7 days", ADMIN)).params["text"]
    assert "Today (since 00:00 UTC)" in stats
    assert "Videos: 2 · delivered 1 · in progress 0" in stats
    assert "moderation 1" in stats and "@ann (2)" in stats


async def test_a_russian_speaking_user_gets_russian(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(daily_quota=1)
    tg.user_sends("/video один", language_code="ru")
    status = await tg.wait_for_call("sendMessage", timeout=15)
    assert "В очереди" in status.params["text"]
    await tg.wait_for_video(timeout=15)
    tg.user_sends("/video два", language_code="ru-RU")
    await reply_containing(tg, "Вы потратили все бесплатные кредиты")
    tg.user_sends("/quota", language_code="ru")
    await reply_containing(tg, "Дневные лимиты обновляются")
