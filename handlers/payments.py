"""Buying credits with Telegram Stars: `/buy` (and `/start buy`, and the Buy credits buttons),
the invoice, the pre-checkout answer, the successful payment, `/refund` (admins),
`/paysupport` and `/terms`. The rules are bot/domain/payments.py's; this is the Telegram side.

Purchases happen in the private chat with the bot: in a group or channel `/buy` answers with a
button that opens it (`t.me/<bot>?start=buy`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    TransactionPartnerUser,
    Update,
)
from telegram import StarTransaction as TelegramStarTransaction
from telegram.constants import ChatType
from telegram.constants import TransactionPartnerUser as PartnerUserType
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application, filters

from bot.domain.generations import Requester
from bot.domain.model import Refusal
from bot.domain.payments import PaymentService, StarsRefundFailed
from bot.domain.stars import (
    STARS,
    InvoicePayload,
    Payment,
    PurchaseRecorded,
    StarTransaction,
    TransactionKind,
)
from bot.runtime import BotContext, Runtime, runtime_of
from bot.telegram.buttons import buy_button, buy_pack_data, buy_pack_of
from bot.texts import strip_html, text
from handlers.commands import extract_command
from handlers.replies import answer, command_args, refuse, refused_unless_admin, requester_of, say

log = logging.getLogger(__name__)

# The deep link the "Buy credits" link button opens: /start buy.
START_BUY = "buy"


class StartsWith(filters.MessageFilter):
    """`/start <parameter>` with this parameter: a deep link (t.me/<bot>?start=<parameter>)."""

    def __init__(self, parameter: str) -> None:
        super().__init__(name=f"StartsWith({parameter!r})")
        self._parameter = parameter

    def filter(self, message: Message) -> bool:
        command = extract_command(message, message.get_bot().username)
        return (
            command is not None
            and command.name == "start"
            and command.args.strip() == self._parameter
        )


async def buy_command(update: Update, context: BotContext) -> None:
    """`/buy`, `/start buy`: the packs in a private chat; elsewhere the way there."""
    message = update.effective_message
    assert message is not None
    who = requester_of(update)
    if message.chat.type != ChatType.PRIVATE:
        await say(
            context.bot,
            who,
            text("buy_in_private", who.language_code),
            reply_markup=buy_button(who.language_code, bot_username=context.bot.username),
        )
        return
    await show_packs(context.bot, context.runtime, who)


async def show_packs(bot: Bot, runtime: Runtime, who: Requester) -> None:
    assert who.user_id is not None  # a private chat always has its person
    # Remembered (name, language) for what the bot tells a buyer later: a recovered purchase,
    # a refund, a referral bonus, and the admin's /refund answer.
    await runtime.service.remember_user(who)
    payments = runtime.payments
    refusal = await payments.may_buy(who.user_id)
    if refusal is not None:
        await answer(bot, who, refusal.key, **refusal.values)
        return
    language = who.language_code
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    text("buy_pack_button", language, credits=pack.credits, stars=pack.stars),
                    callback_data=buy_pack_data(pack.credits),
                )
            ]
            for pack in payments.packs
        ]
    )
    balance = await payments.balance(who.user_id)
    await say(bot, who, text("buy_packs", language, balance=balance), reply_markup=keyboard)


async def buy_pressed(update: Update, context: BotContext) -> None:
    """`buy` (show the packs) or `buy:<credits>` (that pack's invoice)."""
    query = update.callback_query
    assert query is not None
    language = query.from_user.language_code
    message = query.message
    if not isinstance(message, Message) or message.chat.type != ChatType.PRIVATE:
        # The buttons are offered in private chats only; elsewhere the offer is a link.
        await query.answer(
            text("buy_in_private_alert", language, bot=context.bot.username), show_alert=True
        )
        return
    who = requester_of(update)
    payments = context.runtime.payments
    credits = buy_pack_of(query.data)
    if credits is None:
        await query.answer()
        await show_packs(context.bot, context.runtime, who)
        return
    invoice = await payments.invoice(query.from_user.id, credits)
    if isinstance(invoice, Refusal):
        alert = strip_html(text(invoice.key, language, **invoice.values))
        await query.answer(alert, show_alert=True)
        return
    await query.answer()
    await send_invoice(context.bot, who, invoice)


async def send_invoice(bot: Bot, who: Requester, invoice: InvoicePayload) -> Message:
    """One pack's invoice in Stars: no payment provider (no provider_token), one price."""
    language = who.language_code
    return await bot.send_invoice(
        chat_id=who.chat_id,
        title=text("invoice_title", language, credits=invoice.credits),
        description=text("invoice_description", language, credits=invoice.credits),
        payload=invoice.encode(),
        currency=STARS,
        prices=[
            LabeledPrice(text("invoice_label", language, credits=invoice.credits), invoice.stars)
        ],
        # No provider for Stars: the token is left out, which the Bot API takes as the empty
        # one. Not provider_token="": with Defaults, PTB 22.8's ExtBot turns an empty string
        # into [] (an empty Sequence of poll options, to its eyes), and Telegram refuses "[]".
    )


async def pre_checkout(update: Update, context: BotContext) -> None:
    """Telegram asks before taking the Stars; it waits 10 seconds for this answer."""
    query = update.pre_checkout_query
    assert query is not None
    refusal = await context.runtime.payments.check_checkout(
        query.from_user.id, query.invoice_payload, query.currency, query.total_amount
    )
    if refusal is None:
        await query.answer(ok=True)
        return
    reason = strip_html(text(refusal.key, query.from_user.language_code, **refusal.values))
    log.info("pre-checkout of %s refused: %s", query.from_user.id, refusal.key)
    await query.answer(ok=False, error_message=reason)


async def paid(update: Update, context: BotContext) -> None:
    """A successful payment: credit the buyer once (whatever copy of it this is), tell them."""
    message = update.effective_message
    assert message is not None and message.successful_payment is not None
    payment = message.successful_payment
    who = requester_of(update)
    runtime = context.runtime
    await runtime.service.remember_user(who)
    outcome = await runtime.payments.record(
        charge_id=payment.telegram_payment_charge_id,
        payload=payment.invoice_payload,
        currency=payment.currency,
        stars=payment.total_amount,
        paid_at=message.date.timestamp(),
        source="update",
    )
    if outcome is None:
        return  # recorded before (a copy, or reconciliation came first): its recorder tells
    if isinstance(outcome, Refusal):
        await answer(
            context.bot,
            who,
            outcome.key,
            contact=support_contact(context, who.language_code),
            charge_id=payment.telegram_payment_charge_id,
        )
        return
    confirmation = answer(
        context.bot,
        who,
        "payment_received",
        credits=outcome.payment.credits,
        balance=outcome.balance,
    )
    await _confirm(runtime.payments, outcome.payment, confirmation)
    await tell_referrer(context.bot, runtime.payments, outcome)


async def confirm_recovered(application: Application, purchase: PurchaseRecorded) -> None:
    """A purchase found by reconciliation: its buyer never saw a confirmation."""
    await confirm_untold(application, purchase.payment, balance=purchase.balance)
    await tell_referrer(application.bot, runtime_of(application).payments, purchase)


async def confirm_untold(
    application: Application, payment: Payment, *, balance: int | None = None
) -> None:
    """Tell a buyer of a purchase they did not hear of (found by reconciliation, or its first
    confirmation was lost to a crash or to Telegram), in their private chat, with their
    balance as it is now unless given."""
    payments = runtime_of(application).payments
    buyer = payment.payer_id
    language = await payments.language_of(buyer)
    if balance is None:
        balance = await payments.balance(buyer)
    body = text("payment_received", language, credits=payment.credits, balance=balance)
    await _confirm(payments, payment, application.bot.send_message(chat_id=buyer, text=body))


async def _confirm(payments: PaymentService, payment: Payment, sending: Awaitable[object]) -> None:
    """Send a purchase's confirmation. It counts as told once sent, or once Telegram says it
    never can be (the buyer blocked the bot, the chat is gone); when Telegram cannot be reached
    it stays untold, and the reconciler's confirmation pass tries again
    (`PAYMENTS_CONFIRM_RETRY_SECONDS`)."""
    try:
        await sending
    except (Forbidden, BadRequest) as error:
        log.info(
            "could not tell %d about purchase %s: %s", payment.payer_id, payment.charge_id, error
        )
    except TelegramError as error:
        log.warning(
            "telling %d about purchase %s failed, to be tried again: %s",
            payment.payer_id,
            payment.charge_id,
            error,
        )
        return
    await payments.told(payment.charge_id)


async def tell_referrer(bot: Bot, payments: PaymentService, purchase: PurchaseRecorded) -> None:
    if purchase.referrer_id is None or purchase.referrer_balance is None:
        return
    language = await payments.language_of(purchase.referrer_id)
    body = text(
        "referral_bonus",
        language,
        credits=payments.referral_credits,
        balance=purchase.referrer_balance,
    )
    await _tell(bot, purchase.referrer_id, body)


async def _tell(bot: Bot, user_id: int, body: str) -> None:
    """A message in a user's private chat; one they blocked the bot in (or never opened) is
    left alone: what it says is in their balance anyway."""
    try:
        await bot.send_message(chat_id=user_id, text=body)
    except TelegramError as error:
        log.info("could not tell %d about credits: %s", user_id, error)


async def refund_command(update: Update, context: BotContext) -> None:
    """Admins: `/refund <telegram_payment_charge_id>`."""
    who = requester_of(update)
    runtime = context.runtime
    admin = runtime.admin
    if await refused_unless_admin(context.bot, who, admin.is_admin(who.user_id)):
        return
    args = command_args(update, context.bot)
    if len(args) != 1:
        await answer(context.bot, who, "refund_usage")
        return

    async def give_back(user_id: int, charge_id: str) -> None:
        try:
            await context.bot.refund_star_payment(user_id, charge_id)
        except TelegramError as error:
            if "charge_already_refunded" in str(error).lower():
                return  # an earlier /refund got this far: finish recording it
            raise StarsRefundFailed(str(error)) from error

    outcome = await runtime.payments.refund(args[0], give_back)
    if isinstance(outcome, Refusal):
        await refuse(context.bot, who, outcome)
        return
    payment = outcome.payment
    await answer(
        context.bot,
        who,
        "refund_done",
        stars=payment.stars,
        target=await admin.name_of(payment.payer_id),
        credits=payment.credits,
        taken=outcome.taken,
        balance=outcome.balance,
    )
    language = await runtime.payments.language_of(payment.payer_id)
    notice = text(
        "refund_notice", language, stars=payment.stars, taken=outcome.taken, balance=outcome.balance
    )
    await _tell(context.bot, payment.payer_id, notice)


async def paysupport_command(update: Update, context: BotContext) -> None:
    who = requester_of(update)
    await answer(
        context.bot, who, "paysupport", contact=support_contact(context, who.language_code)
    )


async def terms_command(update: Update, context: BotContext) -> None:
    who = requester_of(update)
    await answer(context.bot, who, "terms", contact=support_contact(context, who.language_code))


def support_contact(context: BotContext, language: str | None) -> str:
    contact = context.runtime.settings.support_contact
    return contact if contact is not None else text("support_contact_none", language)


async def star_transactions(bot: Bot, offset: int, limit: int) -> list[StarTransaction]:
    """One page of Telegram's list of the bot's Stars transactions, for reconciliation."""
    found = await bot.get_star_transactions(offset=offset, limit=limit)
    return [_transaction(entry) for entry in found.transactions]


def _transaction(entry: TelegramStarTransaction) -> StarTransaction:
    """A user's payment for an invoice (incoming: `source`), the refund of one (outgoing:
    `receiver`, the payment's id), or something else."""
    partner = entry.source if entry.source is not None else entry.receiver
    kind = TransactionKind.OTHER
    user_id, payload = None, None
    if (
        isinstance(partner, TransactionPartnerUser)
        and partner.transaction_type == PartnerUserType.INVOICE_PAYMENT
    ):
        kind = TransactionKind.PAYMENT if entry.source is not None else TransactionKind.REFUND
        user_id, payload = partner.user.id, partner.invoice_payload
    return StarTransaction(
        charge_id=entry.id,
        kind=kind,
        stars=entry.amount,
        date=entry.date.timestamp(),
        user_id=user_id,
        payload=payload,
    )
