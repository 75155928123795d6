"""Telegram Stars payments: ``sendInvoice``, ``answerPreCheckoutQuery``, ``refundStarPayment``,
``getStarTransactions``, ``getMyStarBalance``, and the test's side of a purchase: ``user_pays``.

The flow, as Telegram runs it: the bot sends an invoice (a message with an ``invoice``; the fake
keeps its ``payload`` in ``tg.invoices``); the user presses Pay, and Telegram sends the bot a
``pre_checkout_query`` {id, from, currency, total_amount, invoice_payload} that it must answer
with ``answerPreCheckoutQuery`` within 10 s; only after ``ok=true`` is the user charged: the
bot's balance gets a ``StarTransaction`` (``tg.star_transactions``) whose id is the
``telegram_payment_charge_id``, and the bot gets a ``message`` with ``successful_payment``
{currency, total_amount, invoice_payload, telegram_payment_charge_id,
provider_payment_charge_id} (from the user, in the chat of the invoice; a private invoice
paid by someone else: in the payer's chat). Both updates obey ``allowed_updates`` like any other
(a bot that lists its update types must list "pre_checkout_query", or its queries are dropped
and every payment times out). ``refundStarPayment`` gives the Stars back: a second transaction
with the same id and a negative amount, and (as the Bot API server delivers it) a ``message``
with ``refunded_payment`` {currency, total_amount, invoice_payload, telegram_payment_charge_id}
from the bot in the user's private chat. ``getStarTransactions`` lists the transactions in
chronological order, oldest first (the documented order: the Bot API server asks TDLib, which
asks for ascending order for bots), ``offset`` = how many to skip (negative = 0), ``limit``
clamped to 1..100 (default 100), like the server's integer arguments; each is a Bot API
``StarTransaction``: ``amount`` always positive, the user's ``TransactionPartnerUser`` as
``source`` of a payment and as ``receiver`` of a refund.

Checks (Telegram's answers, all 400 "Bad Request: ..."): the required string parameters must be
non-empty ('parameter "title" is required'); ``prices`` a JSON array of {label (non-empty),
amount (integer)} objects, at least one, total > 0; ``payload`` 1-128 bytes
(INVOICE_PAYLOAD_INVALID); "XTR" takes no ``provider_token`` (absent or empty), exactly one
price and none of the tip, ``need_*``, ``send_*_to_provider`` or ``is_flexible`` options
(STARS_INVOICE_INVALID); another currency needs a provider token (PAYMENT_PROVIDER_INVALID);
an inline keyboard must start with a ``pay`` button (REPLY_MARKUP_BUY_EMPTY); ``title`` 1-32 and
``description`` 1-255 characters (INVOICE_TITLE_INVALID / INVOICE_DESCRIPTION_INVALID: Telegram's
texts for these two are not known, these are guesses). A pre-checkout query can be answered
once, before its deadline; ``ok=false`` needs an ``error_message``; an unknown, expired or
already answered id gets the server's text for QUERY_ID_INVALID ("query is too old and response
timeout expired or query ID is invalid"). A refund of an unknown charge, or of another user's,
is CHARGE_NOT_FOUND; a second refund CHARGE_ALREADY_REFUNDED. Deliberate deviations: only
Stars invoices can be paid (``user_pays``), there is no upper limit on a Stars price, and
provider invoices are accepted but never paid.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import re
import secrets
import time
from typing import Any

from playground.bot_api.messages import MessageMethods
from playground.bot_api.protocol import _as_bool, _as_int, _bad
from playground.bot_api.records import (
    Call,
    PaymentAttempt,
    SentInvoice,
    StarTransaction,
    _PreCheckout,
)

STARS = "XTR"
PRE_CHECKOUT_TIMEOUT = 10.0  # seconds Telegram waits for answerPreCheckoutQuery
NOT_ANSWERED = "the bot did not answer the pre-checkout query in time"
_QUERY_ID_INVALID = "query is too old and response timeout expired or query ID is invalid"
_MAX_AMOUNT = 9_999_999_999_999  # TDLib's check_currency_amount
_NOT_FOR_STARS = (
    "need_name need_phone_number need_email need_shipping_address "
    "send_phone_number_to_provider send_email_to_provider is_flexible"
).split()


class PaymentMethods(MessageMethods):
    """The payment methods, and a user paying an invoice (``user_pays``)."""

    async def user_pays(
        self,
        invoice: dict,
        *,
        user_id: int,
        answer_within: float = PRE_CHECKOUT_TIMEOUT,
        deliver: bool = True,
        deliver_twice: bool = False,
    ) -> PaymentAttempt:
        """User ``user_id`` pays ``invoice`` (the invoice message the bot sent, as PTB returned
        it or as ``tg.invoices[i].message``), in Telegram Stars.

        Queues the ``pre_checkout_query`` and waits, by the fake's own clock
        (``time.monotonic``), up to ``answer_within`` seconds for ``answerPreCheckoutQuery``.
        Not answered in time (the query then expires: a later answer is refused) or answered
        ``ok=false``: nothing is charged, ``PaymentAttempt(paid=False, error=...)``. Answered
        ``ok=true``: the user is charged (a ``StarTransaction`` with a fresh, unique charge id)
        and the ``successful_payment`` message is queued, unless ``deliver=False`` (the update
        was lost: the bot was down longer than Telegram keeps updates); ``deliver_twice``
        queues it in two updates (the same message twice, as after a redelivery).

        Raises ValueError for what a user cannot do: pay a message that is not an invoice the
        bot sent, one that was deleted, a non-Stars invoice, or a private-chat invoice that was
        already paid (the app then shows "Receipt" instead of "Pay").
        """
        key = (int(invoice["chat"]["id"]), int(invoice["message_id"]))
        sent = self._invoice_at.get(key)
        if sent is None:
            raise ValueError("user_pays: not an invoice the bot sent")
        if self._find(*key) is None:
            raise ValueError("user_pays: the invoice message is gone (deleted?)")
        if sent.currency != STARS:
            raise ValueError(f"user_pays: only Stars invoices can be paid, not {sent.currency}")
        private = self._chats[key[0]]["type"] == "private"
        if private and sent.paid_by:
            raise ValueError("user_pays: this invoice was already paid (it shows a Receipt now)")
        user = self._users.setdefault(user_id, self._user(user_id))
        query_id = str(6_000_000_000_000_000_000 + next(self._seq))
        query = {
            "id": query_id,
            "from": copy.deepcopy(user),
            "currency": sent.currency,
            "total_amount": sent.total_amount,
            "invoice_payload": sent.payload,
        }
        pending = _PreCheckout(deadline=time.monotonic() + answer_within)
        self._pre_checkouts[query_id] = pending
        self._push_update({"pre_checkout_query": query})
        try:
            while pending.answer is None and not self._closing:
                remaining = pending.deadline - time.monotonic()
                if remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(remaining, 0.05)):
                        await self._changed.wait()
        finally:
            self._pre_checkouts.pop(query_id, None)  # expired or answered: closed for good
        if pending.answer is None:
            return PaymentAttempt(False, None, None, NOT_ANSWERED, query=query)
        call = self._pre_checkout_call(query_id)
        ok, error_message = pending.answer
        if not ok:
            return PaymentAttempt(False, None, call, error_message, query=query)

        charge_id = self._new_charge_id()
        now = int(time.time())
        self.star_transactions.append(
            StarTransaction(charge_id, sent.total_amount, now, copy.deepcopy(user), sent.payload)
        )
        sent.paid_by.append(user_id)
        messages: list[dict] = []
        if deliver:
            if private:
                chat = self.add_chat(
                    user_id,
                    "private",
                    first_name=user.get("first_name"),
                    username=user.get("username"),
                )
            else:
                chat = self._chats[key[0]]
            self._members.setdefault(chat["id"], {}).setdefault(user_id, "member")
            msg: dict[str, Any] = {
                "message_id": self._next_id(chat["id"]),
                "from": copy.deepcopy(user),
                "chat": chat,
                "date": now,
                "successful_payment": {
                    "currency": sent.currency,
                    "total_amount": sent.total_amount,
                    "invoice_payload": sent.payload,
                    "telegram_payment_charge_id": charge_id,
                    "provider_payment_charge_id": "",  # no provider for Stars
                },
            }
            messages.append(self._push_message("message", msg))
            if deliver_twice:
                self._push_update({"message": msg})
                messages.append(copy.deepcopy(msg))
        return PaymentAttempt(True, charge_id, call, None, query=query, messages=tuple(messages))

    async def _m_sendInvoice(self, p: dict, uploads: dict) -> dict:
        chat = self._chat(p["chat_id"])
        title = self._required_string(p, "title")
        description = self._required_string(p, "description")
        payload = self._required_string(p, "payload")
        currency = self._required_string(p, "currency")
        prices = self._prices(p["prices"])
        total = sum(price["amount"] for price in prices)
        if total <= 0:
            raise _bad("total price must be positive")
        if total > _MAX_AMOUNT:
            raise _bad("total price is too big")
        if len(title) > 32:
            raise _bad("INVOICE_TITLE_INVALID")
        if len(description) > 255:
            raise _bad("INVOICE_DESCRIPTION_INVALID")
        if len(payload.encode()) > 128:
            raise _bad("INVOICE_PAYLOAD_INVALID")
        provider_token = str(p.get("provider_token") or "")
        if currency == STARS:
            tips = p.get("suggested_tip_amounts")
            if (
                provider_token
                or len(prices) != 1
                or any(_as_bool(p.get(flag)) for flag in _NOT_FOR_STARS)
                or str(p.get("max_tip_amount") or "0") != "0"
                or (tips is not None and tips != [])
            ):
                raise _bad("STARS_INVOICE_INVALID")
        elif not provider_token:
            raise _bad("PAYMENT_PROVIDER_INVALID")
        if (markup := self._markup(p, chat)) is not None:
            first = markup["inline_keyboard"][0][:1] or [{}]
            if first[0].get("pay") is not True:
                raise _bad("REPLY_MARKUP_BUY_EMPTY")
        content = {
            "invoice": {
                "title": title,
                "description": description,
                "start_parameter": str(p.get("start_parameter") or ""),
                "currency": currency,
                "total_amount": total,
            }
        }
        msg = self._send(p, content)
        sent = SentInvoice(
            chat["id"],
            msg["message_id"],
            title,
            description,
            payload,
            currency,
            prices,
            total,
            copy.deepcopy(msg),
        )
        self.invoices.append(sent)
        self._invoice_at[(chat["id"], msg["message_id"])] = sent
        return msg

    async def _m_answerPreCheckoutQuery(self, p: dict, uploads: dict) -> bool:
        query_id = str(p["pre_checkout_query_id"])
        ok = _as_bool(p["ok"])
        error_message = str(p.get("error_message") or "")
        if not ok and not error_message:
            raise _bad('parameter "error_message" is required')
        pending = self._pre_checkouts.get(query_id)
        if pending is None or pending.answer is not None or time.monotonic() > pending.deadline:
            raise _bad(_QUERY_ID_INVALID)
        pending.answer = (ok, error_message)
        return True

    async def _m_refundStarPayment(self, p: dict, uploads: dict) -> bool:
        user_id = _as_int(p["user_id"], "user_id")
        charge_id = self._required_string(p, "telegram_payment_charge_id")
        payment = next(
            (
                t
                for t in self.star_transactions
                if t.id == charge_id and not t.is_refund and t.user_id == user_id
            ),
            None,
        )
        if payment is None:
            raise _bad("CHARGE_NOT_FOUND")
        if any(t.id == charge_id and t.is_refund for t in self.star_transactions):
            raise _bad("CHARGE_ALREADY_REFUNDED")
        now = int(time.time())
        self.star_transactions.append(
            StarTransaction(charge_id, -payment.amount, now, payment.user, payment.invoice_payload)
        )
        chat = self.add_chat(
            user_id,
            "private",
            first_name=payment.user.get("first_name"),
            username=payment.user.get("username"),
        )
        notice: dict[str, Any] = {
            "message_id": self._next_id(user_id),
            "from": self._bot_user(),
            "chat": chat,
            "date": now,
            "refunded_payment": {
                "currency": STARS,
                "total_amount": payment.amount,
                "invoice_payload": payment.invoice_payload,
                "telegram_payment_charge_id": charge_id,
            },
        }
        self._push_message("message", notice)
        return True

    async def _m_getStarTransactions(self, p: dict, uploads: dict) -> dict:
        offset = max(_loose_int(p.get("offset"), 0), 0)
        limit = min(max(_loose_int(p.get("limit"), 100), 1), 100)
        chosen = self.star_transactions[offset : offset + limit]
        return {"transactions": [t.to_api() for t in chosen]}

    async def _m_getMyStarBalance(self, p: dict, uploads: dict) -> dict:
        return {"amount": sum(t.amount for t in self.star_transactions)}

    def star_balance(self) -> int:
        """The bot's Stars: payments minus refunds (what ``getMyStarBalance`` answers)."""
        return sum(t.amount for t in self.star_transactions)

    @staticmethod
    def _required_string(p: dict, name: str) -> str:
        value = p.get(name)
        if value is None or str(value) == "":
            raise _bad(f'parameter "{name}" is required')
        return str(value)

    @staticmethod
    def _prices(raw: Any) -> list[dict[str, Any]]:
        """``prices`` as the server reads it (already JSON-decoded by the HTTP layer)."""
        if not isinstance(raw, list):
            raise _bad("expected an Array of labeled prices")
        prices = []
        for price in raw:
            why = "can't parse labeled price: "
            if not isinstance(price, dict):
                raise _bad(why + "LabeledPrice must be an Object")
            if "label" not in price:
                raise _bad(why + 'Can\'t find field "label"')
            if not isinstance(price["label"], str):
                raise _bad(why + 'Field "label" must be of type String')
            if not price["label"]:
                raise _bad(why + "LabeledPrice label must be non-empty")
            if "amount" not in price:
                raise _bad(why + 'Can\'t find field "amount"')
            amount = price["amount"]
            if isinstance(amount, str) and re.fullmatch(r"-?\d+", amount):
                amount = int(amount)
            if isinstance(amount, bool) or not isinstance(amount, int):
                raise _bad(why + 'Field "amount" must be a valid Number')
            if abs(amount) > _MAX_AMOUNT:
                raise _bad("too big amount of the currency specified")
            prices.append({"label": price["label"], "amount": amount})
        if not prices:
            raise _bad("there must be at least one price")
        return prices

    def _pre_checkout_call(self, query_id: str) -> Call | None:
        return next(
            (
                c
                for c in reversed(self.calls)
                if c.method == "answerPreCheckoutQuery"
                and str(c.params.get("pre_checkout_query_id")) == query_id
                and (c.ok or c.lost)
            ),
            None,
        )

    def _new_charge_id(self) -> str:
        """A fresh charge id shaped like Telegram's for Stars: "stx" + ~107 URL-safe characters
        (longer than ``callback_data``'s 64 bytes, as real ones are)."""
        taken = {t.id for t in self.star_transactions}
        while (charge_id := "stx" + secrets.token_urlsafe(80)) in taken:
            pass  # pragma: no cover - 640 random bits
        return charge_id


def _loose_int(value: Any, default: int) -> int:
    """An integer argument as the Bot API server reads it: absent or empty = the default, else
    the leading integer of the text (none = 0)."""
    if value is None or str(value) == "":
        return default
    match = re.match(r"\s*(-?\d+)", str(value))
    return int(match.group(1)) if match else 0
