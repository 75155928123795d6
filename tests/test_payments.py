"""Buying credits with Telegram Stars, end to end: the real bot against the fake Bot API (its
payments: sendInvoice, pre_checkout_query, successful_payment, refundStarPayment,
getStarTransactions), in polling and in webhook mode, on SQLite and PostgreSQL.

Each purchase must credit exactly once per telegram_payment_charge_id, whatever copies of its
update arrive, and none may be lost (reconciliation finds what the updates did not bring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.__main__ import set_webhook
from tests.fakes.telegram_api import Call, FakeTelegram

BUYER = 1001
ADMIN = 9001
PACKS = "10:100,50:450"
SUPPORT = "@LumaSupport"
SECRET = "webhook-secret_42"


async def start_selling(
    start_bot: Callable[..., Any], *, webhook: bool = False, **overrides: Any
) -> Any:
    values: dict[str, Any] = {
        "credit_packs": PACKS,
        "support_contact": SUPPORT,
        "admin_user_ids": str(ADMIN),
        **overrides,
    }
    if not webhook:
        return await start_bot(**values)
    bot = await start_bot(public=True, telegram_webhook=True, webhook_secret=SECRET, **values)
    assert await set_webhook(bot.runtime.settings) == 0  # the deploy step
    return bot


def answers_to(message: dict) -> Callable[[Call], bool]:
    """A sendMessage that replies to `message`."""

    def check(call: Call) -> bool:
        replied = (call.params.get("reply_parameters") or {}).get("message_id")
        return (
            call.ok
            and str(call.params["chat_id"]) == str(message["chat"]["id"])
            and str(replied) == str(message["message_id"])
        )

    return check


def buttons(call: Call) -> list[dict]:
    return [button for row in call.result["reply_markup"]["inline_keyboard"] for button in row]


async def test_buy_in_a_private_chat_shows_the_packs_as_buttons(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_selling(start_bot)
    request = tg.user_sends("/buy", user_id=BUYER)
    shown = await tg.wait_for_call("sendMessage", answers_to(request))
    assert "You have 0." in shown.result["text"]
    offered = [(b["text"], b["callback_data"]) for b in buttons(shown)]
    assert offered == [("10 credits · 100 ⭐", "buy:10"), ("50 credits · 450 ⭐", "buy:50")]


async def test_buy_in_a_group_answers_with_a_link_to_the_private_chat(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_selling(start_bot)
    request = tg.user_sends("/buy", user_id=BUYER, chat_id=-100500, chat_type="supergroup")
    shown = await tg.wait_for_call("sendMessage", answers_to(request))
    (button,) = buttons(shown)
    assert button["url"] == "https://t.me/LumaTestBot?start=buy"
    assert not tg.calls_of("sendInvoice")


async def test_nothing_for_sale_is_said_and_help_does_not_offer_buy(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_bot()
    request = tg.user_sends("/buy", user_id=BUYER)
    answer = await tg.wait_for_call("sendMessage", answers_to(request))
    assert answer.result["text"] == "Nothing is for sale right now."
    help_request = tg.user_sends("/help", user_id=BUYER)
    help_answer = await tg.wait_for_call("sendMessage", answers_to(help_request))
    assert "/buy" not in help_answer.result["text"]
    menus = tg.calls_of("setMyCommands")
    assert menus and all(
        "buy" not in [command["command"] for command in call.params["commands"]] for call in menus
    )


async def test_help_and_the_menu_offer_buy_when_packs_are_for_sale(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_selling(start_bot)
    request = tg.user_sends("/help", user_id=BUYER)
    answer = await tg.wait_for_call("sendMessage", answers_to(request))
    assert "/buy" in answer.result["text"]
    menus = tg.calls_of("setMyCommands")
    assert len(menus) == 2 and all(
        "buy" in [command["command"] for command in call.params["commands"]] for call in menus
    )


async def test_the_deep_link_and_the_buy_button_show_the_packs(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_selling(start_bot)
    link = tg.user_sends("/start buy", user_id=BUYER)
    shown = await tg.wait_for_call("sendMessage", answers_to(link))
    assert [b["callback_data"] for b in buttons(shown)] == ["buy:10", "buy:50"]
    # The "Buy credits" button (under a refusal for lack of credits) carries `buy`.
    tg.press_button(shown.result, "buy", user_id=BUYER, crafted=True)
    again = await tg.wait_for_call(
        "sendMessage", lambda c: c is not shown and c.ok and "Pick a pack" in c.result["text"]
    )
    assert [b["callback_data"] for b in buttons(again)] == ["buy:10", "buy:50"]
    await tg.wait_until(lambda: tg.calls_of("answerCallbackQuery"))


async def test_paysupport_and_terms_name_the_support_contact(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_selling(start_bot)
    for command in ("/paysupport", "/terms"):
        request = tg.user_sends(command, user_id=BUYER, language_code="ru")
        answer = await tg.wait_for_call("sendMessage", answers_to(request))
        assert SUPPORT in answer.result["text"]


async def test_only_admins_may_refund(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_selling(start_bot)
    request = tg.user_sends("/refund some-charge", user_id=BUYER)
    answer = await tg.wait_for_call("sendMessage", answers_to(request))
    assert answer.result["text"] == "That command is for the bot's admins."
    usage = tg.user_sends("/refund", user_id=ADMIN)
    assert "Usage" in (await tg.wait_for_call("sendMessage", answers_to(usage))).result["text"]
    unknown = tg.user_sends("/refund nope", user_id=ADMIN)
    reply = await tg.wait_for_call("sendMessage", answers_to(unknown))
    assert "no payment" in reply.result["text"]
    assert not tg.calls_of("refundStarPayment")
