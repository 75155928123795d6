"""Telegram Stars payments in the fake Bot API (playground/bot_api/payments.py), driven by the
real PTB client over HTTP: invoices and their checks, the pre-checkout handshake through
``user_pays``, what a lost or repeated update looks like, refunds, ``getStarTransactions``."""

from __future__ import annotations

import asyncio
import datetime as dtm
import re
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager

import aiohttp
import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
    TransactionPartnerUser,
    Update,
)
from telegram.error import BadRequest
from telegram.ext import (
    ApplicationBuilder,
    ContextTypes,
    Defaults,
    MessageHandler,
    PreCheckoutQueryHandler,
    filters,
)

from playground.fake_telegram import (
    NOT_ANSWERED,
    FakeTelegram,
    PaymentAttempt,
    StarTransaction,
)

TOKEN = "123456:TEST-fake-token-for-tests-0000000000"
ANN, BOB = 1001, 2002
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        fake.add_chat(ANN, first_name="Ann")  # the buyer's chat with the bot (no update queued)
        yield fake


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=f"{tg.root}/bot") as b:
        yield b


def refused(complaint: str) -> AbstractContextManager[pytest.ExceptionInfo[BadRequest]]:
    """PTB capitalizes Telegram's description (``"Stars_invoice_invalid"``): match any case."""
    return pytest.raises(BadRequest, match=re.compile(re.escape(complaint), re.IGNORECASE))


async def send_stars_invoice(
    bot: Bot, chat_id: int = ANN, *, stars: int = 50, payload: str = "buy:10", **kwargs: object
) -> Message:
    return await bot.send_invoice(
        chat_id,
        "10 credits",
        "Ten video credits",
        payload,
        "XTR",
        [LabeledPrice("10 credits", stars)],
        **kwargs,  # type: ignore[arg-type]
    )


async def next_query(bot: Bot, tg: FakeTelegram) -> PreCheckoutQuery:
    """The pre-checkout query waiting for the bot (updates before it are confirmed)."""
    while True:
        for update in await bot.get_updates(timeout=5):
            await bot.get_updates(offset=update.update_id + 1, timeout=0)
            if update.pre_checkout_query is not None:
                return update.pre_checkout_query


async def pay(
    bot: Bot,
    tg: FakeTelegram,
    invoice: Message,
    *,
    ok: bool = True,
    deliver: bool = True,
    deliver_twice: bool = False,
) -> PaymentAttempt:
    """The user pays; the bot answers the query with ``ok``."""
    attempt = asyncio.create_task(
        tg.user_pays(invoice.to_dict(), user_id=ANN, deliver=deliver, deliver_twice=deliver_twice)
    )
    query = await next_query(bot, tg)
    await bot.answer_pre_checkout_query(query.id, ok, None if ok else "Sold out, sorry")
    return await attempt


async def raw_call(tg: FakeTelegram, method: str, data: dict) -> dict:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{tg.root}/bot{TOKEN}/{method}", data=data) as response,
    ):
        return await response.json()


async def test_a_stars_invoice_is_a_message_with_an_invoice_and_the_fake_keeps_its_payload(
    tg: FakeTelegram, bot: Bot
) -> None:
    sent = await send_stars_invoice(bot, start_parameter="credits")
    assert sent.invoice is not None
    assert (sent.invoice.title, sent.invoice.description) == ("10 credits", "Ten video credits")
    assert (sent.invoice.currency, sent.invoice.total_amount) == ("XTR", 50)
    assert sent.invoice.start_parameter == "credits"
    assert sent.from_user is not None and sent.from_user.id == tg.bot_id
    (call,) = tg.calls_of("sendInvoice")
    assert "provider_token" not in call.params, "PTB sends no provider_token unless given"
    (invoice,) = tg.invoices
    assert (invoice.chat_id, invoice.message_id) == (ANN, sent.message_id)
    assert invoice.payload == "buy:10" and invoice.total_amount == 50
    assert invoice.prices == [{"label": "10 credits", "amount": 50}]
    assert invoice.message["invoice"] == {
        "title": "10 credits",
        "description": "Ten video credits",
        "start_parameter": "credits",
        "currency": "XTR",
        "total_amount": 50,
    }
    assert tg.bot_messages(ANN)[-1]["message_id"] == sent.message_id
    # an empty provider token is what Telegram asks for with Stars; no start_parameter = ""
    second = await send_stars_invoice(bot, provider_token="")
    assert second.invoice is not None and second.invoice.start_parameter == ""


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"provider_token": "284685063:TEST:abc"}, "STARS_INVOICE_INVALID"),
        ({"prices": [LabeledPrice("a", 10), LabeledPrice("b", 5)]}, "STARS_INVOICE_INVALID"),
        ({"need_email": True}, "STARS_INVOICE_INVALID"),
        ({"max_tip_amount": 5}, "STARS_INVOICE_INVALID"),
        ({"prices": [LabeledPrice("free", 0)]}, "total price must be positive"),
        ({"prices": [LabeledPrice("negative", -5)]}, "total price must be positive"),
        ({"prices": []}, "there must be at least one price"),
        ({"prices": [LabeledPrice("", 5)]}, "label must be non-empty"),
        ({"title": ""}, 'parameter "title" is required'),
        ({"title": "x" * 33}, "INVOICE_TITLE_INVALID"),
        ({"description": "x" * 256}, "INVOICE_DESCRIPTION_INVALID"),
        ({"payload": ""}, 'parameter "payload" is required'),
        ({"payload": "й" * 65}, "INVOICE_PAYLOAD_INVALID"),  # 65 characters, 130 bytes
        ({"currency": "EUR"}, "PAYMENT_PROVIDER_INVALID"),
        ({"chat_id": 777}, "chat not found"),
        (
            {
                "reply_markup": InlineKeyboardMarkup(
                    [[InlineKeyboardButton("Go", url="https://x.y")]]
                )
            },
            "REPLY_MARKUP_BUY_EMPTY",
        ),
        ({"api_kwargs": {"subscription_period": 2592000}}, "unknown parameter"),
    ],
)
async def test_send_invoice_refuses_what_telegram_refuses(
    tg: FakeTelegram, bot: Bot, change: dict, complaint: str
) -> None:
    args: dict = {
        "chat_id": ANN,
        "title": "10 credits",
        "description": "Ten video credits",
        "payload": "buy:10",
        "currency": "XTR",
        "prices": [LabeledPrice("10 credits", 50)],
    }
    args.update(change)
    with refused(complaint):
        await bot.send_invoice(**args)
    assert tg.invoices == [] and tg.bot_messages(ANN) == []


async def test_send_invoice_limits_are_inclusive_and_a_pay_button_may_lead(
    tg: FakeTelegram, bot: Bot
) -> None:
    pay_first = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Pay 50 ⭐", pay=True)],
            [InlineKeyboardButton("Help", url="https://x.y")],
        ]
    )
    sent = await bot.send_invoice(
        ANN, "t" * 32, "d" * 255, "p" * 128, "XTR", [LabeledPrice("x", 1)], reply_markup=pay_first
    )
    assert sent.reply_markup == pay_first
    # a provider invoice is accepted (with a token), its amounts may include a discount
    discounted = [LabeledPrice("Plan", 500), LabeledPrice("Off", -100)]
    euro = await bot.send_invoice(
        ANN, "Pro", "Pro plan", "pro", "EUR", discounted, provider_token="284685063:TEST:abc"
    )
    assert euro.invoice is not None and euro.invoice.total_amount == 400
    assert len(tg.invoices) == 2


async def test_prices_must_be_a_json_list_of_labeled_integer_amounts(tg: FakeTelegram) -> None:
    base = {
        "chat_id": str(ANN),
        "title": "t",
        "description": "d",
        "payload": "p",
        "currency": "XTR",
    }
    cases = {
        "[{'label': 'x'": "can't parse prices JSON object",
        '{"label": "x", "amount": 5}': "expected an Array of labeled prices",
        '["x"]': "LabeledPrice must be an Object",
        '[{"amount": 5}]': 'Can\'t find field \\"label\\"',
        '[{"label": "x", "amount": 2.5}]': 'Field "amount" must be a valid Number',
        '[{"label": "x", "amount": true}]': 'Field "amount" must be a valid Number',
        '[{"label": "x"}]': 'Can\'t find field \\"amount\\"',
    }
    for prices, complaint in cases.items():
        body = await raw_call(tg, "sendInvoice", {**base, "prices": prices})
        assert body["ok"] is False and body["error_code"] == 400, prices
        assert complaint.replace("\\", "") in body["description"], body
    body = await raw_call(tg, "sendInvoice", {**base, "prices": '[{"label": "x", "amount": "7"}]'})
    assert body["ok"] and body["result"]["invoice"]["total_amount"] == 7


async def test_ptb_defaults_parse_mode_is_accepted_on_send_invoice(tg: FakeTelegram) -> None:
    # The bot runs with Defaults(parse_mode=HTML); PTB then sends parse_mode to sendInvoice too.
    app = ApplicationBuilder().token(TOKEN).base_url(f"{tg.root}/bot")
    async with app.defaults(Defaults(parse_mode="HTML")).build() as application:
        sent = await send_stars_invoice(application.bot)
    assert sent.invoice is not None
    assert tg.calls_of("sendInvoice")[0].params["parse_mode"] == "HTML"


async def test_a_purchase_end_to_end_through_the_application(tg: FakeTelegram) -> None:
    queries: list[PreCheckoutQuery] = []
    payments: list[Message] = []

    async def on_query(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.pre_checkout_query is not None
        queries.append(update.pre_checkout_query)
        await update.pre_checkout_query.answer(ok=True)

    async def on_payment(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        payments.append(update.message)

    app = ApplicationBuilder().token(TOKEN).base_url(f"{tg.root}/bot").build()
    app.add_handler(PreCheckoutQueryHandler(on_query))
    app.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, on_payment))
    async with app:
        assert app.updater is not None
        await app.updater.start_polling(
            poll_interval=0,
            timeout=dtm.timedelta(seconds=1),
            allowed_updates=["message", "pre_checkout_query"],
        )
        await app.start()
        invoice = await send_stars_invoice(app.bot, stars=75, payload="buy:25")
        attempt = await tg.user_pays(invoice.to_dict(), user_id=ANN)
        await tg.wait_until(lambda: payments)
        await app.updater.stop()
        await app.stop()

    assert attempt.paid and attempt.error is None and attempt.charge_id is not None
    (query,) = queries
    assert query.id == attempt.query["id"]
    assert (query.from_user.id, query.currency, query.total_amount) == (ANN, "XTR", 75)
    assert query.invoice_payload == "buy:25"
    assert attempt.pre_checkout is not None and attempt.pre_checkout.ok
    assert attempt.pre_checkout.params["pre_checkout_query_id"] == query.id
    (message,) = payments
    paid = message.successful_payment
    assert paid is not None and message.from_user is not None and message.from_user.id == ANN
    assert message.chat.id == ANN
    assert (paid.currency, paid.total_amount, paid.invoice_payload) == ("XTR", 75, "buy:25")
    assert paid.telegram_payment_charge_id == attempt.charge_id
    assert paid.provider_payment_charge_id == ""
    assert attempt.messages[0]["message_id"] == message.message_id
    (transaction,) = tg.star_transactions
    assert transaction == StarTransaction(
        attempt.charge_id, 75, transaction.date, transaction.user, "buy:25"
    )
    assert transaction.user_id == ANN and not transaction.is_refund
    assert tg.invoices[0].paid_by == [ANN]


async def test_a_declined_pre_checkout_charges_nothing(tg: FakeTelegram, bot: Bot) -> None:
    invoice = await send_stars_invoice(bot)
    attempt = await pay(bot, tg, invoice, ok=False)
    assert not attempt.paid and attempt.charge_id is None
    assert attempt.error == "Sold out, sorry"
    assert attempt.pre_checkout is not None
    assert attempt.pre_checkout.params["error_message"] == "Sold out, sorry"
    assert tg.star_transactions == [] and attempt.messages == ()
    assert await bot.get_updates(timeout=0) == (), "no successful_payment follows a refusal"
    # not paid, so the user may try again
    again = await pay(bot, tg, invoice)
    assert again.paid and len(tg.star_transactions) == 1


async def test_an_unanswered_pre_checkout_expires_and_a_late_answer_is_refused(
    tg: FakeTelegram, bot: Bot
) -> None:
    invoice = await send_stars_invoice(bot)
    attempt = await tg.user_pays(invoice.to_dict(), user_id=ANN, answer_within=0.1)
    assert attempt == PaymentAttempt(False, None, None, NOT_ANSWERED, query=attempt.query)
    (update,) = await bot.get_updates(timeout=0)
    assert update.pre_checkout_query is not None
    with refused(QUERY_INVALID):
        await bot.answer_pre_checkout_query(update.pre_checkout_query.id, ok=True)
    assert tg.star_transactions == []


async def test_an_answer_slower_than_the_deadline_is_refused(tg: FakeTelegram, bot: Bot) -> None:
    invoice = await send_stars_invoice(bot)
    tg.delay_next("answerPreCheckoutQuery", 0.3)  # the work is done after the deadline
    attempt = asyncio.create_task(tg.user_pays(invoice.to_dict(), user_id=ANN, answer_within=0.1))
    query = await next_query(bot, tg)
    with refused(QUERY_INVALID):
        await bot.answer_pre_checkout_query(query.id, ok=True)
    result = await attempt
    assert not result.paid and result.error == NOT_ANSWERED and tg.star_transactions == []


async def test_answer_pre_checkout_query_checks(tg: FakeTelegram, bot: Bot) -> None:
    with refused(QUERY_INVALID):
        await bot.answer_pre_checkout_query("12345", ok=True)
    invoice = await send_stars_invoice(bot)
    attempt = asyncio.create_task(tg.user_pays(invoice.to_dict(), user_id=ANN))
    query = await next_query(bot, tg)
    with refused('parameter "error_message" is required'):
        await bot.answer_pre_checkout_query(query.id, ok=False)
    with refused("unknown parameter"):
        await bot.answer_pre_checkout_query(query.id, ok=True, api_kwargs={"shipping": 1})
    assert not attempt.done(), "refused answers leave the query open"
    assert await bot.answer_pre_checkout_query(query.id, ok=True)
    with refused(QUERY_INVALID):
        await bot.answer_pre_checkout_query(query.id, ok=True)
    result = await attempt
    assert result.paid and result.pre_checkout is tg.calls_of("answerPreCheckoutQuery")[3]


async def test_a_bot_that_does_not_ask_for_pre_checkout_queries_never_sees_them(
    tg: FakeTelegram, bot: Bot
) -> None:
    tg.user_sends("/buy")
    invoice = await send_stars_invoice(bot)
    attempt = asyncio.create_task(tg.user_pays(invoice.to_dict(), user_id=ANN, answer_within=0.2))
    await tg.wait_until(lambda: tg.pending_updates() == 2)  # the /buy message and the query
    updates = await bot.get_updates(timeout=0, allowed_updates=["message", "callback_query"])
    assert [u.message.text for u in updates if u.message] == ["/buy"]
    assert not any(u.pre_checkout_query for u in updates)
    assert (await attempt).error == NOT_ANSWERED and tg.star_transactions == []


async def test_a_lost_successful_payment_update_still_charged_the_user(
    tg: FakeTelegram, bot: Bot
) -> None:
    invoice = await send_stars_invoice(bot, payload="buy:10")
    attempt = await pay(bot, tg, invoice, deliver=False)
    assert attempt.paid and attempt.messages == ()
    assert await bot.get_updates(timeout=0) == ()
    # the bot can still find the payment among its Star transactions
    (found,) = (await bot.get_star_transactions()).transactions
    assert found.id == attempt.charge_id and found.amount == 50
    assert isinstance(found.source, TransactionPartnerUser)
    assert found.source.invoice_payload == "buy:10" and found.source.user.id == ANN


async def test_a_successful_payment_delivered_twice_is_the_same_message(
    tg: FakeTelegram, bot: Bot
) -> None:
    invoice = await send_stars_invoice(bot)
    attempt = await pay(bot, tg, invoice, deliver_twice=True)
    first, second = await bot.get_updates(timeout=0)
    assert first.update_id != second.update_id
    assert first.message == second.message  # same chat and message_id
    assert first.message is not None and first.message.successful_payment is not None
    assert first.message.successful_payment.telegram_payment_charge_id == attempt.charge_id
    assert len(attempt.messages) == 2 and len(tg.star_transactions) == 1


async def test_each_payment_gets_its_own_charge_id_shaped_like_telegrams(
    tg: FakeTelegram, bot: Bot
) -> None:
    attempts = [await pay(bot, tg, await send_stars_invoice(bot)) for _ in range(3)]
    charge_ids = [a.charge_id or "" for a in attempts]
    assert len(set(charge_ids)) == 3
    assert all(c.startswith("stx") and len(c.encode()) > 64 for c in charge_ids)


async def test_user_pays_refuses_what_a_user_cannot_do(tg: FakeTelegram, bot: Bot) -> None:
    text = await bot.send_message(ANN, "not an invoice")
    with pytest.raises(ValueError, match="not an invoice"):
        await tg.user_pays(text.to_dict(), user_id=ANN)
    paid = await send_stars_invoice(bot)
    await pay(bot, tg, paid)
    with pytest.raises(ValueError, match="already paid"):
        await tg.user_pays(paid.to_dict(), user_id=ANN)
    gone = await send_stars_invoice(bot)
    await bot.delete_message(ANN, gone.message_id)
    with pytest.raises(ValueError, match="gone"):
        await tg.user_pays(gone.to_dict(), user_id=ANN)
    euro = await bot.send_invoice(
        ANN, "Pro", "Pro plan", "pro", "EUR", [LabeledPrice("Plan", 500)], provider_token="tok"
    )
    with pytest.raises(ValueError, match="only Stars"):
        await tg.user_pays(euro.to_dict(), user_id=ANN)


async def test_in_a_group_everyone_may_pay_the_same_invoice(tg: FakeTelegram, bot: Bot) -> None:
    tg.user_sends("hi", user_id=BOB, chat_id=-100500, chat_type="supergroup")
    invoice = await send_stars_invoice(bot, chat_id=-100500)
    for user_id in (ANN, BOB):
        attempt = asyncio.create_task(tg.user_pays(invoice.to_dict(), user_id=user_id))
        query = await next_query(bot, tg)
        assert query.from_user.id == user_id
        await bot.answer_pre_checkout_query(query.id, ok=True)
        assert (await attempt).messages[0]["chat"]["id"] == -100500
    assert [t.user_id for t in tg.star_transactions] == [ANN, BOB]


async def test_refunds(tg: FakeTelegram, bot: Bot) -> None:
    attempt = await pay(bot, tg, await send_stars_invoice(bot, stars=40, payload="buy:8"))
    assert attempt.charge_id is not None
    (delivered,) = await bot.get_updates(timeout=0)  # the successful_payment: confirmed
    await bot.get_updates(offset=delivered.update_id + 1, timeout=0)
    assert (await bot.get_my_star_balance()).amount == 40

    with refused("CHARGE_NOT_FOUND"):
        await bot.refund_star_payment(ANN, "stxNoSuchCharge")
    with refused("CHARGE_NOT_FOUND"):
        await bot.refund_star_payment(BOB, attempt.charge_id)  # not Bob's payment
    assert await bot.refund_star_payment(ANN, attempt.charge_id) is True
    with refused("CHARGE_ALREADY_REFUNDED"):
        await bot.refund_star_payment(ANN, attempt.charge_id)

    payment, refund = tg.star_transactions
    assert payment.id == refund.id
    assert (refund.id, refund.amount, refund.is_refund) == (attempt.charge_id, -40, True)
    assert refund.invoice_payload == "buy:8" and refund.user_id == ANN
    assert tg.star_balance() == 0 and (await bot.get_my_star_balance()).amount == 0
    # as the Bot API server delivers it: a refunded_payment message from the bot, to the user
    (update,) = await bot.get_updates(timeout=0)
    notice = update.message
    assert notice is not None and notice.refunded_payment is not None
    assert notice.from_user is not None and notice.from_user.id == tg.bot_id
    assert notice.chat.id == ANN
    assert notice.refunded_payment.telegram_payment_charge_id == attempt.charge_id
    assert (notice.refunded_payment.total_amount, notice.refunded_payment.currency) == (40, "XTR")
    assert notice.refunded_payment.invoice_payload == "buy:8"
    # getStarTransactions: the refund after the payment, the user as receiver, amount positive
    listed = (await bot.get_star_transactions()).transactions
    assert [t.id for t in listed] == [attempt.charge_id] * 2
    assert listed[0].source is not None and listed[0].receiver is None
    assert listed[1].receiver is not None and listed[1].source is None
    assert listed[1].amount == 40
    assert isinstance(listed[1].receiver, TransactionPartnerUser)
    assert listed[1].receiver.transaction_type == "invoice_payment"
    raw = tg.calls_of("getStarTransactions")[-1]
    assert raw.result["transactions"][1] == refund.to_api()
    assert set(raw.result["transactions"][1]) == {"id", "date", "receiver", "amount"}


async def test_get_star_transactions_pages_oldest_first(tg: FakeTelegram, bot: Bot) -> None:
    charge_ids = []
    for n in range(5):
        attempt = await pay(bot, tg, await send_stars_invoice(bot, stars=10 + n, payload=f"p{n}"))
        charge_ids.append(attempt.charge_id)

    async def page(offset: int | None = None, limit: int | None = None) -> list[str]:
        return [t.id for t in (await bot.get_star_transactions(offset, limit)).transactions]

    assert await page() == charge_ids, "chronological: the oldest first"
    assert await page(limit=2) == charge_ids[:2]
    assert await page(offset=2, limit=2) == charge_ids[2:4]
    assert await page(offset=4, limit=2) == charge_ids[4:]
    assert await page(offset=5) == []
    # the server clamps instead of refusing: offset below 0 = 0, limit to 1..100
    assert await page(offset=-3, limit=1) == charge_ids[:1]
    assert await page(limit=0) == charge_ids[:1]
    transactions = (await bot.get_star_transactions()).transactions
    assert [t.amount for t in transactions] == [10, 11, 12, 13, 14]
    sources = [t.source for t in transactions]
    assert all(isinstance(source, TransactionPartnerUser) for source in sources)
    payloads = [s.invoice_payload for s in sources if isinstance(s, TransactionPartnerUser)]
    assert payloads == [f"p{n}" for n in range(5)]
    with refused("unknown parameter"):
        await bot.get_star_transactions(api_kwargs={"direction": "in"})


async def test_get_star_transactions_answers_at_most_100(tg: FakeTelegram, bot: Bot) -> None:
    user = {"id": ANN, "is_bot": False, "first_name": "Ann"}
    tg.star_transactions.extend(
        StarTransaction(f"stx{n:03d}", 1, 1_700_000_000 + n, user, "p") for n in range(130)
    )
    assert len((await bot.get_star_transactions(limit=500)).transactions) == 100
    rest = (await bot.get_star_transactions(offset=100)).transactions
    assert [t.id for t in rest] == [f"stx{n:03d}" for n in range(100, 130)]
