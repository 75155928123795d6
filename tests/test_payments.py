"""Buying credits with Telegram Stars, end to end: the real bot against the fake Bot API (its
payments: sendInvoice, pre_checkout_query, successful_payment, refundStarPayment,
getStarTransactions), in polling and in webhook mode, on SQLite and PostgreSQL.

Each purchase must credit exactly once per telegram_payment_charge_id, whatever copies of its
update arrive, and none may be lost (reconciliation finds what the updates did not bring)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.__main__ import set_webhook
from bot.domain.stars import InvoicePayload
from playground.fake_telegram import Call, FakeTelegram
from tests.conftest import BotDatabase

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


@pytest.fixture(params=["polling", "webhook"])
def mode(request: pytest.FixtureRequest) -> str:
    """How updates reach the bot: every purchase test runs both ways."""
    return str(request.param)


async def invoice_for(
    tg: FakeTelegram, credits: int = 10, *, user_id: int = BUYER, language_code: str = "en"
) -> dict:
    """/buy, then the pack's button: the invoice message the bot sent."""
    request = tg.user_sends("/buy", user_id=user_id, language_code=language_code)
    shown = await tg.wait_for_call("sendMessage", answers_to(request))
    before = len(tg.invoices)
    tg.press_button(shown.result, f"buy:{credits}", user_id=user_id)
    await tg.wait_until(lambda: len(tg.invoices) > before)
    return tg.invoices[before].message


def confirmations(tg: FakeTelegram, chat_id: int = BUYER) -> list[Call]:
    return [
        call
        for call in tg.calls_of("sendMessage")
        if call.ok
        and call.result["chat"]["id"] == chat_id
        and "Payment received" in call.result["text"]
    ]


async def all_handled(tg: FakeTelegram, bot: Any) -> None:
    """Every update delivered and handled (a copy included), so nothing more can follow."""
    if bot.runtime.settings.telegram_webhook:
        await tg.wait_for_webhook_idle(timeout=15)
    else:
        await tg.wait_until(lambda: tg.pending_updates() == 0, timeout=15)
    await asyncio.sleep(0.2)  # the last handler's reply, if any, is on its way
    apologies = [c for c in tg.calls_of("sendMessage") if "went wrong" in str(c.params["text"])]
    assert apologies == [], "a handler failed"


async def ledger(database: BotDatabase) -> list[tuple[int, int, str, str]]:
    rows = (await database.tables())["credit_ledger"]
    return [(row["payer_id"], row["delta"], row["reason"], row["ref"]) for row in rows]


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


async def test_a_purchase_credits_the_buyer_once_and_confirms_the_new_balance(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    database: BotDatabase,
    mode: str,
) -> None:
    bot = await start_selling(start_bot, webhook=mode == "webhook")
    invoice = await invoice_for(tg, 50)
    (sent,) = tg.calls_of("sendInvoice")
    assert sent.params["currency"] == "XTR"
    assert not sent.params.get("provider_token")
    assert [price["amount"] for price in sent.params["prices"]] == [450]
    assert InvoicePayload.parse(sent.params["payload"]) == InvoicePayload(BUYER, 50, 450)
    assert invoice["invoice"]["title"] == "50 credits"

    attempt = await tg.user_pays(invoice, user_id=BUYER)
    assert attempt.paid, attempt.error
    assert attempt.pre_checkout is not None and attempt.pre_checkout.params["ok"] in (True, "true")
    (confirmation,) = [await tg.wait_for_call("sendMessage", answers_to(attempt.messages[0]))]
    assert "+50" in confirmation.result["text"] and "You now have 50" in confirmation.result["text"]
    await all_handled(tg, bot)
    assert len(confirmations(tg)) == 1
    assert await bot.runtime.repository.balance(BUYER) == 50
    assert await ledger(database) == [(BUYER, 50, "purchase", attempt.charge_id)]
    (payment,) = (await database.tables())["payments"]
    assert (payment["charge_id"], payment["payer_id"], payment["credits"], payment["stars"]) == (
        attempt.charge_id,
        BUYER,
        50,
        450,
    )
    metrics = bot.application.bot_data.metrics.render().decode()
    assert 'luma_bot_purchases_total{source="update"} 1.0' in metrics
    assert 'luma_bot_stars_total{direction="in"} 450.0' in metrics
    # The balance is what /quota shows, and /stats counts the sale.
    quota = tg.user_sends("/quota", user_id=BUYER)
    assert "50" in (await tg.wait_for_call("sendMessage", answers_to(quota))).result["text"]
    stats = tg.user_sends("/stats", user_id=ADMIN)
    report = (await tg.wait_for_call("sendMessage", answers_to(stats))).result["text"]
    assert report.count("Stars: 450 ⭐ earned · 1 purchases (450 ⭐) · 0 refunds (0 ⭐)") == 2


async def test_a_successful_payment_delivered_twice_credits_once(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    database: BotDatabase,
    mode: str,
) -> None:
    bot = await start_selling(start_bot, webhook=mode == "webhook")
    if mode == "webhook":
        tg.duplicate_rate = 1.0  # and every update (each copy too) delivered twice
    attempt = await tg.user_pays(await invoice_for(tg), user_id=BUYER, deliver_twice=True)
    assert attempt.paid and len(attempt.messages) == 2
    await tg.wait_until(lambda: confirmations(tg))
    await all_handled(tg, bot)
    assert len(confirmations(tg)) == 1
    assert await bot.runtime.repository.balance(BUYER) == 10
    assert await ledger(database) == [(BUYER, 10, "purchase", attempt.charge_id)]


async def test_a_refund_gives_the_stars_back_and_takes_back_the_credits_left(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    database: BotDatabase,
    mode: str,
) -> None:
    bot = await start_selling(start_bot, webhook=mode == "webhook", daily_quota=1)
    attempt = await tg.user_pays(await invoice_for(tg), user_id=BUYER)
    await tg.wait_until(lambda: confirmations(tg))
    # Two videos: the first from today's free allowance, the second paid with a credit.
    for number in (1, 2):
        tg.user_sends(f"/video a jellyfish number {number}", user_id=BUYER)
        await tg.wait_for_video(count=number, timeout=15)
    assert await bot.runtime.repository.balance(BUYER) == 9

    refund = tg.user_sends(f"/refund {attempt.charge_id}", user_id=ADMIN)
    done = await tg.wait_for_call("sendMessage", answers_to(refund))
    assert "Refunded 100 ⭐ to @ann" in done.result["text"]
    assert (
        "Of the pack's 10 credits, 9 were taken back; their balance is now 0"
        in (done.result["text"])
    )
    (refunded,) = tg.calls_of("refundStarPayment")
    assert refunded.ok and refunded.params["telegram_payment_charge_id"] == attempt.charge_id
    assert tg.star_balance() == 0
    notice = await tg.wait_for_call(
        "sendMessage", lambda c: c.ok and "was refunded" in c.result["text"]
    )
    assert (
        notice.result["chat"]["id"] == BUYER
        and "9 credits were taken back" in (notice.result["text"])
    )
    assert await bot.runtime.repository.balance(BUYER) == 0
    assert (BUYER, -9, "refund", attempt.charge_id) in await ledger(database)
    # Again: nothing more is given or taken, and Telegram is not asked twice.
    again = tg.user_sends(f"/refund {attempt.charge_id}", user_id=ADMIN)
    repeated = await tg.wait_for_call("sendMessage", answers_to(again))
    assert "already been refunded" in repeated.result["text"]
    assert len(tg.calls_of("refundStarPayment")) == 1
    stats = tg.user_sends("/stats", user_id=ADMIN)
    report = (await tg.wait_for_call("sendMessage", answers_to(stats))).result["text"]
    assert "Stars: 0 ⭐ earned · 1 purchases (100 ⭐) · 1 refunds (100 ⭐)" in report
    metrics = bot.application.bot_data.metrics.render().decode()
    assert "luma_bot_refunds_total 1.0" in metrics
    await all_handled(tg, bot)  # the refunded_payment message Telegram sends is no request


async def test_a_refund_telegram_refuses_changes_nothing(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_selling(start_bot)
    attempt = await tg.user_pays(await invoice_for(tg), user_id=BUYER)
    await tg.wait_until(lambda: confirmations(tg))
    tg.fail_next("refundStarPayment", 400, "Bad Request: BOT_PAYMENTS_DISABLED")
    refund = tg.user_sends(f"/refund {attempt.charge_id}", user_id=ADMIN)
    refused = await tg.wait_for_call("sendMessage", answers_to(refund))
    assert "Telegram refused the refund" in refused.result["text"]
    assert await bot.runtime.repository.balance(BUYER) == 10
    assert tg.star_balance() == 100


async def test_a_refund_telegram_made_before_a_crash_is_completed_by_the_next_refund(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], database: BotDatabase
) -> None:
    # Telegram gave the Stars back, but the bot never recorded it (say it died in between):
    # the next /refund is told CHARGE_ALREADY_REFUNDED and takes the credits back.
    bot = await start_selling(start_bot)
    attempt = await tg.user_pays(await invoice_for(tg), user_id=BUYER)
    await tg.wait_until(lambda: confirmations(tg))
    assert await bot.application.bot.refund_star_payment(BUYER, attempt.charge_id)
    refund = tg.user_sends(f"/refund {attempt.charge_id}", user_id=ADMIN)
    done = await tg.wait_for_call("sendMessage", answers_to(refund))
    assert "Refunded 100 ⭐" in done.result["text"]
    assert await bot.runtime.repository.balance(BUYER) == 0


async def test_a_pre_checkout_is_refused_once_the_price_changed(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    database: BotDatabase,
    mode: str,
) -> None:
    tg.set_webhook_interval = 0  # the second bot registers its own address at once
    first = await start_selling(start_bot, webhook=mode == "webhook")
    invoice = await invoice_for(tg)  # 10 credits for 100 Stars
    await first.stop()
    # The operator raises the price: the old invoice may no longer be paid.
    second = await start_selling(start_bot, webhook=mode == "webhook", credit_packs="10:120")
    attempt = await tg.user_pays(invoice, user_id=BUYER)
    assert not attempt.paid
    assert attempt.error == (
        "This pack is no longer offered at this price. Nothing was charged: "
        "send /buy for the current packs."
    )
    assert tg.star_transactions == []
    assert await second.runtime.repository.balance(BUYER) == 0
    # A pack taken off sale likewise; the new price is sold.
    fresh = await invoice_for(tg)
    paid = await tg.user_pays(fresh, user_id=BUYER)
    assert paid.paid
    await tg.wait_until(lambda: confirmations(tg))
    assert [price["amount"] for price in tg.invoices[-1].prices] == [120]
    metrics = second.application.bot_data.metrics.render().decode()
    assert 'luma_bot_pre_checkouts_total{answer="refused"} 1.0' in metrics


async def test_an_invoice_is_paid_only_by_its_buyer_and_not_when_banned(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_selling(start_bot)
    invoice = await invoice_for(tg)
    # Forwarded to someone else, who tries to pay it.
    other = await tg.user_pays(invoice, user_id=BUYER + 1)
    assert not other.paid and "made for someone else" in (other.error or "")
    ban = tg.user_sends(f"/ban {BUYER}", user_id=ADMIN)
    await tg.wait_for_call("sendMessage", answers_to(ban))
    banned = await tg.user_pays(invoice, user_id=BUYER)
    assert not banned.paid and banned.error == (
        "Sorry, you can't buy credits with this bot. Nothing was charged."
    )
    assert tg.star_transactions == []
    request = tg.user_sends("/buy", user_id=BUYER)
    refusal = await tg.wait_for_call("sendMessage", answers_to(request))
    assert refusal.result["text"] == "Sorry, you can't buy credits with this bot."
    assert await bot.runtime.repository.balance(BUYER) == 0


async def test_a_payment_whose_update_was_lost_is_found_at_start_up(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    database: BotDatabase,
    mode: str,
) -> None:
    tg.set_webhook_interval = 0  # the second bot registers its own address at once
    first = await start_selling(start_bot, webhook=mode == "webhook")
    attempt = await tg.user_pays(await invoice_for(tg), user_id=BUYER, deliver=False)
    assert attempt.paid and attempt.messages == ()
    await all_handled(tg, first)
    assert await first.runtime.repository.balance(BUYER) == 0  # nothing told the bot
    await first.stop()
    second = await start_selling(start_bot, webhook=mode == "webhook")
    await tg.wait_until(lambda: confirmations(tg), timeout=15)
    assert "You now have 10" in confirmations(tg)[0].result["text"]
    assert await second.runtime.repository.balance(BUYER) == 10
    assert await ledger(database) == [(BUYER, 10, "purchase", attempt.charge_id)]
    metrics = second.application.bot_data.metrics.render().decode()
    assert 'luma_bot_purchases_total{source="reconciliation"} 1.0' in metrics


async def test_a_lost_payment_is_found_by_the_periodic_reconciliation(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    bot = await start_selling(start_bot, payments_reconcile_seconds=1)
    await tg.wait_until(lambda: tg.calls_of("getStarTransactions"))  # the start-up pass
    attempt = await tg.user_pays(await invoice_for(tg), user_id=BUYER, deliver=False)
    assert attempt.paid
    await tg.wait_until(lambda: confirmations(tg), timeout=15)
    assert await bot.runtime.repository.balance(BUYER) == 10
    # Later passes find nothing new.
    passes = len(tg.calls_of("getStarTransactions"))
    await tg.wait_until(lambda: len(tg.calls_of("getStarTransactions")) >= passes + 2, timeout=15)
    assert len(confirmations(tg)) == 1 and await bot.runtime.repository.balance(BUYER) == 10


async def test_a_confirmation_telegram_did_not_take_is_sent_again_once(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], database: BotDatabase
) -> None:
    """Credited, but Telegram could not be reached for the confirmation (502): the buyer is
    told by the next confirmation pass, once, with the balance as it is then."""
    bot = await start_selling(start_bot, payments_confirm_retry_seconds=2)
    invoice = await invoice_for(tg)
    tg.fail_next("sendMessage", 502)
    attempt = await tg.user_pays(invoice, user_id=BUYER)
    assert attempt.paid
    await tg.wait_until(lambda: confirmations(tg), timeout=15)
    failed = [c for c in tg.calls_of("sendMessage") if not c.ok]
    assert len(failed) == 1 and "Payment received" in failed[0].params["text"]
    await asyncio.sleep(4.5)  # two more passes: a second confirmation would be sent by now
    (confirmation,) = confirmations(tg)
    assert "You now have 10" in confirmation.result["text"]
    assert await bot.runtime.repository.balance(BUYER) == 10
    (payment,) = (await database.tables())["payments"]
    assert payment["told_at"] is not None


async def test_a_buyer_who_blocked_the_bot_is_not_asked_again(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], database: BotDatabase
) -> None:
    bot = await start_selling(start_bot, payments_confirm_retry_seconds=1)
    invoice = await invoice_for(tg)
    tg.fail_next("sendMessage", 403)
    attempt = await tg.user_pays(invoice, user_id=BUYER)
    assert attempt.paid
    await all_handled(tg, bot)
    (payment,) = (await database.tables())["payments"]
    assert payment["told_at"] is not None  # Telegram said it never can be
    await asyncio.sleep(2.5)
    tries = [c for c in tg.calls_of("sendMessage") if "Payment received" in c.params["text"]]
    assert len(tries) == 1 and not tries[0].ok
    assert await bot.runtime.repository.balance(BUYER) == 10


async def test_the_referrer_is_credited_on_the_first_purchase_only(
    tg: FakeTelegram,
    emulator: Any,
    start_bot: Callable[..., Any],
    database: BotDatabase,
    mode: str,
) -> None:
    referrer = 2002
    bot = await start_selling(start_bot, webhook=mode == "webhook", referral_credits=5)
    # Who referred whom is recorded by /start ref<id> (handlers/promos.py); here, directly.
    repository = bot.runtime.repository
    async with repository._accepting() as db:
        await db.execute(
            "INSERT INTO referrals (user_id, referrer_id, created_at) VALUES ($1, $2, $3)",
            BUYER,
            referrer,
            time.time(),
        )
    await invoice_for(tg, user_id=referrer, language_code="ru")  # seen, in Russian
    for purchase in (1, 2):
        attempt = await tg.user_pays(await invoice_for(tg), user_id=BUYER)
        assert attempt.paid
        await tg.wait_until(lambda n=purchase: len(confirmations(tg)) == n)  # type: ignore[misc]
    await all_handled(tg, bot)
    assert await repository.balance(BUYER) == 20
    assert await repository.balance(referrer) == 5
    bonuses = [
        call
        for call in tg.calls_of("sendMessage")
        if call.ok and call.result["chat"]["id"] == referrer and "🎁" in call.result["text"]
    ]
    assert len(bonuses) == 1 and "Приглашённый" in bonuses[0].result["text"]
    assert [row for row in await ledger(database) if row[2] == "referral"] == [
        (referrer, 5, "referral", str(BUYER))
    ]


async def test_an_invoice_from_a_pack_taken_off_sale_is_not_sent(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any]
) -> None:
    await start_selling(start_bot)
    request = tg.user_sends("/buy", user_id=BUYER)
    shown = await tg.wait_for_call("sendMessage", answers_to(request))
    tg.press_button(shown.result, "buy:20", user_id=BUYER, crafted=True)
    alert = await tg.wait_for_call("answerCallbackQuery")
    assert alert.params["text"] == (
        "That pack is no longer offered. Send /buy for what is for sale now."
    )
    assert not tg.calls_of("sendInvoice")
    # A pack button pressed in a group (crafted: the offer there is a link).
    group = tg.user_sends("/buy", user_id=BUYER, chat_id=-100500, chat_type="supergroup")
    link = await tg.wait_for_call("sendMessage", answers_to(group))
    tg.press_button(link.result, "buy:10", user_id=BUYER, crafted=True)
    await tg.wait_until(lambda: len(tg.calls_of("answerCallbackQuery")) == 2)
    assert "private chat" in tg.calls_of("answerCallbackQuery")[1].params["text"]
    assert not tg.calls_of("sendInvoice")


async def test_a_payment_for_no_invoice_of_ours_is_not_credited_and_points_to_support(
    tg: FakeTelegram, emulator: Any, start_bot: Callable[..., Any], database: BotDatabase
) -> None:
    # Telegram would only send this for an invoice of ours; the bot must not guess whom to credit.
    bot = await start_selling(start_bot)
    tg.user_sends("/buy", user_id=BUYER)  # the private chat exists
    foreign = {
        "message_id": 500,
        "from": {"id": BUYER, "is_bot": False, "first_name": "Ann", "username": "ann"},
        "chat": {"id": BUYER, "type": "private", "first_name": "Ann", "username": "ann"},
        "date": int(time.time()),
        "successful_payment": {
            "currency": "XTR",
            "total_amount": 100,
            "invoice_payload": "someone else's",
            "telegram_payment_charge_id": "stx-foreign",
            "provider_payment_charge_id": "",
        },
    }
    tg.inject_update({"message": foreign})
    reply = await tg.wait_for_call(
        "sendMessage", lambda c: c.ok and "stx-foreign" in c.result["text"]
    )
    assert SUPPORT in reply.result["text"]
    await all_handled(tg, bot)
    assert (await database.tables())["payments"] == []
    assert await bot.runtime.repository.balance(BUYER) == 0
