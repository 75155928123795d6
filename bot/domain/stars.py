"""The records of selling credits for Telegram Stars: what an invoice carries, a payment as
stored, what recording a purchase or a refund did, a transaction from Telegram's list, and the
figures /stats shows. Pure data: `bot.domain.payments` holds the rules, `storage` the SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

# Telegram Stars' currency code: invoices in it need no payment provider.
STARS = "XTR"

# Ledger reasons (credit_ledger.reason) of the movements a payment makes.
PURCHASE = "purchase"  # ref: the telegram_payment_charge_id
REFUND = "refund"  # ref: the telegram_payment_charge_id
REFERRAL = "referral"  # ref: the referred user's id


# `credits:<buyer>:<credits>:<stars>`: who the invoice was made for, and the pack as it was
# offered. Telegram hands it back in the pre-checkout query, the successful payment and the
# Stars transaction, so each of them alone says whom to credit and with what.
_PAYLOAD = re.compile(r"^credits:([0-9]{1,19}):([0-9]{1,9}):([0-9]{1,9})$")


@dataclass(frozen=True)
class InvoicePayload:
    buyer_id: int
    credits: int
    stars: int

    def encode(self) -> str:
        return f"credits:{self.buyer_id}:{self.credits}:{self.stars}"

    @classmethod
    def parse(cls, payload: str | None) -> InvoicePayload | None:
        """The payload of one of this bot's invoices, or None for anything else."""
        match = _PAYLOAD.match(payload or "")
        if match is None:
            return None
        buyer, credits, stars = (int(group) for group in match.groups())
        if credits < 1 or stars < 1:
            return None
        return cls(buyer, credits, stars)


class Payment(BaseModel):
    """A row of `payments`: one Stars purchase, named by Telegram's charge id."""

    charge_id: str
    payer_id: int
    credits: int
    stars: int
    payload: str
    created_at: float
    refunded_at: float | None = None


@dataclass(frozen=True)
class PurchaseRecorded:
    """A purchase recorded just now (never for one recorded before): the buyer's new balance,
    and the referrer credited with it (their first purchase), if any."""

    payment: Payment
    balance: int
    referrer_id: int | None = None
    referrer_balance: int | None = None


@dataclass(frozen=True)
class RefundRecorded:
    """A refund recorded just now: the pack's credits, how many were still there to take back,
    and the buyer's balance after."""

    payment: Payment
    taken: int
    balance: int


class TransactionKind(StrEnum):
    PAYMENT = "payment"  # a user paid an invoice (incoming)
    REFUND = "refund"  # a payment given back to its user (outgoing; the payment's id)
    OTHER = "other"  # anything else (withdrawals, ads, gifts): not ours to look at


@dataclass(frozen=True)
class StarTransaction:
    """One entry of Telegram's list of the bot's Stars transactions (getStarTransactions)."""

    charge_id: str  # a payment's and its refund's: the telegram_payment_charge_id
    kind: TransactionKind
    stars: int
    date: float
    user_id: int | None = None
    payload: str | None = None  # a payment's invoice payload


@dataclass(frozen=True)
class PaymentStats:
    """What /stats shows of a period's sales."""

    purchases: int
    stars_in: int
    refunds: int
    stars_out: int

    @property
    def stars_earned(self) -> int:
        return self.stars_in - self.stars_out
