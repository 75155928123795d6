"""Who pays for a request, and who can be banned: the user, or the chat a message was sent on
behalf of (an anonymous group admin: the group; a user posting as one of their channels: that
channel, never the group it was posted in; a channel post: the channel). Per-identity limits
and bans apply to that payer; chat limits to the chat the message was posted in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.config import ConfigError, load_settings
from bot.domain.access import AccessPolicy, payer_of
from playground.fake_telegram import Call, FakeTelegram
from tests.conftest import API_KEY, BOT_TOKEN
from tests.quota import quota_used

USER = 1001
OTHER = 2002
ADMIN = 9009
PUBLIC_GROUP = -100123
OWN_GROUP = -100456
CHANNEL = -100777
SECOND_CHANNEL = -100778


def creates(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.method == "POST"]


def said_in(tg: FakeTelegram, chat_id: int, fragment: str) -> list[Call]:
    return [
        c
        for c in tg.calls
        if c.method in ("sendMessage", "editMessageText")
        and c.ok
        and str(c.params["chat_id"]) == str(chat_id)
        and fragment in c.params["text"]
    ]


async def reply_containing(tg: FakeTelegram, fragment: str, chat_id: int) -> Call:
    return await tg.wait_for_call(
        "sendMessage",
        lambda c: fragment in c.params["text"] and str(c.params["chat_id"]) == str(chat_id),
        timeout=15,
    )


async def used(bot: Any, payer: int) -> int:
    return await quota_used(bot.runtime.repository, payer)


async def ban(tg: FakeTelegram, target: int) -> None:
    tg.user_sends(f"/ban {target}", user_id=ADMIN)
    await tg.wait_for_call(
        "sendMessage",
        lambda c: (
            str(c.params["chat_id"]) == str(ADMIN) and f"{target} is banned" in c.params["text"]
        ),
        timeout=15,
    )


@pytest.mark.unit
def test_the_payer_is_the_chat_a_message_was_sent_on_behalf_of_else_the_user() -> None:
    assert payer_of(USER, None, PUBLIC_GROUP) == USER
    assert payer_of(None, CHANNEL, PUBLIC_GROUP) == CHANNEL  # posted as a channel in a group
    assert payer_of(None, PUBLIC_GROUP, PUBLIC_GROUP) == PUBLIC_GROUP  # an anonymous admin
    assert payer_of(None, None, CHANNEL) == CHANNEL  # a channel post without sender_chat


@pytest.mark.unit
@pytest.mark.parametrize(
    ("daily", "chat_identity", "user_allowance", "chat_allowance"),
    [
        (3, None, 3, 3),  # unset: as DAILY_QUOTA
        (0, None, None, None),  # unset and DAILY_QUOTA=0: unlimited for both
        (3, 0, 3, 0),  # 0: credits only
        (0, 0, None, 0),
        (3, 1, 3, 1),
    ],
)
def test_chat_identity_daily_quota_semantics(
    daily: int, chat_identity: int | None, user_allowance: int | None, chat_allowance: int | None
) -> None:
    policy = AccessPolicy(daily_quota=daily, chat_identity_daily_quota=chat_identity)
    assert policy.rules_for(USER, USER, PUBLIC_GROUP).payer_daily == user_allowance
    assert policy.rules_for(None, CHANNEL, PUBLIC_GROUP).payer_daily == chat_allowance


@pytest.mark.unit
@pytest.mark.parametrize(("value", "expected"), [("", None), ("0", 0), ("5", 5)])
def test_chat_identity_daily_quota_setting(value: str, expected: int | None) -> None:
    loaded = load_settings(
        _env_file=None,
        telegram_bot_token=BOT_TOKEN,
        luma_api_key=API_KEY,
        chat_identity_daily_quota=value,
    )
    assert loaded.chat_identity_daily_quota == expected


@pytest.mark.unit
def test_a_bad_chat_identity_daily_quota_stops_the_bot_with_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^CHAT_IDENTITY_DAILY_QUOTA is invalid: "):
        load_settings(
            _env_file=None,
            telegram_bot_token=BOT_TOKEN,
            luma_api_key=API_KEY,
            chat_identity_daily_quota="-1",
        )


async def test_a_user_posting_as_their_channel_in_a_group_is_charged_to_the_channel(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=1)
    tg.chat_sends("/video a jellyfish", chat_id=PUBLIC_GROUP, sender_chat_id=CHANNEL)
    await tg.wait_for_video(timeout=15)
    job = await bot.runtime.repository.get_job(1)
    assert job is not None and job.payer_id == CHANNEL and job.chat_id == PUBLIC_GROUP
    assert await used(bot, CHANNEL) == 1 and await used(bot, PUBLIC_GROUP) == 0
    # The channel's one video is spent; the group's own anonymous admin still has theirs.
    tg.chat_sends("/video another", chat_id=PUBLIC_GROUP, sender_chat_id=CHANNEL)
    await reply_containing(tg, "used all 1 free credits for today", PUBLIC_GROUP)
    tg.chat_sends("/video the group's own", chat_id=PUBLIC_GROUP, sender_chat_id=PUBLIC_GROUP)
    await tg.wait_for_video(count=2, timeout=15)
    assert len(creates(emulator)) == 2


async def test_a_banned_channel_is_refused_when_its_owner_posts_as_it_in_a_public_group(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(admin_user_ids=frozenset({ADMIN}))
    await ban(tg, OTHER)
    await ban(tg, CHANNEL)
    tg.chat_sends("/video let me anyway", chat_id=PUBLIC_GROUP, sender_chat_id=CHANNEL)
    await reply_containing(tg, "can't make videos", PUBLIC_GROUP)
    assert creates(emulator) == []


async def test_a_banned_group_is_refused_as_its_anonymous_admin(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(admin_user_ids=frozenset({ADMIN}))
    await ban(tg, OTHER)
    await ban(tg, OWN_GROUP)
    tg.chat_sends("/video let me anyway", chat_id=OWN_GROUP, sender_chat_id=OWN_GROUP)
    await reply_containing(tg, "can't make videos", OWN_GROUP)
    # A member speaking as themselves is their own identity: not banned, they pay themselves.
    tg.user_sends("/video mine", user_id=USER, chat_id=OWN_GROUP, chat_type="supergroup")
    await tg.wait_for_video(timeout=15)
    assert len(creates(emulator)) == 1


async def test_ban_of_a_channel_id_holds_for_its_posts(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(admin_user_ids=frozenset({ADMIN}))
    await ban(tg, CHANNEL)
    tg.channel_posts("/video for my subscribers", chat_id=CHANNEL)
    await reply_containing(tg, "can't make videos", CHANNEL)
    assert creates(emulator) == []
    tg.user_sends(f"/unban {CHANNEL}", user_id=ADMIN)
    await reply_containing(tg, "no longer banned", ADMIN)
    tg.channel_posts("/video for my subscribers, now", chat_id=CHANNEL)
    await tg.wait_for_video(timeout=15)


async def test_throwaway_groups_and_channels_get_only_their_own_allowance(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # One person, DAILY_QUOTA=1: their own video, then four identities made in seconds.
    await start_bot(daily_quota=1, chat_identity_daily_quota=0)
    tg.user_sends("/video my one video", user_id=USER)
    await tg.wait_for_video(timeout=15)
    tg.chat_sends("/video as my group", chat_id=OWN_GROUP, sender_chat_id=OWN_GROUP)
    tg.chat_sends("/video in another group", chat_id=-100457, sender_chat_id=-100457)
    tg.chat_sends("/video as my channel", chat_id=PUBLIC_GROUP, sender_chat_id=CHANNEL)
    tg.channel_posts("/video in my other channel", chat_id=SECOND_CHANNEL)
    for chat in (OWN_GROUP, -100457, PUBLIC_GROUP, SECOND_CHANNEL):
        await reply_containing(tg, "from your own account", chat)
    assert len(creates(emulator)) == 1


async def test_the_chat_identity_allowance_defaults_to_the_daily_quota(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(daily_quota=1, admin_user_ids=frozenset({ADMIN}))
    tg.channel_posts("/video one", chat_id=CHANNEL)
    await tg.wait_for_video(timeout=15)
    tg.channel_posts("/video two", chat_id=CHANNEL)
    await reply_containing(tg, "used all 1 free credits for today", CHANNEL)
    # Credits granted to the channel's id come on top, as for a user.
    tg.user_sends(f"/grant {CHANNEL} 1", user_id=ADMIN)
    await reply_containing(tg, "now has <b>1</b> extra credits", ADMIN)
    tg.channel_posts("/video three", chat_id=CHANNEL)
    await tg.wait_for_video(count=2, timeout=15)
    job = await bot.runtime.repository.get_job(2)  # the refused request made no job
    assert job is not None and job.paid_with == "credit"


async def test_jobs_in_progress_are_limited_per_payer_across_groups(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(max_active_per_user=1)
    tg.chat_sends("/video [stuck] one", chat_id=PUBLIC_GROUP, sender_chat_id=CHANNEL)
    await tg.wait_until(lambda: creates(emulator), timeout=15)
    tg.chat_sends("/video [stuck] two", chat_id=OWN_GROUP, sender_chat_id=CHANNEL)
    await reply_containing(tg, "in progress", OWN_GROUP)
    assert len(creates(emulator)) == 1


async def test_quota_shows_the_payers_numbers(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(daily_quota=3, chat_identity_daily_quota=1)
    tg.chat_sends("/quota", chat_id=PUBLIC_GROUP, sender_chat_id=CHANNEL)
    reply = await reply_containing(tg, "Free credits left today", PUBLIC_GROUP)
    assert "today: <b>1</b> (0 of 1 used)" in reply.params["text"]
    tg.user_sends("/quota", user_id=USER, chat_id=PUBLIC_GROUP, chat_type="supergroup")
    await tg.wait_for_call(
        "sendMessage", lambda c: "today: <b>3</b> (0 of 3 used)" in c.params["text"]
    )


async def test_an_admin_posting_anonymously_is_not_exempt(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    # Telegram hides who an anonymous admin is, so nothing tells the bot it is its admin.
    await start_bot(daily_quota=3, chat_identity_daily_quota=0, admin_user_ids=frozenset({ADMIN}))
    tg.chat_sends("/video as the group", chat_id=OWN_GROUP, sender_chat_id=OWN_GROUP)
    await reply_containing(tg, "from your own account", OWN_GROUP)
    tg.chat_sends("/stats", chat_id=OWN_GROUP, sender_chat_id=OWN_GROUP)
    await reply_containing(tg, "for the bot's admins", OWN_GROUP)
    assert creates(emulator) == []


async def test_an_automatic_forward_of_a_channel_post_is_not_a_second_request(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot()
    tg.channel_posts("/video for subscribers", chat_id=CHANNEL)
    # Telegram copies the post into the channel's linked discussion group.
    tg.chat_sends(
        "/video for subscribers",
        chat_id=PUBLIC_GROUP,
        sender_chat_id=CHANNEL,
        automatic_forward=True,
    )
    await tg.wait_for_video(timeout=15)
    tg.user_sends("/help", user_id=USER)  # handled after the forward: the forward is done
    await tg.wait_for_call("sendMessage", lambda c: str(c.params["chat_id"]) == str(USER))
    assert len(creates(emulator)) == 1
    assert await bot.runtime.repository.get_job(2) is None
    assert tg.bot_messages(PUBLIC_GROUP) == []


async def test_cancel_is_for_the_identity_that_asked(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    tg.chat_sends("/video [stuck] as the group", chat_id=PUBLIC_GROUP, sender_chat_id=PUBLIC_GROUP)
    status = await reply_containing(tg, "Queued", PUBLIC_GROUP)
    await tg.wait_until(lambda: creates(emulator), timeout=15)
    # Someone posting as their channel in the same group is someone else.
    tg.chat_sends(
        "/cancel",
        chat_id=PUBLIC_GROUP,
        sender_chat_id=CHANNEL,
        reply_to_message_id=status.result["message_id"],
    )
    await reply_containing(tg, "Only the person who asked", PUBLIC_GROUP)
    # The group's anonymous admin is the same identity: their latest job is found.
    tg.chat_sends("/cancel", chat_id=PUBLIC_GROUP, sender_chat_id=PUBLIC_GROUP)
    await reply_containing(tg, "can't be stopped there", PUBLIC_GROUP)


async def test_stats_name_the_channels_that_pay(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot(admin_user_ids=frozenset({ADMIN}))
    tg.chat_sends("/video a jellyfish", chat_id=PUBLIC_GROUP, sender_chat_id=CHANNEL)
    await tg.wait_for_video(timeout=15)
    tg.user_sends("/stats", user_id=ADMIN)
    stats = (await reply_containing(tg, "Last 7 days", ADMIN)).params["text"]
    assert f"Top payers: {CHANNEL} (1)" in stats
    assert f"Top chats: {PUBLIC_GROUP} (1)" in stats
