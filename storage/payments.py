"""Stars payments (`payments`, migration 0007 / postgres 0004): the SQL of `PaymentStore`
(bot/domain/stores.py), a mixin of `SqlRepository` using its sessions.

A payment is its `telegram_payment_charge_id` (the primary key). Recording one and moving its
credits happen in one `_accepting()` transaction, so a payment recorded twice (the update
re-sent, two replicas, a crash and a retry, reconciliation meeting the update) credits once,
and one recorded is never left uncredited.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from bot.domain.stars import (
    PURCHASE,
    REFERRAL,
    REFUND,
    Payment,
    PaymentStats,
    PurchaseRecorded,
    RefundRecorded,
)
from storage import ledger

if TYPE_CHECKING:  # storage/sql.py imports this module
    from storage.sql import Row, Session


class PaymentsSql(ABC):
    @abstractmethod
    def _reading(self) -> AbstractAsyncContextManager[Session]: ...

    @abstractmethod
    def _accepting(self) -> AbstractAsyncContextManager[Session]: ...

    async def record_purchase(
        self, payment: Payment, *, referral_credits: int, now: float, telling_until: float
    ) -> PurchaseRecorded | None:
        async with self._accepting() as db:
            inserted = await db.execute(
                """INSERT INTO payments (charge_id, payer_id, credits, stars, payload, created_at,
                                         telling_until)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)
                   ON CONFLICT (charge_id) DO NOTHING""",
                payment.charge_id,
                payment.payer_id,
                payment.credits,
                payment.stars,
                payment.payload,
                payment.created_at,
                telling_until,
            )
            if inserted != 1:
                return None
            balance = await ledger.move_credits(
                db,
                payment.payer_id,
                payment.credits,
                reason=PURCHASE,
                ref=payment.charge_id,
                now=now,
            )
            # A purchase ledger row without its payment row cannot exist: both are written here.
            assert balance is not None
            recorded = PurchaseRecorded(payment=payment, balance=balance)
            if referral_credits <= 0:
                return recorded
            first = await db.fetch_one(
                "SELECT COUNT(*) FROM payments WHERE payer_id = $1", payment.payer_id
            )
            if first is None or int(first[0]) != 1:
                return recorded
            referral = await db.fetch_one(
                "SELECT referrer_id FROM referrals WHERE user_id = $1", payment.payer_id
            )
            if referral is None or int(referral["referrer_id"]) == payment.payer_id:
                return recorded
            referrer = int(referral["referrer_id"])
            bonus = await ledger.move_credits(
                db, referrer, referral_credits, reason=REFERRAL, ref=str(payment.payer_id), now=now
            )
            if bonus is None:  # credited for this user before (their first payment, refunded)
                return recorded
            return PurchaseRecorded(
                payment=payment, balance=balance, referrer_id=referrer, referrer_balance=bonus
            )

    async def claim_untold_purchases(
        self, *, now: float, telling_until: float, limit: int
    ) -> list[Payment]:
        # Under the accepting lock: two processes never claim the same confirmation.
        async with self._accepting() as db:
            rows = await db.fetch_all(
                """UPDATE payments SET telling_until = $1
                   WHERE charge_id IN (
                       SELECT charge_id FROM payments
                       WHERE told_at IS NULL AND (telling_until IS NULL OR telling_until <= $2)
                       ORDER BY created_at LIMIT $3)
                   RETURNING *""",
                telling_until,
                now,
                limit,
            )
        return sorted((_payment(row) for row in rows), key=lambda p: p.created_at)

    async def mark_told(self, charge_id: str, now: float) -> None:
        async with self._accepting() as db:
            await db.execute(
                "UPDATE payments SET told_at = $2 WHERE charge_id = $1 AND told_at IS NULL",
                charge_id,
                now,
            )

    async def payment(self, charge_id: str) -> Payment | None:
        async with self._reading() as db:
            row = await db.fetch_one("SELECT * FROM payments WHERE charge_id = $1", charge_id)
        return _payment(row) if row is not None else None

    async def known_payments(self, charge_ids: list[str]) -> dict[str, Payment]:
        if not charge_ids:
            return {}
        marks = ", ".join(f"${n}" for n in range(1, len(charge_ids) + 1))
        async with self._reading() as db:
            rows = await db.fetch_all(
                f"SELECT * FROM payments WHERE charge_id IN ({marks})", *charge_ids
            )
        return {row["charge_id"]: _payment(row) for row in rows}

    async def record_refund(self, charge_id: str, now: float) -> RefundRecorded | None:
        async with self._accepting() as db:
            row = await db.fetch_one(
                """UPDATE payments SET refunded_at = $2
                   WHERE charge_id = $1 AND refunded_at IS NULL
                   RETURNING *""",
                charge_id,
                now,
            )
            if row is None:
                return None
            payment = _payment(row)
            before = await ledger.balance_of(db, payment.payer_id)
            after = await ledger.move_credits(
                db, payment.payer_id, -payment.credits, reason=REFUND, ref=charge_id, now=now
            )
            if after is None:  # taken back before (cannot happen: refunded_at was unset)
                after = before
            return RefundRecorded(payment=payment, taken=before - after, balance=after)

    async def payment_stats(self, since: float) -> PaymentStats:
        async with self._reading() as db:
            row = await db.fetch_one(
                """SELECT COUNT(*) FILTER (WHERE created_at >= $1) AS purchases,
                          COALESCE(SUM(stars) FILTER (WHERE created_at >= $1), 0) AS stars_in,
                          COUNT(*) FILTER (WHERE refunded_at >= $1) AS refunds,
                          COALESCE(SUM(stars) FILTER (WHERE refunded_at >= $1), 0) AS stars_out
                   FROM payments
                   WHERE created_at >= $1 OR refunded_at >= $1""",
                since,
            )
        assert row is not None
        return PaymentStats(**{key: int(row[key]) for key in row.keys()})


def _payment(row: Row) -> Payment:
    return Payment.model_validate(dict(row))
