"""Promo codes and referral links through the real application and the fake Bot API: an admin's
/promo, /redeem and the `start=<code>` deep link once per identity (a group or channel acting as
itself is one), expired and used-up codes, bad input, bans; `start=ref<id>` recorded only for a
new user, never for oneself, first link winning; /invite."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.config import load_settings
from bot.domain.model import PromoCode
from bot.domain.promos import StartPromo, StartReferral, parse_promo, read_start_parameter
from playground.fake_telegram import FakeTelegram
from tests.conftest import API_KEY, BOT_TOKEN, BotDatabase

USER = 1001
OTHER = 2002
NEWCOMER = 3003
ADMIN = 9009
GROUP = -100456
CHANNEL = -100777

HELP = "I turn your words and photos into short AI videos"


def replies_to(tg: FakeTelegram, message: dict) -> list[str]:
    """What the bot said in answer to `message` (a message dict), in order."""
    return [
        call.params["text"]
        for call in tg.calls
        if call.method == "sendMessage"
        and call.ok
        and str(call.params["chat_id"]) == str(message["chat"]["id"])
        and str((call.params.get("reply_parameters") or {}).get("message_id"))
        == str(message["message_id"])
    ]


async def reply_to(tg: FakeTelegram, message: dict) -> str:
    """The bot's first answer to `message`."""
    await tg.wait_until(lambda: replies_to(tg, message), timeout=15)
    return replies_to(tg, message)[0]


async def promo(tg: FakeTelegram, args: str) -> str:
    return await reply_to(tg, tg.user_sends(f"/promo {args}", user_id=ADMIN, username="boss"))


async def redeem(tg: FakeTelegram, code: str, user_id: int = USER) -> str:
    return await reply_to(tg, tg.user_sends(f"/redeem {code}", user_id=user_id))


async def referrals(database: BotDatabase) -> dict[int, int]:
    rows = (await database.tables())["referrals"]
    return {int(row["user_id"]): int(row["referrer_id"]) for row in rows}


async def test_a_code_is_redeemed_once_per_person_and_by_everyone_else_once_too(
    tg: FakeTelegram, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(admin_user_ids=frozenset({ADMIN}))
    created = await promo(tg, "spring25 5 10 30")
    assert "Promo code <code>SPRING25</code>: <b>5</b> credits" in created
    assert "10 uses left · valid until " in created
    assert "https://t.me/LumaTestBot?start=SPRING25" in created
    answer = await redeem(tg, "Spring25")  # any case
    assert "<b>5</b> credits added. Your balance: <b>5</b> credits" in answer
    assert "already redeemed <code>SPRING25</code>" in await redeem(tg, "SPRING25")
    assert "<b>5</b> credits added" in await redeem(tg, "spring25", user_id=OTHER)
    repository = bot.runtime.repository
    assert (await repository.balance(USER), await repository.balance(OTHER)) == (5, 5)
    quota = await reply_to(tg, tg.user_sends("/quota"))
    assert "Your credits: <b>5</b>" in quota


async def test_a_group_or_channel_acting_as_itself_redeems_as_itself(
    tg: FakeTelegram, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(admin_user_ids=frozenset({ADMIN}))
    await promo(tg, "TEAM 3")
    as_group = tg.chat_sends("/redeem team", chat_id=GROUP, sender_chat_id=GROUP)
    assert "<b>3</b> credits added" in await reply_to(tg, as_group)
    again = tg.chat_sends("/redeem TEAM", chat_id=GROUP, sender_chat_id=GROUP)
    assert "already redeemed" in await reply_to(tg, again)
    as_channel = tg.chat_sends("/redeem TEAM", chat_id=GROUP, sender_chat_id=CHANNEL)
    assert "<b>3</b> credits added" in await reply_to(tg, as_channel)
    # A member of the group, as themselves, is another identity still.
    member = tg.user_sends("/redeem TEAM", user_id=USER, chat_id=GROUP, chat_type="supergroup")
    assert "<b>3</b> credits added" in await reply_to(tg, member)
    repository = bot.runtime.repository
    balances = [await repository.balance(payer) for payer in (GROUP, CHANNEL, USER)]
    assert balances == [3, 3, 3]


async def test_expired_used_up_and_unknown_codes_get_a_clear_answer(
    tg: FakeTelegram, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(admin_user_ids=frozenset({ADMIN}))
    await promo(tg, "ONCE 2 1")
    assert "<b>2</b> credits added" in await redeem(tg, "ONCE")
    assert "<code>ONCE</code> has been used up" in await redeem(tg, "ONCE", user_id=OTHER)
    # No one waits days in a test: a code that expired a second ago.
    stale = PromoCode(code="STALE", credits=2, expires_at=time.time() - 1, created_at=time.time())
    await bot.runtime.repository.create_promo(stale)
    assert "<code>STALE</code> has expired" in await redeem(tg, "stale", user_id=OTHER)
    assert "I don't know the code <code>NOPE</code>" in await redeem(tg, "nope", user_id=OTHER)
    assert "I don't know the code <code>BUY</code>" in await redeem(tg, "buy", user_id=OTHER)
    assert await bot.runtime.repository.balance(OTHER) == 0


@pytest.mark.parametrize(
    "text",
    [
        "/redeem",
        "/redeem two words",
        "/redeem ab",  # too short
        "/redeem <b>",
        "/redeem кодовое",  # not A-Z
    ],
)
async def test_redeem_without_a_proper_code_shows_how(
    tg: FakeTelegram, start_bot: Callable[..., Any], text: str
) -> None:
    await start_bot()
    assert "<code>/redeem SPRING25</code>" in await reply_to(tg, tg.user_sends(text))


async def test_a_deep_link_redeems_its_code_and_unknown_parameters_still_greet(
    tg: FakeTelegram, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(admin_user_ids=frozenset({ADMIN}))
    await promo(tg, "WELCOME 4")
    link = tg.user_sends("/start WELCOME")
    assert "<code>WELCOME</code> redeemed: <b>4</b> credits added" in await reply_to(tg, link)
    assert "already redeemed" in await reply_to(tg, tg.user_sends("/start welcome"))
    for parameter in ("nosuchcode", "ref", "x" * 65, "a!b"):
        greeted = await reply_to(tg, tg.user_sends(f"/start {parameter}"))
        assert HELP in greeted
    # `buy` is never a code: it opens the shop (here: nothing for sale), not a redemption.
    assert "Nothing is for sale" in await reply_to(tg, tg.user_sends("/start buy"))
    assert await bot.runtime.repository.balance(USER) == 4
    assert len(replies_to(tg, link)) == 1  # the answer, not the greeting too


async def test_bad_promo_input_gets_the_usage_and_an_existing_code_is_kept(
    tg: FakeTelegram, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(admin_user_ids=frozenset({ADMIN}))
    for args in (
        "",
        "ONLYCODE",
        "AB 5",  # too short
        "C" * 33 + " 5",  # too long
        "BAD! 5",
        "BUY 5",
        "REFUND 5",  # ref… are referral links
        "GOOD 0",
        "GOOD -5",
        "GOOD 10001",
        "GOOD five",
        "GOOD 5 -1",
        "GOOD 5 1 x",
        "GOOD 5 1 3651",
        "GOOD 5 1 1 extra",
        "GOOD ５",  # a full-width digit
    ):
        assert "Usage: <code>/promo &lt;code&gt;" in await promo(tg, args), args
    assert await bot.runtime.promos.active() == []
    await promo(tg, "GOOD 5 0 0")
    answer = await promo(tg, "good 500")
    assert "<code>GOOD</code> exists already" in answer
    [kept] = await bot.runtime.promos.active()
    assert (kept.credits, kept.uses_left, kept.expires_at) == (5, None, None)
    refused = await reply_to(tg, tg.user_sends("/promo FREE 100", user_id=USER))
    assert "for the bot's admins" in refused
    assert len(await bot.runtime.promos.active()) == 1


async def test_a_banned_identity_cannot_redeem(
    tg: FakeTelegram, start_bot: Callable[..., Any]
) -> None:
    bot = await start_bot(admin_user_ids=frozenset({ADMIN}))
    await promo(tg, "GIFT 5")
    await reply_to(tg, tg.user_sends(f"/ban {GROUP}", user_id=ADMIN))
    as_group = tg.chat_sends("/redeem GIFT", chat_id=GROUP, sender_chat_id=GROUP)
    assert "you can't make videos with this bot" in await reply_to(tg, as_group)
    link = tg.chat_sends("/start GIFT", chat_id=GROUP, sender_chat_id=GROUP)
    assert "you can't make videos with this bot" in await reply_to(tg, link)
    assert await bot.runtime.repository.balance(GROUP) == 0


async def test_stats_list_the_active_codes(tg: FakeTelegram, start_bot: Callable[..., Any]) -> None:
    await start_bot(admin_user_ids=frozenset({ADMIN}))
    stats = await reply_to(tg, tg.user_sends("/stats", user_id=ADMIN))
    assert "<b>Active promo codes</b>: none" in stats
    await promo(tg, "SPRING 5 10")
    await promo(tg, "ONCE 1 1")
    await redeem(tg, "SPRING")
    await redeem(tg, "ONCE")
    stats = await reply_to(tg, tg.user_sends("/stats", user_id=ADMIN))
    assert "<code>SPRING</code>: 5 credits · redeemed 1 · 9 uses left · no expiry" in stats
    assert "ONCE" not in stats  # used up


async def test_a_referral_link_counts_for_a_new_user_only_first_link_winning(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], database: BotDatabase
) -> None:
    await start_bot(referral_credits=3)
    assert len(tg.commands) == 2  # English and Russian
    for menu in tg.commands.values():  # every language's menu offers /invite
        assert "invite" in [command["command"] for command in menu]
    invite = await reply_to(tg, tg.user_sends("/invite", user_id=USER))
    assert f"https://t.me/LumaTestBot?start=ref{USER}" in invite
    assert "you get <b>3</b> credits" in invite
    # A newcomer starting the bot with it is greeted as ever, and recorded as referred.
    greeted = await reply_to(tg, tg.user_sends(f"/start ref{USER}", user_id=NEWCOMER))
    assert HELP in greeted and "/invite" in greeted
    assert await referrals(database) == {NEWCOMER: USER}
    # Their second link, their own, and a user who already made a video change nothing.
    for sender, referrer in ((NEWCOMER, OTHER), (OTHER, OTHER), (USER, OTHER)):
        if sender == USER:
            tg.user_sends("/video a jellyfish", user_id=USER)
            await tg.wait_for_video(timeout=15)
        assert HELP in await reply_to(tg, tg.user_sends(f"/start ref{referrer}", user_id=sender))
    assert await referrals(database) == {NEWCOMER: USER}


async def test_invitations_are_personal_and_off_without_a_bonus(
    tg: FakeTelegram, start_bot: Callable[..., Any], database: BotDatabase
) -> None:
    bot = await start_bot(referral_credits=2)
    as_group = tg.chat_sends("/invite", chat_id=GROUP, sender_chat_id=GROUP)
    assert "Invitation links are personal" in await reply_to(tg, as_group)
    await bot.stop()
    await start_bot()  # REFERRAL_CREDITS=0
    for menu in tg.commands.values():
        assert "invite" not in [command["command"] for command in menu]
    assert "no invitation bonus" in await reply_to(tg, tg.user_sends("/invite"))
    assert "/invite" not in await reply_to(tg, tg.user_sends("/help"))
    # Links are still recorded (the bonus may be switched on later); /invite is not shown.
    await reply_to(tg, tg.user_sends(f"/start ref{USER}", user_id=NEWCOMER))
    assert await referrals(database) == {NEWCOMER: USER}


@pytest.mark.unit
@pytest.mark.parametrize(
    ("parameter", "meaning"),
    [
        ("spring-25_x", StartPromo("SPRING-25_X")),
        ("ref1001", StartReferral(1001)),
        ("REF1001", StartReferral(1001)),
        ("ref0", None),
        ("ref", None),
        ("reference", None),  # ref…: never a code
        ("buy", None),  # the credit packs
        ("Buy", None),
        ("ab", None),
        ("x" * 33, None),
        ("a.b", None),
    ],
)
def test_what_a_start_parameter_means(
    parameter: str, meaning: StartPromo | StartReferral | None
) -> None:
    assert read_start_parameter(parameter) == meaning


@pytest.mark.unit
def test_a_promo_with_uses_and_days_and_one_without() -> None:
    made = parse_promo(["Spring", "5", "100", "30"], by=ADMIN, now=1000.0)
    assert made is not None
    assert (made.code, made.credits, made.uses_left) == ("SPRING", 5, 100)
    assert made.expires_at == 1000.0 + 30 * 86_400
    endless = parse_promo(["SPRING", "5"], by=ADMIN, now=1000.0)
    assert endless is not None and (endless.uses_left, endless.expires_at) == (None, None)


@pytest.mark.unit
def test_referral_credits_come_from_their_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFERRAL_CREDITS", "7")
    loaded = load_settings(_env_file=None, telegram_bot_token=BOT_TOKEN, luma_api_key=API_KEY)
    assert loaded.referral_credits == 7
